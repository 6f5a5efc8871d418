/*
 * Many readers, one writer: reader processes (each opening the store after
 * fork) run a few threads deciding in a loop while a writer process flips
 * the rules and the client row between two known states. Every decision
 * must be one a committed state allows, no call may fail, every reader
 * thread must see every state (a reader stuck on an old snapshot would
 * only ever see one), and once every process has closed the store no
 * reader slot is left behind.
 *
 * States: profile "p" holds either A = {a.test, .shared.test, ~^r[0-9]+\.a\.test$}
 * or B = {b.test, .shared.test, ~^r[0-9]+\.b\.test$}; the client row of
 * 10.0.0.1 says either (security, p) or (logging, q), q = {q.test}.
 */
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "policy/covers.h"
#include "tests/store/storetest.h"

#define READERS 3
#define THREADS 3
#define RUN_MS  1500
/* How long a thread may go on deciding, after RUN_MS, until it has seen every state. */
#define SEE_ALL_MS 30000

static const char *const state_a[] = {"a.test", ".shared.test", "~^r[0-9]+\\.a\\.test$", NULL};
static const char *const state_b[] = {"b.test", ".shared.test", "~^r[0-9]+\\.b\\.test$", NULL};
static const char *const state_q[] = {"q.test", NULL};
static const char *const hosts[] = {
    "a.test",     "b.test",    "x.shared.test", "q.test",         "z.test",
    "r12.a.test", "r7.b.test", "shared.test",   "deb.debian.org", "r1.shared.test"};
#define NHOSTS (sizeof hosts / sizeof hosts[0])

struct reader {
    struct ep_store *store;
    atomic_long decisions, violations;
    atomic_long a_allowed, a_denied;
    struct timespec end, see_all_end;
};

/*
 * One reader thread and the states it saw: r12.a.test allowed in security
 * (rules A), denied in security (rules B), and the client row in logging.
 */
struct reader_thread {
    struct reader *rd;
    bool saw_a, saw_b, saw_logging;
};

static void deadline(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static bool before(const struct timespec *end)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec < end->tv_sec || (now.tv_sec == end->tv_sec && now.tv_nsec < end->tv_nsec);
}

static bool in_list(const char *host, const char *const *list)
{
    for (; *list; list++) {
        struct ep_rule r = rule_of(*list);

        if (ep_rule_covers(&r, host, 0))
            return true;
    }
    return false;
}

/*
 * Is @p d a decision some committed state makes for @p host? The client
 * row and the rules come from the one snapshot of the decision, so the
 * reported mode and profile tell which rule sets were possible.
 */
static bool plausible(const char *host, int rc, const struct ep_decision *d)
{
    struct ep_rule r;

    if (rc != 0 || d->error != 0 || strcmp(d->project_id, "x") != 0)
        return false;
    if (d->rule[0]) {
        /* The rule reported must exist in some state and match the host. */
        if (ep_rule_parse(d->rule, &r, NULL, 0) != 0 || !ep_rule_covers(&r, host, 0))
            return false;
    }
    if (d->mode == EP_MODE_LOGGING) {
        if (strcmp(d->profile, "q") != 0 || d->verdict != EP_VERDICT_ALLOW || !d->record)
            return false;
        return d->reason != EP_REASON_RULE || in_list(host, state_q);
    }
    if (d->mode != EP_MODE_SECURITY || strcmp(d->profile, "p") != 0)
        return false;
    if (strcmp(host, "deb.debian.org") == 0)
        return d->verdict == EP_VERDICT_ALLOW && d->reason == EP_REASON_BASE;
    if (d->verdict == EP_VERDICT_ALLOW)
        return d->reason == EP_REASON_RULE && (in_list(host, state_a) || in_list(host, state_b));
    /* Denied: not allowed by at least one of the two states of p. */
    return d->reason == EP_REASON_NOT_LISTED &&
           (!in_list(host, state_a) || !in_list(host, state_b));
}

