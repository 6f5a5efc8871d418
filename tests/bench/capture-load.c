/*
 * capture-load: the two ends of the capture benchmark (bench-capture.sh).
 *
 *   capture-load origin CERT KEY PORTFILE
 *       A fast TLS origin on 127.0.0.1 (a thread per connection, HTTP/1.1
 *       keep-alive). Every request is answered with an OpenAI-shaped SSE
 *       stream of 6 events (Content-Length framed); a request header
 *       "X-Pause-Ms: N" makes it wait N ms after the first event.
 *   capture-load client PROXY-PORT URL CAFILE SOURCE-IP CONNS SECONDS PAUSE-MS
 *       CONNS threads, each one keep-alive connection through the proxy
 *       (CONNECT, then TLS to the bumping squid), POSTing a chat request
 *       for SECONDS. Prints "requests N rps R ttfe_median_ms M ttfe_p99_ms P
 *       errors E", where ttfe is the time from sending a request to the
 *       first body byte (the first event) arriving.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *const events[] = {
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-bench\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
    "\"assistant\",\"content\":\"Hello\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-bench\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"content\":\" there\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-bench\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"content\":\", how can I help?\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-bench\",\"choices\":[{\"index\":0,\"delta\":{},"
    "\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":"
    "12,\"completion_tokens\":7}}\n\n",
    "data: [DONE]\n\n",
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- origin ---- */

static SSL_CTX *ctx;

/* Read one request (headers and Content-Length body); its pause in ms, -1 at the end. */
static int read_request(SSL *ssl, char *buf, size_t size)
{
    size_t n = 0, need = 0;
    char *end = NULL, *h;
    int pause = 0;

    for (;;) {
        int got = SSL_read(ssl, buf + n, (int)(size - 1 - n));

        if (got <= 0)
            return -1;
        n += (size_t)got;
        buf[n] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            h = strcasestr(buf, "\r\nContent-Length:");
            need = (size_t)(end + 4 - buf) + (h && h < end ? strtoul(h + 17, NULL, 10) : 0);
            h = strcasestr(buf, "\r\nX-Pause-Ms:");
            pause = h && h < end ? atoi(h + 13) : 0;
        }
        if (end && n >= need)
            return pause;
        if (n >= size - 1)
            return -1;
    }
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    SSL *ssl = SSL_new(ctx);
    char buf[65536], head[256];
    size_t total = 0;
    int pause;

    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        total += strlen(events[i]);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) <= 0)
        goto out;
    while ((pause = read_request(ssl, buf, sizeof buf)) >= 0) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         total);

        if (SSL_write(ssl, head, n) <= 0 || SSL_write(ssl, events[0], (int)strlen(events[0])) <= 0)
            break;
        if (pause > 0)
            usleep((useconds_t)pause * 1000);
        for (size_t i = 1; i < sizeof events / sizeof events[0]; i++)
            if (SSL_write(ssl, events[i], (int)strlen(events[i])) <= 0)
                goto out;
    }
out:
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static int origin(const char *cert, const char *key, const char *portfile)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    FILE *f;

    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "capture-load: cannot load %s / %s\n", cert, key);
        return 1;
    }
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 512) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
        perror("capture-load: listen");
        return 1;
    }
    f = fopen(portfile, "w");
    if (!f)
        return 1;
    fprintf(f, "%u\n", ntohs(a.sin_port));
    fclose(f);
    for (;;) {
        pthread_t t;
        int c = accept(s, NULL, NULL);

        if (c < 0)
            continue;
        /* Headers and the first event go out at once, not after a delayed ACK. */
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)c) != 0)
            close(c);
        else
            pthread_detach(t);
    }
}

/* ---- client ---- */

struct client {
    const char *proxy, *url, *ca, *ip, *pause;
    double until;
    unsigned long requests, errors;
    double *ttfe;
    size_t n_ttfe, cap_ttfe;
    double start, first;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct client *c = ud;

    (void)p;
    if (c->first == 0)
        c->first = now_s();
    return size * n;
}

static void *run(void *arg)
{
    struct client *c = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char pause[64];
    const char *body = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                       "\"content\":\"Say hello\"}]}";

    snprintf(pause, sizeof pause, "X-Pause-Ms: %s", c->pause);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Authorization: Bearer sk-bench");
    hdr = curl_slist_append(hdr, pause);
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_PROXY, c->proxy);
    curl_easy_setopt(h, CURLOPT_INTERFACE, c->ip);
    curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    while (now_s() < c->until) {
        long code = 0;

        c->first = 0;
        c->start = now_s();
        if (curl_easy_perform(h) != CURLE_OK ||
            (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
            c->errors++;
            continue;
        }
        c->requests++;
        if (c->n_ttfe == c->cap_ttfe) {
            c->cap_ttfe = c->cap_ttfe ? c->cap_ttfe * 2 : 1024;
            c->ttfe = realloc(c->ttfe, c->cap_ttfe * sizeof *c->ttfe);
            if (!c->ttfe)
                abort();
        }
        c->ttfe[c->n_ttfe++] = (c->first - c->start) * 1000;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int client(char **argv)
{
    char proxy[64];
    int conns = atoi(argv[6]);
    double seconds = atof(argv[7]), t0;
    struct client *cs = calloc((size_t)conns, sizeof *cs);
    pthread_t *ts = calloc((size_t)conns, sizeof *ts);
    unsigned long requests = 0, errors = 0;
    double *all = NULL;
    size_t n = 0;

    if (!cs || !ts || conns < 1)
        return 2;
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%s", argv[2]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    t0 = now_s();
    for (int i = 0; i < conns; i++) {
        cs[i] = (struct client){.proxy = proxy,
                                .url = argv[3],
                                .ca = argv[4],
                                .ip = argv[5],
                                .pause = argv[8],
                                .until = t0 + seconds};
        pthread_create(&ts[i], NULL, run, &cs[i]);
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(ts[i], NULL);
        requests += cs[i].requests;
        errors += cs[i].errors;
        all = realloc(all, (n + cs[i].n_ttfe + 1) * sizeof *all);
        memcpy(all + n, cs[i].ttfe, cs[i].n_ttfe * sizeof *all);
        n += cs[i].n_ttfe;
        free(cs[i].ttfe);
    }
    qsort(all, n, sizeof *all, cmp_double);
    printf("requests %lu rps %.1f ttfe_median_ms %.2f ttfe_p99_ms %.2f errors %lu\n", requests,
           requests / (now_s() - t0), n ? all[n / 2] : 0, n ? all[n * 99 / 100] : 0, errors);
    free(all);
    free(cs);
    free(ts);
    curl_global_cleanup();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "origin") == 0)
        return origin(argv[2], argv[3], argv[4]);
    if (argc == 9 && strcmp(argv[1], "client") == 0)
        return client(argv);
    fprintf(stderr, "usage: capture-load origin CERT KEY PORTFILE\n"
                    "       capture-load client PROXY-PORT URL CAFILE SOURCE-IP CONNS SECONDS "
                    "PAUSE-MS\n");
    return 2;
}
