/*
 * The gate (policy/gate.h) on real stores: the one set of option bounds
 * and its parser, the reason text, decide-and-record (verdicts, records,
 * counters, the decision's log line), the intercept check, the ip: rule
 * question, and the store failures every front
 * end meets through it: a store that is missing (and appears later), a
 * store of an unknown schema, a full reader table, a full map. Each
 * failure denies where it must, is counted, and is logged once per
 * interval with the number left out.
 */
#include <errno.h>
#include <lmdb.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy/gate.h"
#include "tests/store/storetest.h"

/* What the hooks received. */
#define LINES_MAX 64
static char lines[LINES_MAX][1024];
static enum ep_gate_log_kind kinds[LINES_MAX];
static int nlines;
static unsigned long hooked[EP_GATE_COUNTERS];

static void hook_log(void *ctx, enum ep_gate_log_kind kind, const char *line)
{
    (void)ctx;
    if (nlines < LINES_MAX) {
        kinds[nlines] = kind;
        snprintf(lines[nlines], sizeof lines[nlines], "%s", line);
    }
    nlines++;
}

static void hook_count(void *ctx, enum ep_gate_counter counter)
{
    (void)ctx;
    hooked[counter]++;
}

static void hooks_reset(void)
{
    nlines = 0;
    memset(hooked, 0, sizeof hooked);
}

/* How many logged lines of @p kind contain @p part. */
static int lines_with(enum ep_gate_log_kind kind, const char *part)
{
    int n = 0;

    for (int i = 0; i < nlines && i < LINES_MAX; i++)
        if (kinds[i] == kind && strstr(lines[i], part) != NULL)
            n++;
    return n;
}

static struct ep_gate *gate_on(const char *dir, unsigned interval_ms, bool log_decisions)
{
    struct ep_gate_hooks hooks = {.log = hook_log, .count = hook_count, .ctx = NULL};
    struct ep_gate_options o;
    struct ep_gate *g = NULL;

    ep_gate_options_default(&o);
    snprintf(o.database, sizeof o.database, "%s", dir);
    o.interval_ms = interval_ms;
    o.log_decisions = log_decisions;
    o.map_size = EP_STORE_MAP_SIZE_MIN * 8;
    REQUIRE(ep_gate_new(&o, &hooks, &g) == 0);
    return g;
}

