/* Test helpers for egress-api: see client.h. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/api/client.h"
#include "tests/lib/testutil.h"

int api_hash_leaks;

#define MAX_DAEMONS 8
static pid_t started[MAX_DAEMONS];

/* Never leave a daemon behind, whatever path the test exits by. */
static void kill_started(void)
{
    for (int i = 0; i < MAX_DAEMONS; i++) {
        if (started[i] > 0) {
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
            started[i] = 0;
        }
    }
}

static void remember(pid_t pid, bool add)
{
    static bool registered;

    if (!registered) {
        atexit(kill_started);
        registered = true;
    }
    for (int i = 0; i < MAX_DAEMONS; i++) {
        if (add && started[i] == 0) {
            started[i] = pid;
            return;
        }
        if (!add && started[i] == pid) {
            started[i] = 0;
            return;
        }
    }
}

void api_daemon_init(struct api_daemon *d, const char *base, const char *name)
{
    FILE *f;

    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "%s/%s", base, name);
    REQUIRE(mkdir(d->dir, 0700) == 0 || errno == EEXIST);
    snprintf(d->db, sizeof d->db, "%s/db", d->dir);
    snprintf(d->log, sizeof d->log, "%s/egress-api.log", d->dir);
    snprintf(d->token_file, sizeof d->token_file, "%s/token", d->dir);
    f = fopen(d->token_file, "w");
    REQUIRE(f != NULL);
    fprintf(f, "%s\n", TEST_ADMIN_TOKEN);
    fclose(f);
    chmod(d->token_file, 0600);
}

static const char *daemon_path(void)
{
    static char path[1024];
    const char *top = getenv("top_builddir");

    snprintf(path, sizeof path, "%s/api/egress-api", top ? top : ".");
    return path;
}

