/*
 * egress-api's request handling in this process (tests/api/inproc.h):
 *
 * - every allocation of a request made to fail in turn (ep_alloc_fail_after:
 *   the Nth and all after it), for representative reads, writes and
 *   refusals: the answer is the one the request gets without failures, or
 *   a 500; never a success with another body, and a write is either done
 *   whole or not at all;
 * - PUT /api/projects/:id/ip waits for the project's lock, as start, stop
 *   and password changes do (one path for every change to a mapping).
 */
#include "config.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/workspace.h"
#include "policy/error.h"
#include "tests/api/inproc.h"
#include "tests/lib/testutil.h"

#define PROJECT   "p-alloc"
#define SWEEP_MAX 20000

static struct inproc ip;
static const char *const json_headers[] = {"Content-Type", "application/json", NULL};

static int add_rule_text(void *ctx, const struct ep_rule *rule)
{
    char text[EP_RULE_BUFSZ];

    ep_rule_format(rule, text);
    return json_array_append_new(ctx, json_string(text));
}

/* What a write may change: the rules of course1 and the list of projects, as text. */
static char *state(void)
{
    json_t *rules = json_array();
    struct inproc_reply r;
    char *text, *out;

    REQUIRE(ep_store_rules_list(ip.ctx.store, "course1", add_rule_text, rules) == 0);
    text = json_dumps(rules, JSON_COMPACT);
    json_decref(rules);
    inproc_call(&ip, "GET", "/api/projects", true, NULL, NULL, 0, -1, &r);
    REQUIRE(r.status == 200 && text != NULL);
    REQUIRE(asprintf(&out, "%s %s", text, r.text) > 0);
    free(text);
    inproc_reply_free(&r);
    return out;
}

/*
 * The state every request of the sweep starts from, written only when it
 * changed (a write bumps the profile's generation, which GET /api/profiles
 * shows).
 */
static void reset(void)
{
    static const char *const texts[] = {"github.com", ".pythonhosted.org",
                                        "~^x[0-9]+\\.example\\.org$"};
    static char *initial;
    struct ep_rule rules[3];
    char why[256], *now = state();

    if (initial && strcmp(now, initial) == 0) {
        free(now);
        return;
    }
    free(now);
    for (size_t i = 0; i < 3; i++)
        REQUIRE(ep_rule_parse(texts[i], &rules[i], why, sizeof why) == 0);
    REQUIRE(ep_store_rules_replace(ip.ctx.store, "course1", rules, 3) == 0);
    if (initial == NULL)
        initial = state();
}

/*
 * The second mode: only the Nth allocation made by jansson fails, the
 * ones after it succeed again, so an ignored failure (a member or an
 * array entry silently left out) shows as a success with another body.
 */
static atomic_long json_allocs_left = -1;
static atomic_bool json_failed;

static void *json_alloc_once(size_t size)
{
    if (atomic_fetch_sub(&json_allocs_left, 1) == 0) {
        atomic_store(&json_failed, true);
        return NULL;
    }
    return ep_malloc(size);
}

static void json_only_nth(long n)
{
    atomic_store(&json_allocs_left, n);
    atomic_store(&json_failed, false);
}

/* No more failures once the request ran: the answer is rendered as the daemon would. */
static void json_stop_failing(void)
{
    atomic_store(&json_allocs_left, -1);
}

/*
 * The paths of issue 19 under failing allocations: a teacher of course1
 * (an API token: the token and account reads, the courses array) reading
 * and writing in their course, and the accounts and courses listings. (A
 * sign-in answers a new random CSRF token each time, so it cannot be
 * compared with a reference answer here; tests/api/test_api_sessions and
 * the fuzz target cover it.)
 */
static void sweep_as_teacher(void);

/*
 * Run one request without failures (the reference answer and state), then
 * once per allocation with that one and every later one failing, until
 * the request makes no more allocations than were allowed; then once per
 * jansson allocation with only that one failing.
 */
/* Who the sweep calls as: the token file's admin, unless a test names other headers. */
static bool sweep_admin = true;
static const char *const *sweep_headers = json_headers;

