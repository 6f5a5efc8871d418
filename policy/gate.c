/*
 * The gate of gate.h: the one parser of the store options, the store
 * opened lazily with its recorder, store errors counted and logged at most
 * once per interval, and decide-and-record with the one reason text.
 */
#include "config.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/host.h"
#include "policy/gate.h"
#include "policy/ratelimit.h"
#include "policy/recorder.h"
#include "policy/size.h"

struct ep_gate {
    struct ep_gate_options opts;
    struct ep_gate_hooks hooks;
    pthread_mutex_t open_lock; /* one attempt to open at a time */
    _Atomic(struct ep_store *) store;
    _Atomic(struct ep_recorder *) rec;
    _Atomic int open_error;         /* why the last attempt failed */
    struct ep_ratelimit open_limit; /* an attempt to open once per interval */
    struct ep_ratelimit log_limit;  /* an error line once per interval */
    _Atomic uint64_t counts[EP_GATE_COUNTERS];
    _Atomic(struct ep_counters *) counters; /* the store's shared counters file */
    bool counters_failed;                   /* logged once: no counters in this process */
};

/* --- options ------------------------------------------------------------- */

void ep_gate_options_default(struct ep_gate_options *opts)
{
    memset(opts, 0, sizeof *opts);
    snprintf(opts->database, sizeof opts->database, "%s", EP_STORE_DEFAULT_DIR);
    opts->max_readers = EP_STORE_DEFAULT_MAX_READERS;
    opts->map_size = EP_STORE_DEFAULT_MAP_SIZE;
    opts->interval_ms = EP_GATE_DEFAULT_INTERVAL_MS;
    opts->key_filter_memory = EP_STORE_DEFAULT_KEY_FILTER_MEMORY;
    opts->record = true;
}

/* A size from @p min to @p max bytes (SIZE_MAX: no upper bound). */
static int parse_size(const char *value, uint64_t min, uint64_t max, uint64_t *out, char *why,
                      size_t whysz)
{
    char low[EP_SIZE_BUFSZ], high[EP_SIZE_BUFSZ];
    uint64_t n;

    if (ep_size_parse(value, &n, why, whysz) != 0)
        return EP_E_INVAL;
    ep_size_format(min, low);
    ep_size_format(max, high);
    if (n < min && max >= SIZE_MAX)
        return ep_why(EP_E_INVAL, why, whysz, "'%.40s' is not a size of at least %s", value, low);
    if (n < min || n > max)
        return ep_why(EP_E_INVAL, why, whysz, "'%.40s' is not a size from %s to %s", value, low,
                      high);
    *out = n;
    return 0;
}

/* A whole number from @p min to @p max. */
static int parse_count(const char *value, unsigned min, unsigned max, unsigned *out, char *why,
                       size_t whysz)
{
    unsigned long long n;
    char *end;

    errno = 0;
    n = strtoull(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 || n < min || n > max)
        return ep_why(EP_E_INVAL, why, whysz, "'%.40s' is not a number from %u to %u", value, min,
                      max);
    *out = (unsigned)n;
    return 0;
}

/* One of two words: *@p out true for @p yes, false for @p no. */
static int parse_choice(const char *value, const char *no, const char *yes, bool *out, char *why,
                        size_t whysz)
{
    if (strcmp(value, no) == 0 || strcmp(value, yes) == 0) {
        *out = strcmp(value, yes) == 0;
        return 0;
    }
    return ep_why(EP_E_INVAL, why, whysz, "'%.40s' is neither %s nor %s", value, no, yes);
}

