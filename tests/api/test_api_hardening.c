/*
 * The defects of issue 9, each against the real daemon: a promote with
 * "replace" is all or nothing (public and private suffixes among the
 * hosts), an empty replace needs "allowEmpty", a full reader table is a
 * 503 with Retry-After, and a taken listen port is named in the log.
 */
#include "config.h"

#include <arpa/inet.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "policy/store.h"
#include "tests/api/client.h"
#include "tests/lib/testutil.h"

static struct api_daemon d;

static long st(const char *method, const char *path, const char *body)
{
    struct api_reply r;
    long status = api_call(&d, method, path, true, body, &r);

    api_reply_free(&r);
    return status;
}

/* The rules of @p profile as one JSON text (malloc'd). */
static char *rules_of(const char *profile)
{
    struct api_reply r;
    char path[128], *text;

    snprintf(path, sizeof path, "/api/whitelist?profile=%s", profile);
    REQUIRE(api_call(&d, "GET", path, true, NULL, &r) == 200);
    text = json_dumps(json_object_get(r.json, "domains"), JSON_COMPACT);
    api_reply_free(&r);
    REQUIRE(text != NULL);
    return text;
}

/* Is @p domain among the "refused" entries of @p r? */
static bool refused_has(const struct api_reply *r, const char *domain)
{
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(r->json, "refused"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "domain")), domain) == 0 &&
            json_string_length(json_object_get(v, "message")) > 0)
            return true;
    }
    return false;
}

/*
 * A promote with replace whose hosts cannot all become rules answers 400
 * naming each refused host and leaves everything as it was (the whole
 * admin dump, audit log included).
 */
static void refused_replace(const char *path, const char *body, const char *const *refused)
{
    struct api_reply r;
    char *before = api_dump(&d), *after;

    CHECK_INT(api_call(&d, "POST", path, true, body, &r), 400);
    CHECK_STR(api_str(&r, "error"), "invalid_domains");
    for (int i = 0; refused[i]; i++) {
        CHECK(refused_has(&r, refused[i]));
        if (!refused_has(&r, refused[i]))
            fprintf(stderr, "  \"%s\" not reported as refused in %s\n", refused[i], r.body);
    }
    api_reply_free(&r);
    after = api_dump(&d);
    CHECK_STR(after, before);
    free(before);
    free(after);
}

static void test_promote_replace(void)
{
    char id[EP_ID_MAX + 1], path[128], *rules;
    struct api_reply r;

    CHECK_INT(api_create(&d, true, "{\"projectName\": \"teacher\", \"profile\": \"course1\"}", id),
              201);
    snprintf(path, sizeof path, "/api/projects/%s/recorded-domains/promote", id);
    CHECK_INT(st("PUT", "/api/whitelist",
                 "{\"domains\": [\"github.com\", \"pypi.org\"], \"profile\": \"course1\"}"),
              200);

    /* The reported case: "com" refused used to leave course1 with no rules at all. */
    refused_replace(path, "{\"domains\": [\"com\"], \"replace\": true}",
                    (const char *[]){"com", NULL});
    refused_replace(path, "{\"domains\": [\"npmjs.org\", \"com\", \".com\"], \"replace\": true}",
                    (const char *[]){"com", ".com", NULL});
    /* Private suffixes (the PSL's private section): no rule may cover all of github.io. */
    refused_replace(path,
                    "{\"domains\": [\"npmjs.org\", \"github.io\"], \"form\": \"suffix\", "
                    "\"replace\": true}",
                    (const char *[]){"github.io", NULL});
    refused_replace(path, "{\"domains\": [\"npmjs.org\", \".github.io\"], \"replace\": true}",
                    (const char *[]){".github.io", NULL});
    refused_replace(path,
                    "{\"domains\": [\"github.io\"], \"form\": \"subdomains\", \"replace\": true}",
                    (const char *[]){"github.io", NULL});
    refused_replace(path,
                    "{\"domains\": [\"pypi.org\", \"https://pypi.org/simple\"], \"replace\": true}",
                    (const char *[]){"https://pypi.org/simple", NULL});
    rules = rules_of("course1");
    CHECK_STR(rules, "[\"github.com\",\"pypi.org\"]");
    free(rules);

    /* Without replace the same hosts are a partial add: the good ones go in, nothing is lost. */
    CHECK_INT(api_call(&d, "POST", path, true,
                       "{\"domains\": [\"github.io\", \"me.github.io\", \".github.io\"], \"form\": "
                       "\"suffix\"}",
                       &r),
              200);
    CHECK(refused_has(&r, "github.io"));
    CHECK(refused_has(&r, ".github.io"));
    CHECK_STR(json_string_value(json_array_get(json_object_get(r.json, "added"), 0)),
              ".me.github.io");
    api_reply_free(&r);
    /* github.io itself is a host (a web site): as an exact rule it names only that host. */
    CHECK_INT(api_call(&d, "POST", path, true, "{\"domains\": [\"github.io\"]}", &r), 200);
    CHECK_STR(json_string_value(json_array_get(json_object_get(r.json, "added"), 0)), "github.io");
    api_reply_free(&r);
    rules = rules_of("course1");
    CHECK_STR(rules, "[\"github.com\",\"github.io\",\".me.github.io\",\"pypi.org\"]");
    free(rules);

    /* A replace that is all good replaces. */
    CHECK_INT(api_call(&d, "POST", path, true,
                       "{\"domains\": [\"npmjs.org\", \"PyPI.org:443\"], \"replace\": true}", &r),
              200);
    CHECK(json_is_true(json_object_get(r.json, "replaced")));
    api_reply_free(&r);
    rules = rules_of("course1");
    CHECK_STR(rules, "[\"npmjs.org\",\"pypi.org\"]");
    free(rules);

    /* Emptying a profile needs "allowEmpty": true, by promote and by PUT alike. */
    CHECK_INT(api_call(&d, "POST", path, true, "{\"domains\": [], \"replace\": true}", &r), 400);
    CHECK_STR(api_str(&r, "error"), "empty_replace");
    CHECK(strstr(api_str(&r, "message"), "allowEmpty") != NULL);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "PUT", "/api/whitelist", true,
                       "{\"domains\": [], \"profile\": \"course1\"}", &r),
              400);
    CHECK_STR(api_str(&r, "error"), "empty_replace");
    api_reply_free(&r);
    CHECK_INT(st("PUT", "/api/whitelist",
                 "{\"domains\": [], \"profile\": \"course1\", \"allowEmpty\": \"yes\"}"),
              400);
    rules = rules_of("course1");
    CHECK_STR(rules, "[\"npmjs.org\",\"pypi.org\"]");
    free(rules);
    CHECK_INT(st("POST", path, "{\"domains\": [], \"replace\": true, \"allowEmpty\": true}"), 200);
    rules = rules_of("course1");
    CHECK_STR(rules, "[]");
    free(rules);
    CHECK_INT(st("PUT", "/api/whitelist", "{\"domains\": [\"a.org\"], \"profile\": \"course1\"}"),
              200);
    CHECK_INT(st("PUT", "/api/whitelist",
                 "{\"domains\": [], \"profile\": \"course1\", \"allowEmpty\": true}"),
              200);
    rules = rules_of("course1");
    CHECK_STR(rules, "[]");
    free(rules);
}

