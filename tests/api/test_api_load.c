/*
 * Hostile load on egress-api, loopback only, bounded in time and count:
 * 1,000 connections at once from three loopback addresses (127.0.0.2-4),
 * a third of them sending a request body one byte a second, a third
 * sending their headers one byte a second, a third saying nothing. With
 * the daemon's defaults (256 connections, 64 per address) and a 3 s
 * connection timeout:
 *
 * - a caller from another address (127.0.0.1) is answered all along;
 * - connections over the per-address limit are closed at once;
 * - silent connections and slow bodies are closed by the daemon;
 * - the daemon does not crash, and once the attackers are gone its open
 *   files and threads come back to where they were and its memory near it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/api/client.h"
#include "tests/lib/testutil.h"

#define CONNS        1000
#define SOURCES      3
#define ATTACK_SECS  8
#define SETTLE_SECS  20
#define TIMEOUT_SECS "3"
/* Memory the daemon may keep after the attack (allocator arenas, cached stacks). */
#define RSS_SLACK_KB (32 * 1024)

enum kind { SLOW_BODY, SLOW_HEADERS, SILENT };

struct conn {
    int fd;
    enum kind kind;
    bool closed_by_server; /* EOF or reset seen */
    bool answered;         /* an HTTP answer arrived */
    size_t sent;
};

static struct api_daemon d;
static struct conn conns[CONNS];

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A field of /proc/PID/status ("Threads", "VmRSS") as a number. */
static long proc_status(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t n = strlen(field);
    long v = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    REQUIRE(f != NULL);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = atol(line + n + 1);
    fclose(f);
    return v;
}

