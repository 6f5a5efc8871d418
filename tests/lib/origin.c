/*
 * origin: a small, fast HTTP origin server on loopback for the ICAP and
 * end-to-end tests and the benchmarks (python's http.server is too slow to
 * measure squid against).
 *
 *   origin [-p PORT] [-f PORTFILE]
 *
 * Listens on 127.0.0.1:PORT (0, the default, takes a free port) and writes
 * the port it listens on to PORTFILE (and stdout) once it accepts
 * connections. Answers:
 *   - POST and PUT: reads the body as it streams in, without keeping it,
 *     and answers 200 "bytes=N cksum=C" where C is the POSIX cksum(1) CRC
 *     of the body, so `cksum < file` in a test checks the upload arrived
 *     intact;
 *   - every other method: 200 "origin host=HOST path=PATH".
 * Runs until SIGTERM or SIGINT.
 */
#include "config.h"

#include <arpa/inet.h>
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
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    snprintf(text, sizeof text, "origin host=%s path=%s\n", host ? host : "-", url);
    return reply(conn, text);
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
                      enum MHD_RequestTerminationCode toe)
{
    free(*state);
    *state = NULL;
}

int main(int argc, char **argv)
{
    const char *portfile = NULL;
    unsigned port = 0;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    sigset_t set;
    int sig, opt;

    while ((opt = getopt(argc, argv, "p:f:")) != -1) {
        switch (opt) {
        case 'p':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            portfile = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s [-p PORT] [-f PORTFILE]\n", argv[0]);
            return 2;
        }
    }
    crc_init();
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
                         (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 4000u,
                         MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_NOTIFY_COMPLETED, completed,
                         NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "origin: cannot listen on 127.0.0.1:%u\n", port);
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
    printf("origin listening on 127.0.0.1:%u\n", port);
    fflush(stdout);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
