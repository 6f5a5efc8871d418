/*
 * A map grown by another process (MDB_MAP_RESIZED). Process A opens the
 * store with a 1 MiB map; process B, forked before A opened anything,
 * opens the same store with a larger map and writes well past A's size.
 * A must then read and write as before and see B's rules: first with a
 * write as A's first transaction after the growth, then (after B grows
 * the map again) with a decision while another thread of A still holds a
 * read transaction begun before the growth, which the remap must wait for.
 * That interleaving is made explicitly: the holding thread reads its old
 * snapshot only once it sees the main thread's remap waiting (the handle's
 * `remapping` flag, white-box), and the test fails if it never does.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy/store_internal.h"
#include "tests/store/storetest.h"

#define A_MAP ((size_t)1 << 20)

static char dir[512];

static off_t data_size(void)
{
    char path[600];
    struct stat st;

    snprintf(path, sizeof path, "%s/data.mdb", dir);
    REQUIRE(stat(path, &st) == 0);
    return st.st_size;
}

/* Add rules "r<i>.<tag>.grow.example.com" to profile @p tag until data.mdb holds @p bytes. */
static int grow_to(struct ep_store *s, const char *tag, off_t bytes)
{
    static struct ep_rule chunk[2000];
    unsigned next = 0;

    while (data_size() < bytes) {
        for (unsigned i = 0; i < 2000; i++, next++) {
            chunk[i].kind = EP_RULE_EXACT;
            snprintf(chunk[i].host, sizeof chunk[i].host,
                     "r%u.padding-to-take-some-room.%s.grow.example.com", next, tag);
        }
        if (ep_store_rules_add(s, tag, chunk, 2000, NULL) != 0)
            return 1;
    }
    return 0;
}

/*
 * Process B: for each command read from @p in ('1', '2') open the store
 * with a map of 4 or 32 MiB, grow the data past 2 or 6 MiB, allow
 * "grown<N>.example.com" to profile "course", close, and answer 'k' (or
 * 'e' on an error).
 */
static void process_b(int in, int out)
{
    char cmd;

    while (read(in, &cmd, 1) == 1) {
        struct ep_store_options opts = {.map_size =
                                            cmd == '1' ? (size_t)4 << 20 : (size_t)32 << 20};
        struct ep_store *s = NULL;
        char host[64], reply = 'e';
        struct ep_rule r = {.kind = EP_RULE_EXACT};

        snprintf(host, sizeof host, "grown%c.example.com", cmd);
        snprintf(r.host, sizeof r.host, "%s", host);
        if (ep_store_open(dir, &opts, &s) == 0 &&
            grow_to(s, cmd == '1' ? "big1" : "big2", cmd == '1' ? 2 << 20 : 6 << 20) == 0 &&
            ep_store_rule_add(s, "course", &r, NULL) == 0)
            reply = 'k';
        ep_store_close(s);
        if (write(out, &reply, 1) != 1)
            break;
    }
    _exit(0);
}

static void ask_b(int to_b, int from_b, char cmd)
{
    char reply = 0;

    REQUIRE(write(to_b, &cmd, 1) == 1);
    REQUIRE(read(from_b, &reply, 1) == 1);
    REQUIRE(reply == 'k');
}

static int count_cb(void *ctx, const struct ep_rule *r)
{
    (void)r;
    ++*(unsigned *)ctx;
    return 0;
}

static unsigned rules_count(struct ep_store *s, const char *profile)
{
    unsigned n = 0;

    CHECK_INT(ep_store_rules_list(s, profile, count_cb, &n), 0);
    return n;
}

static void expect_allowed(struct ep_store *s, const char *host, bool allowed)
{
    struct ep_request req = {.client_ip = "10.0.0.1", .host = host, .method = "GET", .port = 443};
    struct ep_decision d;

    CHECK_INT(ep_decide(s, &req, 0, &d), 0);
    CHECK_INT(d.verdict, allowed ? EP_VERDICT_ALLOW : EP_VERDICT_DENY);
}

/* A reader thread of A holding a read transaction across B's growth. */
struct holder {
    struct ep_store *store;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stage;    /* 1: read held, 2: may end it */
    bool decided; /* the main thread's decision returned */
    bool saw_remap_waiting;
    int match_rc;
};