static struct ep_gate_result decide(struct ep_gate *g, const char *ip, const char *method,
                                    const char *host, bool no_record)
{
    struct ep_gate_request req = {
        .client_ip = ip, .method = method, .host = host, .port = 0, .no_record = no_record};
    struct ep_gate_result res;

    ep_gate_decide(g, &req, &res);
    return res;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The option parser: one set of bounds, a sentence for each refusal. */
static void test_options(void)
{
    struct ep_gate_options o, before;
    struct ep_gate *g = NULL;
    char why[256];

    ep_gate_options_default(&o);
    CHECK_STR(o.database, EP_STORE_DEFAULT_DIR);
    CHECK_INT(o.max_readers, EP_STORE_DEFAULT_MAX_READERS);
    CHECK_INT(o.map_size, EP_STORE_DEFAULT_MAP_SIZE);
    CHECK_INT(o.interval_ms, 1000);
    CHECK(!o.unknown_allow);
    CHECK(!o.no_key_filter);
    CHECK_INT(o.key_filter_memory, EP_STORE_DEFAULT_KEY_FILTER_MEMORY);
    CHECK(o.record);
    CHECK(!o.log_decisions);

    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAX_READERS, "16", why, sizeof why), 0);
    CHECK_INT(o.max_readers, 16);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAX_READERS, "1048576", why, sizeof why), 0);
    CHECK_INT(o.max_readers, 1048576);
    before = o;
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAX_READERS, "15", why, sizeof why), EP_E_INVAL);
    CHECK_STR(why, "'15' is not a number from 16 to 1048576");
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAX_READERS, "1048577", why, sizeof why),
              EP_E_INVAL);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAX_READERS, "-20", why, sizeof why), EP_E_INVAL);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAX_READERS, "20x", why, sizeof why), EP_E_INVAL);
    CHECK(memcmp(&o, &before, sizeof o) == 0);

    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAP_SIZE, "64m", why, sizeof why), 0);
    CHECK_INT(o.map_size, (size_t)64 << 20);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAP_SIZE, "10", why, sizeof why), EP_E_INVAL);
    CHECK_STR(why, "'10' is not a size of at least 1m");
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_MAP_SIZE, "1Q", why, sizeof why), EP_E_INVAL);
    CHECK(strstr(why, "is not a size") != NULL);

    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_INTERVAL, "500ms", why, sizeof why), 0);
    CHECK_INT(o.interval_ms, 500);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_INTERVAL, "2", why, sizeof why), 0);
    CHECK_INT(o.interval_ms, 2000);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_INTERVAL, "5ms", why, sizeof why), EP_E_INVAL);
    CHECK_STR(why, "'5ms' is not a time from 10ms to 3600s");
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_INTERVAL, "2h", why, sizeof why), EP_E_INVAL);

    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_DATABASE, "/srv/store", why, sizeof why), 0);
    CHECK_STR(o.database, "/srv/store");
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_DATABASE, "relative", why, sizeof why),
              EP_E_INVAL);
    CHECK(strstr(why, "'relative' is not an absolute directory path") == why);

    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_UNKNOWN_CLIENT, "allow", why, sizeof why), 0);
    CHECK(o.unknown_allow);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_UNKNOWN_CLIENT, "maybe", why, sizeof why),
              EP_E_INVAL);
    CHECK_STR(why, "'maybe' is neither deny nor allow");
    CHECK(o.unknown_allow);

    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_KEY_FILTER, "off", why, sizeof why), 0);
    CHECK(o.no_key_filter);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_KEY_FILTER, "on", why, sizeof why), 0);
    CHECK(!o.no_key_filter);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_KEY_FILTER, "yes", NULL, 0), EP_E_INVAL);

    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_KEY_FILTER_MEMORY, "4M", why, sizeof why), 0);
    CHECK_INT(o.key_filter_memory, (size_t)4 << 20);
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_KEY_FILTER_MEMORY, "1K", why, sizeof why),
              EP_E_INVAL);
    CHECK_STR(why, "'1K' is not a size from 64k to 4g");
    CHECK_INT(ep_gate_option_set(&o, EP_GATE_OPT_KEY_FILTER_MEMORY, "5G", why, sizeof why),
              EP_E_INVAL);

    /* A gate refuses options out of the same bounds, whoever filled them. */
    ep_gate_options_default(&o);
    o.max_readers = 8;
    CHECK_INT(ep_gate_new(&o, NULL, &g), EP_E_INVAL);
    CHECK(g == NULL);
    ep_gate_options_default(&o);
    o.interval_ms = 0;
    CHECK_INT(ep_gate_new(&o, NULL, &g), EP_E_INVAL);
    ep_gate_options_default(&o);
    snprintf(o.database, sizeof o.database, "relative");
    CHECK_INT(ep_gate_new(&o, NULL, &g), EP_E_INVAL);
}

static void test_reason_text(void)
{
    char text[EP_GATE_TEXT_BUFSZ];

    ep_gate_reason_text("rule", "api.example.com", "p1", ".example.com", text);
    CHECK_STR(text, "rule; host=api.example.com; project=p1; rule=.example.com");
    ep_gate_reason_text("not-whitelisted", "evil.test", "p1", "", text);
    CHECK_STR(text, "not-whitelisted; host=evil.test; project=p1");
    ep_gate_reason_text("unknown-client", "a.test", "", NULL, text);
    CHECK_STR(text, "unknown-client; host=a.test; project=-");
}

