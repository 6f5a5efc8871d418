/*
 * An etcd v3 client over the JSON gateway (etcd.h). One curl easy handle
 * per ep_etcd; each call is a POST of a JSON body to the current
 * endpoint, and a connection failure, a timeout or "no leader" moves on to
 * the next endpoint. With a user, a token from /v3/auth/authenticate goes
 * in the Authorization header and is fetched again when etcd says it is
 * no longer valid.
 */
#include "config.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cluster/etcd.h"
#include "policy/error.h"

#define MAX_ENDPOINTS 16
#define PAGE_KEYS     10000
/* gRPC status codes etcd's gateway answers with. */
#define GRPC_OUT_OF_RANGE    11
#define GRPC_UNAVAILABLE     14
#define GRPC_UNAUTHENTICATED 16

struct ep_etcd {
    CURL *curl;
    char *endpoints[MAX_ENDPOINTS];
    size_t n_endpoints, current;
    char *cacert, *cert, *key, *user, *password;
    char *token;
    long timeout_ms;
    bool serializable;
};

/* A growing buffer of what curl received. */
struct buf {
    char *data;
    size_t len, cap;
};

static int buf_add(struct buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        char *more;

        while (cap < b->len + n + 1)
            cap *= 2;
        more = realloc(b->data, cap);
        if (!more)
            return -1;
        b->data = more;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    return buf_add(ctx, p, size * n) == 0 ? size * n : 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

const char *ep_etcd_strerror(int rc)
{
    switch (rc) {
    case EP_ETCD_E_UNAVAILABLE:
        return "etcd unavailable (no endpoint answered, or no leader)";
    case EP_ETCD_E_REPLY:
        return "etcd answered something unexpected";
    case EP_ETCD_E_REFUSED:
        return "etcd refused the request";
    case EP_ETCD_E_AUTH:
        return "etcd authentication failed";
    case EP_ETCD_E_COMPACTED:
        return "etcd revision compacted away";
    case EP_ETCD_E_STOPPED:
        return "etcd watch stopped";
    default:
        return ep_strerror(rc);
    }
}

int ep_etcd_open(const struct ep_etcd_options *opts, struct ep_etcd **out)
{
    struct ep_etcd *e = calloc(1, sizeof *e);
    char *list, *save = NULL;

    *out = NULL;
    if (!e)
        return EP_E_NOMEM;
    e->curl = curl_easy_init();
    list = dup_or_null(opts->endpoints);
    if (!e->curl || !list) {
        free(list);
        ep_etcd_close(e);
        return EP_E_NOMEM;
    }
    for (char *t = strtok_r(list, ",", &save); t && e->n_endpoints < MAX_ENDPOINTS;
         t = strtok_r(NULL, ",", &save))
        if (*t)
            e->endpoints[e->n_endpoints++] = strdup(t);
    free(list);
    e->cacert = dup_or_null(opts->cacert);
    e->cert = dup_or_null(opts->cert);
    e->key = dup_or_null(opts->key);
    e->user = dup_or_null(opts->user);
    e->password = dup_or_null(opts->password);
    e->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
    e->serializable = opts->serializable;
    if (e->n_endpoints == 0) {
        ep_etcd_close(e);
        return EP_E_INVAL;
    }
    *out = e;
    return 0;
}

void ep_etcd_close(struct ep_etcd *e)
{
    if (!e)
        return;
    if (e->curl)
        curl_easy_cleanup(e->curl);
    for (size_t i = 0; i < e->n_endpoints; i++)
        free(e->endpoints[i]);
    free(e->cacert);
    free(e->cert);
    free(e->key);
    free(e->user);
    if (e->password)
        memset(e->password, 0, strlen(e->password));
    free(e->password);
    free(e->token);
    free(e);
}

/* ---- base64 (libcrypto) ---- */

json_t *ep_etcd_b64(const void *data, size_t len)
{
    char *text = malloc(4 * ((len + 2) / 3) + 1);
    json_t *j;

    if (!text)
        return NULL;
    EVP_EncodeBlock((unsigned char *)text, data, (int)len);
    j = json_string(text);
    free(text);
    return j;
}

int ep_etcd_unb64(const char *text, char **out, size_t *out_len)
{
    size_t tlen = strlen(text), pad = 0;
    char *bytes = malloc(tlen / 4 * 3 + 1);
    int n;

    if (!bytes)
        return EP_E_NOMEM;
    n = tlen ? EVP_DecodeBlock((unsigned char *)bytes, (const unsigned char *)text, (int)tlen) : 0;
    if (n < 0) {
        free(bytes);
        return EP_ETCD_E_REPLY;
    }
    /* EVP_DecodeBlock counts the padding's bytes too. */
    while (pad < 2 && tlen > pad && text[tlen - 1 - pad] == '=')
        pad++;
    *out_len = (size_t)n - pad;
    bytes[*out_len] = '\0';
    *out = bytes;
    return 0;
}

json_t *ep_etcd_prefix_end(const char *prefix, size_t len)
{
    char end[1024];

    if (len == 0 || len > sizeof end)
        return ep_etcd_b64("\0", 1); /* every key */
    memcpy(end, prefix, len);
    for (size_t i = len; i-- > 0;) {
        if ((unsigned char)end[i] < 0xff) {
            end[i]++;
            return ep_etcd_b64(end, i + 1);
        }
    }
    return ep_etcd_b64("\0", 1);
}

/* An int64 that the gateway writes as a string (or, rarely, a number). */
static int64_t jint(json_t *j)
{
    if (json_is_string(j))
        return strtoll(json_string_value(j), NULL, 10);
    if (json_is_integer(j))
        return (int64_t)json_integer_value(j);
    return 0;
}

/* ---- one POST ---- */

/* POST @p body to @p path of the current endpoint; *@p code the HTTP status. */
static CURLcode post(struct ep_etcd *e, const char *path, const char *body, struct buf *reply,
                     long *code, bool with_token, long timeout_ms)
{
    char url[512], auth[1024];
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    CURLcode cc;

    snprintf(url, sizeof url, "%s%s", e->endpoints[e->current], path);
    if (with_token && e->token) {
        snprintf(auth, sizeof auth, "Authorization: %s", e->token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_reset(e->curl);
    curl_easy_setopt(e->curl, CURLOPT_URL, url);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (e->cacert)
        curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->cacert);
    if (e->cert)
        curl_easy_setopt(e->curl, CURLOPT_SSLCERT, e->cert);
    if (e->key)
        curl_easy_setopt(e->curl, CURLOPT_SSLKEY, e->key);
    cc = curl_easy_perform(e->curl);
    *code = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(headers);
    return cc;
}

/* Fetch a token for the configured user from the current endpoint. */
static int authenticate(struct ep_etcd *e)
{
    json_t *body = json_pack("{s:s, s:s}", "name", e->user, "password", e->password), *reply;
    struct buf b = {0};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    long code;
    int rc = EP_ETCD_E_AUTH;

    json_decref(body);
    if (!text)
        return EP_E_NOMEM;
    if (post(e, "/v3/auth/authenticate", text, &b, &code, false, e->timeout_ms) != CURLE_OK) {
        rc = EP_ETCD_E_UNAVAILABLE;
    } else if (code == 200 && (reply = json_loads(b.data ? b.data : "", 0, NULL))) {
        const char *token = json_string_value(json_object_get(reply, "token"));

        if (token) {
            free(e->token);
            e->token = strdup(token);
            rc = e->token ? 0 : EP_E_NOMEM;
        }
        json_decref(reply);
    }
    if (rc == EP_ETCD_E_AUTH)
        syslog(LOG_ERR, "etcd: authentication of user %s refused by %s", e->user,
               e->endpoints[e->current]);
    free(text);
    free(b.data);
    return rc;
}

/* What an error answer of the gateway means. */
static int error_of(json_t *reply, const char *endpoint)
{
    json_int_t code = json_integer_value(json_object_get(reply, "code"));
    const char *msg = json_string_value(json_object_get(reply, "error"));

    if (!msg)
        msg = json_string_value(json_object_get(reply, "message"));
    if (!msg)
        msg = "";
    if (code == GRPC_UNAUTHENTICATED || strstr(msg, "auth token") || strstr(msg, "permission"))
        return EP_ETCD_E_AUTH;
    if (code == GRPC_OUT_OF_RANGE || strstr(msg, "compacted"))
        return EP_ETCD_E_COMPACTED;
    if (code == GRPC_UNAVAILABLE || strstr(msg, "leader") || strstr(msg, "timed out"))
        return EP_ETCD_E_UNAVAILABLE;
    syslog(LOG_ERR, "etcd: %s refused a request: %s", endpoint, msg);
    return EP_ETCD_E_REFUSED;
}

int ep_etcd_call(struct ep_etcd *e, const char *path, json_t *body, json_t **reply)
{
    char *text = json_dumps(body, JSON_COMPACT);
    bool reauthed = false;
    int rc = EP_ETCD_E_UNAVAILABLE;

    *reply = NULL;
    if (!text)
        return EP_E_NOMEM;
    for (size_t tries = 0; tries < e->n_endpoints + 1; tries++) {
        struct buf b = {0};
        json_t *j;
        long code;

        if (e->user && !e->token && (rc = authenticate(e)) != 0) {
            if (rc == EP_ETCD_E_UNAVAILABLE) {
                e->current = (e->current + 1) % e->n_endpoints;
                continue;
            }
            break;
        }
        if (post(e, path, text, &b, &code, true, e->timeout_ms) != CURLE_OK) {
            free(b.data);
            rc = EP_ETCD_E_UNAVAILABLE;
            e->current = (e->current + 1) % e->n_endpoints;
            continue;
        }
        j = json_loads(b.data ? b.data : "", 0, NULL);
        free(b.data);
        if (!j) {
            rc = EP_ETCD_E_REPLY;
            break;
        }
        if (code == 200 && !json_object_get(j, "error")) {
            *reply = j;
            rc = 0;
            break;
        }
        rc = error_of(j, e->endpoints[e->current]);
        json_decref(j);
        if (rc == EP_ETCD_E_AUTH && e->user && !reauthed) {
            free(e->token);
            e->token = NULL;
            reauthed = true;
            continue;
        }
        if (rc != EP_ETCD_E_UNAVAILABLE)
            break;
        e->current = (e->current + 1) % e->n_endpoints;
    }
    free(text);
    return rc;
}

/* ---- keys ---- */

/* The key-value pair of a gateway "kv" object, decoded into @p kv (free its key and value). */
static int kv_of(json_t *j, struct ep_etcd_kv *kv, bool deleted)
{
    const char *k = json_string_value(json_object_get(j, "key"));
    const char *v = json_string_value(json_object_get(j, "value"));
    char *key = NULL, *value = NULL;
    int rc;

    memset(kv, 0, sizeof *kv);
    if (!k)
        return EP_ETCD_E_REPLY;
    rc = ep_etcd_unb64(k, &key, &kv->key_len);
    if (rc == 0 && !deleted)
        rc = ep_etcd_unb64(v ? v : "", &value, &kv->value_len);
    if (rc) {
        free(key);
        return rc;
    }
    kv->key = key;
    kv->value = value;
    kv->mod_revision = jint(json_object_get(j, "mod_revision"));
    return 0;
}

static void kv_free(struct ep_etcd_kv *kv)
{
    free((char *)kv->key);
    free((char *)kv->value);
}

int ep_etcd_range_prefix(struct ep_etcd *e, const char *prefix, size_t prefix_len, int64_t revision,
                         int (*fn)(void *ctx, const struct ep_etcd_kv *kv), void *ctx,
                         int64_t *revision_out)
{
    char *from = malloc(prefix_len + 1);
    size_t from_len = prefix_len;
    json_t *end = ep_etcd_prefix_end(prefix, prefix_len);
    int rc = 0;
    bool more = true;

    if (!from || !end) {
        free(from);
        json_decref(end);
        return EP_E_NOMEM;
    }
    memcpy(from, prefix, prefix_len);
    while (rc == 0 && more) {
        json_t *body = json_pack("{s:o, s:O, s:I, s:I, s:b}", "key", ep_etcd_b64(from, from_len),
                                 "range_end", end, "limit", (json_int_t)PAGE_KEYS, "revision",
                                 (json_int_t)revision, "serializable", e->serializable),
               *reply = NULL, *kvs;
        size_t i;

        rc = body ? ep_etcd_call(e, "/v3/kv/range", body, &reply) : EP_E_NOMEM;
        json_decref(body);
        if (rc)
            break;
        if (revision == 0)
            revision = jint(json_object_get(json_object_get(reply, "header"), "revision"));
        more = json_is_true(json_object_get(reply, "more"));
        kvs = json_object_get(reply, "kvs");
        for (i = 0; rc == 0 && i < json_array_size(kvs); i++) {
            struct ep_etcd_kv kv;

            rc = kv_of(json_array_get(kvs, i), &kv, false);
            if (rc)
                break;
            rc = fn(ctx, &kv);
            if (rc == 0 && i + 1 == json_array_size(kvs)) {
                /* The next page starts just after this key. */
                char *next = realloc(from, kv.key_len + 1);

                if (!next) {
                    rc = EP_E_NOMEM;
                } else {
                    from = next;
                    memcpy(from, kv.key, kv.key_len);
                    from[kv.key_len] = '\0';
                    from_len = kv.key_len + 1;
                }
            }
            kv_free(&kv);
        }
        if (json_array_size(kvs) == 0)
            more = false;
        json_decref(reply);
    }
    free(from);
    json_decref(end);
    if (rc == 0 && revision_out)
        *revision_out = revision;
    return rc;
}

int ep_etcd_put(struct ep_etcd *e, const char *key, size_t key_len, const char *value,
                size_t value_len, int64_t lease)
{
    json_t *body = json_pack("{s:o, s:o, s:I}", "key", ep_etcd_b64(key, key_len), "value",
                             ep_etcd_b64(value, value_len), "lease", (json_int_t)lease),
           *reply = NULL;
    int rc = body ? ep_etcd_call(e, "/v3/kv/put", body, &reply) : EP_E_NOMEM;

    json_decref(body);
    json_decref(reply);
    return rc;
}

int ep_etcd_delete(struct ep_etcd *e, const char *key, size_t key_len)
{
    json_t *body = json_pack("{s:o}", "key", ep_etcd_b64(key, key_len)), *reply = NULL;
    int rc = body ? ep_etcd_call(e, "/v3/kv/deleterange", body, &reply) : EP_E_NOMEM;

    json_decref(body);
    json_decref(reply);
    return rc;
}

/* ---- leases ---- */

int ep_etcd_lease_grant(struct ep_etcd *e, long ttl, int64_t *id)
{
    json_t *body = json_pack("{s:I}", "TTL", (json_int_t)ttl), *reply = NULL;
    int rc = body ? ep_etcd_call(e, "/v3/lease/grant", body, &reply) : EP_E_NOMEM;

    json_decref(body);
    if (rc == 0) {
        *id = jint(json_object_get(reply, "ID"));
        if (*id == 0)
            rc = EP_ETCD_E_REPLY;
    }
    json_decref(reply);
    return rc;
}

int ep_etcd_lease_keepalive(struct ep_etcd *e, int64_t id)
{
    json_t *body = json_pack("{s:I}", "ID", (json_int_t)id), *reply = NULL, *result;
    int rc = body ? ep_etcd_call(e, "/v3/lease/keepalive", body, &reply) : EP_E_NOMEM;

    json_decref(body);
    if (rc == 0) {
        /* A stream of one answer: {"result": {"ID", "TTL"}}; TTL absent or 0 once expired. */
        result = json_object_get(reply, "result");
        if (jint(json_object_get(result ? result : reply, "TTL")) <= 0)
            rc = EP_E_NOTFOUND;
    }
    json_decref(reply);
    return rc;
}

int ep_etcd_lease_revoke(struct ep_etcd *e, int64_t id)
{
    json_t *body = json_pack("{s:I}", "ID", (json_int_t)id), *reply = NULL;
    int rc = body ? ep_etcd_call(e, "/v3/lease/revoke", body, &reply) : EP_E_NOMEM;

    json_decref(body);
    json_decref(reply);
    return rc;
}

/* ---- watch ---- */

struct watch {
    struct buf in;
    int (*fn)(void *ctx, const struct ep_etcd_kv *events, size_t n, int64_t revision);
    void *ctx;
    int rc; /* why the stream was ended from here */
    bool created;
};

/* One answer of the stream: {"result": {header, events | compact_revision | created}}. */
static int watch_result(struct watch *w, json_t *j)
{
    json_t *r = json_object_get(j, "result"), *events;
    struct ep_etcd_kv *kvs;
    size_t n;
    int64_t revision;
    int rc = 0;

    if (!r) {
        if (json_object_get(j, "error"))
            return error_of(json_object_get(j, "error"), "watch");
        return EP_ETCD_E_REPLY;
    }
    if (jint(json_object_get(r, "compact_revision")) > 0)
        return EP_ETCD_E_COMPACTED;
    if (json_is_true(json_object_get(r, "canceled")))
        return EP_ETCD_E_UNAVAILABLE;
    if (json_is_true(json_object_get(r, "created"))) {
        w->created = true;
        return 0;
    }
    revision = jint(json_object_get(json_object_get(r, "header"), "revision"));
    events = json_object_get(r, "events");
    n = json_array_size(events);
    kvs = calloc(n ? n : 1, sizeof *kvs);
    if (!kvs)
        return EP_E_NOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *ev = json_array_get(events, i);
        const char *type = json_string_value(json_object_get(ev, "type"));

        rc = kv_of(json_object_get(ev, "kv"), &kvs[i], type && strcmp(type, "DELETE") == 0);
    }
    if (rc == 0 && w->fn(w->ctx, kvs, n, revision) != 0)
        rc = EP_ETCD_E_STOPPED;
    for (size_t i = 0; i < n; i++)
        kv_free(&kvs[i]);
    free(kvs);
    return rc;
}

/* Parse every complete answer (one JSON object a line) received so far. */
static size_t on_watch(char *p, size_t size, size_t n, void *ctx)
{
    struct watch *w = ctx;
    char *line, *nl;

    if (buf_add(&w->in, p, size * n) != 0)
        return 0;
    line = w->in.data;
    while ((nl = memchr(line, '\n', w->in.len - (size_t)(line - w->in.data)))) {
        json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);

        line = nl + 1;
        if (!j)
            continue; /* a blank line */
        w->rc = watch_result(w, j);
        json_decref(j);
        if (w->rc)
            return 0; /* ends the transfer */
    }
    w->in.len -= (size_t)(line - w->in.data);
    memmove(w->in.data, line, w->in.len);
    return size * n;
}