int ep_gate_option_set(struct ep_gate_options *opts, enum ep_gate_option opt, const char *value,
                       char *why, size_t whysz)
{
    uint64_t n = 0;
    unsigned readers = 0;
    bool chosen = false;
    int rc = EP_E_INVAL;

    if (why != NULL && whysz > 0)
        why[0] = '\0';
    switch (opt) {
    case EP_GATE_OPT_DATABASE:
        if (value[0] != '/' || strlen(value) >= sizeof opts->database)
            return ep_why(EP_E_INVAL, why, whysz,
                          "'%.100s' is not an absolute directory path (shorter than %zu bytes)",
                          value, sizeof opts->database);
        snprintf(opts->database, sizeof opts->database, "%s", value);
        return 0;
    case EP_GATE_OPT_UNKNOWN_CLIENT:
        rc = parse_choice(value, "deny", "allow", &chosen, why, whysz);
        if (rc == 0)
            opts->unknown_allow = chosen;
        return rc;
    case EP_GATE_OPT_INTERVAL:
        if (ep_duration_parse(value, 1000, &n, why, whysz) != 0)
            return EP_E_INVAL;
        if (n < EP_GATE_INTERVAL_MIN_MS || n > EP_GATE_INTERVAL_MAX_MS)
            return ep_why(EP_E_INVAL, why, whysz, "'%.40s' is not a time from %ums to %us", value,
                          EP_GATE_INTERVAL_MIN_MS, EP_GATE_INTERVAL_MAX_MS / 1000);
        opts->interval_ms = (unsigned)n;
        return 0;
    case EP_GATE_OPT_MAX_READERS:
        rc = parse_count(value, EP_STORE_MAX_READERS_MIN, EP_STORE_MAX_READERS_MAX, &readers, why,
                         whysz);
        if (rc == 0)
            opts->max_readers = readers;
        return rc;
    case EP_GATE_OPT_MAP_SIZE:
        rc = parse_size(value, EP_STORE_MAP_SIZE_MIN, SIZE_MAX, &n, why, whysz);
        if (rc == 0)
            opts->map_size = (size_t)n;
        return rc;
    case EP_GATE_OPT_KEY_FILTER:
        /* "off" is the second word: chosen means no key filter. */
        rc = parse_choice(value, "on", "off", &chosen, why, whysz);
        if (rc == 0)
            opts->no_key_filter = chosen;
        return rc;
    case EP_GATE_OPT_KEY_FILTER_MEMORY:
        rc = parse_size(value, EP_STORE_KEY_FILTER_MEMORY_MIN, EP_STORE_KEY_FILTER_MEMORY_MAX, &n,
                        why, whysz);
        if (rc == 0)
            opts->key_filter_memory = (size_t)n;
        return rc;
    }
    return ep_why(EP_E_INVAL, why, whysz, "unknown option");
}

/* Whether @p o is within the bounds ep_gate_option_set() keeps. */
static bool options_valid(const struct ep_gate_options *o)
{
    return o->database[0] == '/' && memchr(o->database, '\0', sizeof o->database) != NULL &&
           o->max_readers >= EP_STORE_MAX_READERS_MIN &&
           o->max_readers <= EP_STORE_MAX_READERS_MAX && o->map_size >= EP_STORE_MAP_SIZE_MIN &&
           o->interval_ms >= EP_GATE_INTERVAL_MIN_MS && o->interval_ms <= EP_GATE_INTERVAL_MAX_MS &&
           o->key_filter_memory >= EP_STORE_KEY_FILTER_MEMORY_MIN &&
           o->key_filter_memory <= EP_STORE_KEY_FILTER_MEMORY_MAX &&
           (unsigned)o->path < EP_GATE_PATHS;
}

/* --- the gate ------------------------------------------------------------ */

int ep_gate_new(const struct ep_gate_options *opts, const struct ep_gate_hooks *hooks,
                struct ep_gate **out)
{
    struct ep_gate *gate;

    *out = NULL;
    if (!options_valid(opts))
        return EP_E_INVAL;
    gate = ep_calloc(1, sizeof *gate);
    if (gate == NULL)
        return EP_E_NOMEM;
    gate->opts = *opts;
    if (hooks != NULL)
        gate->hooks = *hooks;
    pthread_mutex_init(&gate->open_lock, NULL);
    atomic_init(&gate->store, NULL);
    atomic_init(&gate->rec, NULL);
    atomic_init(&gate->counters, NULL);
    /* Until a first attempt says why: "being opened". */
    atomic_init(&gate->open_error, EAGAIN);
    for (int i = 0; i < EP_GATE_COUNTERS; i++)
        atomic_init(&gate->counts[i], 0);
    *out = gate;
    return 0;
}