/* Decide and record: verdicts, the texts, the records, the counters, the log lines. */
static void test_decide_and_record(void)
{
    const char *dir = store_dir("decide");
    struct ep_store *s = store_open_dir(dir, 0);
    const char *const course[] = {"api.example.com", ".suffix.test", NULL};
    struct ep_gate_counts n;
    struct ep_gate_result r;
    struct ep_gate *g;
    struct ep_seen seen;

    project_add(s, "p1", "course", EP_MODE_SECURITY, "10.0.0.1");
    project_add(s, "p2", "course", EP_MODE_LOGGING, "10.0.0.2");
    project_add(s, "p3", "course", EP_MODE_NONE, "10.0.0.3");
    REQUIRE(rules_set(s, "course", course) == 0);
    ep_store_close(s);

    hooks_reset();
    g = gate_on(dir, 3600 * 1000, true);
    r = decide(g, "10.0.0.1", "GET", "api.example.com", false);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(r.reason, "rule");
    CHECK_STR(r.project_id, "p1");
    CHECK_STR(r.rule, "api.example.com");
    CHECK_INT(r.mode, EP_MODE_SECURITY);
    CHECK(r.recorded);
    CHECK_STR(r.text, "rule; host=api.example.com; project=p1; rule=api.example.com");

    r = decide(g, "10.0.0.1", "CONNECT", "evil.test", false);
    CHECK_INT(r.verdict, EP_VERDICT_DENY);
    CHECK_STR(r.text, "not-whitelisted; host=evil.test; project=p1");
    CHECK(r.recorded);
    r = decide(g, "10.0.0.1", "GET", "evil.test", true);
    CHECK_INT(r.verdict, EP_VERDICT_DENY);
    CHECK(!r.recorded);

    r = decide(g, "10.0.0.2", "GET", "any.test", false);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(r.text, "mode; host=any.test; project=p2");
    CHECK(r.recorded);
    r = decide(g, "10.0.0.3", "GET", "any.test", false);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    CHECK(!r.recorded);

    r = decide(g, "10.0.0.9", "GET", "api.example.com", false);
    CHECK_INT(r.verdict, EP_VERDICT_DENY);
    CHECK_STR(r.text, "unknown-client; host=api.example.com; project=-");
    r = decide(g, NULL, "GET", "api.example.com", false);
    CHECK_STR(r.reason, "unknown-client");
    r = decide(g, "10.0.0.1", "GET", NULL, false);
    CHECK_INT(r.verdict, EP_VERDICT_DENY);
    CHECK_STR(r.text, "bad-host; host=invalid; project=-");
    CHECK(!r.recorded);

    /* One log line per decision, the method kept printable. */
    r = decide(g, "10.0.0.1", "G\nET", "evil.test", true);
    CHECK_INT(nlines, 9);
    CHECK_INT(lines_with(EP_GATE_LOG_DECISION, "allow GET api.example.com from 10.0.0.1: rule; "
                                               "host=api.example.com; project=p1; "
                                               "rule=api.example.com"),
              1);
    CHECK_STR(lines[1], "deny CONNECT evil.test from 10.0.0.1: not-whitelisted; host=evil.test; "
                        "project=p1");
    CHECK_STR(lines[6], "deny GET api.example.com from -: unknown-client; host=api.example.com; "
                        "project=-");
    CHECK_STR(lines[7], "deny GET invalid from 10.0.0.1: bad-host; host=invalid; project=-");
    CHECK_STR(lines[8], "deny G?ET evil.test from 10.0.0.1: not-whitelisted; host=evil.test; "
                        "project=p1");

    ep_gate_counts(g, &n);
    CHECK_INT(n.allowed, 3);
    CHECK_INT(n.denied, 6);
    CHECK_INT(n.recorded, 3);
    CHECK_INT(n.errors, 0);
    CHECK_INT(hooked[EP_GATE_ALLOWED], 3);
    CHECK_INT(hooked[EP_GATE_DENIED], 6);
    CHECK_INT(hooked[EP_GATE_RECORDED], 3);

    /* The records: written by the recorder's last flush at close. */
    ep_gate_free(g);
    s = store_open_dir(dir, 0);
    CHECK(seen_get(s, "p1", "api.example.com", &seen));
    CHECK_INT(seen.allowed, 1);
    CHECK(seen_get(s, "p1", "evil.test", &seen));
    CHECK_INT(seen.count, 1);
    CHECK_INT(seen.denied, 1);
    CHECK(seen_get(s, "p2", "any.test", &seen));
    CHECK(!seen_get(s, "p3", "any.test", &seen));
    ep_store_close(s);

    /* Unknown clients allowed (not recorded) when the gate says so; no decision log. */
    {
        struct ep_gate_hooks hooks = {.log = hook_log, .count = NULL, .ctx = NULL};
        struct ep_gate_options o;

        hooks_reset();
        ep_gate_options_default(&o);
        snprintf(o.database, sizeof o.database, "%s", dir);
        o.unknown_allow = true;
        REQUIRE(ep_gate_new(&o, &hooks, &g) == 0);
        r = decide(g, "10.0.0.9", "GET", "api.example.com", false);
        CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
        CHECK_STR(r.reason, "unknown-client");
        CHECK(!r.recorded);
        CHECK_INT(nlines, 0);
        ep_gate_free(g);
    }
}

