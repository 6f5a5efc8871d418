/*
 * The route table of egress-api, GET /api/health and GET /api/openapi.json.
 * Order matters only where two patterns could match one path; none do today.
 */
#include "config.h"

#include <time.h>

#include "api/accounts.h"
#include "api/audit.h"
#include "api/cluster.h"
#include "api/conversations.h"
#include "api/http.h"
#include "api/metrics.h"
#include "api/openapi.h"
#include "api/projects.h"
#include "api/recorded.h"
#include "api/session.h"
#include "api/whitelist.h"

/* GET /api/health: anyone; 503 when the store cannot be read. */
static void handle_health(struct http_request *r)
{
    char now[32];
    unsigned readers = 0;
    int err = ep_store_readers_used(r->ctx->store, &readers);

    http_time_iso((int64_t)time(NULL), now);
    if (err) {
        http_reply_json(r, 503,
                        json_pack("{s:s, s:s, s:s, s:{s:b, s:s}}", "status", "unhealthy",
                                  "timestamp", now, "version", api_version(), "store", "ok", 0,
                                  "message", ep_strerror(err)));
        return;
    }
    http_reply_json(r, 200,
                    json_pack("{s:s, s:s, s:s, s:{s:b, s:I}}", "status", "healthy", "timestamp",
                              now, "version", api_version(), "store", "ok", 1, "readersUsed",
                              (json_int_t)readers));
}

/* GET /api/openapi.json: anyone; docs/openapi.yaml, as built into the program. */
static void handle_openapi(struct http_request *r)
{
    http_reply_text(r, 200, "application/json", api_openapi_json);
}

const struct http_route http_routes[] = {
    {"GET", "/api/health", HTTP_ANYONE, handle_health},
    {"GET", "/api/openapi.json", HTTP_ANYONE, handle_openapi},
    {"POST", "/api/projects/create", HTTP_ANYONE, projects_handle_create},
    {"GET", "/api/projects", HTTP_ANYONE, projects_handle_list},
    {"GET", "/api/projects/:id", HTTP_ANYONE, projects_handle_get},
    {"DELETE", "/api/projects/:id", HTTP_ANYONE, projects_handle_delete},
    {"POST", "/api/projects/:id/start", HTTP_ANYONE, projects_handle_start},
    {"POST", "/api/projects/:id/stop", HTTP_ANYONE, projects_handle_stop},
    {"PUT", "/api/projects/:id/password", HTTP_ANYONE, projects_handle_password},
    {"PUT", "/api/projects/:id/proxy-mode", HTTP_ADMIN, projects_handle_proxy_mode},
    {"PUT", "/api/projects/:id/ip", HTTP_ADMIN, projects_handle_ip},
    {"GET", "/api/projects/:id/check", HTTP_ADMIN, projects_handle_check},
    {"GET", "/api/projects/:id/recorded-domains", HTTP_ANYONE, recorded_handle_list},
    {"DELETE", "/api/projects/:id/recorded-domains", HTTP_ADMIN, recorded_handle_clear},
    {"POST", "/api/projects/:id/recorded-domains/promote", HTTP_ADMIN, recorded_handle_promote},
    {"GET", "/api/whitelist", HTTP_ADMIN, whitelist_handle_get},
    {"PUT", "/api/whitelist", HTTP_ADMIN, whitelist_handle_replace},
    {"POST", "/api/whitelist/domains", HTTP_ADMIN, whitelist_handle_add},
    {"DELETE", "/api/whitelist/domains/*", HTTP_ADMIN, whitelist_handle_remove},
    {"GET", "/api/profiles", HTTP_ADMIN, whitelist_handle_profiles},
    {"GET", "/api/audit", HTTP_ADMIN, audit_handle_list},
    {"GET", "/metrics", HTTP_ADMIN, metrics_handle},
    {"GET", "/api/cluster", HTTP_ADMIN, cluster_handle_get},
    {"GET", "/api/projects/:id/conversations", HTTP_ANYONE, conversations_handle_list},
    {"GET", "/api/projects/:id/conversations/*", HTTP_ANYONE, conversations_handle_get},
    {"DELETE", "/api/projects/:id/conversations", HTTP_ANYONE, conversations_handle_clear},
    {"DELETE", "/api/projects/:id/conversations/*", HTTP_ANYONE, conversations_handle_delete},
    {"GET", "/api/capture/hosts", HTTP_ADMIN, conversations_handle_hosts},
    {"POST", "/api/capture/hosts", HTTP_ADMIN, conversations_handle_host_add},
    {"DELETE", "/api/capture/hosts/*", HTTP_ADMIN, conversations_handle_host_remove},
    /* Accounts, sessions, API tokens and courses (issue 19). */
    {"POST", "/api/session", HTTP_ANYONE, session_handle_signin},
    {"GET", "/api/session", HTTP_ACCOUNT, session_handle_get},
    {"DELETE", "/api/session", HTTP_ACCOUNT, session_handle_signout},
    {"GET", "/api/accounts", HTTP_ADMIN, accounts_handle_list},
    {"POST", "/api/accounts", HTTP_ADMIN, accounts_handle_create},
    {"PUT", "/api/accounts/:id", HTTP_ACCOUNT, accounts_handle_update},
    {"GET", "/api/accounts/:id/tokens", HTTP_ACCOUNT, accounts_handle_tokens},
    {"POST", "/api/accounts/:id/tokens", HTTP_ACCOUNT, accounts_handle_token_create},
    {"DELETE", "/api/accounts/:id/tokens/*", HTTP_ACCOUNT, accounts_handle_token_revoke},
    {"GET", "/api/courses", HTTP_ACCOUNT, courses_handle_list},
    {"PUT", "/api/courses/*", HTTP_ADMIN, courses_handle_set_owners},
    {NULL, NULL, HTTP_ANYONE, NULL},
};
