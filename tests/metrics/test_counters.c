/*
 * The shared counters file (policy/counters.h) and its Prometheus text
 * (policy/metrics.h):
 * - processes that open the file at the same moment (one made it) and
 *   threads in each add concurrently: the sums are exact, and so are the
 *   adds of a process that inherited its mapping across fork();
 * - a process killed with SIGKILL while adding leaves a file that works
 *   and every other count exact;
 * - a file of another layout is refused by a reader and replaced by a
 *   writer (counts start again at zero; an old mapping adds unseen);
 * - the gate counts its decisions by path, mode and verdict, the
 *   recorder its flushes and their lag, and ep_metrics_write() writes
 *   them with every label combination, one value per series;
 * - a store that cannot be opened: its denials and errors counted, and a
 *   full reader table apart.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <lmdb.h>

#include "policy/counters.h"
#include "policy/gate.h"
#include "policy/metrics.h"
#include "tests/store/storetest.h"

#define PROCS   6
#define THREADS 4
#define ADDS    20000

#define SLOT_ONES  5
#define SLOT_WIDE  7
#define SLOT_KILL  10
#define SLOT_AFTER 11

static const char *dir;

struct adder {
    struct ep_counters *c;
    unsigned index;
};

static void *add_loop(void *arg)
{
    struct adder *a = arg;

    for (unsigned i = 0; i < ADDS; i++) {
        ep_counters_add(a->c, SLOT_ONES, 1);
        ep_counters_add(a->c, SLOT_WIDE, a->index + 1);
    }
    ep_counters_add_lag(a->c, 3000); /* the 5 ms bucket */
    return NULL;
}

/* In a child: @p c, or the file opened here; THREADS threads adding. */
static int child_add(struct ep_counters *c)
{
    pthread_t t[THREADS];
    struct adder a[THREADS];

    if (c == NULL && ep_counters_open(dir, false, &c) != 0)
        return 2;
    for (unsigned i = 0; i < THREADS; i++) {
        a[i] = (struct adder){.c = c, .index = i};
        if (pthread_create(&t[i], NULL, add_loop, &a[i]) != 0)
            return 3;
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ep_counters_close(c);
    return 0;
}

static void test_concurrent(void)
{
    uint64_t v[EP_COUNTERS_SLOTS];
    struct ep_counters *c = NULL, *inherited = NULL;
    pid_t pids[PROCS + 1];
    int start[2], status;
    char go;

    CHECK_INT(ep_counters_open(dir, true, &c), ENOENT);
    REQUIRE(pipe(start) == 0);
    for (unsigned p = 0; p < PROCS; p++) {
        pids[p] = fork();
        REQUIRE(pids[p] >= 0);
        if (pids[p] == 0) {
            /* All wait for the start, then open at once: one of them makes the file. */
            close(start[1]);
            _exit(read(start[0], &go, 1) == 0 ? child_add(NULL) : 4);
        }
    }
    close(start[0]);
    close(start[1]); /* go */
    for (unsigned p = 0; p < PROCS; p++) {
        REQUIRE(waitpid(pids[p], &status, 0) == pids[p]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* A mapping made before fork() stays shared in the child. */
    REQUIRE(ep_counters_open(dir, false, &inherited) == 0);
    pids[PROCS] = fork();
    REQUIRE(pids[PROCS] >= 0);
    if (pids[PROCS] == 0)
        _exit(child_add(inherited));
    REQUIRE(waitpid(pids[PROCS], &status, 0) == pids[PROCS]);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ep_counters_close(inherited);

    REQUIRE(ep_counters_open(dir, true, &c) == 0);
    ep_counters_snapshot(c, v);
    ep_counters_close(c);
    CHECK_INT(v[SLOT_ONES], (uint64_t)(PROCS + 1) * THREADS * ADDS);
    /* Each process: ADDS x (1 + 2 + 3 + 4). */
    CHECK_INT(v[SLOT_WIDE], (uint64_t)(PROCS + 1) * ADDS * (THREADS * (THREADS + 1) / 2));
    CHECK_INT(v[EP_COUNTER_RECORDER_LAG_BUCKET + 1], (PROCS + 1) * THREADS);
    CHECK_INT(v[EP_COUNTER_RECORDER_LAG_SUM_US], (uint64_t)(PROCS + 1) * THREADS * 3000);
    CHECK_INT(v[0], 0);
}

static void test_killed(void)
{
    uint64_t v[EP_COUNTERS_SLOTS], before;
    struct ep_counters *c;
    pid_t pid;
    int ready[2], status;
    char b;

    REQUIRE(pipe(ready) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        if (ep_counters_open(dir, false, &c) != 0)
            _exit(2);
        ep_counters_add(c, SLOT_KILL, 1);
        (void)!write(ready[1], "r", 1);
        for (;;)
            ep_counters_add(c, SLOT_KILL, 1);
    }
    close(ready[1]);
    REQUIRE(read(ready[0], &b, 1) == 1);
    close(ready[0]);
    kill(pid, SIGKILL);
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));

    REQUIRE(ep_counters_open(dir, false, &c) == 0);
    ep_counters_snapshot(c, v);
    before = v[SLOT_ONES];
    CHECK(v[SLOT_KILL] >= 1);
    ep_counters_add(c, SLOT_AFTER, 3);
    ep_counters_snapshot(c, v);
    CHECK_INT(v[SLOT_AFTER], 3);
    CHECK_INT(v[SLOT_ONES], before);
    ep_counters_close(c);
}

static void test_layout(void)
{
    char path[600];
    uint64_t v[EP_COUNTERS_SLOTS];
    struct ep_counters *old, *c;
    struct stat st;
    int fd;
    static const char header[64] = "EPCOUNT\n\x00\x00\x00\x00"; /* layout 0 */

    snprintf(path, sizeof path, "%s/%s", dir, EP_COUNTERS_FILE);
    REQUIRE(ep_counters_open(dir, false, &old) == 0);
    /* Another layout's file takes the place of ours. */
    fd = open(path, O_WRONLY);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, header, sizeof header, 0) == (ssize_t)sizeof header);
    close(fd);
    CHECK_INT(ep_counters_open(dir, true, &c), EP_E_SCHEMA);
    CHECK_INT(ep_counters_open(dir, false, &c), 0);
    ep_counters_snapshot(c, v);
    CHECK_INT(v[SLOT_ONES], 0);
    ep_counters_add(old, SLOT_ONES, 5); /* into the replaced file */
    ep_counters_add(c, SLOT_ONES, 2);
    ep_counters_close(c);
    ep_counters_close(old);
    REQUIRE(ep_counters_open(dir, true, &c) == 0);
    ep_counters_snapshot(c, v);
    CHECK_INT(v[SLOT_ONES], 2);
    ep_counters_close(c);
    REQUIRE(stat(path, &st) == 0);
    CHECK_INT(st.st_size, 64 + 8 * EP_COUNTERS_SLOTS);
}