/*
 * The store is missing: every request denied (store-error), every one
 * counted, one line per interval; a store that appears later is opened
 * by the next try, without a restart.
 */
static void test_store_missing(void)
{
    char missing[512], expect[1024];
    struct ep_gate_counts n;
    struct ep_gate_result r;
    struct ep_store *s;
    struct ep_gate *g;

    snprintf(missing, sizeof missing, "%s/missing", test_tmpdir());
    hooks_reset();
    g = gate_on(missing, 3600 * 1000, false);
    CHECK_INT(ep_gate_store(g, "cannot open the store at start", &s), ENOENT);
    CHECK(s == NULL);
    for (int i = 0; i < 20; i++) {
        r = decide(g, "10.0.0.1", "GET", "api.example.com", false);
        CHECK_INT(r.verdict, EP_VERDICT_DENY);
    }
    CHECK_STR(r.text, "store-error; host=api.example.com; project=-");
    ep_gate_counts(g, &n);
    CHECK_INT(n.denied, 20);
    CHECK_INT(n.errors, 21);
    CHECK_INT(hooked[EP_GATE_ERRORS], 21);
    CHECK_INT(nlines, 1);
    snprintf(expect, sizeof expect,
             "cannot open the store at start (store %s): %s (0 similar errors not logged)", missing,
             ep_strerror(ENOENT));
    CHECK_STR(lines[0], expect);
    ep_gate_free(g);

    /* A short interval: the store made meanwhile is picked up by the next try. */
    hooks_reset();
    g = gate_on(missing, 10, false);
    r = decide(g, "10.0.0.1", "GET", "api.example.com", false);
    CHECK_STR(r.reason, "store-error");
    CHECK_INT(lines_with(EP_GATE_LOG_ERROR, "cannot open the store, request denied"), 1);
    REQUIRE(mkdir(missing, 0700) == 0);
    s = store_open_dir(missing, 0);
    project_add(s, "p1", "course", EP_MODE_LOGGING, "10.0.0.1");
    ep_store_close(s);
    sleep_ms(30);
    r = decide(g, "10.0.0.1", "GET", "api.example.com", false);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(r.reason, "mode");
    CHECK(r.recorded);
    ep_gate_free(g);
}