static void sweep(const char *method, const char *target, const char *body)
{
    struct inproc_reply ref, r;
    char *before, *after_ref;
    size_t len = body ? strlen(body) : 0;
    long k;
    unsigned failures = 0;
    int failed_before = test_failures;

    reset();
    before = state();
    inproc_call(&ip, method, target, sweep_admin, sweep_headers, body, len, -1, &ref);
    after_ref = state();
    REQUIRE(ref.status != 500);
    for (k = 0; k < SWEEP_MAX; k++) {
        char *now;

        reset();
        inproc_call(&ip, method, target, sweep_admin, sweep_headers, body, len, k, &r);
        now = state();
        if (r.status == ref.status && strcmp(r.text, ref.text) == 0) {
            /* The same answer: the same effect. */
            CHECK_STR(now, after_ref);
        } else {
            failures++;
            CHECK_INT(r.status, 500);
            CHECK(strstr(r.text, "\"error\"") != NULL);
            /* A write is whole or absent; a 500 after its commit is allowed. */
            CHECK(strcmp(now, before) == 0 || strcmp(now, after_ref) == 0);
        }
        if (test_failures > failed_before) {
            fprintf(stderr, "  %s %s, allocation %ld failing: %u %s\n  expected %u %s\n", method,
                    target, k, r.status, r.text, ref.status, ref.text);
            free(now);
            inproc_reply_free(&r);
            break;
        }
        free(now);
        inproc_reply_free(&r);
        if (!r.exhausted)
            break;
    }
    CHECK(k < SWEEP_MAX);
    fprintf(stderr, "%s %s: %ld allocations, %u failed answers, reference %u\n", method, target, k,
            failures, ref.status);
    /*
     * jansson's own parser asserts (lex_scan_string) when one copy fails
     * and the next succeeds, so the one-at-a-time failures start after the
     * allocations of parsing the body (the cascading sweep above covers
     * those).
     */
    failures = 0;
    k = 0;
    if (body) {
        json_error_t jerr;
        json_t *parsed;

        json_only_nth(LONG_MAX / 2);
        parsed = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        k = LONG_MAX / 2 - atomic_load(&json_allocs_left);
        json_only_nth(-1);
        json_decref(parsed);
    }
    for (; k < SWEEP_MAX && test_failures == failed_before; k++) {
        char *now;
        bool reached;

        reset();
        json_only_nth(k);
        inproc_call(&ip, method, target, sweep_admin, sweep_headers, body, len, -1, &r);
        reached = atomic_load(&json_failed);
        json_only_nth(-1);
        now = state();
        if (r.status == ref.status && strcmp(r.text, ref.text) == 0) {
            CHECK_STR(now, after_ref);
        } else if (r.status >= 400 && r.status < 500) {
            /*
             * jansson's lexer reports a failed copy of a string as a syntax
             * error: a refusal for the wrong reason, still no success and
             * no change.
             */
            failures++;
            CHECK_STR(now, before);
        } else {
            failures++;
            CHECK_INT(r.status, 500);
            CHECK(strcmp(now, before) == 0 || strcmp(now, after_ref) == 0);
        }
        if (test_failures > failed_before)
            fprintf(stderr,
                    "  %s %s, only jansson allocation %ld failing: %u %s\n  expected %u %s\n",
                    method, target, k, r.status, r.text, ref.status, ref.text);
        free(now);
        inproc_reply_free(&r);
        if (!reached)
            break;
    }
    fprintf(stderr, "%s %s: %ld jansson allocations failed one at a time, %u failed answers\n",
            method, target, k, failures);
    inproc_reply_free(&ref);
    free(before);
    free(after_ref);
}

static void test_allocation_failures(void)
{
    char path[128];

    sweep("GET", "/api/whitelist?profile=course1", NULL);
    sweep("PUT", "/api/whitelist",
          "{\"domains\": [\"pypi.org\", \".npmjs.org\", \"~^y\\\\.example\\\\.org$\", "
          "\"ip:192.0.2.1\"], "
          "\"profile\": \"course1\"}");
    sweep("PUT", "/api/whitelist",
          "{\"domains\": [\"pypi.org\", \"http://x/\"], \"profile\": \"course1\"}");
    sweep("POST", "/api/whitelist/domains",
          "{\"domains\": [\"pypi.org\", \"github.com\"], \"profile\": \"course1\"}");
    sweep("DELETE", "/api/whitelist/domains/github.com?profile=course1", NULL);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains/promote", PROJECT);
    sweep("POST", path,
          "{\"domains\": [\"pypi.org\", \"files.pythonhosted.org\", \"x12.example.org\", \"com\", "
          "\"https://a.org/\"], \"profile\": \"course1\"}");
    sweep("POST", path,
          "{\"domains\": [\"pypi.org\", \"npmjs.org\"], \"profile\": \"course1\", \"replace\": "
          "true}");
    sweep("POST", path, "{\"domains\": [\"com\"], \"profile\": \"course1\", \"replace\": true}");
    sweep("POST", path,
          "{\"domains\": [\"pypi.org\", \"x13.example.org\", \"192.0.2.9\"], \"profile\": "
          "\"course1\", \"replace\": true, \"dryRun\": true}");
    /* A host recorded with a port: rule of its port, record with "host" and "port". */
    sweep("POST", path,
          "{\"domains\": [\"github.com:22\", \"[2001:db8::1]:8080\", \"pypi.org:443\"], "
          "\"profile\": \"course1\"}");
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains", PROJECT);
    sweep("GET", path, NULL);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains?coverage=1", PROJECT);
    sweep("GET", path, NULL);
    snprintf(path, sizeof path, "/api/projects/%s/check?host=github.com:22", PROJECT);
    sweep("GET", path, NULL);
    snprintf(path, sizeof path, "/api/projects/%s", PROJECT);
    sweep("GET", path, NULL);
    snprintf(path, sizeof path, "/api/projects/%s/check?host=x7.example.org", PROJECT);
    sweep("GET", path, NULL);
    sweep("GET", "/api/projects", NULL);
    sweep("GET", "/api/profiles", NULL);
    sweep("GET", "/api/nothing", NULL);
    sweep("POST", "/api/whitelist/domains", "{\"domains\": [\"a.org\"");
    sweep_as_teacher();
}