/*
 * Decide in a loop for RUN_MS, and on until this thread has seen every state
 * (at most SEE_ALL_MS more: a stuck thread then fails the test, it does not
 * hang it).
 */
static void *reader_thread(void *arg)
{
    struct reader_thread *t = arg;
    struct reader *rd = t->rd;
    struct ep_request req = {.client_ip = "10.0.0.1", .method = "CONNECT", .port = 443};
    struct ep_decision d;
    unsigned i = 0;

    while (before(&rd->end) ||
           (!(t->saw_a && t->saw_b && t->saw_logging) && before(&rd->see_all_end))) {
        const char *host = hosts[i++ % NHOSTS];
        int rc;

        req.host = host;
        rc = ep_decide(rd->store, &req, 0, &d);
        atomic_fetch_add(&rd->decisions, 1);
        if (!plausible(host, rc, &d)) {
            if (atomic_fetch_add(&rd->violations, 1) < 5)
                fprintf(stderr, "implausible: %s rc=%d mode=%d profile=%s verdict=%d %s \"%s\"\n",
                        host, rc, d.mode, d.profile, d.verdict, ep_reason_name(d.reason), d.rule);
        }
        if (rc == 0 && d.mode == EP_MODE_LOGGING)
            t->saw_logging = true;
        if (rc == 0 && strcmp(host, "r12.a.test") == 0 && d.mode == EP_MODE_SECURITY) {
            bool allowed = d.verdict == EP_VERDICT_ALLOW;

            atomic_fetch_add(allowed ? &rd->a_allowed : &rd->a_denied, 1);
            if (allowed)
                t->saw_a = true;
            else
                t->saw_b = true;
        }
    }
    return NULL;
}

