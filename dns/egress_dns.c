/*
 * egress-dns: the DNS server of the workspaces, on the policy core. A thin
 * adapter from UDP and TCP sockets to the query path (query.h), which asks
 * the policy gate about every name and libunbound for every answer.
 *
 * Threads: --threads workers per UDP socket, each reading the datagrams
 * waiting (recvmmsg), answering and writing them one at a time (a slow
 * upstream holds only its own worker); one thread per TCP listener
 * accepting, and one per TCP connection (at most DNS_TCP_CONNECTIONS at
 * once; more are closed at once), each reading length-prefixed queries
 * until the client closes, a message lies about its length, or it stays
 * silent DNS_TCP_IDLE_MS. The main thread waits for signals: SIGUSR1
 * logs the counters, SIGTERM, SIGINT or SIGHUP stop the server; the
 * recorder's last flush then writes every count, and the totals are
 * logged.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns/counters.h"
#include "dns/limits.h"
#include "dns/query.h"
#include "dns/resolver.h"
#include "policy/error.h"
#include "policy/gate.h"
#include "policy/ratelimit.h"

#define DNS_LISTEN_MAX      16
#define DNS_THREADS_MAX     64
#define DNS_TCP_CONNECTIONS 128
#define DNS_TCP_IDLE_MS     10000
#define DNS_POLL_MS         200
#define DNS_UDP_BATCH       16 /* datagrams a UDP worker reads at once */

/* One listening address, with its UDP and TCP sockets. */
struct listener {
    char text[64];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int udp[DNS_THREADS_MAX]; /* one socket per worker (SO_REUSEPORT) */
    int tcp;
};

struct server {
    struct dns_service svc;
    struct listener listen[DNS_LISTEN_MAX];
    unsigned n_listen;
    unsigned threads;
    bool log_queries;
    _Atomic int tcp_open;
    struct ep_ratelimit tcp_full_log;
};

static atomic_bool stopping;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void gate_log(void *ctx, enum ep_gate_log_kind kind, const char *line)
{
    fprintf(stderr, "egress-dns: %s\n", line);
}

/* The client's address as the store's clients table is keyed: inet_ntop's text. */
static void client_text(const struct sockaddr_storage *ss, char *out, size_t size)
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    struct in_addr v4;

    out[0] = '\0';
    if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)size);
    } else if (ss->ss_family == AF_INET6) {
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            memcpy(&v4, s6->sin6_addr.s6_addr + 12, 4);
            inet_ntop(AF_INET, &v4, out, (socklen_t)size);
        } else {
            inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)size);
        }
    }
}

static void log_query(const struct server *srv, const char *client, const char *proto,
                      const struct dns_outcome *oc)
{
    if (srv->log_queries)
        fprintf(stderr, "egress-dns: %s %s rcode=%d %s\n", proto, client, oc->rcode, oc->text);
}

/* --- UDP ---------------------------------------------------------------- */

struct udp_worker {
    struct server *srv;
    int fd;
};

/*
 * Datagrams are read in batches with recvmmsg() (up to DNS_UDP_BATCH: as
 * many as are waiting once the first is there), one system call for a
 * batch instead of one a query; each answer is sent as soon as it is made
 * (an answer never waits for the next query's, which may go upstream).
 */