/* A store written by a schema this program does not know: refused, denied, logged. */
static void test_store_unknown_schema(void)
{
    const char *dir = store_dir("schema");
    struct ep_store *s = store_open_dir(dir, 0);
    uint32_t other = EP_STORE_SCHEMA + 1;
    MDB_val key = {6, "schema"}, val = {sizeof other, &other};
    struct ep_gate_counts n;
    struct ep_gate_result r;
    struct ep_gate *g;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;

    project_add(s, "p1", "course", EP_MODE_LOGGING, "10.0.0.1");
    ep_store_close(s);
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
    REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    REQUIRE(mdb_put(txn, meta, &key, &val, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);

    hooks_reset();
    g = gate_on(dir, 3600 * 1000, false);
    for (int i = 0; i < 5; i++) {
        /* A logging workspace too: nothing was decided, so nothing is allowed. */
        r = decide(g, "10.0.0.1", "GET", "api.example.com", false);
        CHECK_INT(r.verdict, EP_VERDICT_DENY);
        CHECK_STR(r.reason, "store-error");
        CHECK(!r.recorded);
    }
    ep_gate_counts(g, &n);
    CHECK_INT(n.errors, 5);
    CHECK_INT(nlines, 1);
    CHECK(strstr(lines[0], "cannot open the store, request denied") == lines[0]);
    CHECK(strstr(lines[0], ep_strerror(EP_E_SCHEMA)) != NULL);
    ep_gate_free(g);
}

/*
 * Every reader slot taken by another process: an overload, counted apart
 * (readers_full), failing closed for a security workspace; served again
 * once the slots are free, without a restart.
 */
static void test_readers_full(void)
{
    const char *dir = store_dir("readers");
    const char *const course[] = {"api.example.com", NULL};
    struct ep_gate_counts n;
    struct ep_gate_result r;
    struct ep_store *s = store_open_dir(dir, 0);
    struct ep_gate *g;
    int full[2], release[2], status;
    char byte = 0, lock[512];
    pid_t pid;

    project_add(s, "p1", "course", EP_MODE_SECURITY, "10.0.0.1");
    REQUIRE(rules_set(s, "course", course) == 0);
    ep_store_close(s);

    /*
     * The holder opens the store first and alone, on a new lock file, so
     * the reader table has its 8 slots (LMDB never shrinks one), and
     * takes them all.
     */
    snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
    REQUIRE(unlink(lock) == 0);
    REQUIRE(pipe(full) == 0 && pipe(release) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        struct ep_store_options opts = {.max_readers = 8};
        struct ep_store_read *reads[64];
        struct ep_store *held = NULL;
        size_t k = 0;
        int rc = ep_store_open(dir, &opts, &held);

        while (rc == 0 && k < 64 && (rc = ep_store_read_begin(held, &reads[k])) == 0)
            k++;
        byte = rc == MDB_READERS_FULL ? 'f' : 'x';
        if (byte != 'f')
            fprintf(stderr, "holder: %s after %zu reads\n", ep_strerror(rc), k);
        if (write(full[1], &byte, 1) != 1 || read(release[0], &byte, 1) < 0)
            _exit(3);
        while (k > 0)
            ep_store_read_end(reads[--k]);
        ep_store_close(held);
        _exit(0); /* not exit(): the test directory belongs to the parent */
    }
    REQUIRE(read(full[0], &byte, 1) == 1 && byte == 'f');

    hooks_reset();
    g = gate_on(dir, 10, false);
    for (int i = 0; i < 5; i++) {
        r = decide(g, "10.0.0.1", "GET", "api.example.com", false);
        CHECK_INT(r.verdict, EP_VERDICT_DENY);
        CHECK_STR(r.reason, "store-error");
    }
    ep_gate_counts(g, &n);
    CHECK_INT(n.readers_full, 5);
    CHECK_INT(hooked[EP_GATE_READERS_FULL], 5);
    CHECK(lines_with(EP_GATE_LOG_ERROR, mdb_strerror(MDB_READERS_FULL)) >= 1);

    REQUIRE(write(release[1], &byte, 1) == 1);
    REQUIRE(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sleep_ms(30);
    r = decide(g, "10.0.0.1", "GET", "api.example.com", false);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(r.reason, "rule");
    ep_gate_free(g);
    close(full[0]);
    close(full[1]);
    close(release[0]);
    close(release[1]);
}

/*
 * A full map: the decision still answers (a logging workspace is
 * allowed), the record that could not be written is counted as an error,
 * logged, and kept: the recorder's flush at close writes it once the map
 * has room again.
 */
static void test_map_full(void)
{
    const char *dir = store_dir("full");
    struct ep_seen_delta junk = {"junk", "filler.example.com", 1, 0, 1, 1, EP_VERDICT_ALLOW};
    struct ep_gate_hooks hooks = {.log = hook_log, .count = hook_count, .ctx = NULL};
    struct ep_gate_options o;
    struct ep_store_read *pin;
    struct ep_gate_counts n;
    struct ep_gate_result r;
    struct ep_store *s;
    struct ep_gate *g = NULL;
    struct ep_seen seen;
    int rc = 0;

    ep_gate_options_default(&o);
    snprintf(o.database, sizeof o.database, "%s", dir);
    o.map_size = EP_STORE_MAP_SIZE_MIN;
    o.interval_ms = 3600 * 1000;
    hooks_reset();
    REQUIRE(ep_gate_new(&o, &hooks, &g) == 0);
    REQUIRE(ep_gate_store(g, NULL, &s) == 0);
    project_add(s, "p1", "course", EP_MODE_LOGGING, "10.0.0.1");

    /* A reader that stays open pins every page written since: the writes fill the map. */
    REQUIRE(ep_store_read_begin(s, &pin) == 0);
    for (int i = 0; rc == 0 && i < 100000; i++)
        rc = ep_store_seen_add(s, &junk, 1);
    REQUIRE(rc == MDB_MAP_FULL);

    r = decide(g, "10.0.0.1", "GET", "new.example.com", false);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(r.reason, "mode");
    CHECK(!r.recorded);
    ep_gate_counts(g, &n);
    CHECK_INT(n.errors, 1);
    CHECK_INT(n.recorded, 0);
    CHECK_INT(
        lines_with(EP_GATE_LOG_ERROR, "recording a new host failed (kept for the next flush)"), 1);
    CHECK_INT(lines_with(EP_GATE_LOG_ERROR, mdb_strerror(MDB_MAP_FULL)), 1);

    ep_store_read_end(pin);
    ep_gate_free(g);
    s = store_open_dir(dir, EP_STORE_MAP_SIZE_MIN);
    CHECK(seen_get(s, "p1", "new.example.com", &seen));
    CHECK_INT(seen.count, 1);
    ep_store_close(s);
}

/* The intercept check alone: CONNECT, no Host header, a Host header of another host or port. */
static void test_intercept_check(void)
{
    static const struct {
        const char *method, *host_header;
        int port;
        const char *reason; /* NULL: passes */
    } cases[] = {
        {"GET", "exact.test", 80, NULL},
        {"GET", "Exact.TEST.", 80, NULL},
        {"GET", "exact.test:80", 80, NULL},
        {"GET", "exact.test:8080", 0, NULL}, /* the request's port unknown: not compared */
        {"POST", "exact.test", 8080, NULL},  /* the Host header names no port */
        {"GET", "exact.test:8080", 80, "intercept-host-mismatch"},
        {"GET", "evil.test", 80, "intercept-host-mismatch"},
        {"GET", "exact.test.evil.test", 80, "intercept-host-mismatch"},
        {"GET", "bad..host", 80, "intercept-host-mismatch"},
        {"GET", "http://exact.test/", 80, "intercept-host-mismatch"},
        {"GET", NULL, 80, "intercept-no-host"},
        {"GET", "", 80, "intercept-no-host"},
        {"CONNECT", "exact.test:443", 443, "intercept-connect"},
        {"connect", NULL, 443, "intercept-connect"},
    };
    struct ep_gate_request req;
    const char *reason;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&req, 0, sizeof req);
        req.intercept = true;
        req.method = cases[i].method;
        req.host = "exact.test";
        req.port = cases[i].port;
        req.host_header = cases[i].host_header;
        CHECK_INT(ep_gate_intercept_check(&req, &reason), cases[i].reason == NULL);
        if (!!reason != !!cases[i].reason || (reason && strcmp(reason, cases[i].reason) != 0))
            fprintf(stderr, "  case %zu (%s, %s, %d): got %s\n", i, cases[i].method,
                    cases[i].host_header ? cases[i].host_header : "(none)", cases[i].port,
                    reason ? reason : "(passes)");
        CHECK_STR(reason ? reason : "(passes)", cases[i].reason ? cases[i].reason : "(passes)");
    }
    /* An IPv6 literal in brackets is the same host. */
    memset(&req, 0, sizeof req);
    req.intercept = true;
    req.method = "GET";
    req.host = "::1";
    req.port = 80;
    req.host_header = "[::1]:80";
    CHECK(ep_gate_intercept_check(&req, &reason));
    /* Not intercepted: nothing is checked. */
    req.intercept = false;
    req.host_header = NULL;
    CHECK(ep_gate_intercept_check(&req, &reason));
    CHECK(reason == NULL);
}