static int reader_process(const char *dir)
{
    static struct reader rd;
    static struct reader_thread t[THREADS];
    pthread_t threads[THREADS];
    int stuck = 0;

    rd.store = store_open_dir(dir, 0);
    deadline(&rd.end, RUN_MS);
    deadline(&rd.see_all_end, RUN_MS + SEE_ALL_MS);
    for (int i = 0; i < THREADS; i++) {
        t[i].rd = &rd;
        REQUIRE(pthread_create(&threads[i], NULL, reader_thread, &t[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    ep_store_close(rd.store);
    for (int i = 0; i < THREADS; i++) {
        if (t[i].saw_a && t[i].saw_b && t[i].saw_logging)
            continue;
        fprintf(stderr, "reader %d thread %d never saw %s%s%s: stuck on an old snapshot?\n",
                (int)getpid(), i, t[i].saw_a ? "" : "rules A (r12.a.test allowed) ",
                t[i].saw_b ? "" : "rules B (r12.a.test denied) ",
                t[i].saw_logging ? "" : "the logging row");
        stuck++;
    }
    fprintf(stderr, "reader %d: %ld decisions, r12.a.test allowed %ld / denied %ld in security\n",
            (int)getpid(), atomic_load(&rd.decisions), atomic_load(&rd.a_allowed),
            atomic_load(&rd.a_denied));
    return atomic_load(&rd.violations) == 0 && atomic_load(&rd.decisions) > 0 && stuck == 0 ? 0 : 1;
}

static volatile sig_atomic_t writer_stop;

static void on_term(int sig)
{
    (void)sig;
    writer_stop = 1;
}

/* Flip between the states until SIGTERM; exits 1 at the first failed write. */
static int writer_process(const char *dir)
{
    struct ep_store *s = store_open_dir(dir, 0);
    struct ep_project p;

    REQUIRE(ep_store_project_get(s, "x", &p) == 0);
    for (unsigned i = 0; !writer_stop; i++) {
        int rc = rules_set(s, "p", (i & 1) ? state_b : state_a);

        if (rc == 0 && i % 3 == 0) {
            bool logging = p.mode == EP_MODE_SECURITY;

            p.mode = logging ? EP_MODE_LOGGING : EP_MODE_SECURITY;
            snprintf(p.profile, sizeof p.profile, "%s", logging ? "q" : "p");
            rc = ep_store_project_update(s, &p);
        }
        if (rc) {
            fprintf(stderr, "writer: %s\n", ep_strerror(rc));
            _exit(1);
        }
    }
    ep_store_close(s);
    return 0;
}

static int count_slot(const char *msg, void *ctx)
{
    while (*msg == ' ')
        msg++;
    if (*msg >= '0' && *msg <= '9')
        ++*(unsigned *)ctx;
    return 0;
}

/*
 * A process that keeps the environment open (plain LMDB, no transaction)
 * for the whole run, so the reader table is never reset by a last close,
 * and counts the slots in use when asked: a process that died or exited
 * without closing its store would still show there.
 */
static pid_t slot_watcher(const char *dir, int *ask, int *answer)
{
    int to_watcher[2], from_watcher[2];
    pid_t pid;
    char c;

    REQUIRE(pipe(to_watcher) == 0 && pipe(from_watcher) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        MDB_env *env;
        unsigned n = 0;

        REQUIRE(mdb_env_create(&env) == 0);
        REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
        REQUIRE(mdb_env_open(env, dir, MDB_NOTLS, 0600) == 0);
        REQUIRE(write(from_watcher[1], "r", 1) == 1);
        REQUIRE(read(to_watcher[0], &c, 1) == 1);
        REQUIRE(mdb_reader_list(env, count_slot, &n) >= 0);
        REQUIRE(write(from_watcher[1], &n, sizeof n) == sizeof n);
        mdb_env_close(env);
        _exit(0);
    }
    REQUIRE(read(from_watcher[0], &c, 1) == 1);
    *ask = to_watcher[1];
    *answer = from_watcher[0];
    return pid;
}

int main(void)
{
    const char *dir = store_dir("concurrency");
    struct ep_store *s = store_open_dir(dir, 0);
    pid_t readers[READERS], writer, watcher;
    int ask, answer;
    unsigned slots = 99;
    struct ep_profile_info info;
    int status;

    REQUIRE(rules_set(s, "p", state_a) == 0);
    REQUIRE(rules_set(s, "q", state_q) == 0);
    project_add(s, "x", "p", EP_MODE_SECURITY, "10.0.0.1");
    /* No handle crosses a fork: the parent closes its own first. */
    ep_store_close(s);

    watcher = slot_watcher(dir, &ask, &answer);
    signal(SIGTERM, on_term);
    writer = fork();
    REQUIRE(writer >= 0);
    if (writer == 0)
        _exit(writer_process(dir));
    for (int i = 0; i < READERS; i++) {
        readers[i] = fork();
        REQUIRE(readers[i] >= 0);
        if (readers[i] == 0)
            _exit(reader_process(dir));
    }
    for (int i = 0; i < READERS; i++) {
        REQUIRE(waitpid(readers[i], &status, 0) == readers[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* The writer must still be running: it exits only on a failed write. */
    CHECK_INT(waitpid(writer, &status, WNOHANG), 0);
    kill(writer, SIGTERM);
    REQUIRE(waitpid(writer, &status, 0) == writer);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Every process closed its store: no reader slot is left in the live table. */
    REQUIRE(write(ask, "?", 1) == 1);
    REQUIRE(read(answer, &slots, sizeof slots) == sizeof slots);
    CHECK_INT(slots, 0);
    REQUIRE(waitpid(watcher, &status, 0) == watcher);
    s = store_open_dir(dir, 0);
    CHECK_INT(ep_store_profile_get(s, "p", &info), 0);
    CHECK_INT(info.rules, 3);
    /* Our own pooled transaction holds one slot, and ep_store_readers_used sees it. */
    unsigned used = 0;
    CHECK_INT(ep_store_readers_used(s, &used), 0);
    CHECK_INT(used, 1);
    ep_store_close(s);
    return test_exit();
}