static void *udp_worker_main(void *arg)
{
    struct udp_worker *w = arg;
    uint8_t(*bufs)[DNS_TCP_MAX] = malloc(DNS_UDP_BATCH * sizeof *bufs);
    struct sockaddr_storage from[DNS_UDP_BATCH];
    struct iovec iov[DNS_UDP_BATCH];
    struct mmsghdr in[DNS_UDP_BATCH];
    char client[INET6_ADDRSTRLEN];
    struct dns_outcome oc;

    if (bufs == NULL) {
        fprintf(stderr, "egress-dns: no memory for a UDP worker's buffers\n");
        return NULL;
    }
    while (!atomic_load(&stopping)) {
        int n;

        for (unsigned i = 0; i < DNS_UDP_BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof bufs[i]};
            in[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                            .msg_namelen = sizeof from[i],
                                            .msg_iov = &iov[i],
                                            .msg_iovlen = 1};
        }
        n = recvmmsg(w->fd, in, DNS_UDP_BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue; /* the receive timeout (to see stopping), or EINTR */
        for (int i = 0; i < n; i++) {
            uint8_t *answer;
            size_t alen;

            client_text(&from[i], client, sizeof client);
            if (dns_query_answer(&w->srv->svc, client, false, bufs[i], in[i].msg_len, now_ms(),
                                 &answer, &alen, &oc) == 0) {
                sendto(w->fd, answer, alen, 0, (struct sockaddr *)&from[i],
                       in[i].msg_hdr.msg_namelen);
                free(answer);
            }
            log_query(w->srv, client, "udp", &oc);
        }
    }
    free(bufs);
    return NULL;
}

/* --- TCP ---------------------------------------------------------------- */

struct tcp_conn {
    struct server *srv;
    int fd;
    struct sockaddr_storage from;
};

/* Read exactly @p len bytes; false on close, error, timeout or stop. */
static bool read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    int64_t deadline = now_ms() + DNS_TCP_IDLE_MS;

    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (atomic_load(&stopping) || now_ms() >= deadline)
            return false;
        if (poll(&p, 1, DNS_POLL_MS) <= 0)
            continue;
        n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

static bool write_full(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

static void *tcp_conn_main(void *arg)
{
    struct tcp_conn *c = arg;
    char client[INET6_ADDRSTRLEN];
    uint8_t *msg = malloc(DNS_TCP_MAX);
    struct dns_outcome oc;

    client_text(&c->from, client, sizeof client);
    while (msg != NULL) {
        uint8_t hdr[2], *answer;
        size_t len, alen;

        if (!read_full(c->fd, hdr, 2))
            break;
        len = (size_t)hdr[0] << 8 | hdr[1];
        /* A zero length, or fewer bytes than announced: nothing to answer, close. */
        if (len == 0 || !read_full(c->fd, msg, len))
            break;
        if (dns_query_answer(&c->srv->svc, client, true, msg, len, now_ms(), &answer, &alen, &oc) ==
            0) {
            bool ok;
            hdr[0] = (uint8_t)(alen >> 8);
            hdr[1] = (uint8_t)alen;
            ok = write_full(c->fd, hdr, 2) && write_full(c->fd, answer, alen);
            free(answer);
            log_query(c->srv, client, "tcp", &oc);
            if (!ok)
                break;
        } else {
            log_query(c->srv, client, "tcp", &oc);
            break;
        }
    }
    free(msg);
    close(c->fd);
    atomic_fetch_sub(&c->srv->tcp_open, 1);
    free(c);
    return NULL;
}

struct tcp_acceptor {
    struct server *srv;
    int fd;
};

static void *tcp_accept_main(void *arg)
{
    struct tcp_acceptor *a = arg;
    pthread_attr_t attr;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (!atomic_load(&stopping)) {
        struct pollfd p = {.fd = a->fd, .events = POLLIN};
        struct tcp_conn *c;
        socklen_t len;
        pthread_t t;
        int fd;

        if (poll(&p, 1, DNS_POLL_MS) <= 0)
            continue;
        c = malloc(sizeof *c);
        if (c == NULL)
            continue;
        len = sizeof c->from;
        fd = accept(a->fd, (struct sockaddr *)&c->from, &len);
        if (fd < 0) {
            free(c);
            continue;
        }
        if (atomic_fetch_add(&a->srv->tcp_open, 1) >= DNS_TCP_CONNECTIONS) {
            unsigned long refused;
            atomic_fetch_sub(&a->srv->tcp_open, 1);
            if (ep_ratelimit_pass(&a->srv->tcp_full_log, 10000, &refused))
                fprintf(stderr,
                        "egress-dns: %d TCP connections open, closing new ones (%lu more "
                        "not logged)\n",
                        DNS_TCP_CONNECTIONS, refused);
            close(fd);
            free(c);
            continue;
        }
        c->srv = a->srv;
        c->fd = fd;
        if (pthread_create(&t, &attr, tcp_conn_main, c) != 0) {
            atomic_fetch_sub(&a->srv->tcp_open, 1);
            close(fd);
            free(c);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

/* --- setup -------------------------------------------------------------- */

/*
 * Read "ADDR", "ADDR:PORT" or "[V6]:PORT" (default port 53) into @p l.
 * 0, or EINVAL.
 */
static int parse_listen(const char *text, struct listener *l)
{
    char host[64];
    const char *port_text = NULL;
    unsigned long port = 53;
    char *end;

    memset(l, 0, sizeof *l);
    snprintf(l->text, sizeof l->text, "%s", text);
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || (size_t)(close - text - 1) >= sizeof host)
            return EINVAL;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        if (close[1] == ':')
            port_text = close + 2;
        else if (close[1] != '\0')
            return EINVAL;
    } else {
        const char *colon = strrchr(text, ':');
        size_t hl =
            colon != NULL && strchr(text, ':') == colon ? (size_t)(colon - text) : strlen(text);
        if (hl >= sizeof host)
            return EINVAL;
        memcpy(host, text, hl);
        host[hl] = '\0';
        if (hl < strlen(text))
            port_text = colon + 1;
    }
    if (port_text != NULL) {
        errno = 0;
        port = strtoul(port_text, &end, 10);
        if (errno != 0 || *end != '\0' || end == port_text || port == 0 || port > 65535)
            return EINVAL;
    }
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&l->addr)->sin_addr) == 1) {
        struct sockaddr_in *s = (struct sockaddr_in *)&l->addr;
        s->sin_family = AF_INET;
        s->sin_port = htons((uint16_t)port);
        l->addrlen = sizeof *s;
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&l->addr)->sin6_addr) == 1) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&l->addr;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons((uint16_t)port);
        l->addrlen = sizeof *s;
    } else {
        return EINVAL;
    }
    return 0;
}