const char *ep_gate_path_name(enum ep_gate_path path)
{
    static const char *const names[EP_GATE_PATHS] = {"other", "acl", "icap", "dns", "capture"};

    return (unsigned)path < EP_GATE_PATHS ? names[path] : "other";
}

void ep_gate_counter_add(struct ep_gate *gate, enum ep_counter counter, uint64_t n)
{
    ep_counters_add(atomic_load(&gate->counters), counter, n);
}

/* The shared counters' slot of gate counter @p counter, for this gate's path. */
static unsigned shared_slot(const struct ep_gate *gate, enum ep_gate_counter counter)
{
    unsigned path = gate->opts.path;

    switch (counter) {
    case EP_GATE_RECORDED:
        return EP_COUNTER_RECORDED(path);
    case EP_GATE_ERRORS:
        return EP_COUNTER_STORE_ERRORS(path);
    case EP_GATE_READERS_FULL:
        return EP_COUNTER_READERS_FULL(path);
    default:
        return EP_COUNTERS_SLOTS; /* decisions are counted with their mode (count_decision) */
    }
}

static void count(struct ep_gate *gate, enum ep_gate_counter counter)
{
    atomic_fetch_add_explicit(&gate->counts[counter], 1, memory_order_relaxed);
    ep_counters_add(atomic_load(&gate->counters), shared_slot(gate, counter), 1);
    if (gate->hooks.count != NULL)
        gate->hooks.count(gate->hooks.ctx, counter);
}

/* One decision: the gate's totals, and the shared counters by path, mode and verdict. */
static void count_decision(struct ep_gate *gate, const struct ep_gate_result *res)
{
    bool denied = res->verdict != EP_VERDICT_ALLOW;
    unsigned mode = res->project_id[0] == '\0' || (unsigned)res->mode >= EP_COUNTERS_MODE_UNKNOWN
                        ? EP_COUNTERS_MODE_UNKNOWN
                        : (unsigned)res->mode;

    ep_counters_add(atomic_load(&gate->counters),
                    EP_COUNTER_DECISION(gate->opts.path, mode, denied), 1);
    count(gate, denied ? EP_GATE_DENIED : EP_GATE_ALLOWED);
}

void ep_gate_counts(struct ep_gate *gate, struct ep_gate_counts *out)
{
    out->allowed = atomic_load(&gate->counts[EP_GATE_ALLOWED]);
    out->denied = atomic_load(&gate->counts[EP_GATE_DENIED]);
    out->recorded = atomic_load(&gate->counts[EP_GATE_RECORDED]);
    out->errors = atomic_load(&gate->counts[EP_GATE_ERRORS]);
    out->readers_full = atomic_load(&gate->counts[EP_GATE_READERS_FULL]);
}

/*
 * A broken store fails every request, and a line per request would bury
 * the log: one line per interval, saying how many were left out since.
 */
void ep_gate_log_error(struct ep_gate *gate, const char *what, int err)
{
    char line[EP_GATE_PATH_MAX + 512];
    unsigned long left_out;

    count(gate, EP_GATE_ERRORS);
    if (err == MDB_READERS_FULL)
        count(gate, EP_GATE_READERS_FULL);
    if (gate->hooks.log == NULL ||
        !ep_ratelimit_pass(&gate->log_limit, gate->opts.interval_ms, &left_out))
        return;
    snprintf(line, sizeof line, "%s (store %s): %s (%lu similar errors not logged)", what,
             gate->opts.database, ep_strerror(err), left_out);
    gate->hooks.log(gate->hooks.ctx, EP_GATE_LOG_ERROR, line);
}

/*
 * Map the counters file beside the store, once: a failure (no directory
 * yet, no permission) is logged once, and this process counts nothing
 * in the file until the gate is closed and opened again. Called under
 * open_lock.
 */
