/* egress-api in this process: see inproc.h. */
#include "config.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/auth.h"
#include "api/http.h"
#include "policy/error.h"
#include "tests/api/inproc.h"

#define QUERY_MAX   16
#define HEADERS_MAX 32

void (*inproc_after_dispatch)(void);

/* main.c of the daemon defines it; this process has its own. */
const char *api_version(void)
{
    return PACKAGE_VERSION;
}

int inproc_open(struct inproc *ip, const char *dir)
{
    struct ep_store_options opts = {.map_size = 256u << 20};
    static bool once;

    memset(ip, 0, sizeof *ip);
    if (!once) {
        json_set_alloc_funcs(ep_malloc, ep_free);
        if (auth_init(10) < 0)
            return EP_E_INVAL;
        once = true;
    }
    ip->cfg.db_dir = dir;
    snprintf(ip->cfg.listen_host, sizeof ip->cfg.listen_host, "127.0.0.1");
    snprintf(ip->cfg.admin_token, sizeof ip->cfg.admin_token, "%s", INPROC_ADMIN_TOKEN);
    ip->cfg.max_projects = 64;
    ip->cfg.default_mode = EP_MODE_SECURITY;
    snprintf(ip->cfg.default_profile, sizeof ip->cfg.default_profile, "%s", EP_PROFILE_DEFAULT);
    ip->cfg.bcrypt_cost = 10;
    ip->cfg.max_connections = 16;
    ip->cfg.connection_timeout = 30;
    ip->cfg.max_memory_bytes = 16ull << 30;
    ip->cfg.max_nano_cpus = 8ull * 1000000000ull;
    ip->cfg.session_lifetime = 8 * 3600;
    ip->cfg.session_idle = 30 * 60;
    ip->ctx.cfg = &ip->cfg;
    return ep_store_open(dir, &opts, &ip->ctx.store);
}

void inproc_close(struct inproc *ip)
{
    ep_store_close(ip->ctx.store);
    ip->ctx.store = NULL;
}

/* Split "a=b&c" into name/value pairs inside @p buf. */
static void split_query(char *buf, const char **pairs)
{
    size_t n = 0;

    for (char *s = buf; s && *s && n + 2 < 2 * QUERY_MAX;) {
        char *amp = strchr(s, '&'), *eq;

        if (amp)
            *amp++ = '\0';
        eq = strchr(s, '=');
        if (eq)
            *eq++ = '\0';
        pairs[n++] = s;
        pairs[n++] = eq ? eq : "";
        s = amp;
    }
    pairs[n] = NULL;
}

/*
 * With EGRESS_API_RECORD set to a file, append the answer as one JSON
 * line, in tests/api/client.c's format ({"method", "path" with its query,
 * "status", "contentType", "body" (null when not UTF-8)}), for
 * tests/api/openapi-validate.py.
 * Answers to injected allocation failures are not recorded.
 */
static void record_answer(const char *method, const char *target, const struct inproc_reply *out)
{
    const char *file = getenv("EGRESS_API_RECORD");
    json_t *line, *body;
    char *text;
    size_t n;
    int fd;

    if (file == NULL || file[0] == '\0')
        return;
    body = json_string(out->text); /* NULL when not UTF-8: recorded as null */
    line = json_pack("{s:s, s:s, s:I, s:s, s:o}", "method", method, "path", target, "status",
                     (json_int_t)out->status, "contentType", out->type, "body",
                     body ? body : json_null());
    text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    fd = text ? open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (fd < 0)
        abort();
    n = strlen(text);
    text[n] = '\n'; /* the line's end in place of the NUL: one write */
    if (write(fd, text, n + 1) != (ssize_t)(n + 1))
        abort();
    close(fd);
    ep_free(text);
}

void inproc_call(struct inproc *ip, const char *method, const char *target, bool admin,
                 const char *const *headers, const char *body, size_t len, long fail_after,
                 struct inproc_reply *out)
{
    const char *hdrs[2 * HEADERS_MAX + 3], *query[2 * QUERY_MAX + 1];
    char path[4096], qbuf[4096] = "", bearer[sizeof INPROC_ADMIN_TOKEN + 8];
    struct http_request r;
    size_t nh = 0;
    char *q;

    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s", target);
    q = strchr(path, '?');
    if (q) {
        *q++ = '\0';
        snprintf(qbuf, sizeof qbuf, "%s", q);
    }
    split_query(qbuf, query);
    if (admin) {
        snprintf(bearer, sizeof bearer, "Bearer %s", INPROC_ADMIN_TOKEN);
        hdrs[nh++] = "Authorization";
        hdrs[nh++] = bearer;
    }
    for (size_t i = 0; headers && headers[i] && headers[i + 1] && nh < 2 * HEADERS_MAX; i += 2) {
        hdrs[nh++] = headers[i];
        hdrs[nh++] = headers[i + 1];
    }
    hdrs[nh] = NULL;

    memset(&r, 0, sizeof r);
    r.ctx = &ip->ctx;
    r.method = method;
    r.path = path;
    r.fake_headers = hdrs;
    r.fake_query = query;
    snprintf(r.source, sizeof r.source, "127.0.0.1");
    ep_alloc_fail_after(fail_after);
    http_dispatch(&r, body, len);
    if (inproc_after_dispatch)
        inproc_after_dispatch();
    if (fail_after >= 0) {
        void *probe = ep_malloc(1);

        out->exhausted = probe == NULL;
        ep_free(probe);
        ep_alloc_fail_after(-1);
    }
    out->status = r.status;
    out->failed = r.failed;
    out->type = r.reply_text && !r.failed ? r.reply_type : "application/json";
    if (r.failed)
        out->text = strdup("{\"error\":\"internal\",\"message\":\"out of memory\"}");
    else if (r.reply)
        out->text = json_dumps(r.reply, JSON_COMPACT);
    else
        out->text = strdup(r.reply_text ? r.reply_text : "");
    if (out->text == NULL)
        abort();
    out->set_cookie = r.set_cookie ? strdup(r.set_cookie) : NULL;
    http_request_release(&r);
    if (fail_after < 0)
        record_answer(method, target, out);
}

void inproc_reply_free(struct inproc_reply *r)
{
    free(r->text);
    r->text = NULL;
    free(r->set_cookie);
    r->set_cookie = NULL;
}