/* Is a remap of @p s under way (waiting for the transactions in use to end)? */
static bool remap_waiting(struct ep_store *s)
{
    bool waiting;

    pthread_mutex_lock(&s->pool_lock);
    waiting = s->remapping;
    pthread_mutex_unlock(&s->pool_lock);
    return waiting;
}

static void *hold_read(void *arg)
{
    struct holder *h = arg;
    struct ep_store_read *rd = NULL;
    struct ep_rule m;

    REQUIRE(ep_store_read_begin(h->store, &rd) == 0);
    pthread_mutex_lock(&h->lock);
    h->stage = 1;
    pthread_cond_broadcast(&h->cond);
    while (h->stage < 2)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    /*
     * Wait until the main thread's decision is in the remap, waiting for this
     * very read (or has returned: a remap that did not wait, which the test
     * reports). Bounded, so a remap that never starts fails and does not hang.
     */
    for (int i = 0; i < 30000; i++) {
        bool decided;

        if (remap_waiting(h->store)) {
            h->saw_remap_waiting = true;
            break;
        }
        pthread_mutex_lock(&h->lock);
        decided = h->decided;
        pthread_mutex_unlock(&h->lock);
        if (decided)
            break;
        usleep(1000);
    }
    /* The old snapshot still reads fine while the remap waits. */
    h->match_rc = ep_store_read_match(rd, "course", "grown2.example.com", 0, &m);
    ep_store_read_end(rd);
    return NULL;
}

int main(void)
{
    struct ep_store_options opts = {.map_size = A_MAP};
    struct holder h = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    int to_b[2], from_b[2], status;
    struct ep_store *s = NULL;
    struct ep_rule r = {.kind = EP_RULE_SUFFIX};
    pthread_t t;
    pid_t b;

    snprintf(dir, sizeof dir, "%s", store_dir("resize"));
    REQUIRE(pipe(to_b) == 0 && pipe(from_b) == 0);
    b = fork();
    REQUIRE(b >= 0);
    if (b == 0) {
        close(to_b[1]);
        close(from_b[0]);
        process_b(to_b[0], from_b[1]);
    }
    close(to_b[0]);
    close(from_b[1]);

    REQUIRE(ep_store_open(dir, &opts, &s) == 0);
    project_add(s, "ws", "course", EP_MODE_SECURITY, "10.0.0.1");
    expect_allowed(s, "grown1.example.com", false);
    expect_allowed(s, "deb.debian.org", true); /* a read pooled before the growth */

    /* B grows the store past A's map; A's first transaction afterwards is a write. */
    ask_b(to_b[1], from_b[0], '1');
    REQUIRE(data_size() > (off_t)A_MAP);
    snprintf(r.host, sizeof r.host, "after-growth.example.org");
    CHECK_INT(ep_store_rule_add(s, "course", &r, NULL), 0);
    expect_allowed(s, "grown1.example.com", true);
    expect_allowed(s, "x.after-growth.example.org", true);
    CHECK(rules_count(s, "big1") > 1000);

    /* Again, with a read of another thread of A open across the growth. */
    h.store = s;
    REQUIRE(pthread_create(&t, NULL, hold_read, &h) == 0);
    pthread_mutex_lock(&h.lock);
    while (h.stage < 1)
        pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);
    ask_b(to_b[1], from_b[0], '2');
    pthread_mutex_lock(&h.lock);
    h.stage = 2;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    expect_allowed(s, "grown2.example.com", true);
    pthread_mutex_lock(&h.lock);
    h.decided = true;
    pthread_mutex_unlock(&h.lock);
    REQUIRE(pthread_join(t, NULL) == 0);
    /* The remap waited for the read held across the growth. */
    CHECK(h.saw_remap_waiting);
    /* The held read saw the snapshot from before B's second growth. */
    CHECK_INT(h.match_rc, EP_E_NOTFOUND);
    CHECK(rules_count(s, "big2") > 1000);

    /* A writes past the size it opened with. */
    CHECK_INT(grow_to(s, "mine", 8 << 20), 0);
    CHECK(rules_count(s, "mine") > 1000);
    expect_allowed(s, "r5.padding-to-take-some-room.mine.grow.example.com", false);

    close(to_b[1]);
    REQUIRE(waitpid(b, &status, 0) == b);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ep_store_close(s);
    return test_exit();
}