static void counters_open(struct ep_gate *gate)
{
    struct ep_counters *c;
    char line[EP_GATE_PATH_MAX + 256];
    int rc;

    if (atomic_load(&gate->counters) != NULL || gate->counters_failed)
        return;
    rc = ep_counters_open(gate->opts.database, false, &c);
    if (rc == 0) {
        atomic_store(&gate->counters, c);
        return;
    }
    if (rc == ENOENT)
        return; /* no store directory yet: tried again with the store */
    gate->counters_failed = true;
    if (gate->hooks.log != NULL) {
        snprintf(line, sizeof line,
                 "cannot open the counters file %s/%s: %s; this process is not counted in the "
                 "metrics",
                 gate->opts.database, EP_COUNTERS_FILE, ep_strerror(rc));
        gate->hooks.log(gate->hooks.ctx, EP_GATE_LOG_ERROR, line);
    }
}

/* Open the store and start the recorder, unless another thread did meanwhile. */
static int gate_open(struct ep_gate *gate)
{
    struct ep_store_options so = {
        .map_size = gate->opts.map_size,
        .max_readers = gate->opts.max_readers,
        .no_key_filter = gate->opts.no_key_filter,
        .key_filter_memory = gate->opts.key_filter_memory,
        .read_only = false,
    };
    struct ep_store *store = NULL;
    struct ep_recorder *rec = NULL;
    int rc = 0;

    pthread_mutex_lock(&gate->open_lock);
    if (atomic_load(&gate->store) != NULL)
        goto out;
    counters_open(gate);
    rc = ep_store_open(gate->opts.database, &so, &store);
    if (rc == 0 && gate->opts.record)
        rc = ep_recorder_new(store, gate->opts.interval_ms, &rec);
    if (rc != 0)
        goto out;
    if (rec != NULL)
        ep_recorder_set_counters(rec, atomic_load(&gate->counters));
    /* The recorder first: whoever sees the store sees its recorder. */
    atomic_store(&gate->rec, rec);
    atomic_store(&gate->store, store);
    store = NULL;
out:
    atomic_store(&gate->open_error, rc);
    pthread_mutex_unlock(&gate->open_lock);
    ep_store_close(store);
    return rc;
}

int ep_gate_store(struct ep_gate *gate, const char *what, struct ep_store **out)
{
    struct ep_store *store = atomic_load(&gate->store);
    int rc = 0;

    if (store == NULL && ep_ratelimit_pass(&gate->open_limit, gate->opts.interval_ms, NULL)) {
        rc = gate_open(gate);
        if (rc != 0 && what != NULL)
            ep_gate_log_error(gate, what, rc);
        store = atomic_load(&gate->store);
    }
    if (store == NULL) {
        rc = atomic_load(&gate->open_error);
        if (rc == 0)
            rc = EAGAIN; /* closed meanwhile */
    }
    *out = store;
    return store != NULL ? 0 : rc;
}

void ep_gate_close(struct ep_gate *gate)
{
    if (gate == NULL)
        return;
    /* The recorder's last flush needs the store: free it first. */
    ep_recorder_free(atomic_exchange(&gate->rec, NULL));
    ep_store_close(atomic_exchange(&gate->store, NULL));
    ep_counters_close(atomic_exchange(&gate->counters, NULL));
    gate->counters_failed = false;
}

void ep_gate_free(struct ep_gate *gate)
{
    if (gate == NULL)
        return;
    ep_gate_close(gate);
    pthread_mutex_destroy(&gate->open_lock);
    ep_free(gate);
}

/* --- deciding ------------------------------------------------------------ */

void ep_gate_reason_text(const char *reason, const char *host, const char *project_id,
                         const char *rule, char *out)
{
    bool with_rule = rule != NULL && rule[0] != '\0';

    snprintf(out, EP_GATE_TEXT_BUFSZ, "%s; host=%s; project=%s%s%s", reason, host,
             project_id[0] ? project_id : "-", with_rule ? "; rule=" : "", with_rule ? rule : "");
}

/*
 * Copy @p in into @p out (@p outsz bytes) with anything but printable
 * ASCII replaced by '?', "-" for nothing: a method is the client's text,
 * and a log line stays one line.
 */