/*
 * Open @p l's sockets: @p threads UDP sockets on the same address
 * (SO_REUSEPORT: the kernel spreads datagrams over them, one worker each,
 * with no lock shared between workers) and one TCP socket. 0, or an errno
 * (logged).
 */
static int open_listener(struct listener *l, unsigned threads)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = DNS_POLL_MS * 1000};
    int one = 1;

    for (unsigned i = 0; i < DNS_THREADS_MAX; i++)
        l->udp[i] = -1;
    for (unsigned i = 0; i < threads; i++) {
        l->udp[i] = socket(l->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (l->udp[i] < 0)
            goto fail;
        if (l->addr.ss_family == AF_INET6)
            setsockopt(l->udp[i], IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        setsockopt(l->udp[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        /* Workers wake up now and then to see whether the server is stopping. */
        setsockopt(l->udp[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (bind(l->udp[i], (struct sockaddr *)&l->addr, l->addrlen) != 0)
            goto fail;
    }
    l->tcp = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->tcp < 0)
        goto fail;
    if (l->addr.ss_family == AF_INET6)
        setsockopt(l->tcp, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    setsockopt(l->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l->tcp, (struct sockaddr *)&l->addr, l->addrlen) != 0 || listen(l->tcp, 128) != 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "egress-dns: cannot listen on %s: %s\n", l->text, strerror(errno));
    return errno != 0 ? errno : EIO;
}

static void usage(FILE *f)
{
    fputs("usage: egress-dns [OPTION...]\n"
          "The workspaces' DNS server: every name is decided by the egress policy of the\n"
          "client's project (security: the whitelist, else NXDOMAIN with an Extended DNS\n"
          "Error naming the reason; logging: everything, recorded; none: plain\n"
          "resolution; unknown clients: REFUSED), answers come from libunbound.\n"
          "\n"
          "  --listen ADDR[:PORT]  UDP and TCP address to serve, repeatable; [V6]:PORT for\n"
          "                        IPv6 (default 127.0.0.1:53)\n"
          "  --upstream ADDR[@PORT] a resolver to forward to, repeatable (default: none,\n"
          "                        full recursion from the root)\n"
          "  --trust-anchor FILE   validate DNSSEC with this trust anchor file (e.g.\n"
          "                        /usr/share/dns/root.key); bogus answers: SERVFAIL\n"
          "  --unbound-option 'NAME: VALUE'\n"
          "                        a libunbound option (unbound.conf(5)), repeatable\n"
          "  --trusted-client ADDR a client resolved without the policy (squid's own\n"
          "                        address), repeatable\n"
          "  --rate N              queries a second per client, 0 = no limit (default 100)\n"
          "  --burst N             queries at once above the rate (default 2 x rate)\n"
          "  --names-per-minute N  distinct names a client may ask a minute, 0 = no\n"
          "                        limit (default 300; at most 1000000)\n"
          "  --threads N           workers per UDP address, 1..64 (default 4)\n"
          "  --log-queries         one line per query on stderr\n"
          "  --database DIR        the LMDB store shared with egress-api\n"
          "                        (default " EP_STORE_DEFAULT_DIR ")\n"
          "  --flush-interval TIME how often counts are written: 10ms..3600s (default 1s)\n"
          "  --max-readers N       LMDB reader slots if this process creates the store\n"
          "  --map-size SIZE       LMDB map size, at least 1M, K/M/G/T suffix (default 1G)\n"
          "  --key-filter on|off   key filters of large whitelists (default on)\n"
          "  --key-filter-memory SIZE  the most memory they hold together (default 16M)\n"
          "  --log-decisions       one line per decision on stderr\n"
          "  --help                this text\n"
          "SIGUSR1 logs the counters; SIGTERM stops (the counters are logged at exit).\n",
          f);
}

static unsigned long parse_count(const char *name, const char *text, unsigned long max, int *bad)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text || text[0] == '-' || v > max) {
        fprintf(stderr, "egress-dns: --%s: '%s' is not a number 0..%lu\n", name, text, max);
        *bad = 1;
    }
    return v;
}

struct args {
    struct ep_gate_options gate;
    struct dns_resolver_options resolver;
    struct dns_limits_options limits;
    bool burst_set;
};

static int parse_args(int argc, char **argv, struct server *srv, struct args *a)
{
    enum {
        O_LISTEN = 100,
        O_UPSTREAM,
        O_TA,
        O_UBOPT,
        O_TRUSTED,
        O_RATE,
        O_BURST,
        O_NAMES,
        O_THREADS,
        O_LOGQ,
        O_LOGD,
        O_HELP
    };
    static const struct option longopts[] = {
        {"database", required_argument, NULL, EP_GATE_OPT_DATABASE},
        {"flush-interval", required_argument, NULL, EP_GATE_OPT_INTERVAL},
        {"max-readers", required_argument, NULL, EP_GATE_OPT_MAX_READERS},
        {"map-size", required_argument, NULL, EP_GATE_OPT_MAP_SIZE},
        {"key-filter", required_argument, NULL, EP_GATE_OPT_KEY_FILTER},
        {"key-filter-memory", required_argument, NULL, EP_GATE_OPT_KEY_FILTER_MEMORY},
        {"listen", required_argument, NULL, O_LISTEN},
        {"upstream", required_argument, NULL, O_UPSTREAM},
        {"trust-anchor", required_argument, NULL, O_TA},
        {"unbound-option", required_argument, NULL, O_UBOPT},
        {"trusted-client", required_argument, NULL, O_TRUSTED},
        {"rate", required_argument, NULL, O_RATE},
        {"burst", required_argument, NULL, O_BURST},
        {"names-per-minute", required_argument, NULL, O_NAMES},
        {"threads", required_argument, NULL, O_THREADS},
        {"log-queries", no_argument, NULL, O_LOGQ},
        {"log-decisions", no_argument, NULL, O_LOGD},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    char why[256];
    int c, index, bad = 0;
    unsigned char addr[sizeof(struct in6_addr)];

    while ((c = getopt_long(argc, argv, "", longopts, &index)) != -1) {
        switch (c) {
        case EP_GATE_OPT_DATABASE:
        case EP_GATE_OPT_INTERVAL:
        case EP_GATE_OPT_MAX_READERS:
        case EP_GATE_OPT_MAP_SIZE:
        case EP_GATE_OPT_KEY_FILTER:
        case EP_GATE_OPT_KEY_FILTER_MEMORY:
            if (ep_gate_option_set(&a->gate, (enum ep_gate_option)c, optarg, why, sizeof why)) {
                fprintf(stderr, "egress-dns: --%s: %s\n", longopts[index].name, why);
                return 2;
            }
            break;
        case O_LISTEN:
            if (srv->n_listen == DNS_LISTEN_MAX ||
                parse_listen(optarg, &srv->listen[srv->n_listen]) != 0) {
                fprintf(stderr,
                        "egress-dns: --listen: '%s' is not ADDR[:PORT] or [V6]:PORT "
                        "(at most %d)\n",
                        optarg, DNS_LISTEN_MAX);
                return 2;
            }
            srv->n_listen++;
            break;
        case O_UPSTREAM:
            if (a->resolver.n_upstream == DNS_UPSTREAMS_MAX) {
                fprintf(stderr, "egress-dns: --upstream: at most %d\n", DNS_UPSTREAMS_MAX);
                return 2;
            }
            a->resolver.upstream[a->resolver.n_upstream++] = optarg;
            break;
        case O_TA:
            a->resolver.trust_anchor_file = optarg;
            break;
        case O_UBOPT:
            if (a->resolver.n_option == DNS_UPSTREAMS_MAX) {
                fprintf(stderr, "egress-dns: --unbound-option: at most %d\n", DNS_UPSTREAMS_MAX);
                return 2;
            }
            a->resolver.option[a->resolver.n_option++] = optarg;
            break;
        case O_TRUSTED: {
            int family = strchr(optarg, ':') ? AF_INET6 : AF_INET;
            if (srv->svc.n_trusted == DNS_TRUSTED_MAX || inet_pton(family, optarg, addr) != 1) {
                fprintf(stderr,
                        "egress-dns: --trusted-client: '%s' is not an address (at most "
                        "%d)\n",
                        optarg, DNS_TRUSTED_MAX);
                return 2;
            }
            inet_ntop(family, addr, srv->svc.trusted[srv->svc.n_trusted++],
                      sizeof srv->svc.trusted[0]);
            break;
        }
        case O_RATE:
            a->limits.rate = (unsigned)parse_count("rate", optarg, DNS_LIMITS_RATE_MAX, &bad);
            break;
        case O_BURST:
            a->limits.burst = (unsigned)parse_count("burst", optarg, DNS_LIMITS_RATE_MAX, &bad);
            a->burst_set = true;
            break;
        case O_NAMES:
            a->limits.names_per_minute =
                (unsigned)parse_count("names-per-minute", optarg, DNS_LIMITS_NAMES_MAX, &bad);
            break;
        case O_THREADS:
            srv->threads = (unsigned)parse_count("threads", optarg, DNS_THREADS_MAX, &bad);
            if (!bad && srv->threads == 0) {
                fprintf(stderr, "egress-dns: --threads: at least 1\n");
                bad = 1;
            }
            break;
        case O_LOGQ:
            srv->log_queries = true;
            break;
        case O_LOGD:
            a->gate.log_decisions = true;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "egress-dns: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (srv->n_listen == 0 && parse_listen("127.0.0.1:53", &srv->listen[srv->n_listen++]) != 0)
        return 2;
    if (!a->burst_set)
        a->limits.burst = 2 * a->limits.rate;
    return 0;
}

static void log_counts(const struct server *srv, const char *when)
{
    char line[512];
    struct ep_gate_counts g;

    dns_count_format(line, sizeof line);
    ep_gate_counts(srv->svc.gate, &g);
    fprintf(stderr,
            "egress-dns: %s: %s; gate: %llu allowed, %llu denied, %llu recorded, %llu store "
            "errors\n",
            when, line, (unsigned long long)g.allowed, (unsigned long long)g.denied,
            (unsigned long long)g.recorded, (unsigned long long)g.errors);
}

int main(int argc, char **argv)
{
    static struct server srv;
    static struct udp_worker workers[DNS_LISTEN_MAX * DNS_THREADS_MAX];
    static struct tcp_acceptor acceptors[DNS_LISTEN_MAX];
    pthread_t udp_threads[DNS_LISTEN_MAX * DNS_THREADS_MAX], tcp_threads[DNS_LISTEN_MAX];
    unsigned n_udp = 0, n_tcp = 0;
    struct ep_gate_hooks hooks = {.log = gate_log};
    struct args a = {0};
    struct ep_store *store;
    char why[256] = "";
    sigset_t sigs;
    int rc, sig = 0;

    ep_gate_options_default(&a.gate);
    a.gate.path = EP_GATE_PATH_DNS;
    a.limits.rate = 100;
    a.limits.names_per_minute = 300;
    srv.threads = 4;
    rc = parse_args(argc, argv, &srv, &a);
    if (rc != 0)
        return rc;
    rc = ep_gate_new(&a.gate, &hooks, &srv.svc.gate);
    if (rc != 0) {
        fprintf(stderr, "egress-dns: cannot start: %s\n", ep_strerror(rc));
        return 1;
    }
    dns_count_attach(srv.svc.gate);
    rc = dns_resolver_unbound_new(&a.resolver, &srv.svc.resolver, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "egress-dns: resolver: %s\n", why);
        return 2;
    }
    if ((a.limits.rate > 0 || a.limits.names_per_minute > 0) &&
        dns_limits_new(&a.limits, &srv.svc.limits) != 0) {
        fprintf(stderr, "egress-dns: cannot set up the client limits\n");
        return 1;
    }
    for (unsigned i = 0; i < srv.n_listen; i++)
        if (open_listener(&srv.listen[i], srv.threads) != 0)
            return 1;

    /* Signals go to the main thread's sigwait() only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    ep_gate_store(srv.svc.gate, "cannot open the store at start, names are blocked until it opens",
                  &store);
    for (unsigned i = 0; i < srv.n_listen; i++) {
        for (unsigned t = 0; t < srv.threads; t++) {
            workers[n_udp] = (struct udp_worker){.srv = &srv, .fd = srv.listen[i].udp[t]};
            if (pthread_create(&udp_threads[n_udp], NULL, udp_worker_main, &workers[n_udp]) == 0)
                n_udp++;
        }
        acceptors[n_tcp] = (struct tcp_acceptor){.srv = &srv, .fd = srv.listen[i].tcp};
        if (pthread_create(&tcp_threads[n_tcp], NULL, tcp_accept_main, &acceptors[n_tcp]) == 0)
            n_tcp++;
        fprintf(stderr, "egress-dns: serving %s (UDP and TCP)\n", srv.listen[i].text);
    }

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            log_counts(&srv, "counters");
            continue;
        }
        break;
    }

    atomic_store(&stopping, true);
    for (unsigned i = 0; i < n_udp; i++)
        pthread_join(udp_threads[i], NULL);
    for (unsigned i = 0; i < n_tcp; i++)
        pthread_join(tcp_threads[i], NULL);
    /* TCP connection threads see stopping within one poll interval. */
    for (int i = 0; i < 50 && atomic_load(&srv.tcp_open) > 0; i++)
        usleep(DNS_POLL_MS * 1000 / 4);
    log_counts(&srv, "exit");
    if (atomic_load(&srv.tcp_open) == 0) {
        ep_gate_free(srv.svc.gate); /* the recorder's last flush */
        srv.svc.resolver->free(srv.svc.resolver);
        dns_limits_free(srv.svc.limits);
    }
    return 0;
}