int ep_etcd_watch(struct ep_etcd *e, const char *prefix, size_t prefix_len, int64_t start_revision,
                  long silence_s,
                  int (*fn)(void *ctx, const struct ep_etcd_kv *events, size_t n, int64_t revision),
                  void *ctx)
{
    struct watch w = {.fn = fn, .ctx = ctx};
    char url[512], auth[1024], *text;
    struct curl_slist *headers = NULL;
    json_t *body;
    CURLcode cc;
    long code = 0;

    if (e->user && !e->token) {
        int rc = authenticate(e);

        if (rc) {
            if (rc == EP_ETCD_E_UNAVAILABLE)
                e->current = (e->current + 1) % e->n_endpoints;
            return rc;
        }
    }
    body = json_pack("{s:{s:o, s:o, s:I, s:b}}", "create_request", "key",
                     ep_etcd_b64(prefix, prefix_len), "range_end",
                     ep_etcd_prefix_end(prefix, prefix_len), "start_revision",
                     (json_int_t)start_revision, "progress_notify", 1);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return EP_E_NOMEM;
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (e->token) {
        snprintf(auth, sizeof auth, "Authorization: %s", e->token);
        headers = curl_slist_append(headers, auth);
    }
    snprintf(url, sizeof url, "%s/v3/watch", e->endpoints[e->current]);
    curl_easy_reset(e->curl);
    curl_easy_setopt(e->curl, CURLOPT_URL, url);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_watch);
    curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    /* A member that vanishes without closing: no byte (not even a progress notification) for this
     * long. */
    curl_easy_setopt(e->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e->curl, CURLOPT_LOW_SPEED_TIME, silence_s > 0 ? silence_s : 30L);
    if (e->cacert)
        curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->cacert);
    if (e->cert)
        curl_easy_setopt(e->curl, CURLOPT_SSLCERT, e->cert);
    if (e->key)
        curl_easy_setopt(e->curl, CURLOPT_SSLKEY, e->key);
    cc = curl_easy_perform(e->curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    free(text);
    free(w.in.data);
    if (w.rc == EP_ETCD_E_AUTH && e->user) {
        free(e->token);
        e->token = NULL;
    }
    if (w.rc)
        return w.rc;
    /* The stream ended or broke: the next attempt goes to the next member. */
    e->current = (e->current + 1) % e->n_endpoints;
    return EP_ETCD_E_UNAVAILABLE;
}
