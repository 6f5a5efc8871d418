/*
 * kill -9 of egress-api in the middle of writes, 20 times over one store.
 * Three callers write as fast as they can: whole-whitelist replaces (20
 * rules sharing one generation number), promotes of three hosts sharing
 * one number, and project creates. The daemon is killed at a random
 * moment, restarted on the same store, and then:
 *
 * - it starts (the store opens);
 * - every acknowledged change is there (the last acknowledged replace or a
 *   later one, every acknowledged promote, every acknowledged project);
 * - no half change is visible (a whitelist holds one replace whole, a
 *   promote's hosts are all there or none).
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/store.h"
#include "tests/api/client.h"
#include "tests/lib/testutil.h"

#define ROUNDS        20
#define REPLACE_RULES 20
#define PROMOTE_HOSTS 3
#define MAX_ACKED     20000

static struct api_daemon d;
static atomic_bool dead;
static char project[EP_ID_MAX + 1];

/* What the daemon acknowledged (answered 2xx), over all rounds. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long replace_acked = -1;  /* highest acknowledged replace */
static atomic_long replace_next; /* next replace number to try */
static long promotes_acked[MAX_ACKED];
static size_t n_promotes;
static atomic_long promote_next;
static char created[MAX_ACKED][EP_ID_MAX + 1];
static size_t n_created;
static atomic_long create_next;

static void *replacer(void *arg)
{
    (void)arg;
    while (!atomic_load(&dead)) {
        long seq = atomic_fetch_add(&replace_next, 1);
        char body[4096];
        size_t off = (size_t)snprintf(body, sizeof body, "{\"profile\": \"kw\", \"domains\": [");
        struct api_reply r;

        for (int i = 0; i < REPLACE_RULES; i++)
            off += (size_t)snprintf(body + off, sizeof body - off, "%s\"g%ld-%d.example.org\"",
                                    i ? ", " : "", seq, i);
        snprintf(body + off, sizeof body - off, "]}");
        if (api_call(&d, "PUT", "/api/whitelist", true, body, &r) == 200) {
            pthread_mutex_lock(&lock);
            if (seq > replace_acked)
                replace_acked = seq;
            pthread_mutex_unlock(&lock);
        }
        api_reply_free(&r);
    }
    return NULL;
}

static void *promoter(void *arg)
{
    char path[128];

    (void)arg;
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains/promote", project);
    while (!atomic_load(&dead)) {
        long seq = atomic_fetch_add(&promote_next, 1);
        char body[512];
        struct api_reply r;

        snprintf(body, sizeof body,
                 "{\"profile\": \"kp\", \"domains\": [\"p%ld-a.example.org\", "
                 "\"p%ld-b.example.org\", \"p%ld-c.example.org\"]}",
                 seq, seq, seq);
        if (api_call(&d, "POST", path, true, body, &r) == 200) {
            pthread_mutex_lock(&lock);
            if (n_promotes < MAX_ACKED)
                promotes_acked[n_promotes++] = seq;
            pthread_mutex_unlock(&lock);
        }
        api_reply_free(&r);
    }
    return NULL;
}

static void *creator(void *arg)
{
    (void)arg;
    while (!atomic_load(&dead)) {
        long seq = atomic_fetch_add(&create_next, 1);
        char body[128];
        struct api_reply r;

        snprintf(body, sizeof body, "{\"projectName\": \"k%ld\"}", seq);
        if (api_call(&d, "POST", "/api/projects/create", true, body, &r) == 201) {
            pthread_mutex_lock(&lock);
            if (n_created < MAX_ACKED)
                snprintf(created[n_created++], EP_ID_MAX + 1, "%s",
                         api_str(&r, "project.projectId"));
            pthread_mutex_unlock(&lock);
        }
        api_reply_free(&r);
    }
    return NULL;
}

/* The rules of @p profile (a JSON array owned by @p r). */
static json_t *rules_of(const char *profile, struct api_reply *r)
{
    char path[64];

    snprintf(path, sizeof path, "/api/whitelist?profile=%s", profile);
    REQUIRE(api_call(&d, "GET", path, true, NULL, r) == 200);
    return json_object_get(r->json, "domains");
}