static long proc_fds(pid_t pid)
{
    char cmd[96];
    long n = -1;
    FILE *p;

    snprintf(cmd, sizeof cmd, "ls /proc/%d/fd | wc -l", (int)pid);
    p = popen(cmd, "r");
    REQUIRE(p != NULL);
    if (fscanf(p, "%ld", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

/* A non-blocking connection to the daemon from 127.0.0.(2 + @p source). */
static int open_from(unsigned source)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    REQUIRE(fd >= 0);
    from.sin_addr.s_addr = htonl(0x7f000002u + source);
    REQUIRE(bind(fd, (struct sockaddr *)&from, sizeof from) == 0);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons((uint16_t)d.port);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS)
        REQUIRE(!"connect failed");
    return fd;
}

/* The next piece a connection sends: its headers whole, or one byte of the slow part. */
static void send_some(struct conn *c)
{
    static const char body_head[] = "POST /api/whitelist/domains HTTP/1.1\r\nHost: t\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    static const char slow_head[] =
        "GET /api/health HTTP/1.1\r\nHost: t\r\nX-Slow: "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *text = c->kind == SLOW_BODY ? body_head : slow_head;
    size_t len = c->kind == SLOW_BODY ? sizeof body_head - 1 : 4;

    if (c->kind == SILENT || c->fd < 0 || c->closed_by_server)
        return;
    if (c->sent == 0) {
        ssize_t n = send(c->fd, text, len, MSG_NOSIGNAL);

        if (n > 0)
            c->sent = (size_t)n;
        return;
    }
    if (c->kind == SLOW_BODY) {
        if (send(c->fd, " ", 1, MSG_NOSIGNAL) == 1)
            c->sent++;
    } else if (c->sent < sizeof slow_head - 1) {
        if (send(c->fd, slow_head + c->sent, 1, MSG_NOSIGNAL) == 1)
            c->sent++;
    }
}

/* Read whatever the daemon sent; note an answer, an EOF or a reset. */
static void drain(void)
{
    static struct pollfd pfd[CONNS];
    char buf[4096];
    int n = 0;

    for (int i = 0; i < CONNS; i++) {
        pfd[i].fd = conns[i].closed_by_server ? -1 : conns[i].fd;
        pfd[i].events = POLLIN;
        pfd[i].revents = 0;
    }
    if (poll(pfd, CONNS, 0) <= 0)
        return;
    for (int i = 0; i < CONNS; i++) {
        if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        n = (int)recv(conns[i].fd, buf, sizeof buf, 0);
        if (n > 0 && strncmp(buf, "HTTP/1.1 ", 9) == 0)
            conns[i].answered = true;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            conns[i].closed_by_server = true;
    }
}

/* Counts of one kind: closed by the server, answered. */
static void count(enum kind k, unsigned *closed, unsigned *answered, unsigned *total)
{
    *closed = *answered = *total = 0;
    for (int i = 0; i < CONNS; i++) {
        if (conns[i].kind != k)
            continue;
        (*total)++;
        *closed += conns[i].closed_by_server;
        *answered += conns[i].answered;
    }
}

int main(void)
{
    static const char *const extra[] = {"--connection-timeout", TIMEOUT_SECS, NULL};
    struct rlimit rl;
    long fds0, threads0, rss0, fds1 = 0, threads1 = 0, rss1 = 0, peak_threads = 0;
    unsigned legit_ok = 0, legit_total = 0, closed, answered, total;
    double start;

    REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < CONNS + 256) {
        if (rl.rlim_max < CONNS + 256) {
            fprintf(stderr, "this test needs %d open files; the hard limit is %lu\n", CONNS + 256,
                    (unsigned long)rl.rlim_max);
            return 77;
        }
        rl.rlim_cur = CONNS + 256;
        REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    api_daemon_init(&d, test_tmpdir(), "load");
    REQUIRE(api_daemon_start(&d, extra, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        struct api_reply r;

        REQUIRE(api_call(&d, "PUT", "/api/whitelist", true, "{\"domains\": [\"a.org\"]}", &r) ==
                200);
        api_reply_free(&r);
    }
    fds0 = proc_fds(d.pid);
    threads0 = proc_status(d.pid, "Threads");
    rss0 = proc_status(d.pid, "VmRSS");

    for (int i = 0; i < CONNS; i++) {
        conns[i].kind = (enum kind)(i % 3);
        conns[i].fd = open_from((unsigned)(i / 3) % SOURCES);
    }
    start = now_s();
    for (int second = 0; second < ATTACK_SECS; second++) {
        struct api_reply r;

        for (int i = 0; i < CONNS; i++)
            send_some(&conns[i]);
        /* Someone else, meanwhile: a read and a write. */
        legit_total += 2;
        legit_ok += api_call(&d, "GET", "/api/health", false, NULL, &r) == 200;
        api_reply_free(&r);
        legit_ok += api_call(&d, "POST", "/api/whitelist/domains", true,
                             "{\"domains\": [\"b.org\"]}", &r) == 200;
        api_reply_free(&r);
        if (proc_status(d.pid, "Threads") > peak_threads)
            peak_threads = proc_status(d.pid, "Threads");
        while (now_s() < start + second + 1)
            drain(), usleep(20 * 1000);
    }
    /* Silent ones and slow bodies must all have been closed by the daemon by now. */
    while (now_s() < start + ATTACK_SECS + 5) {
        unsigned c1, c2, a, t1, t2;

        count(SILENT, &c1, &a, &t1);
        count(SLOW_BODY, &c2, &a, &t2);
        if (c1 == t1 && c2 == t2)
            break;
        for (int i = 0; i < CONNS; i++)
            send_some(&conns[i]);
        drain();
        usleep(200 * 1000);
    }

    CHECK_INT(legit_ok, legit_total);
    count(SILENT, &closed, &answered, &total);
    fprintf(stderr, "silent: %u of %u closed by the daemon\n", closed, total);
    CHECK_INT(closed, total);
    count(SLOW_BODY, &closed, &answered, &total);
    fprintf(stderr, "slow bodies: %u of %u closed by the daemon, %u answered\n", closed, total,
            answered);
    CHECK_INT(closed, total);
    count(SLOW_HEADERS, &closed, &answered, &total);
    fprintf(stderr, "slow headers: %u of %u closed by the daemon (over the per-address limit)\n",
            closed, total);
    /* At most 64 per address may be held; the others were closed at once. */
    CHECK(closed >= total - SOURCES * 64);
    CHECK(api_daemon_log_has(&d, "the body did not arrive within " TIMEOUT_SECS " s"));
    fprintf(stderr, "threads: %ld before, peak %ld\n", threads0, peak_threads);
    CHECK(peak_threads <= threads0 + SOURCES * 64 + 8);

    for (int i = 0; i < CONNS; i++)
        close(conns[i].fd);
    /* Everything the attack took is given back. */
    for (int i = 0; i < SETTLE_SECS * 10; i++) {
        fds1 = proc_fds(d.pid);
        threads1 = proc_status(d.pid, "Threads");
        rss1 = proc_status(d.pid, "VmRSS");
        if (fds1 <= fds0 && threads1 <= threads0)
            break;
        usleep(100 * 1000);
    }
    fprintf(stderr, "open files %ld -> %ld, threads %ld -> %ld, RSS %ld kB -> %ld kB\n", fds0, fds1,
            threads0, threads1, rss0, rss1);
    CHECK(fds1 <= fds0);
    CHECK(threads1 <= threads0);
    CHECK(rss1 <= rss0 + RSS_SLACK_KB);
    {
        struct api_reply r;

        CHECK_INT(api_call(&d, "GET", "/api/health", false, NULL, &r), 200);
        api_reply_free(&r);
    }
    CHECK_INT(api_daemon_stop(&d), 0);
    return test_exit();
}