struct ip_call {
    atomic_bool done;
    struct inproc_reply reply;
};

static void *put_ip(void *arg)
{
    struct ip_call *c = arg;
    const char *body = "{\"ipAddress\": \"192.0.2.7\"}";

    inproc_call(&ip, "PUT", "/api/projects/" PROJECT "/ip", true, json_headers, body, strlen(body),
                -1, &c->reply);
    atomic_store(&c->done, true);
    return NULL;
}

/*
 * While the project's lock is held (as a start holds it while the engine
 * starts the container and its address is mapped), an admin's mapping
 * waits; once released it goes through. Without the lock the PUT would
 * finish at once: the pause only gives it the time to show that.
 */
static void test_ip_takes_the_lock(void)
{
    struct ip_call c = {0};
    struct ep_project p;
    pthread_t t;

    workspace_lock(PROJECT);
    REQUIRE(pthread_create(&t, NULL, put_ip, &c) == 0);
    usleep(300 * 1000);
    CHECK(!atomic_load(&c.done));
    workspace_unlock(PROJECT);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK_INT(c.reply.status, 200);
    inproc_reply_free(&c.reply);
    REQUIRE(ep_store_project_get(ip.ctx.store, PROJECT, &p) == 0);
    CHECK_STR(p.ip, "192.0.2.7");
}

static void sweep_as_teacher(void)
{
    static const char *const h[] = {"Content-Type", "application/json", NULL};
    static char bearer[160];
    static const char *headers[] = {"Authorization", bearer, "Content-Type", "application/json",
                                    NULL};
    struct inproc_reply r;
    char path[128];
    json_t *j;

    inproc_call(&ip, "POST", "/api/accounts", true, h,
                "{\"name\":\"sweeper\",\"password\":\"sweeper-pass-1\"}", 46, -1, &r);
    REQUIRE(r.status == 201);
    inproc_reply_free(&r);
    inproc_call(&ip, "PUT", "/api/courses/course1", true, h, "{\"owners\":[\"sweeper\"]}", 22, -1,
                &r);
    REQUIRE(r.status == 200);
    inproc_reply_free(&r);
    inproc_call(&ip, "POST", "/api/accounts/sweeper/tokens", true, h, "{\"name\":\"t\"}", 12, -1,
                &r);
    REQUIRE(r.status == 201);
    j = json_loads(r.text, 0, NULL);
    REQUIRE(j != NULL);
    snprintf(bearer, sizeof bearer, "Bearer %s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    inproc_reply_free(&r);

    sweep("GET", "/api/accounts", NULL);
    sweep("GET", "/api/courses", NULL);
    sweep_admin = false;
    sweep_headers = headers;
    sweep("GET", "/api/session", NULL);
    sweep("GET", "/api/projects", NULL);
    sweep("GET", "/api/courses", NULL);
    sweep("GET", "/api/audit", NULL);
    snprintf(path, sizeof path, "/api/projects/%s/proxy-mode", PROJECT);
    sweep("PUT", path, "{\"proxyMode\": \"security\"}");
    sweep("POST", "/api/whitelist/domains", "{\"domains\": [\"b.org\"], \"profile\": \"course1\"}");
    sweep_admin = true;
    sweep_headers = json_headers;
}

int main(void)
{
    const char *dir = test_tmpdir();
    struct ep_project p = {.id = PROJECT,
                           .name = "alloc",
                           .type = "empty",
                           .profile = "course1",
                           .mode = EP_MODE_LOGGING,
                           .created_at = 1700000000};
    struct ep_seen_delta seen[] = {
        {PROJECT, "pypi.org", 3, 0, 1700000001, 1700000100, 0},
        {PROJECT, "files.pythonhosted.org", 2, 1, 1700000002, 1700000200, 1},
        {PROJECT, "github.com:22", 0, 2, 1700000003, 1700000300, 2},
    };

    REQUIRE(inproc_open(&ip, dir) == 0);
    json_set_alloc_funcs(json_alloc_once, ep_free);
    inproc_after_dispatch = json_stop_failing;
    REQUIRE(ep_store_project_create(ip.ctx.store, &p, 0) == 0);
    REQUIRE(ep_store_seen_add(ip.ctx.store, seen, 3) == 0);
    test_allocation_failures();
    test_ip_takes_the_lock();
    inproc_close(&ip);
    return test_exit();
}
