/*
 * icap-load: direct ICAP REQMOD load on a c-icap service, without squid.
 *
 *   icap-load -p PORT [-s SERVICE] [-c CONNECTIONS] [-d SECONDS | -n REQUESTS]
 *             [-i CLIENT_IP] [-H HOST] [-k DISTINCT_HOSTS]
 *
 * Each connection is a thread that sends bodyless REQMOD requests (a GET
 * of http://HOST/ with X-Client-IP, Allow: 204, Preview: 0, as squid does)
 * one after another over one persistent connection to 127.0.0.1:PORT. With
 * -k N the host cycles through N names hK.HOST, so a logging workspace
 * records N hosts. Stops after SECONDS (default 5) or after REQUESTS in
 * total, then prints one line:
 *   requests=N seconds=S rate=R r204=A r200=B errors=E
 * Exit status 1 when any request failed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct load {
    unsigned port;
    const char *service;
    const char *client_ip;
    const char *host;
    unsigned distinct;
    long limit; /* total requests, 0 = by time */
    double seconds;
    double start;
    atomic_long issued;
    atomic_long r204, r200, errors;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_icap(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/*
 * Read one ICAP response: the ICAP header block, then, for a 200, the
 * encapsulated HTTP headers up to the null-body offset (bodies are not
 * expected from a REQMOD of a GET). Returns the ICAP status or -1.
 * @p buf keeps bytes read past the response for the next call.
 */
static int read_response(int fd, char *buf, size_t size, size_t *have)
{
    size_t need = 0;
    char *end = NULL;
    int status = -1;

    for (;;) {
        if (end == NULL) {
            buf[*have] = '\0';
            end = strstr(buf, "\r\n\r\n");
            if (end != NULL) {
                const char *nb;
                if (sscanf(buf, "ICAP/1.0 %d", &status) != 1)
                    return -1;
                need = (size_t)(end + 4 - buf);
                nb = strstr(buf, "null-body=");
                if (status == 200 && nb != NULL && nb < end)
                    need += strtoul(nb + 10, NULL, 10);
                else if (status == 200)
                    return -1; /* a body: not expected here */
            }
        }
        if (end != NULL && *have >= need) {
            memmove(buf, buf + need, *have - need);
            *have -= need;
            return status;
        }
        if (*have + 1 >= size)
            return -1;
        ssize_t r = read(fd, buf + *have, size - 1 - *have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        *have += (size_t)r;
    }
}

static void *worker(void *arg)
{
    struct load *l = arg;
    char req[2048], http[512], buf[65536];
    size_t have = 0;
    int fd = connect_icap(l->port);
    long n;

    if (fd < 0) {
        atomic_fetch_add(&l->errors, 1);
        return NULL;
    }
    while ((n = atomic_fetch_add(&l->issued, 1)) >= 0) {
        if (l->limit > 0 ? n >= l->limit : now_s() - l->start >= l->seconds)
            break;
        int hl = l->distinct > 0
                     ? snprintf(http, sizeof http,
                                "GET http://h%ld.%s/ HTTP/1.1\r\nHost: h%ld.%s\r\n\r\n",
                                n % l->distinct, l->host, n % l->distinct, l->host)
                     : snprintf(http, sizeof http, "GET http://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n",
                                l->host, l->host);
        int rl = snprintf(req, sizeof req,
                          "REQMOD icap://127.0.0.1:%u/%s ICAP/1.0\r\n"
                          "Host: 127.0.0.1:%u\r\n"
                          "X-Client-IP: %s\r\n"
                          "Allow: 204\r\n"
                          "Preview: 0\r\n"
                          "Encapsulated: req-hdr=0, null-body=%d\r\n\r\n%s",
                          l->port, l->service, l->port, l->client_ip, hl, http);
        if (!write_all(fd, req, (size_t)rl)) {
            atomic_fetch_add(&l->errors, 1);
            break;
        }
        int status = read_response(fd, buf, sizeof buf, &have);
        if (status == 204)
            atomic_fetch_add(&l->r204, 1);
        else if (status == 200)
            atomic_fetch_add(&l->r200, 1);
        else {
            atomic_fetch_add(&l->errors, 1);
            break;
        }
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct load l = {
        .service = "egress", .client_ip = "127.0.0.2", .host = "allowed.test", .seconds = 5};
    unsigned conns = 20;
    pthread_t *th;
    int opt;

    while ((opt = getopt(argc, argv, "p:s:c:d:n:i:H:k:")) != -1) {
        switch (opt) {
        case 'p':
            l.port = (unsigned)atoi(optarg);
            break;
        case 's':
            l.service = optarg;
            break;
        case 'c':
            conns = (unsigned)atoi(optarg);
            break;
        case 'd':
            l.seconds = atof(optarg);
            break;
        case 'n':
            l.limit = atol(optarg);
            break;
        case 'i':
            l.client_ip = optarg;
            break;
        case 'H':
            l.host = optarg;
            break;
        case 'k':
            l.distinct = (unsigned)atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: icap-load -p PORT [-s SERVICE] [-c CONNS] [-d SECONDS | -n "
                            "REQUESTS] [-i CLIENT_IP] [-H HOST] [-k DISTINCT_HOSTS]\n");
            return 2;
        }
    }
    if (l.port == 0 || conns == 0 || conns > 4096) {
        fprintf(stderr, "icap-load: -p PORT is required, -c between 1 and 4096\n");
        return 2;
    }
    th = calloc(conns, sizeof *th);
    if (th == NULL)
        return 1;
    l.start = now_s();
    for (unsigned i = 0; i < conns; i++)
        if (pthread_create(&th[i], NULL, worker, &l) != 0)
            return 1;
    for (unsigned i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - l.start;
    long done = atomic_load(&l.r204) + atomic_load(&l.r200);
    printf("requests=%ld seconds=%.2f rate=%.0f r204=%ld r200=%ld errors=%ld\n", done, secs,
           (double)done / secs, atomic_load(&l.r204), atomic_load(&l.r200), atomic_load(&l.errors));
    free(th);
    return atomic_load(&l.errors) ? 1 : 0;
}