/*
 * Every reader slot taken (by this test, holding read transactions):
 * a request that needs one is answered 503 with Retry-After, and served
 * again once slots are free. Runs on a fresh daemon, whose pool of read
 * transactions is still empty.
 */
static void test_readers_full(const char *base)
{
    static const char *const extra[] = {"--max-readers", "16", NULL};
    struct api_daemon busy;
    MDB_txn *held[64];
    struct api_reply r;
    MDB_env *env;
    int n = 0, rc = 0;

    api_daemon_init(&busy, base, "busy");
    REQUIRE(api_daemon_start(&busy, extra, NULL) == 0);
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
    REQUIRE(mdb_env_open(env, busy.db, MDB_NOTLS | MDB_RDONLY, 0600) == 0);
    while (n < 64 && (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &held[n])) == 0)
        n++;
    REQUIRE(rc == MDB_READERS_FULL);

    CHECK_INT(api_request(&busy, "GET", "/api/projects", TEST_ADMIN_TOKEN, NULL, 0, NULL, NULL, &r),
              503);
    CHECK_STR(api_str(&r, "error"), "store_busy");
    CHECK(strstr(r.headers, "Retry-After: 1") != NULL);
    api_reply_free(&r);
    CHECK_INT(api_request(&busy, "PUT", "/api/whitelist", TEST_ADMIN_TOKEN,
                          "{\"domains\": [\"a.org\"]}", (size_t)-1, NULL, NULL, &r),
              503);
    api_reply_free(&r);

    while (n > 0)
        mdb_txn_abort(held[--n]);
    mdb_env_close(env);
    CHECK_INT(api_request(&busy, "GET", "/api/projects", TEST_ADMIN_TOKEN, NULL, 0, NULL, NULL, &r),
              200);
    api_reply_free(&r);
    CHECK_INT(api_daemon_stop(&busy), 0);
}

/* A port already taken: exit 1, and the log names the address asked for and the reason. */
static void test_port_taken(const char *base)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    struct api_daemon taken;
    char listen_arg[64], want[64];
    const char *extra[] = {"--listen", listen_arg, NULL};
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;

    REQUIRE(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(fd, 1) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%u", ntohs(sin.sin_port));
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%u: ", ntohs(sin.sin_port));

    api_daemon_init(&taken, base, "taken");
    CHECK_INT(api_daemon_start(&taken, extra, &status), -1);
    CHECK_INT(status, 1);
    CHECK(api_daemon_log_has(&taken, want));
    CHECK(api_daemon_log_has(&taken, "Address already in use"));
    CHECK(!api_daemon_log_has(&taken, "port 0"));
    close(fd);
}

int main(void)
{
    const char *base = test_tmpdir();

    test_readers_full(base);
    test_port_taken(base);
    api_daemon_init(&d, base, "main");
    REQUIRE(api_daemon_start(&d, NULL, NULL) == 0);
    test_promote_replace();
    CHECK_INT(api_daemon_stop(&d), 0);
    CHECK_INT(api_hash_leaks, 0);
    return test_exit();
}
