/*
 * egress-api as a process: options (--help, --version, bad options exit 2
 * with a message), the admin token from the environment, base domains from
 * a file (a bad line refuses to start, naming the line), CORS only when
 * configured, parallel creates against --max-projects, and a restart that
 * keeps everything.
 */
#include "config.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/api/client.h"
#include "tests/lib/testutil.h"

/* Run egress-api with @p args (NULL-terminated), output into @p out; the exit status. */
static int run(const char *const *args, const char *out_file)
{
    const char *argv[32];
    const char *top = getenv("top_builddir");
    char path[1024];
    int argc = 0, st;
    pid_t pid;

    snprintf(path, sizeof path, "%s/api/egress-api", top ? top : ".");
    argv[argc++] = path;
    for (int i = 0; args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(99);
        unsetenv("EGRESS_ADMIN_TOKEN");
        execv(path, (char *const *)argv);
        _exit(127);
    }
    REQUIRE(waitpid(pid, &st, 0) == pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_options(const char *base)
{
    char out[512], db[512];
    static const char *const help_words[] = {
        "--db",           "--listen",       "--admin-token-file", "--base-domains",
        "--max-projects", "--map-size",     "--max-readers",      "--cors-origin",
        "--version",      "127.0.0.1:8088", "EGRESS_ADMIN_TOKEN", NULL};

    snprintf(out, sizeof out, "%s/out.txt", base);
    snprintf(db, sizeof db, "%s/options-db", base);
    CHECK_INT(run((const char *[]){"--help", NULL}, out), 0);
    for (int i = 0; help_words[i]; i++)
        CHECK(api_file_has(out, help_words[i]));
    CHECK_INT(run((const char *[]){"--version", NULL}, out), 0);
    CHECK(api_file_has(out, "egress-api " PACKAGE_VERSION));
    CHECK_INT(run((const char *[]){"--no-such-option", NULL}, out), 2);
    CHECK(api_file_has(out, "--help"));
    CHECK_INT(run((const char *[]){"--listen", "localhost", NULL}, out), 2);
    CHECK(api_file_has(out, "--listen"));
    CHECK_INT(run((const char *[]){"--listen", "127.0.0.1:99999", NULL}, out), 2);
    CHECK_INT(run((const char *[]){"--bcrypt-cost", "4", NULL}, out), 2);
    CHECK(api_file_has(out, "--bcrypt-cost"));
    CHECK_INT(run((const char *[]){"--max-projects", "many", NULL}, out), 2);
    CHECK_INT(run((const char *[]){"--cors-origin", "*", NULL}, out), 2);
    CHECK_INT(run((const char *[]){"--map-size", "big", NULL}, out), 2);
    /* Sizes go through policy/size.h: the refusal names the option and what is wrong. */
    CHECK(api_file_has(out, "--map-size: \"big\" is not a size"));
    CHECK_INT(run((const char *[]){"--max-memory", "4x", NULL}, out), 2);
    CHECK(api_file_has(out, "unknown unit \"x\""));
    CHECK_INT(run((const char *[]){"--default-memory", "1m", NULL}, out), 2);
    CHECK(api_file_has(out, "--default-memory must be a size of at least 64m"));
    /* The engine's defaults are the ones --help prints (api/engine.h). */
    CHECK_INT(run((const char *[]){"--help", NULL}, out), 0);
    CHECK(api_file_has(out, "(default 16g)"));
    CHECK(api_file_has(out, "(default 2g)"));
    /* No token anywhere: refused, and told where a token comes from. */
    CHECK_INT(run((const char *[]){"--db", db, NULL}, out), 2);
    CHECK(api_file_has(out, "--admin-token-file"));
}

static void test_env_token_and_cors(const char *base)
{
    struct api_daemon d;
    struct api_reply r;
    const char *args[] = {"--cors-origin", "https://teach.example", NULL};

    api_daemon_init(&d, base, "env");
    setenv("EGRESS_ADMIN_TOKEN", TEST_ADMIN_TOKEN, 1);
    REQUIRE(api_daemon_start_env(&d, args) == 0);
    unsetenv("EGRESS_ADMIN_TOKEN");
    CHECK_INT(api_call(&d, "GET", "/api/profiles", true, NULL, &r), 200);
    CHECK(strstr(r.headers, "Access-Control-Allow-Origin: https://teach.example") != NULL);
    api_reply_free(&r);
    CHECK_INT(api_request(&d, "OPTIONS", "/api/projects", NULL, NULL, 0, NULL,
                          "Origin: https://teach.example", &r),
              204);
    CHECK(strstr(r.headers, "Access-Control-Allow-Methods") != NULL);
    api_reply_free(&r);
    CHECK_INT(api_daemon_stop(&d), 0);
}

static void test_base_domains(const char *base)
{
    struct api_daemon d;
    struct api_reply r;
    char file[512];
    const char *args[] = {"--base-domains", file, NULL};
    FILE *f;
    int status = 0;

    api_daemon_init(&d, base, "base");
    snprintf(file, sizeof file, "%s/base.txt", d.dir);
    f = fopen(file, "w");
    REQUIRE(f != NULL);
    fprintf(f, "# mirrors\ndeb.debian.org\nhttp://bad.example.org/\n");
    fclose(f);
    CHECK_INT(api_daemon_start(&d, args, &status), -1);
    CHECK_INT(status, 2);
    CHECK(api_daemon_log_has(&d, "base.txt:3:"));

    f = fopen(file, "w");
    REQUIRE(f != NULL);
    fprintf(f, "# mirrors\ndeb.debian.org\n  .marketplace.visualstudio.com  \n\n");
    fclose(f);
    REQUIRE(api_daemon_start(&d, args, NULL) == 0);
    CHECK_INT(api_call(&d, "GET", "/api/whitelist", true, NULL, &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "base")), 2);
    api_reply_free(&r);
    CHECK_INT(api_daemon_stop(&d), 0);
}

#define CREATORS 12
#define LIMIT    5

struct creator {
    const struct api_daemon *d;
    long status;
};

static void *create_one(void *arg)
{
    struct creator *c = arg;
    struct api_reply r;

    c->status = api_call(c->d, "POST", "/api/projects/create", false,
                         "{\"projectName\": \"racer\", \"password\": \"racepass1\"}", &r);
    api_reply_free(&r);
    return NULL;
}

static void test_limit_and_restart(const char *base)
{
    struct api_daemon d;
    struct creator c[CREATORS];
    pthread_t t[CREATORS];
    const char *args[] = {"--max-projects", "5", NULL};
    int created = 0, refused = 0;
    char *before, *after, path[128];
    struct api_reply r;

    api_daemon_init(&d, base, "limit");
    REQUIRE(api_daemon_start(&d, args, NULL) == 0);
    for (int i = 0; i < CREATORS; i++) {
        c[i].d = &d;
        REQUIRE(pthread_create(&t[i], NULL, create_one, &c[i]) == 0);
    }
    for (int i = 0; i < CREATORS; i++) {
        pthread_join(t[i], NULL);
        created += c[i].status == 201;
        refused += c[i].status == 409;
    }
    CHECK_INT(created, LIMIT);
    CHECK_INT(refused, CREATORS - LIMIT);
    CHECK_INT(api_call(&d, "GET", "/api/projects", false, NULL, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "count")), LIMIT);
    snprintf(path, sizeof path, "/api/projects/%s/ip",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(r.json, "projects"), 0), "projectId")));
    api_reply_free(&r);

    /* Make some state of every kind, then restart: all of it is still there. */
    CHECK_INT(api_call(&d, "PUT", path, true, "{\"ipAddress\": \"192.0.2.30\"}", &r), 200);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "PUT", "/api/whitelist", true,
                       "{\"domains\": [\"pypi.org\"], \"profile\": \"course9\"}", &r),
              200);
    api_reply_free(&r);
    before = api_dump(&d);
    CHECK_INT(api_daemon_stop(&d), 0);
    CHECK(api_daemon_log_has(&d, "stopped"));
    REQUIRE(api_daemon_start(&d, args, NULL) == 0);
    after = api_dump(&d);
    CHECK(strstr(before, "192.0.2.30") != NULL);
    CHECK(strstr(before, "course9") != NULL);
    CHECK_STR(after, before);
    /* Passwords survive too: the right one works, a wrong one does not. */
    path[strlen(path) - 3] = '\0';
    strcat(path, "/stop");
    CHECK_INT(api_call(&d, "POST", path, false, "{\"password\": \"wrongpass1\"}", &r), 401);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "POST", path, false, "{\"password\": \"racepass1\"}", &r), 200);
    api_reply_free(&r);
    CHECK_INT(
        api_call(&d, "POST", "/api/projects/create", false, "{\"projectName\": \"one more\"}", &r),
        409);
    api_reply_free(&r);
    CHECK_INT(api_daemon_stop(&d), 0);
    free(before);
    free(after);
}

int main(void)
{
    const char *base = test_tmpdir();

    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_options(base);
    test_env_token_and_cors(base);
    test_base_domains(base);
    test_limit_and_restart(base);
    CHECK_INT(api_hash_leaks, 0);
    curl_global_cleanup();
    return test_exit();
}