struct text {
    char buf[65536];
    size_t len;
};

static void put(void *ctx, const char *s)
{
    struct text *t = ctx;
    size_t n = strlen(s);

    REQUIRE(t->len + n < sizeof t->buf);
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

/* The value of series @p series in @p text, -1 when absent or written twice. */
static long long series(const char *text, const char *name)
{
    long long value = -1;
    size_t n = strlen(name);
    int found = 0;

    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            value = strtoll(p + n + 1, NULL, 10);
            found++;
        }
        if (strchr(p, '\n') == NULL)
            break;
    }
    return found == 1 ? value : -1;
}

static void decide(struct ep_gate *g, const char *ip, const char *host)
{
    struct ep_gate_request req = {.client_ip = ip, .method = "GET", .host = host, .port = 80};
    struct ep_gate_result res;

    ep_gate_decide(g, &req, &res);
}

static void test_gate_and_text(void)
{
    const char *sdir = store_dir("gate");
    struct ep_gate_options o;
    struct ep_store *s = store_open_dir(sdir, 0);
    struct ep_gate *g;
    static struct text t;
    int lines = 0;

    project_add(s, "sec", "course", EP_MODE_SECURITY, "10.0.0.1");
    project_add(s, "log", "course", EP_MODE_LOGGING, "10.0.0.2");
    REQUIRE(rules_set(s, "course", (const char *const[]){"ok.test", NULL}) == 0);
    ep_store_close(s);

    ep_gate_options_default(&o);
    snprintf(o.database, sizeof o.database, "%s", sdir);
    o.path = EP_GATE_PATHS;
    CHECK_INT(ep_gate_new(&o, NULL, &g), EP_E_INVAL);
    o.path = EP_GATE_PATH_DNS;
    o.interval_ms = 3600 * 1000; /* only the close flushes */
    REQUIRE(ep_gate_new(&o, NULL, &g) == 0);
    for (int i = 0; i < 3; i++)
        decide(g, "10.0.0.1", "ok.test");
    for (int i = 0; i < 2; i++)
        decide(g, "10.0.0.1", "no.test");
    decide(g, "10.0.0.2", "any.test");
    decide(g, "10.0.0.9", "ok.test");
    ep_gate_counter_add(g, EP_COUNTER_DNS_QUERIES, 7);
    ep_gate_close(g); /* the recorder's last flush: ok.test's and no.test's second requests */
    ep_gate_free(g);

    CHECK_INT(ep_metrics_write(sdir, NULL, put, &t), 0);
    CHECK_INT(series(t.buf, "egress_counters_readable"), 1);
    CHECK_INT(
        series(t.buf, "egress_decisions_total{path=\"dns\",mode=\"security\",verdict=\"allow\"}"),
        3);
    CHECK_INT(
        series(t.buf, "egress_decisions_total{path=\"dns\",mode=\"security\",verdict=\"deny\"}"),
        2);
    CHECK_INT(
        series(t.buf, "egress_decisions_total{path=\"dns\",mode=\"logging\",verdict=\"allow\"}"),
        1);
    CHECK_INT(
        series(t.buf, "egress_decisions_total{path=\"dns\",mode=\"unknown\",verdict=\"deny\"}"), 1);
    CHECK_INT(
        series(t.buf, "egress_decisions_total{path=\"acl\",mode=\"security\",verdict=\"allow\"}"),
        0);
    CHECK_INT(series(t.buf, "egress_recorded_total{path=\"dns\"}"), 6);
    CHECK_INT(series(t.buf, "egress_recorder_discoveries_total"), 3);
    CHECK_INT(series(t.buf, "egress_recorder_flushes_total"), 1);
    CHECK_INT(series(t.buf, "egress_recorder_flush_lag_seconds_count"), 1);
    CHECK_INT(series(t.buf, "egress_recorder_flush_lag_seconds_bucket{le=\"+Inf\"}"), 1);
    CHECK_INT(series(t.buf, "egress_dns_queries_total"), 7);
    CHECK_INT(series(t.buf, "egress_store_errors_total{path=\"dns\"}"), 0);
    CHECK(strstr(t.buf, "ok.test") == NULL && strstr(t.buf, "\"sec\"") == NULL);
    /* Every line is a comment or "NAME[{LABELS}] VALUE". */
    for (char *p = t.buf; *p; lines++) {
        char *end = strchr(p, '\n');

        REQUIRE(end != NULL);
        *end = '\0';
        if (p[0] != '#') {
            char *sp = strchr(p, ' ');
            CHECK(sp != NULL && strncmp(p, "egress_", 7) == 0 && strchr(sp + 1, ' ') == NULL);
        }
        *end = '\n';
        p = end + 1;
    }
    CHECK(lines > 100);

    /* With the store: its gauges. */
    s = store_open_dir(sdir, 0);
    t.len = 0;
    t.buf[0] = '\0';
    CHECK_INT(ep_metrics_write(sdir, s, put, &t), 0);
    CHECK(series(t.buf, "egress_store_readers_max") >= 16);
    CHECK(series(t.buf, "egress_store_map_used_bytes") > 0);
    CHECK_INT(series(t.buf, "egress_store_map_size_bytes"), (long long)EP_STORE_DEFAULT_MAP_SIZE);
    ep_store_close(s);
}