static void printable(const char *in, char *out, size_t outsz)
{
    size_t i = 0;

    for (; in != NULL && in[i] != '\0' && i + 1 < outsz; i++)
        out[i] = in[i] > 0x20 && in[i] < 0x7f ? in[i] : '?';
    out[i] = '\0';
    if (i == 0)
        snprintf(out, outsz, "-");
}

/*
 * The decision's log line: "allow|deny METHOD HOST[:PORT] from CLIENT:
 * TEXT" (an IPv6 host in brackets when a port follows; no port for a
 * request without a host).
 */
static void log_decision(struct ep_gate *gate, const struct ep_gate_request *req,
                         const struct ep_gate_result *res)
{
    char method[24], where[EP_HOST_BUFSZ + 16];
    char line[EP_GATE_TEXT_BUFSZ + EP_HOST_BUFSZ + EP_IP_MAX + 80];
    bool known = req->client_ip != NULL && req->client_ip[0] != '\0';
    bool v6 = strchr(res->host, ':') != NULL;

    if (gate->hooks.log == NULL)
        return;
    printable(req->method, method, sizeof method);
    if (req->port > 0 && req->host != NULL)
        snprintf(where, sizeof where, "%s%s%s:%d", v6 ? "[" : "", res->host, v6 ? "]" : "",
                 req->port);
    else
        snprintf(where, sizeof where, "%s", res->host);
    snprintf(line, sizeof line, "%s %s %s from %s: %s",
             res->verdict == EP_VERDICT_ALLOW ? "allow" : "deny", method, where,
             known ? req->client_ip : "-", res->text);
    gate->hooks.log(gate->hooks.ctx, EP_GATE_LOG_DECISION, line);
}

bool ep_gate_intercept_check(const struct ep_gate_request *req, const char **reason)
{
    char host[EP_HOST_BUFSZ];
    int port = 0;

    *reason = NULL;
    if (!req->intercept)
        return true;
    if (req->method != NULL && strcasecmp(req->method, "CONNECT") == 0)
        *reason = "intercept-connect";
    else if (req->host_header == NULL || req->host_header[0] == '\0')
        *reason = "intercept-no-host";
    else if (req->host == NULL ||
             ep_host_normalize(req->host_header, strlen(req->host_header), host, &port, NULL) !=
                 0 ||
             strcmp(host, req->host) != 0 || (port != 0 && req->port != 0 && port != req->port))
        *reason = "intercept-host-mismatch";
    return *reason == NULL;
}

/* Start a result: denied, on @p req's host ("invalid" when it has none). */
static void result_reset(struct ep_gate_result *out, const struct ep_gate_request *req)
{
    memset(out, 0, sizeof *out);
    out->verdict = EP_VERDICT_DENY;
    out->mode = EP_MODE_NONE;
    snprintf(out->host, sizeof out->host, "%s", req->host != NULL ? req->host : "invalid");
}

/*
 * An intercepted request that fails the intercept check is still decided
 * (for its project and whether to record), then denied with the check's
 * reason and recorded as the denial it is.
 */
int ep_gate_decide(struct ep_gate *gate, const struct ep_gate_request *req,
                   struct ep_gate_result *out)
{
    struct ep_request er;
    struct ep_decision d;
    struct ep_store *store;
    struct ep_recorder *rec;
    const char *refused = NULL;
    int rc = 0, noted;