/* Through ep_gate_decide(): denied whatever the rules say, recorded as the denial it is. */
static void test_intercept_decide(void)
{
    const char *dir = store_dir("intercept");
    struct ep_store *s = store_open_dir(dir, 0);
    const char *const course[] = {"exact.test", NULL};
    struct ep_gate_request req = {.method = "GET", .port = 80, .intercept = true};
    struct ep_gate_result r;
    struct ep_gate *g;
    struct ep_seen seen;

    project_add(s, "sec", "course", EP_MODE_SECURITY, "10.0.0.1");
    project_add(s, "log", "course", EP_MODE_LOGGING, "10.0.0.2");
    REQUIRE(rules_set(s, "course", course) == 0);
    ep_store_close(s);
    hooks_reset();
    g = gate_on(dir, 3600 * 1000, true);

    req.client_ip = "10.0.0.1";
    req.host = "exact.test";
    req.host_header = "exact.test";
    ep_gate_decide(g, &req, &r);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(r.rule, "exact.test");
    req.host_header = "evil.test";
    ep_gate_decide(g, &req, &r);
    CHECK_INT(r.verdict, EP_VERDICT_DENY);
    CHECK_STR(r.text, "intercept-host-mismatch; host=exact.test; project=sec");
    CHECK_STR(r.rule, "");
    CHECK(r.recorded);
    CHECK_STR(lines[1], "deny GET exact.test:80 from 10.0.0.1: intercept-host-mismatch; "
                        "host=exact.test; project=sec");
    req.client_ip = "10.0.0.2";
    req.host = "any.test";
    req.host_header = NULL;
    ep_gate_decide(g, &req, &r);
    CHECK_INT(r.verdict, EP_VERDICT_DENY);
    CHECK_STR(r.text, "intercept-no-host; host=any.test; project=log");
    req.method = "CONNECT";
    req.host_header = "any.test:443";
    req.port = 443;
    ep_gate_decide(g, &req, &r);
    CHECK_STR(r.reason, "intercept-connect");
    req.intercept = false;
    ep_gate_decide(g, &req, &r);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    ep_gate_free(g);

    s = store_open_dir(dir, 0);
    CHECK(seen_get(s, "sec", "exact.test", &seen));
    CHECK_INT(seen.allowed, 1);
    CHECK_INT(seen.denied, 1);
    CHECK(seen_get(s, "log", "any.test", &seen));
    CHECK_INT(seen.denied, 2);
    CHECK_INT(seen.allowed, 1);
    ep_store_close(s);

    /* A store that cannot be opened: still the intercept reason, the more telling one. */
    {
        char missing[512];

        snprintf(missing, sizeof missing, "%s/intercept-missing", test_tmpdir());
        g = gate_on(missing, 3600 * 1000, false);
        req.intercept = true;
        req.method = "GET";
        req.host_header = NULL;
        ep_gate_decide(g, &req, &r);
        CHECK_STR(r.reason, "intercept-no-host");
        ep_gate_free(g);
    }
}

