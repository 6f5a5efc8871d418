/*
 * libmicrohttpd glue: one thread per connection (bcrypt takes tens of
 * milliseconds and must not hold up other callers), body accumulation with
 * a hard limit, routing, the admin check and the JSON reply. Handlers live
 * in the other modules and never see MHD's callbacks.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <lmdb.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/auth.h"
#include "api/http.h"
#include "api/log.h"
#include "api/metrics.h"
#include "api/scope.h"
#include "api/session.h"
#include "api/static.h"

#define PATH_LOG_MAX      200
#define PATH_SEGMENTS_MAX 8
#define TOO_LARGE_MESSAGE "the request body is over 1 MiB (1048576 bytes)"

/* What one request accumulates between MHD's calls, freed when it completes. */
struct conn_state {
    char *body;
    size_t len;
    size_t cap;
    bool too_large;
    bool timed_out;
    bool counted;
    struct timespec start;
    unsigned status;
    const char *route;
    char method[16];
    char path[PATH_LOG_MAX + 1];
};

static struct api_ctx *http_ctx;
static atomic_int in_flight;

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 +
           (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Copy @p in for a log line: printable ASCII only, so a path can never forge a log line. */
static void copy_printable(char *out, size_t outsz, const char *in)
{
    size_t i;

    for (i = 0; in[i] && i + 1 < outsz; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    out[i] = '\0';
}

/* A reply whose body could not be built: drop what there is, answer the fixed 500. */
static void reply_failed(struct http_request *r)
{
    json_decref(r->reply);
    r->reply = NULL;
    ep_free(r->reply_text);
    r->reply_text = NULL;
    r->status = 500;
    r->failed = true;
}

void http_reply_json(struct http_request *r, unsigned status, json_t *body)
{
    json_decref(r->reply);
    ep_free(r->reply_text);
    r->reply_text = NULL;
    r->failed = false;
    r->status = status;
    r->reply = body;
    if (body == NULL)
        reply_failed(r);
}

int http_json_append(FILE *out, json_t *value)
{
    char buf[4096], *big = NULL;
    size_t n;
    int rc = 0;

    if (value == NULL)
        return EP_E_NOMEM;
    /* One fwrite for most values: json_dumpf() writes token by token, several times slower. */
    n = json_dumpb(value, buf, sizeof buf, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n > 0 && n <= sizeof buf) {
        if (fwrite(buf, 1, n, out) != n)
            rc = EP_E_NOMEM;
    } else {
        big = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (big == NULL || fputs(big, out) < 0)
            rc = EP_E_NOMEM;
    }
    free(big);
    json_decref(value);
    return rc;
}

void http_reply_json_text(struct http_request *r, unsigned status, char *text)
{
    json_decref(r->reply);
    r->reply = NULL;
    ep_free(r->reply_text);
    r->failed = false;
    r->status = status;
    r->reply_text = text;
    r->reply_type = "application/json";
    if (text == NULL)
        reply_failed(r);
}

void http_reply_text(struct http_request *r, unsigned status, const char *type, const char *text)
{
    json_decref(r->reply);
    r->reply = NULL;
    ep_free(r->reply_text);
    r->failed = false;
    r->status = status;
    r->reply_text = ep_strdup(text);
    r->reply_type = type;
    if (r->reply_text == NULL)
        reply_failed(r);
}

void http_error(struct http_request *r, unsigned status, const char *error, const char *fmt, ...)
{
    char message[1024];
    json_t *body;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    body = json_pack("{s:s, s:s}", "error", error, "message", message);
    if (body == NULL) {
        /*
         * The message may quote what the caller sent (a method, a path),
         * which need not be UTF-8 as JSON strings must be (vsnprintf may
         * also have cut a character in two): every non-ASCII byte becomes
         * '?'. A second failure is one of memory.
         */
        for (char *c = message; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        body = json_pack("{s:s, s:s}", "error", error, "message", message);
    }
    http_reply_json(r, status, body);
}

void http_error_store(struct http_request *r, int err, const char *what)
{
    switch (err) {
    case EP_E_NOTFOUND:
        http_error(r, 404, "not_found", "%s not found", what);
        break;
    case EP_E_EXISTS:
        http_error(r, 409, "exists", "%s already exists", what);
        break;
    case EP_E_CONFLICT:
        http_error(r, 409, "conflict", "%s: %s", what, ep_strerror(err));
        break;
    case EP_E_LIMIT:
        http_error(r, 409, "limit_reached", "%s: %s", what, ep_strerror(err));
        break;
    case EP_E_INVAL:
        http_error(r, 400, "bad_request", "%s: %s", what, ep_strerror(err));
        break;
    case MDB_READERS_FULL:
        /* Every reader slot is taken: an overload that passes, not our fault. */
        log_line("store busy on %s: %s", what, ep_strerror(err));
        r->retry_after = 1;
        http_error(r, 503, "store_busy",
                   "the store has no free reader slot right now (%s): try again", what);
        break;
    case MDB_MAP_FULL:
        log_line("store full while writing %s: %s", what, ep_strerror(err));
        http_error(r, 507, "store_full", "the store is full: raise --map-size");
        break;
    default:
        log_line("store error on %s: %s", what, ep_strerror(err));
        http_error(r, 500, "internal", "store error on %s: %s", what, ep_strerror(err));
        break;
    }
}

/* Fetch member @p name; NULL (and 0) when absent or null, -1 after answering 400 when required. */
static int field_get(struct http_request *r, const char *name, bool required, json_t **out)
{
    json_t *v = json_object_get(r->body, name);

    if (v == NULL || json_is_null(v)) {
        if (required) {
            http_error(r, 400, "missing_field", "missing field \"%s\"", name);
            return -1;
        }
        *out = NULL;
        return 0;
    }
    *out = v;
    return 1;
}

int http_field_string(struct http_request *r, const char *name, bool required, const char **out)
{
    json_t *v;
    int rc = field_get(r, name, required, &v);

    if (rc <= 0)
        return rc;
    if (!json_is_string(v)) {
        http_error(r, 400, "bad_field", "field \"%s\" must be a string", name);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int http_field_bool(struct http_request *r, const char *name, bool required, bool *out)
{
    json_t *v;
    int rc = field_get(r, name, required, &v);

    if (rc <= 0)
        return rc;
    if (!json_is_boolean(v)) {
        http_error(r, 400, "bad_field", "field \"%s\" must be true or false", name);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int http_field_array(struct http_request *r, const char *name, bool required, json_t **out)
{
    json_t *v;
    int rc = field_get(r, name, required, &v);

    if (rc <= 0)
        return rc;
    if (!json_is_array(v)) {
        http_error(r, 400, "bad_field", "field \"%s\" must be an array", name);
        return -1;
    }
    *out = v;
    return 1;
}

/* The value of @p name in a "name", "value", ..., NULL list (http_dispatch()). */
static const char *fake_lookup(const char *const *list, const char *name, bool caseless)
{
    for (; list && list[0] && list[1]; list += 2)
        if (caseless ? strcasecmp(list[0], name) == 0 : strcmp(list[0], name) == 0)
            return list[1];
    return NULL;
}

bool http_not_modified(struct http_request *r, const char *etag)
{
    const char *match = http_header(r, "If-None-Match");

    snprintf(r->etag, sizeof r->etag, "%s", etag);
    if (match == NULL || (strcmp(match, "*") != 0 && strstr(match, r->etag) == NULL))
        return false;
    http_reply_text(r, 304, "application/json", "");
    return true;
}

uint64_t http_fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

const char *http_header(struct http_request *r, const char *name)
{
    if (r->conn == NULL)
        return fake_lookup(r->fake_headers, name, true);
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct http_request *r, const char *name)
{
    if (r->conn == NULL)
        return fake_lookup(r->fake_query, name, false);
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_time_iso(int64_t t, char *buf)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void http_time_iso_us(int64_t t_us, char *buf)
{
    time_t tt = (time_t)(t_us / 1000000);
    struct tm tm;
    char date[24];

    gmtime_r(&tt, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, 40, "%s.%06uZ", date, (unsigned)(t_us % 1000000));
}

long http_utf8_length(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    while (*p) {
        int extra = *p < 0x80         ? 0
                    : (*p >> 5) == 6  ? 1
                    : (*p >> 4) == 14 ? 2
                    : (*p >> 3) == 30 ? 3
                                      : -1;

        if (extra < 0)
            return -1;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return -1;
        n++;
    }
    return n;
}

/*
 * Match @p path against @p pattern segment by segment. ":id" captures one
 * segment into @p param (EP_ID_MAX + 1 bytes, longer ones are still
 * captured truncated and rejected later by length), a final "*" captures
 * the rest of the path (at least one character) into *tail.
 */
static bool route_match(const char *pattern, const char *path, char *param, size_t paramsz,
                        const char **tail)
{
    const char *p = pattern, *s = path;

    *tail = NULL;
    param[0] = '\0';
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        if (strcmp(p, "*") == 0) {
            if (*s == '\0')
                return false;
            *tail = s;
            return true;
        }
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");

        if (plen == 3 && strncmp(p, ":id", 3) == 0) {
            if (slen == 0)
                return false;
            /* Over-long segments are kept one byte too long so ep_project_id_validate refuses them.
             */
            size_t keep = slen < paramsz - 1 ? slen : paramsz - 1;

            memcpy(param, s, keep);
            param[keep] = '\0';
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    return *p == '\0' && *s == '\0';
}

/* Parse the accumulated body into r->body: 415 for a non-JSON type, 400 for bad JSON. */
static int parse_body(struct http_request *r, const char *body, size_t len)
{
    const char *type;
    json_error_t jerr;

    if (len == 0) {
        r->body = json_object();
        if (r->body == NULL) {
            reply_failed(r);
            return -1;
        }
        return 0;
    }
    type = http_header(r, "Content-Type");
    if (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
        (type[16] != '\0' && type[16] != ';' && type[16] != ' ')) {
        http_error(r, 415, "unsupported_media_type",
                   "the request body must be JSON, sent with Content-Type: application/json");
        return -1;
    }
    r->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    /* jansson reports a failed allocation as such, or, at the very start, with no text at all. */
    if (r->body == NULL &&
        (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0')) {
        reply_failed(r);
        return -1;
    }
    if (r->body == NULL) {
        http_error(r, 400, "invalid_json", "the body is not valid JSON: %s (line %d, column %d)",
                   jerr.text, jerr.line, jerr.column);
        return -1;
    }
    if (!json_is_object(r->body)) {
        http_error(r, 400, "invalid_json", "the body must be a JSON object");
        return -1;
    }
    return 0;
}

static void source_address(struct MHD_Connection *conn, char *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    strcpy(out, "unknown");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, EP_IP_MAX + 1);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, EP_IP_MAX + 1);
}

/*
 * Route, authenticate, parse and run one complete request, filling @p r's
 * answer. The order is fixed: unknown path 404, wrong method 405, bad
 * credentials 401, body problems 415/400, bad id 404, then the handler.
 */
static void dispatch(struct http_request *r, struct conn_state *st)
{
    const struct http_route *route = NULL;
    char param[EP_ID_MAX + 2], path[2048];
    const char *tail = NULL;
    bool path_known = false;
    size_t n = strlen(r->path);

    if (n >= sizeof path) {
        http_error(r, 404, "not_found", "no such endpoint");
        return;
    }
    memcpy(path, r->path, n + 1);
    if (n > 1 && path[n - 1] == '/')
        path[n - 1] = '\0';

    for (const struct http_route *rt = http_routes; rt->method; rt++) {
        if (!route_match(rt->pattern, path, param, sizeof param, &tail))
            continue;
        path_known = true;
        /* HEAD is GET without the body (MHD drops it), as HTTP asks of every server. */
        if (strcmp(rt->method, r->method) == 0 ||
            (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            route = rt;
            break;
        }
    }
    if (route == NULL) {
        if (path_known && strcmp(r->method, "OPTIONS") == 0 && r->ctx->cfg->cors_origin) {
            http_reply_text(r, 204, "text/plain", "");
        } else if (path_known) {
            st->route = "unmatched";
            http_error(r, 405, "method_not_allowed", "%s is not allowed on %s", r->method, r->path);
        } else {
            http_error(r, 404, "not_found", "no such endpoint");
        }
        return;
    }
    st->route = route->pattern;
    if (session_authenticate(r) < 0)
        return;
    if ((route->access == HTTP_ADMIN && !r->admin && !r->who.teacher) ||
        (route->access == HTTP_ACCOUNT && r->who.kind == HTTP_CALLER_ANONYMOUS)) {
        http_error(r, 401, "unauthorized",
                   "this endpoint needs an admin token, an API token or a signed-in session");
        return;
    }
    if (st->too_large) {
        http_error(r, 413, "too_large", "%s", TOO_LARGE_MESSAGE);
        return;
    }
    if (parse_body(r, st->body, st->len) < 0)
        return;
    if (param[0]) {
        if (ep_project_id_validate(param) != 0) {
            http_error(r, 404, "not_found", "no project with that id");
            return;
        }
        r->param = param;
    }
    r->tail = tail;
    if (scope_check(r, route) < 0)
        return;
    route->handler(r);
    if (r->status == 0) {
        log_line("handler for %s %s gave no answer", r->method, route->pattern);
        http_error(r, 500, "internal", "the server gave no answer");
    }
}

/* The answer when the real one could not be built: fixed text, nothing allocated. */
static const char oom_body[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}\n";

/*
 * Turn the answer of @p r into an MHD response and queue it. An answer
 * that cannot be built (r->failed, a JSON text that cannot be dumped)
 * goes out as the fixed 500, never as a success with a wrong body; when
 * not even that can be queued, the connection is closed (MHD_NO).
 */
static enum MHD_Result queue_reply(struct http_request *r, struct conn_state *st)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *text = NULL;
    size_t len = 0;
    const char *type = "application/json";

    if (r->reply && !r->failed) {
        text = json_dumps(r->reply, JSON_COMPACT);
        if (text == NULL)
            reply_failed(r);
    } else if (r->reply_text && !r->failed) {
        text = r->reply_text;
        r->reply_text = NULL;
        type = r->reply_type;
    }
    if (r->failed) {
        log_line("out of memory answering %s %s: 500", st->method, st->path);
        resp = MHD_create_response_from_buffer(sizeof oom_body - 1, (void *)oom_body,
                                               MHD_RESPMEM_PERSISTENT);
    } else if (text == NULL) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        len = strlen(text);
        if (r->reply)
            text[len++] = '\n'; /* replaces the NUL: MHD is given the length */
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            ep_free(text);
    }
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->etag[0])
        MHD_add_response_header(resp, "ETag", r->etag);
    if (r->set_cookie)
        MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"egress-api\"");
    if (r->retry_after) {
        char buf[16];

        snprintf(buf, sizeof buf, "%u", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", buf);
    }
    if (r->ctx->cfg->cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->ctx->cfg->cors_origin);
        MHD_add_response_header(resp, "Vary", "Origin");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, X-Project-Password, X-CSRF-Token");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                "GET, POST, PUT, DELETE, OPTIONS");
    }
    st->status = r->status;
    ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Answer a request before its body arrived (413 on a declared Content-Length over the limit). */
static enum MHD_Result early_reply(struct MHD_Connection *conn, struct conn_state *st,
                                   unsigned status, const char *error, const char *message)
{
    struct http_request r = {.ctx = http_ctx, .conn = conn};
    enum MHD_Result ret;

    http_error(&r, status, error, "%s", message);
    ret = queue_reply(&r, st);
    json_decref(r.reply);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct conn_state *st = *con_cls;
    struct http_request r;
    enum MHD_Result ret;

    if (st == NULL) {
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");

        st = ep_calloc(1, sizeof *st);
        if (st == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &st->start);
        copy_printable(st->method, sizeof st->method, method);
        copy_printable(st->path, sizeof st->path, url);
        st->route = "unmatched";
        st->counted = true;
        atomic_fetch_add(&in_flight, 1);
        *con_cls = st;
        if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX) {
            st->too_large = true;
            return early_reply(conn, st, 413, "too_large", TOO_LARGE_MESSAGE);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;

        *upload_data_size = 0;
        /*
         * A body must arrive within the connection timeout of the request's
         * start: one byte a second would otherwise hold a thread forever,
         * since every byte restarts MHD's idle timer. Closed, not answered.
         */
        if (elapsed_ms(&st->start) > 1000.0 * http_ctx->cfg->connection_timeout) {
            if (!st->timed_out)
                log_line("%s %s: the body did not arrive within %u s; connection closed",
                         st->method, st->path, http_ctx->cfg->connection_timeout);
            st->timed_out = true;
            st->status = 408;
            return MHD_NO;
        }
        if (st->too_large || st->len + n > API_BODY_MAX) {
            /*
             * A body without a declared length (chunked) went over the
             * limit: the rest is read and dropped, never kept, so the 413
             * still goes out as JSON (MHD 0.9 cannot answer mid-body).
             */
            st->too_large = true;
            ep_free(st->body);
            st->body = NULL;
            st->len = st->cap = 0;
            return MHD_YES;
        }
        if (st->len + n + 1 > st->cap) {
            size_t cap = st->cap ? st->cap : 4096;
            char *b;

            while (cap < st->len + n + 1)
                cap *= 2;
            b = ep_realloc(st->body, cap);
            if (b == NULL)
                return MHD_NO;
            st->body = b;
            st->cap = cap;
        }
        memcpy(st->body + st->len, upload_data, n);
        st->len += n;
        return MHD_YES;
    }

    if (static_wants(method, url)) {
        st->route = "ui";
        return (enum MHD_Result)static_serve(conn, url, &st->status);
    }
    memset(&r, 0, sizeof r);
    r.ctx = http_ctx;
    r.conn = conn;
    r.method = method;
    r.path = url;
    source_address(conn, r.source);
    dispatch(&r, st);
    ret = queue_reply(&r, st);
    http_request_release(&r);
    return ret;
}

void http_dispatch(struct http_request *r, const char *body, size_t len)
{
    struct conn_state st;

    memset(&st, 0, sizeof st);
    st.route = "unmatched";
    copy_printable(st.method, sizeof st.method, r->method);
    copy_printable(st.path, sizeof st.path, r->path);
    st.body = (char *)body;
    st.len = len;
    st.too_large = len > API_BODY_MAX;
    dispatch(r, &st);
}

void http_request_release(struct http_request *r)
{
    json_decref(r->reply);
    r->reply = NULL;
    json_decref(r->body);
    r->body = NULL;
    ep_free(r->reply_text);
    r->reply_text = NULL;
    ep_free(r->set_cookie);
    r->set_cookie = NULL;
    ep_free(r->who.courses);
    r->who.courses = NULL;
    r->who.ncourses = 0;
}

/* One log line per request, the metrics, and the end of its state. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_state *st = *con_cls;

    if (st == NULL)
        return;
    if (st->status == 0)
        st->status = 499; /* the client went away before an answer was sent */
    log_line("%s %s %u %.1fms", st->method, st->path, st->status, elapsed_ms(&st->start));
    metrics_count_request(st->method, st->route, st->status);
    if (st->counted)
        atomic_fetch_sub(&in_flight, 1);
    ep_free(st->body);
    ep_free(st);
    *con_cls = NULL;
}

/* libmicrohttpd's own messages, into our log (fmt is MHD's printf format). */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t n;

    vsnprintf(buf, sizeof buf, fmt, ap);
    n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_line("libmicrohttpd: %s", buf);
}

/*
 * Bind and listen on the configured address ourselves, so a failure names
 * the address and the reason (MHD's own message says "port 0" when given
 * a socket address). The socket, or -1 after a message on stderr.
 */
static int listen_socket(const struct api_config *cfg, bool *v6)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    socklen_t sslen;
    const char *l = "", *rb = "";
    int fd, on = 1;

    memset(&ss, 0, sizeof ss);
    if (inet_pton(AF_INET, cfg->listen_host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cfg->listen_port);
        sslen = sizeof *sin;
        *v6 = false;
    } else if (inet_pton(AF_INET6, cfg->listen_host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cfg->listen_port);
        sslen = sizeof *sin6;
        *v6 = true;
        l = "[", rb = "]";
    } else {
        fprintf(stderr, "egress-api: --listen: \"%s\" is not an IPv4 or IPv6 address\n",
                cfg->listen_host);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "egress-api: cannot listen on %s%s%s:%u: socket: %s\n", l, cfg->listen_host,
                rb, cfg->listen_port, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (*v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, SOMAXCONN) < 0) {
        fprintf(stderr, "egress-api: cannot listen on %s%s%s:%u: %s\n", l, cfg->listen_host, rb,
                cfg->listen_port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The port @p fd is bound to (the one the kernel chose for port 0). */
static unsigned bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * One thread per connection (handlers block on bcrypt and the engine), at
 * most cfg->max_connections of them, at most cfg->max_connections_per_ip
 * from one address (0 = no such limit), MHD closing connections idle for
 * cfg->connection_timeout seconds, and on_request() closing those whose
 * body takes longer than that: a slow or greedy caller holds a bounded
 * share. Connections over the per-address limit are closed as soon as
 * accepted; over the total, they wait in the listen queue.
 */
int http_start(struct api_ctx *ctx, struct MHD_Daemon **out, unsigned *port)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    const struct api_config *cfg = ctx->cfg;
    struct MHD_Daemon *d;
    bool v6 = false;
    int fd;

    http_ctx = ctx;
    fd = listen_socket(cfg, &v6);
    if (fd < 0)
        return -1;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* The logger comes first: MHD reports the options after it through it. */
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER,
                         on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "egress-api: cannot start the HTTP server on %s%s%s:%u\n", v6 ? "[" : "",
                cfg->listen_host, v6 ? "]" : "", cfg->listen_port);
        close(fd);
        return -1;
    }
    *port = bound_port(fd);
    *out = d;
    return 0;
}

void http_stop(struct MHD_Daemon *daemon)
{
    MHD_socket fd = MHD_quiesce_daemon(daemon);

    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Requests already being answered finish; idle keep-alive connections do not hold us. */
    for (int i = 0; i < 300 && atomic_load(&in_flight) > 0; i++)
        usleep(100 * 1000);
    if (atomic_load(&in_flight) > 0)
        log_line("stopping with %d requests still in flight after 30 s", atomic_load(&in_flight));
    MHD_stop_daemon(daemon);
}