/*
 * A store that cannot be opened (data.mdb is a directory): every request
 * is denied with a store error, and both are counted beside it; a full
 * reader table is counted apart.
 */
static void test_store_errors(void)
{
    const char *sdir = store_dir("broken");
    char path[600];
    struct ep_gate_options o;
    struct ep_gate *g;
    static struct text t;

    snprintf(path, sizeof path, "%s/data.mdb", sdir);
    REQUIRE(mkdir(path, 0700) == 0);
    ep_gate_options_default(&o);
    snprintf(o.database, sizeof o.database, "%s", sdir);
    o.path = EP_GATE_PATH_ICAP;
    REQUIRE(ep_gate_new(&o, NULL, &g) == 0);
    for (int i = 0; i < 3; i++)
        decide(g, "10.0.0.1", "ok.test");
    ep_gate_log_error(g, "a read", MDB_READERS_FULL);
    ep_gate_free(g);

    CHECK_INT(ep_metrics_write(sdir, NULL, put, &t), 0);
    CHECK_INT(
        series(t.buf, "egress_decisions_total{path=\"icap\",mode=\"unknown\",verdict=\"deny\"}"),
        3);
    CHECK_INT(series(t.buf, "egress_store_errors_total{path=\"icap\"}"), 4);
    CHECK_INT(series(t.buf, "egress_store_readers_full_total{path=\"icap\"}"), 1);
    CHECK_INT(series(t.buf, "egress_recorded_total{path=\"icap\"}"), 0);
}

int main(void)
{
    dir = store_dir("counters");
    test_concurrent();
    test_killed();
    test_layout();
    test_gate_and_text();
    test_store_errors();
    return test_exit();
}