/* Is this address named by an ip: rule of the client's project? */
static void test_ip_rule(void)
{
    const char *dir = store_dir("iprule");
    struct ep_store *s = store_open_dir(dir, 0);
    const char *const course[] = {"exact.test", "ip:10.9.8.7", "ip:fd00::7", NULL};
    struct ep_gate_request req = {.method = "GET", .port = 80};
    struct ep_gate_counts n;
    struct ep_gate_result r;
    struct ep_gate *g;
    struct ep_seen seen;
    char missing[512];

    project_add(s, "sec", "course", EP_MODE_SECURITY, "10.0.0.1");
    project_add(s, "log", "other", EP_MODE_LOGGING, "10.0.0.2");
    project_add(s, "none", "course", EP_MODE_NONE, "10.0.0.3");
    REQUIRE(rules_set(s, "course", course) == 0);
    ep_store_close(s);
    hooks_reset();
    g = gate_on(dir, 3600 * 1000, true);

    req.client_ip = "10.0.0.1";
    req.host = "10.9.8.7";
    CHECK_INT(ep_gate_ip_rule(g, &req, &r), 0);
    CHECK_INT(r.verdict, EP_VERDICT_ALLOW);
    CHECK_STR(r.text, "ip-rule; host=10.9.8.7; project=sec; rule=ip:10.9.8.7");
    req.host = "fd00::7";
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.rule, "ip:fd00::7");
    req.host = "10.9.8.8";
    ep_gate_ip_rule(g, &req, &r);
    CHECK_INT(r.verdict, EP_VERDICT_DENY);
    CHECK_STR(r.text, "no-ip-rule; host=10.9.8.8; project=sec");
    req.host = "exact.test";
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.reason, "not-ip");
    req.host = NULL;
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.reason, "bad-host");
    /* Any mode; another project's rule names nothing for this one. */
    req.client_ip = "10.0.0.3";
    req.host = "10.9.8.7";
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.reason, "ip-rule");
    req.client_ip = "10.0.0.2";
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.text, "no-ip-rule; host=10.9.8.7; project=log");
    req.client_ip = "10.0.0.9";
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.text, "unknown-client; host=10.9.8.7; project=-");
    req.client_ip = NULL;
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.reason, "unknown-client");
    /* Never recorded, counted or logged as a decision. */
    ep_gate_counts(g, &n);
    CHECK_INT(n.allowed + n.denied + n.recorded + n.errors, 0);
    CHECK_INT(nlines, 0);
    ep_gate_free(g);

    /* A regex of the base domains that matches the address text hides no ip: rule of the profile.
     */
    s = store_open_dir(dir, 0);
    CHECK(!seen_get(s, "sec", "10.9.8.7", &seen));
    {
        const char *const base[] = {"~^10\\.9\\..*$", NULL};

        REQUIRE(rules_set(s, EP_PROFILE_BASE, base) == 0);
    }
    ep_store_close(s);
    g = gate_on(dir, 3600 * 1000, false);
    req.client_ip = "10.0.0.1";
    req.host = "10.9.8.7";
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.text, "ip-rule; host=10.9.8.7; project=sec; rule=ip:10.9.8.7");
    req.host = "10.9.8.8";
    ep_gate_ip_rule(g, &req, &r);
    CHECK_STR(r.reason, "no-ip-rule");
    ep_gate_free(g);

    /* No store: ERR, counted and logged. */
    snprintf(missing, sizeof missing, "%s/iprule-missing", test_tmpdir());
    hooks_reset();
    g = gate_on(missing, 3600 * 1000, false);
    CHECK(ep_gate_ip_rule(g, &req, &r) != 0);
    CHECK_STR(r.reason, "store-error");
    CHECK_INT(lines_with(EP_GATE_LOG_ERROR, "cannot open the store, no ip: rule"), 1);
    ep_gate_free(g);
}

int main(void)
{
    test_options();
    test_reason_text();
    test_decide_and_record();
    test_intercept_check();
    test_intercept_decide();
    test_ip_rule();
    test_store_missing();
    test_store_unknown_schema();
    test_readers_full();
    test_map_full();
    return test_exit();
}
