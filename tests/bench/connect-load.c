/*
 * connect-load: CONNECT tunnels through an HTTP proxy, as HTTPS clients
 * open them, for tests/bench/bench-acl.sh (wrk cannot do CONNECT).
 *
 *   connect-load -p PROXYPORT -H HOST:PORT [-c CONNECTIONS] [-d SECONDS]
 *
 * Each of CONNECTIONS threads repeats: connect to 127.0.0.1:PROXYPORT,
 * send "CONNECT HOST:PORT", read the proxy's answer, and on 200 send one
 * "GET /" through the tunnel (Connection: close) and read the answer to
 * its end; then close. After SECONDS (default 5) it prints one line:
 *   tunnels=N seconds=S rate=R ok=A refused=B errors=E
 * where ok counts tunnels that carried their GET, refused CONNECTs the
 * proxy answered with anything but 200. Exit status 1 on any error.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct load {
    unsigned port;
    const char *target;
    double seconds;
    double start;
    atomic_long ok, refused, errors;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_proxy(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read the proxy's answer headers; its status code, or -1. */
static int read_head(int fd)
{
    char buf[4096];
    size_t used = 0;

    while (used < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        if (n <= 0)
            return -1;
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            return strncmp(buf, "HTTP/1.", 7) == 0 ? atoi(buf + 9) : -1;
    }
    return -1;
}

/* One tunnel: 1 carried its GET, 0 refused, -1 error. */
static int one_tunnel(const struct load *l)
{
    char req[512];
    char buf[16384];
    long got = 0;
    int fd = connect_proxy(l->port), code, rc = -1;
    ssize_t n;

    if (fd < 0)
        return -1;
    snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", l->target, l->target);
    if (send_all(fd, req, strlen(req)) != 0)
        goto out;
    code = read_head(fd);
    if (code != 200) {
        rc = code > 0 ? 0 : -1;
        goto out;
    }
    snprintf(req, sizeof req, "GET /c HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
             l->target);
    if (send_all(fd, req, strlen(req)) != 0)
        goto out;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        got += n;
    rc = got > 12 && memcmp(buf, "HTTP/1.", 7) == 0 ? 1 : -1;
out:
    close(fd);
    return rc;
}

static void *worker(void *arg)
{
    struct load *l = arg;

    while (now_s() - l->start < l->seconds) {
        int rc = one_tunnel(l);
        if (rc > 0)
            atomic_fetch_add(&l->ok, 1);
        else if (rc == 0)
            atomic_fetch_add(&l->refused, 1);
        else
            atomic_fetch_add(&l->errors, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct load l = {.seconds = 5};
    int conns = 20, opt;
    pthread_t *threads;
    double took;
    long total;

    while ((opt = getopt(argc, argv, "p:H:c:d:")) != -1) {
        switch (opt) {
        case 'p':
            l.port = (unsigned)atoi(optarg);
            break;
        case 'H':
            l.target = optarg;
            break;
        case 'c':
            conns = atoi(optarg);
            break;
        case 'd':
            l.seconds = atof(optarg);
            break;
        default:
            goto usage;
        }
    }
    if (l.port == 0 || l.port > 65535 || l.target == NULL || conns < 1 || conns > 1000 ||
        l.seconds <= 0)
        goto usage;
    threads = calloc((size_t)conns, sizeof *threads);
    if (threads == NULL)
        return 1;
    l.start = now_s();
    for (int i = 0; i < conns; i++)
        if (pthread_create(&threads[i], NULL, worker, &l) != 0) {
            fprintf(stderr, "connect-load: cannot start thread %d\n", i);
            return 1;
        }
    for (int i = 0; i < conns; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    took = now_s() - l.start;
    total = atomic_load(&l.ok) + atomic_load(&l.refused);
    printf("tunnels=%ld seconds=%.2f rate=%ld ok=%ld refused=%ld errors=%ld\n", total, took,
           (long)(total / took), atomic_load(&l.ok), atomic_load(&l.refused),
           atomic_load(&l.errors));
    return atomic_load(&l.errors) ? 1 : 0;
usage:
    fprintf(stderr,
            "usage: connect-load -p PROXYPORT -H HOST:PORT [-c CONNECTIONS] [-d SECONDS]\n");
    return 2;
}
