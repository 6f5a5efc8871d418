/*
 * The decision of the hot path: which project an IP is, whether its
 * whitelist (or the base domains) allows the host on the port, and what
 * the mode makes of it. One pooled read transaction per decision; no
 * allocation, no write.
 */
#include "config.h"

#include <string.h>

#include "policy/covers.h"
#include "policy/decide.h"

const char *ep_reason_name(enum ep_reason reason)
{
    switch (reason) {
    case EP_REASON_BASE:
        return "base-domain";
    case EP_REASON_RULE:
        return "rule";
    case EP_REASON_MODE:
        return "mode";
    case EP_REASON_NOT_LISTED:
        return "not-whitelisted";
    case EP_REASON_UNKNOWN_CLIENT:
        return "unknown-client";
    case EP_REASON_STORE_ERROR:
        return "store-error";
    case EP_REASON_PORT:
        return "port-not-allowed";
    }
    return "unknown";
}

/* A denial before anything is known; what the request records is its host and port. */
static void decision_reset(struct ep_decision *out, const char *host, int port)
{
    ep_host_with_port(host ? host : "", ep_covers_web_port(port) ? 0 : port, out->record_host);
    out->verdict = EP_VERDICT_DENY;
    out->reason = EP_REASON_UNKNOWN_CLIENT;
    out->mode = EP_MODE_NONE;
    out->record = false;
    out->project_id[0] = '\0';
    out->profile[0] = '\0';
    out->rule[0] = '\0';
    out->error = 0;
}

/*
 * The store failed after the client was known (or before): security and
 * unknown clients are denied, logging and none are allowed on the web
 * ports, so a broken store never opens a whitelist and never blocks a
 * teacher. Another port is denied in every mode: only a rule could have
 * allowed it.
 */
static int decision_fail(struct ep_decision *out, int err, bool client_known, int port)
{
    bool allow = client_known && out->mode != EP_MODE_SECURITY && ep_covers_web_port(port);

    out->verdict = allow ? EP_VERDICT_ALLOW : EP_VERDICT_DENY;
    out->reason = EP_REASON_STORE_ERROR;
    out->error = err;
    out->rule[0] = '\0';
    out->record = client_known && out->mode != EP_MODE_NONE;
    return err;
}

int ep_decide_whitelist(struct ep_store_read *rd, const char *profile, const char *host, int port,
                        struct ep_rule *rule, enum ep_reason *reason)
{
    int rc = ep_store_read_match(rd, EP_PROFILE_BASE, host, port, rule);

    *reason = EP_REASON_BASE;
    if (rc == EP_E_NOTFOUND && profile != NULL && profile[0] != '\0') {
        rc = ep_store_read_match(rd, profile, host, port, rule);
        *reason = EP_REASON_RULE;
    }
    return rc;
}

/*
 * The rules and the mode for a known client whose row is @p row: base
 * domains first, then the project's profile, then the mode decides on the
 * web ports; another port that no rule of its own allows is denied in
 * every mode.
 */
static int decide_client(struct ep_store_read *rd, const struct ep_client *row, const char *host,
                         int port, struct ep_decision *out)
{
    struct ep_rule matched;
    int rc;

    memcpy(out->project_id, row->project_id, sizeof out->project_id);
    memcpy(out->profile, row->profile, sizeof out->profile);
    out->mode = row->mode <= EP_MODE_LOGGING ? (enum ep_mode)row->mode : EP_MODE_SECURITY;
    out->record = out->mode != EP_MODE_NONE;

    rc = ep_decide_whitelist(rd, out->profile, host, port, &matched, &out->reason);
    if (rc == 0) {
        out->verdict = EP_VERDICT_ALLOW;
        ep_rule_format(&matched, out->rule);
        return 0;
    }
    if (rc != EP_E_NOTFOUND)
        return decision_fail(out, rc, true, port);
    if (!ep_covers_web_port(port)) {
        out->verdict = EP_VERDICT_DENY;
        out->reason = EP_REASON_PORT;
    } else if (out->mode == EP_MODE_SECURITY) {
        out->verdict = EP_VERDICT_DENY;
        out->reason = EP_REASON_NOT_LISTED;
    } else {
        out->verdict = EP_VERDICT_ALLOW;
        out->reason = EP_REASON_MODE;
    }
    return 0;
}

int ep_decide(struct ep_store *store, const struct ep_request *req, unsigned flags,
              struct ep_decision *out)
{
    struct ep_store_read *rd = NULL;
    struct ep_client row;
    int rc;

    decision_reset(out, req->host, req->port);
    if (!req->client_ip || !req->client_ip[0])
        goto unknown;
    rc = ep_store_read_begin(store, &rd);
    if (rc)
        return decision_fail(out, rc, false, req->port);
    rc = ep_store_read_client(rd, req->client_ip, &row);
    if (rc == EP_E_NOTFOUND) {
        ep_store_read_end(rd);
        goto unknown;
    }
    if (rc == 0)
        rc = decide_client(rd, &row, req->host, req->port, out);
    else
        decision_fail(out, rc, false, req->port);
    ep_store_read_end(rd);
    return rc;
unknown:
    out->reason = EP_REASON_UNKNOWN_CLIENT;
    out->verdict = (flags & EP_DECIDE_ALLOW_UNKNOWN) ? EP_VERDICT_ALLOW : EP_VERDICT_DENY;
    return 0;
}

int ep_decide_project(struct ep_store *store, const char *project_id, const char *host, int port,
                      struct ep_decision *out)
{
    struct ep_store_read *rd = NULL;
    struct ep_project p;
    struct ep_client row;
    int rc;

    decision_reset(out, host, port);
    rc = ep_store_project_get(store, project_id, &p);
    if (rc)
        return rc;
    memset(&row, 0, sizeof row);
    memcpy(row.project_id, p.id, sizeof row.project_id);
    memcpy(row.profile, p.profile, sizeof row.profile);
    row.mode = p.mode;
    rc = ep_store_read_begin(store, &rd);
    if (rc)
        return decision_fail(out, rc, false, port);
    rc = decide_client(rd, &row, host, port, out);
    ep_store_read_end(rd);
    return rc;
}