bool api_file_has(const char *file, const char *text)
{
    FILE *f = fopen(file, "r");
    char line[4096];
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

bool api_daemon_log_has(const struct api_daemon *d, const char *text)
{
    return api_file_has(d->log, text);
}

/* The port of the "listening on 127.0.0.1:PORT" line, or 0. */
static unsigned log_port(const struct api_daemon *d)
{
    FILE *f = fopen(d->log, "r");
    char line[4096];
    unsigned port = 0;

    if (f == NULL)
        return 0;
    while (port == 0 && fgets(line, sizeof line, f)) {
        char *p = strstr(line, "listening on 127.0.0.1:");

        if (p)
            port = (unsigned)atoi(p + strlen("listening on 127.0.0.1:"));
    }
    fclose(f);
    return port;
}

/* Start with the token file, or with the caller's EGRESS_ADMIN_TOKEN when @p env_token. */
static int start(struct api_daemon *d, const char *const *extra, int *status, bool env_token)
{
    const char *argv[64];
    int argc = 0, st, fd;
    pid_t pid;

    argv[argc++] = daemon_path();
    argv[argc++] = "--db";
    argv[argc++] = d->db;
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    if (!env_token) {
        argv[argc++] = "--admin-token-file";
        argv[argc++] = d->token_file;
    }
    argv[argc++] = "--bcrypt-cost";
    argv[argc++] = "10";
    /* Never the machine's own engine: container tests start their own dockerd. */
    argv[argc++] = "--no-containers";
    for (int i = 0; extra && extra[i] && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    /* Empty the log before the child starts, so an old "listening on" line is never read. */
    fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    close(fd);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        fd = open(d->log, O_WRONLY | O_APPEND);

        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(99);
        if (!env_token)
            unsetenv("EGRESS_ADMIN_TOKEN");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    remember(pid, true);
    d->pid = pid;
    /* Up to 20 s: the first start creates the store and a dummy bcrypt hash. */
    for (int i = 0; i < 2000; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            remember(pid, false);
            d->pid = 0;
            if (status)
                *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return -1;
        }
        d->port = log_port(d);
        if (d->port)
            return 0;
        usleep(10000);
    }
    fprintf(stderr, "egress-api did not start listening; log in %s\n", d->log);
    exit(99);
}

int api_daemon_start(struct api_daemon *d, const char *const *extra, int *status)
{
    return start(d, extra, status, false);
}

int api_daemon_start_env(struct api_daemon *d, const char *const *extra)
{
    return start(d, extra, NULL, true);
}

int api_daemon_stop(struct api_daemon *d)
{
    int st = 0;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    REQUIRE(waitpid(d->pid, &st, 0) == d->pid);
    remember(d->pid, false);
    d->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct growbuf {
    char *data;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *userdata)
{
    struct growbuf *b = userdata;
    size_t add = size * n;
    char *grown = realloc(b->data, b->len + add + 1);

    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/*
 * With EGRESS_API_RECORD set to a file, append one JSON line per answer
 * received: {"method", "path" (with its query), "status", "contentType"
 * (null when none), "body" (null when not UTF-8 text)}, for
 * tests/api/openapi-validate.py. One write() on an O_APPEND descriptor, so
 * the lines of concurrent callers never mix.
 */
static void record_answer(const char *method, const char *path, long status,
                          const char *content_type, const struct api_reply *out)
{
    const char *file = getenv("EGRESS_API_RECORD");
    json_t *line, *body;
    char *text;
    size_t n;
    int fd;

    if (file == NULL || file[0] == '\0' || status == 0)
        return;
    body = json_stringn(out->body, out->len);
    line = json_pack("{s:s, s:s, s:I, s:o, s:o}", "method", method, "path", path, "status",
                     (json_int_t)status, "contentType",
                     content_type ? json_string(content_type) : json_null(), "body",
                     body ? body : json_null());
    REQUIRE(line != NULL);
    text = json_dumps(line, JSON_COMPACT);
    REQUIRE(text != NULL);
    json_decref(line);
    n = strlen(text);
    text[n] = '\n'; /* the line's end in place of the NUL: one write */
    fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, text, n + 1) == (ssize_t)(n + 1));
    close(fd);
    free(text);
}

long api_request(const struct api_daemon *d, const char *method, const char *path,
                 const char *token, const char *body, size_t len, const char *type,
                 const char *header, struct api_reply *out)
{
    struct growbuf resp = {0}, heads = {0};
    struct curl_slist *hl = NULL;
    char url[4096], line[4352];
    CURL *c = curl_easy_init();
    CURLcode rc;

    REQUIRE(c != NULL);
    memset(out, 0, sizeof *out);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", d->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L); /* headers only: wait for no body */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &heads);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, line);
    }
    if (body) {
        if (len == (size_t)-1)
            len = strlen(body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        snprintf(line, sizeof line, "Content-Type: %s", type ? type : "application/json");
        hl = curl_slist_append(hl, line);
        hl = curl_slist_append(hl, "Expect:");
    }
    if (header)
        hl = curl_slist_append(hl, header);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else if (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status); /* answered early */
    out->body = resp.data ? resp.data : strdup("");
    out->len = resp.len;
    out->headers = heads.data ? heads.data : strdup("");
    out->json = json_loadb(out->body, out->len, 0, NULL);
    {
        char *content_type = NULL;

        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &content_type);
        record_answer(method, path, out->status, content_type, out);
    }
    if (strstr(out->body, "$2b$")) {
        api_hash_leaks++;
        fprintf(stderr, "a bcrypt hash leaked in the answer to %s %s\n", method, path);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return out->status;
}

long api_call(const struct api_daemon *d, const char *method, const char *path, bool admin,
              const char *body, struct api_reply *out)
{
    return api_request(d, method, path, admin ? TEST_ADMIN_TOKEN : NULL, body, (size_t)-1, NULL,
                       NULL, out);
}

void api_reply_free(struct api_reply *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

const char *api_str(const struct api_reply *r, const char *path)
{
    json_t *v = r->json;
    char key[128];

    while (v && *path) {
        size_t n = strcspn(path, ".");

        snprintf(key, sizeof key, "%.*s", (int)n, path);
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Add GET @p path (as admin) under @p key of @p dump. */
static void dump_part(const struct api_daemon *d, json_t *dump, const char *key, const char *path)
{
    struct api_reply r;

    api_call(d, "GET", path, true, NULL, &r);
    json_object_set_new(dump, key,
                        json_pack("{s:I, s:O*}", "status", (json_int_t)r.status, "body", r.json));
    api_reply_free(&r);
}

char *api_dump(const struct api_daemon *d)
{
    json_t *dump = json_object(), *p;
    struct api_reply projects, profiles;
    char path[256];
    size_t i;
    char *text;

    api_call(d, "GET", "/api/projects", true, NULL, &projects);
    json_object_set(dump, "projects", projects.json ? projects.json : json_null());
    json_array_foreach(json_object_get(projects.json, "projects"), i, p)
    {
        const char *id = json_string_value(json_object_get(p, "projectId"));

        snprintf(path, sizeof path, "/api/projects/%s/recorded-domains", id);
        dump_part(d, dump, path, path);
    }
    api_call(d, "GET", "/api/profiles", true, NULL, &profiles);
    json_object_set(dump, "profiles", profiles.json ? profiles.json : json_null());
    json_array_foreach(json_object_get(profiles.json, "profiles"), i, p)
    {
        snprintf(path, sizeof path, "/api/whitelist?profile=%s",
                 json_string_value(json_object_get(p, "name")));
        dump_part(d, dump, path, path);
    }
    dump_part(d, dump, "default", "/api/whitelist");
    dump_part(d, dump, "audit", "/api/audit?limit=10000");
    text = json_dumps(dump, JSON_SORT_KEYS | JSON_INDENT(1));
    json_decref(dump);
    api_reply_free(&projects);
    api_reply_free(&profiles);
    return text;
}

long api_create(const struct api_daemon *d, bool admin, const char *body, char *id)
{
    struct api_reply r;
    long status = api_call(d, "POST", "/api/projects/create", admin, body, &r);

    id[0] = '\0';
    if (status == 201)
        snprintf(id, 37, "%s", api_str(&r, "project.projectId"));
    else
        fprintf(stderr, "create %s -> %ld %s\n", body, status, r.body);
    api_reply_free(&r);
    return status;
}