/* The replace in force is one whole replace, the last acknowledged one or a later one. */
static void check_replace(void)
{
    struct api_reply r;
    json_t *rules = rules_of("kw", &r), *v;
    long seq = -1;
    size_t i;
    bool whole = true;

    json_array_foreach(rules, i, v)
    {
        long s;
        int k;

        if (sscanf(json_string_value(v), "g%ld-%d.example.org", &s, &k) != 2 ||
            (seq >= 0 && s != seq))
            whole = false;
        seq = s;
    }
    if (replace_acked < 0 && json_array_size(rules) == 0) {
        api_reply_free(&r);
        return;
    }
    CHECK(whole);
    CHECK_INT(json_array_size(rules), REPLACE_RULES);
    CHECK(seq >= replace_acked);
    CHECK(seq < atomic_load(&replace_next));
    if (!whole || seq < replace_acked)
        fprintf(stderr, "  profile kw after the kill: %s (last acknowledged: %ld)\n", r.body,
                replace_acked);
    api_reply_free(&r);
}

static bool has_rule(json_t *rules, const char *text)
{
    json_t *v;
    size_t i;

    json_array_foreach(rules, i, v) if (strcmp(json_string_value(v), text) == 0) return true;
    return false;
}

/* Every acknowledged promote is there; every promote there is whole. */
static void check_promotes(void)
{
    struct api_reply r;
    json_t *rules = rules_of("kp", &r), *v;
    char text[64];
    size_t i;

    for (size_t k = 0; k < n_promotes; k++) {
        snprintf(text, sizeof text, "p%ld-a.example.org", promotes_acked[k]);
        CHECK(has_rule(rules, text));
    }
    json_array_foreach(rules, i, v)
    {
        long s;

        REQUIRE(sscanf(json_string_value(v), "p%ld-", &s) == 1);
        for (char c = 'a'; c < 'a' + PROMOTE_HOSTS; c++) {
            snprintf(text, sizeof text, "p%ld-%c.example.org", s, c);
            CHECK(has_rule(rules, text));
        }
    }
    api_reply_free(&r);
}

/* Every acknowledged project is there, whole (its name as created), in one listing. */
static void check_projects(void)
{
    struct api_reply r;
    json_t *list, *v;
    size_t i, found = 0;
    bool whole = true;

    REQUIRE(api_call(&d, "GET", "/api/projects", true, NULL, &r) == 200);
    list = json_object_get(r.json, "projects");
    for (size_t k = 0; k < n_created; k++) {
        json_array_foreach(list, i, v)
        {
            if (strcmp(json_string_value(json_object_get(v, "projectId")), created[k]) == 0) {
                found++;
                break;
            }
        }
    }
    json_array_foreach(list, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "projectName"));
        long seq;

        if (strcmp(name, "teacher") != 0 && sscanf(name, "k%ld", &seq) != 1)
            whole = false;
    }
    CHECK_INT(found, n_created);
    CHECK(whole);
    api_reply_free(&r);
}

int main(void)
{
    unsigned seed = (unsigned)getpid();
    size_t total_created = 0;

    api_daemon_init(&d, test_tmpdir(), "kill");
    REQUIRE(api_daemon_start(&d, NULL, NULL) == 0);
    REQUIRE(api_create(&d, true, "{\"projectName\": \"teacher\"}", project) == 201);
    fprintf(stderr, "seed %u\n", seed);
    srand(seed);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t t[3];

        atomic_store(&dead, false);
        REQUIRE(pthread_create(&t[0], NULL, replacer, NULL) == 0);
        REQUIRE(pthread_create(&t[1], NULL, promoter, NULL) == 0);
        REQUIRE(pthread_create(&t[2], NULL, creator, NULL) == 0);
        usleep((useconds_t)(100 + rand() % 400) * 1000);
        kill(d.pid, SIGKILL);
        atomic_store(&dead, true);
        CHECK_INT(api_daemon_stop(&d), 128 + SIGKILL);
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);

        /* The store opens, and holds what was acknowledged, whole. */
        CHECK_INT(api_daemon_start(&d, NULL, NULL), 0);
        if (d.pid <= 0)
            break;
        check_replace();
        check_promotes();
        check_projects();
    }
    total_created = n_created;
    fprintf(stderr,
            "%d kills: %ld replaces tried (last acknowledged %ld), %zu promotes and %zu creates "
            "acknowledged\n",
            ROUNDS, atomic_load(&replace_next), replace_acked, n_promotes, total_created);
    CHECK(replace_acked > 0 && n_promotes > 0 && total_created > 0);
    CHECK_INT(api_daemon_stop(&d), 0);
    return test_exit();
}
