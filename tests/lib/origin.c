/*
 * origin: a small, fast HTTP origin server on loopback for the ICAP and
 * end-to-end tests and the benchmarks (python's http.server is too slow to
 * measure squid against).
 *
 *   origin [-a ADDR] [-p PORT] [-f PORTFILE] [-c CERT -k KEY] [-l LOGFILE]
 *
 * Listens on ADDR:PORT (ADDR an IPv4 address, default 127.0.0.1; PORT 0,
 * the default, takes a free port), speaking HTTPS with the PEM certificate
 * chain CERT and key KEY when both are given, and writes
 * the port it listens on to PORTFILE (and stdout) once it accepts
 * connections, and with -l appends a line "METHOD HOST URL" to LOGFILE for
 * every request it receives (what the network tests count on the receiving
 * side: a request that arrived over a connection opened earlier counts
 * too). Answers:
 *   - POST and PUT: reads the body as it streams in, without keeping it,
 *     and answers 200 "bytes=N cksum=C" where C is the POSIX cksum(1) CRC
 *     of the body, so `cksum < file` in a test checks the upload arrived
 *     intact;
 *   - every other method: 200 "origin host=HOST path=PATH".
 * Runs until SIGTERM or SIGINT.
 */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Upload state of one POST/PUT: byte count and running CRC. */
struct upload {
    uint64_t bytes;
    uint32_t crc;
};

static uint32_t crc_table[256];
/* The request log of -l, or -1. */
static int log_fd = -1;
/* The state of a request without a body (no upload to count). */
static char headers_only;

/* The table of the CRC-32 used by POSIX cksum (polynomial 0x04C11DB7, MSB first). */
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i << 24;
        for (int k = 0; k < 8; k++)
            c = (c & 0x80000000u) ? (c << 1) ^ 0x04C11DB7u : c << 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n--)
        crc = (crc << 8) ^ crc_table[((crc >> 24) ^ *p++) & 0xff];
    return crc;
}

/* cksum's final step: the length, least significant byte first, then complement. */
static uint32_t crc_finish(uint32_t crc, uint64_t len)
{
    for (; len != 0; len >>= 8) {
        unsigned char b = (unsigned char)(len & 0xff);
        crc = crc_update(crc, &b, 1);
    }
    return ~crc;
}

static enum MHD_Result reply(struct MHD_Connection *conn, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/*
 * The request handler. Bodies are consumed as they arrive (MHD hands them
 * over in pieces) and only counted, so a 50 MB upload costs no memory.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    char text[512];
    struct upload *up = *state;

    if (*state == NULL && log_fd >= 0) {
        const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
        int n = snprintf(text, sizeof text, "%s %s %s\n", method, h ? h : "-", url);
        if (n > 0 && write(log_fd, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1) < 0)
            perror("origin: request log");
    }

    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        if (up == NULL) {
            up = calloc(1, sizeof *up);
            if (up == NULL)
                return MHD_NO;
            *state = up;
            return MHD_YES;
        }
        if (*size != 0) {
            up->crc = crc_update(up->crc, (const unsigned char *)data, *size);
            up->bytes += *size;
            *size = 0;
            return MHD_YES;
        }
        snprintf(text, sizeof text, "bytes=%llu cksum=%lu\n", (unsigned long long)up->bytes,
                 (unsigned long)crc_finish(up->crc, up->bytes));
        return reply(conn, text);
    }
    /* Answered on the second call, once the whole request is in: a
     * response queued on the first one makes MHD close the connection. */
    if (*state == NULL) {
        *state = &headers_only;
        return MHD_YES;
    }
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    snprintf(text, sizeof text, "origin host=%s path=%s\n", host ? host : "-", url);
    return reply(conn, text);
}

/* The whole of the file @p path as a NUL-terminated string, or NULL. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)n + 1);
    if (buf == NULL)
        goto out;
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
out:
    fclose(f);
    return buf;
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
                      enum MHD_RequestTerminationCode toe)
{
    if (*state != &headers_only)
        free(*state);
    *state = NULL;
}

int main(int argc, char **argv)
{
    const char *portfile = NULL, *addr = "127.0.0.1", *certfile = NULL, *keyfile = NULL;
    char *cert = NULL, *key = NULL;
    unsigned port = 0, flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    sigset_t set;
    int sig, opt;

    while ((opt = getopt(argc, argv, "a:p:f:c:k:l:")) != -1) {
        switch (opt) {
        case 'p':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            portfile = optarg;
            break;
        case 'a':
            addr = optarg;
            break;
        case 'c':
            certfile = optarg;
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 'l':
            log_fd = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (log_fd < 0) {
                perror(optarg);
                return 1;
            }
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-a ADDR] [-p PORT] [-f PORTFILE] [-c CERT -k KEY] [-l LOGFILE]\n",
                    argv[0]);
            return 2;
        }
    }
    crc_init();
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "origin: -a %s is not an IPv4 address\n", addr);
        return 2;
    }
    if ((certfile == NULL) != (keyfile == NULL)) {
        fprintf(stderr, "origin: HTTPS needs both -c CERT and -k KEY\n");
        return 2;
    }
    if (certfile != NULL) {
        cert = read_file(certfile);
        key = read_file(keyfile);
        if (cert == NULL || key == NULL) {
            fprintf(stderr, "origin: cannot read %s\n", cert == NULL ? certfile : keyfile);
            return 1;
        }
        flags |= MHD_USE_TLS;
    }
    d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 4000u,
                         MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_NOTIFY_COMPLETED, completed,
                         NULL, cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
                         MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "origin: cannot listen on %s:%u%s\n", addr, port, cert ? " (HTTPS)" : "");
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    port = info ? info->port : port;
    if (portfile != NULL) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 ||
            rename(tmp, portfile) != 0) {
            fprintf(stderr, "origin: cannot write %s\n", portfile);
            MHD_stop_daemon(d);
            return 1;
        }
    }
    printf("origin listening on %s:%u\n", addr, port);
    fflush(stdout);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    free(cert);
    free(key);
    return 0;
}