    result_reset(out, req);
    if (req->host == NULL) {
        /* No host squid could have meant: nothing to decide on, so fail closed. */
        out->reason = "bad-host";
        goto done;
    }
    ep_gate_intercept_check(req, &refused);
    rc = ep_gate_store(gate, NULL, &store);
    if (rc != 0) {
        ep_gate_log_error(gate, "cannot open the store, request denied", rc);
        out->reason = refused != NULL ? refused : ep_reason_name(EP_REASON_STORE_ERROR);
        goto done;
    }
    er.client_ip = req->client_ip;
    er.host = out->host;
    er.method = req->method;
    er.port = req->port;
    rc = ep_decide(store, &er, gate->opts.unknown_allow ? EP_DECIDE_ALLOW_UNKNOWN : 0, &d);
    if (rc != 0)
        ep_gate_log_error(gate, "decision fell back", rc);
    out->verdict = d.verdict;
    out->reason = ep_reason_name(d.reason);
    out->mode = d.mode;
    memcpy(out->project_id, d.project_id, sizeof out->project_id);
    memcpy(out->rule, d.rule, sizeof out->rule);
    if (refused != NULL) {
        out->verdict = EP_VERDICT_DENY;
        out->reason = refused;
        out->rule[0] = '\0';
    }
    if (d.record && !req->no_record && (rec = atomic_load(&gate->rec)) != NULL) {
        noted = ep_recorder_note(rec, d.project_id, d.record_host, out->verdict);
        if (noted == 0) {
            out->recorded = true;
            count(gate, EP_GATE_RECORDED);
        } else {
            ep_gate_log_error(gate, "recording a new host failed (kept for the next flush)", noted);
        }
    }
done:
    count_decision(gate, out);
    ep_gate_reason_text(out->reason, out->host, out->project_id, out->rule, out->text);
    if (gate->opts.log_decisions)
        log_decision(gate, req, out);
    return rc;
}

/*
 * The client's row, then ep_decide_whitelist() with its profile: the
 * decision's own lookup. A rule of another kind found first (a regex of
 * the base domains that matches the address text) does not hide an ip:
 * rule of the profile, so the profile is asked on its own then.
 */
static int ip_rule_lookup(struct ep_store *store, const struct ep_gate_request *req,
                          struct ep_gate_result *out)
{
    struct ep_store_read *rd = NULL;
    struct ep_client row;
    struct ep_rule rule;
    enum ep_reason why;
    int rc;

    rc = ep_store_read_begin(store, &rd);
    if (rc != 0)
        goto out;
    rc = ep_store_read_client(rd, req->client_ip, &row);
    if (rc != 0)
        goto out;
    memcpy(out->project_id, row.project_id, sizeof out->project_id);
    rc = ep_decide_whitelist(rd, row.profile, req->host, req->port, &rule, &why);
    if (rc == 0 && rule.kind != EP_RULE_IP && why == EP_REASON_BASE && row.profile[0] != '\0')
        rc = ep_store_read_match(rd, row.profile, req->host, req->port, &rule);
    if (rc == 0 && rule.kind != EP_RULE_IP)
        rc = EP_E_NOTFOUND;
    if (rc == 0)
        ep_rule_format(&rule, out->rule);
out:
    ep_store_read_end(rd);
    return rc;
}

int ep_gate_ip_rule(struct ep_gate *gate, const struct ep_gate_request *req,
                    struct ep_gate_result *out)
{
    struct ep_store *store;
    int rc = 0;

    result_reset(out, req);
    if (req->host == NULL) {
        out->reason = "bad-host";
    } else if (ep_host_kind_of(req->host) == EP_HOST_NAME) {
        out->reason = "not-ip";
    } else if (req->client_ip == NULL || req->client_ip[0] == '\0') {
        out->reason = ep_reason_name(EP_REASON_UNKNOWN_CLIENT);
    } else if ((rc = ep_gate_store(gate, NULL, &store)) != 0) {
        ep_gate_log_error(gate, "cannot open the store, no ip: rule", rc);
        out->reason = ep_reason_name(EP_REASON_STORE_ERROR);
    } else {
        rc = ip_rule_lookup(store, req, out);
        if (rc == 0) {
            out->verdict = EP_VERDICT_ALLOW;
            out->reason = "ip-rule";
        } else if (rc == EP_E_NOTFOUND) {
            /* Not mapped (no project) or no ip: rule names the address. */
            out->reason =
                out->project_id[0] ? "no-ip-rule" : ep_reason_name(EP_REASON_UNKNOWN_CLIENT);
            rc = 0;
        } else {
            ep_gate_log_error(gate, "reading the store for an ip: rule failed", rc);
            out->reason = ep_reason_name(EP_REASON_STORE_ERROR);
            out->project_id[0] = '\0';
        }
    }
    ep_gate_reason_text(out->reason, out->host, out->project_id, out->rule, out->text);
    return rc;
}
