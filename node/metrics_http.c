/*
 * GET /metrics of one node (--metrics-listen ADDR:PORT): a node in cluster
 * mode runs no egress-api, so its agent serves the proxy side's metrics of
 * its own store directory (ep_metrics_write(), the same text egress-api
 * writes after its request metrics). Nothing else is served: any other
 * path is 404, any other method 405. With --metrics-token-file, a scrape
 * must carry "Authorization: Bearer TOKEN" (401 otherwise).
 */
#include "config.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "node/node.h"
#include "policy/metrics.h"

static struct MHD_Daemon *daemon_;

struct text {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
};

static void put_text(void *ctx, const char *piece)
{
    struct text *t = ctx;
    size_t n = strlen(piece);

    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->cap + n + 1) * 2;
        char *b = realloc(t->buf, cap);

        if (!b) {
            t->failed = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, piece, n + 1);
    t->len += n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode, const char *type)
{
    struct MHD_Response *res = MHD_create_response_from_buffer(len, (void *)body, mode);
    enum MHD_Result rc;

    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    rc = MHD_queue_response(c, status, res);
    MHD_destroy_response(res);
    return rc;
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return reply(c, status, msg, strlen(msg), MHD_RESPMEM_PERSISTENT, "text/plain");
}

/* Whether the request carries "Bearer TOKEN"; compared in time independent of where it differs. */
static bool authorized(struct MHD_Connection *c, const char *token)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    size_t n = strlen(token), hn;
    unsigned char diff = 0;

    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    hn = strlen(h);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)token[i] ^ (unsigned char)(i < hn ? h[i] : 0);
    return diff == 0 && hn == n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    struct node *n = cls;
    struct text t = {0};
    static int first;

    (void)version;
    (void)upload;
    if (*state == NULL) { /* headers only so far: answer once the (empty) body is in */
        *state = &first;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0)
        return plain(c, MHD_HTTP_NOT_FOUND, "not found\n");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return plain(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (n->metrics_token && !authorized(c, n->metrics_token))
        return plain(c, MHD_HTTP_UNAUTHORIZED, "unauthorized\n");
    ep_metrics_write(n->db, n->store, put_text, &t);
    if (t.failed || !t.buf) {
        free(t.buf);
        return plain(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    return reply(c, MHD_HTTP_OK, t.buf, t.len, MHD_RESPMEM_MUST_FREE, "text/plain; version=0.0.4");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    node_log("metrics: %s", line);
}

int node_metrics_start(struct node *n)
{
    char host[256];
    const char *colon = strrchr(n->metrics_listen, ':');
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    size_t hlen;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    int rc;

    if (!colon || colon == n->metrics_listen || !colon[1]) {
        fprintf(stderr, "egress-node: --metrics-listen must be ADDR:PORT, not \"%s\"\n",
                n->metrics_listen);
        return 2;
    }
    hlen = (size_t)(colon - n->metrics_listen);
    if (n->metrics_listen[0] == '[' && colon[-1] == ']') /* [::1]:9101 */
        snprintf(host, sizeof host, "%.*s", (int)hlen - 2, n->metrics_listen + 1);
    else
        snprintf(host, sizeof host, "%.*s", (int)hlen, n->metrics_listen);
    rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc) {
        fprintf(stderr, "egress-node: --metrics-listen %s: %s\n", n->metrics_listen,
                gai_strerror(rc));
        return 2;
    }
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    daemon_ =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, n, MHD_OPTION_EXTERNAL_LOGGER,
                         on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                         MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!daemon_) {
        fprintf(stderr, "egress-node: cannot listen on %s for /metrics\n", n->metrics_listen);
        return 1;
    }
    return 0;
}

void node_metrics_stop(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
