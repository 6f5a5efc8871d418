/*
 * api/engine.c against a real engine (dockerd, or podman's service), started
 * by the wrapper script, which passes:
 *   ENGINE_SOCKET   the engine's unix socket
 *   ENGINE_IMAGE    the stand-in workspace image (busybox, command /bin/ws-idle)
 *   ENGINE_NETWORK  a user-defined network for the workspaces
 *
 * The engine client is checked through its own functions, and what it did
 * is checked independently: by inspect through a raw client of the test's
 * own (unversioned requests), and from inside the running workspace by
 * exec. Each project id is used once, so a leftover of one step cannot
 * make a later check pass.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api/engine.h"
#include "tests/lib/testutil.h"

#define MEMORY     (256ULL << 20)
#define NANO_CPUS  500000000ULL
#define PIDS_LIMIT 64
#define PROXY      "http://proxy.test:3128"
#define NO_PROXY   "localhost,127.0.0.1"
#define AUTH_FILE  "/home/coder/.code-server-auth"

static const char *sock, *image, *network;

/* ---- a raw engine client of the test's own ---- */

struct buf {
    char *data;
    size_t len;
};

static size_t buf_write(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;

    b->data = realloc(b->data, b->len + size * n + 1);
    REQUIRE(b->data != NULL);
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* One unversioned request; returns the HTTP status, body in *out (freed by the caller). */
static long raw(const char *method, const char *path, const char *json, struct buf *out)
{
    struct curl_slist *h = NULL;
    char url[1024];
    long status = 0;
    CURL *c = curl_easy_init();

    REQUIRE(c != NULL);
    memset(out, 0, sizeof *out);
    snprintf(url, sizeof url, "http://localhost%s", path);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    if (json != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    }
    REQUIRE(curl_easy_perform(c) == CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* GET a JSON document; NULL unless the status is 200. */
static json_t *raw_json(const char *path)
{
    struct buf b;
    json_t *j = NULL;

    if (raw("GET", path, NULL, &b) == 200)
        j = json_loadb(b.data, b.len, 0, NULL);
    free(b.data);
    return j;
}

/* The status of GET @p path: 404 tells that a container or volume is gone. */
static long raw_status(const char *path)
{
    struct buf b;
    long status = raw("GET", path, NULL, &b);

    free(b.data);
    return status;
}

/*
 * Run /bin/sh -c @p script in container @p name through the exec API; the
 * stdout and stderr frames of the multiplexed stream are joined into
 * @p out. Returns the exit code, or -1 when the engine could not run it
 * (e.g. the container is at its pids limit).
 */
static int exec_sh(const char *name, const char *script, char *out, size_t outsize)
{
    json_t *req, *answer = NULL, *info = NULL;
    struct buf b;
    char path[256], *text;
    const char *id;
    size_t off = 0, n = 0, len;
    int code = -1;

    out[0] = '\0';
    req = json_pack("{s:b, s:b, s:[s, s, s]}", "AttachStdout", 1, "AttachStderr", 1, "Cmd",
                    "/bin/sh", "-c", script);
    text = json_dumps(req, JSON_COMPACT);
    snprintf(path, sizeof path, "/containers/%s/exec", name);
    if (raw("POST", path, text, &b) == 201)
        answer = json_loadb(b.data, b.len, 0, NULL);
    free(b.data);
    free(text);
    json_decref(req);
    id = json_string_value(json_object_get(answer, "Id"));
    if (id == NULL)
        goto out;
    snprintf(path, sizeof path, "/exec/%s/start", id);
    if (raw("POST", path, "{\"Detach\":false,\"Tty\":false}", &b) != 200) {
        free(b.data);
        goto out;
    }
    /* Frames: 1 byte stream, 3 zero bytes, 4 bytes big-endian length, payload. */
    while (off + 8 <= b.len) {
        const unsigned char *f = (const unsigned char *)b.data + off;

        len = (size_t)f[4] << 24 | (size_t)f[5] << 16 | (size_t)f[6] << 8 | f[7];
        if (off + 8 + len > b.len)
            break;
        if (n + len < outsize) {
            memcpy(out + n, f + 8, len);
            n += len;
            out[n] = '\0';
        }
        off += 8 + len;
    }
    free(b.data);
    snprintf(path, sizeof path, "/exec/%s/json", id);
    info = raw_json(path);
    if (json_is_integer(json_object_get(info, "ExitCode")))
        code = (int)json_integer_value(json_object_get(info, "ExitCode"));
out:
    json_decref(info);
    json_decref(answer);
    return code;
}

/* Run a script that must succeed; its output is returned in @p out. */
static void exec_ok(const char *name, const char *script, char *out, size_t outsize)
{
    int code = exec_sh(name, script, out, outsize);

    if (code != 0)
        fprintf(stderr, "exec \"%s\" exited %d: %s\n", script, code, out);
    CHECK_INT(code, 0);
}

/*
 * Read a regular file out of a (possibly stopped) container through the
 * archive API and decode its tar header: mode, uid, gid, content.
 */
static bool archive_file(const char *name, const char *file, unsigned *mode, unsigned *uid,
                         unsigned *gid, char *content, size_t size)
{
    struct buf b;
    char path[512];
    unsigned long long len;
    bool ok = false;

    snprintf(path, sizeof path, "/containers/%s/archive?path=%s", name, file);
    if (raw("GET", path, NULL, &b) == 200 && b.len >= 1024) {
        *mode = (unsigned)strtoul(b.data + 100, NULL, 8);
        *uid = (unsigned)strtoul(b.data + 108, NULL, 8);
        *gid = (unsigned)strtoul(b.data + 116, NULL, 8);
        len = strtoull(b.data + 124, NULL, 8);
        if (len < size && 512 + len <= b.len) {
            memcpy(content, b.data + 512, len);
            content[len] = '\0';
            ok = true;
        }
    }
    free(b.data);
    return ok;
}

/* ---- checks ---- */

static bool array_has(json_t *array, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static bool array_has_prefix(json_t *array, const char *prefix)
{
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strncmp(json_string_value(v), prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

static long long jint(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : "(missing)";
}

/* The hardening as the engine reports it (inspect). */
static void check_inspect(const char *project, const char *tmp_size)
{
    char path[256], tmpfs[128], label[128];
    json_t *root, *host, *config, *mounts, *m, *env;
    bool volume_seen = false;
    size_t i;

    snprintf(path, sizeof path, "/containers/workspace-%s/json", project);
    root = raw_json(path);
    CHECK(root != NULL);
    if (root == NULL)
        return;
    host = json_object_get(root, "HostConfig");
    config = json_object_get(root, "Config");
    CHECK_STR(jstr(config, "User"), "1000:1000");
    CHECK(array_has_prefix(json_object_get(host, "SecurityOpt"), "no-new-privileges"));
    /* dockerd reports ["ALL"]; podman lists each capability it dropped. */
    CHECK(array_has(json_object_get(host, "CapDrop"), "ALL") ||
          array_has(json_object_get(host, "CapDrop"), "NET_RAW"));
    CHECK_INT(json_array_size(json_object_get(host, "CapAdd")), 0);
    CHECK(!array_has(json_object_get(host, "CapAdd"), "NET_RAW"));
    CHECK(!array_has(json_object_get(host, "CapAdd"), "NET_ADMIN"));
    /* podman appends its own defaults (",rw,rprivate,tmpcopyup") to the options. */
    snprintf(tmpfs, sizeof tmpfs, "size=%s,noexec,nosuid,nodev", tmp_size);
    CHECK(strncmp(jstr(json_object_get(host, "Tmpfs"), "/tmp"), tmpfs, strlen(tmpfs)) == 0);
    CHECK_INT(jint(host, "Memory"), MEMORY);
    CHECK_INT(jint(host, "MemoryReservation"), MEMORY / 2);
    CHECK_INT(jint(host, "NanoCpus"), NANO_CPUS);
    CHECK_INT(jint(host, "PidsLimit"), PIDS_LIMIT);
    /* On the asked network (podman reports NetworkMode "bridge" for any bridge network). */
    CHECK(json_object_get(json_object_get(json_object_get(root, "NetworkSettings"), "Networks"),
                          network) != NULL);
    CHECK(strcmp(jstr(host, "NetworkMode"), network) == 0 ||
          strcmp(jstr(host, "NetworkMode"), "bridge") == 0);
    CHECK_STR(jstr(json_object_get(config, "Labels"), ENGINE_LABEL_PROJECT), project);
    CHECK_STR(jstr(json_object_get(config, "Labels"), ENGINE_LABEL_MANAGED_BY), "egress-api");
    env = json_object_get(config, "Env");
    CHECK(array_has(env, "HTTP_PROXY=" PROXY));
    CHECK(array_has(env, "HTTPS_PROXY=" PROXY));
    CHECK(array_has(env, "http_proxy=" PROXY));
    CHECK(array_has(env, "https_proxy=" PROXY));
    CHECK(array_has(env, "NO_PROXY=" NO_PROXY));
    CHECK(array_has(env, "no_proxy=" NO_PROXY));
    CHECK(!array_has_prefix(env, "PASSWORD"));
    snprintf(label, sizeof label, "workspace_data_%s", project);
    mounts = json_object_get(root, "Mounts");
    json_array_foreach(mounts, i, m)
    {
        if (strcmp(jstr(m, "Type"), "volume") == 0 && strcmp(jstr(m, "Name"), label) == 0 &&
            strcmp(jstr(m, "Destination"), "/home/coder/project") == 0)
            volume_seen = true;
    }
    CHECK(volume_seen);
    json_decref(root);
}

/* The auth file as a stopped or running container holds it, read through the archive API. */
static void check_auth_archive(const char *project, const char *want)
{
    char name[128], content[512];
    unsigned mode = 0, uid = 0, gid = 0;

    snprintf(name, sizeof name, "workspace-%s", project);
    CHECK(archive_file(name, AUTH_FILE, &mode, &uid, &gid, content, sizeof content));
    CHECK_INT(mode & 07777, 0600);
    CHECK_INT(uid, 1000);
    CHECK_INT(gid, 1000);
    CHECK_STR(content, want);
}

/* The auth file as the workspace user sees it, from inside the running container. */
static void check_auth_exec(const char *project, const char *want)
{
    char name[128], out[1024], expect[600];

    snprintf(name, sizeof name, "workspace-%s", project);
    exec_ok(name, "stat -c '%a %u %g' " AUTH_FILE, out, sizeof out);
    CHECK_STR(out, "600 1000 1000\n");
    exec_ok(name, "cat " AUTH_FILE, out, sizeof out);
    snprintf(expect, sizeof expect, "%s", want);
    CHECK_STR(out, expect);
}

/* "CapEff:\t0000..." → the mask. */
static unsigned long long status_caps(const char *status, const char *field)
{
    const char *p = strstr(status, field);

    return p ? strtoull(p + strlen(field), NULL, 16) : ~0ULL;
}

/* The hardening from inside the running workspace. */
static void check_inside(const char *project)
{
    char name[128], out[8192];
    unsigned long long net_caps = (1ULL << 12) | (1ULL << 13); /* NET_ADMIN, NET_RAW */
    long count;
    int code, tries;

    snprintf(name, sizeof name, "workspace-%s", project);

    exec_ok(name, "id -u", out, sizeof out);
    CHECK_STR(out, "1000\n");
    /* The workspace's own main process, not only the exec'd shell. */
    exec_ok(name, "grep '^Uid:' /proc/1/status", out, sizeof out);
    CHECK_STR(out, "Uid:\t1000\t1000\t1000\t1000\n");

    /* /tmp takes a file but will not run it. */
    code = exec_sh(name,
                   "printf '#!/bin/sh\\necho ran\\n' > /tmp/probe && chmod 755 /tmp/probe && "
                   "echo written; /tmp/probe",
                   out, sizeof out);
    CHECK(strstr(out, "written") != NULL);
    CHECK(strstr(out, "ran\n") == NULL);
    CHECK(code != 0);

    /* The project volume belongs to the workspace user. */
    exec_ok(name, "touch /home/coder/project/probe && stat -c '%u' /home/coder/project", out,
            sizeof out);
    CHECK_STR(out, "1000\n");

    /* Memory: cgroup v2 or v1, as the kernel reports the limit. */
    exec_ok(name,
            "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
            out, sizeof out);
    CHECK_INT(strtoull(out, NULL, 10), MEMORY);
    exec_ok(name, "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max",
            out, sizeof out);
    CHECK_INT(strtol(out, NULL, 10), PIDS_LIMIT);

    /* no-new-privileges and capabilities, for the exec'd shell and for PID 1. */
    exec_ok(name, "cat /proc/self/status", out, sizeof out);
    CHECK(strstr(out, "NoNewPrivs:\t1\n") != NULL);
    CHECK((status_caps(out, "CapEff:\t") & net_caps) == 0);
    CHECK_INT(status_caps(out, "CapBnd:\t"), 0);
    exec_ok(name, "cat /proc/1/status", out, sizeof out);
    CHECK(strstr(out, "NoNewPrivs:\t1\n") != NULL);
    CHECK((status_caps(out, "CapEff:\t") & net_caps) == 0);
    /* Nothing is added back in the test configuration: no capability at all. */
    CHECK_INT(status_caps(out, "CapEff:\t"), 0);
    CHECK_INT(status_caps(out, "CapBnd:\t"), 0);

    /* The environment of the exec'd shell and of PID 1: proxies, no password. */
    exec_ok(name, "env; tr '\\0' '\\n' < /proc/1/environ", out, sizeof out);
    CHECK(strstr(out, "PASSWORD") == NULL);
    CHECK(strstr(out, "HTTP_PROXY=" PROXY "\n") != NULL);
    CHECK(strstr(out, "https_proxy=" PROXY "\n") != NULL);

    /*
     * A bounded fork bomb: start up to 500 sleepers of 5 s each. At the pids
     * limit the shell cannot fork and stops; the count it reached is kept in
     * /tmp. The sleepers end by themselves, so the workspace recovers.
     */
    code = exec_sh(name,
                   "i=0; while [ $i -lt 500 ]; do sleep 5 & i=$((i+1)); echo $i > /tmp/forks; "
                   "done; echo all-forked",
                   out, sizeof out);
    CHECK(strstr(out, "all-forked") == NULL);
    CHECK(code != 0);
    /*
     * Wait (bounded) until the sleepers are gone: the cgroup's pids counter,
     * read with builtins only, is back near zero. Before that a new exec
     * may not find a free pid.
     */
    for (tries = 0; tries < 60; tries++) {
        if (exec_sh(name,
                    "f=/sys/fs/cgroup/pids.current; [ -r $f ] || "
                    "f=/sys/fs/cgroup/pids/pids.current; read n < $f; [ \"$n\" -lt 10 ] && "
                    "cat /tmp/forks",
                    out, sizeof out) == 0)
            break;
        sleep(1);
    }
    count = strtol(out, NULL, 10);
    fprintf(stderr, "fork bomb: %ld processes started under a pids limit of %d\n", count,
            PIDS_LIMIT);
    CHECK(count > 0);
    CHECK(count < PIDS_LIMIT);
}

static bool has_project(const struct engine_workspace *list, size_t n, const char *project,
                        const struct engine_workspace **found)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(list[i].project_id, project) == 0) {
            *found = &list[i];
            return true;
        }
    return false;
}

static void cfg_for_test(struct engine_config *cfg)
{
    engine_config_defaults(cfg);
    cfg->socket_path = sock;
    cfg->image = image;
    cfg->network = network;
    cfg->proxy_url = PROXY;
    cfg->no_proxy = NO_PROXY;
    cfg->memory_max = 1ULL << 30;
    cfg->memory_default = 128ULL << 20;
    cfg->nano_cpus_max = 1000000000ULL;
    cfg->nano_cpus_default = 250000000ULL;
    cfg->pids_limit = PIDS_LIMIT;
    cfg->tmp_size = "64m";
    cfg->stop_timeout = 5;
}

/* ---- the suite ---- */

/* Open: a missing socket, a bad configuration, version negotiation. */
static struct engine *test_open(void)
{
    static const char *const bad_caps[] = {"CHOWN", "NET_RAW", NULL};
    struct engine_config cfg;
    struct engine *e = NULL;
    char err[ENGINE_ERRBUF_SIZE] = "", missing[512];
    json_t *version;
    int v, lo, hi;

    snprintf(missing, sizeof missing, "%s/no-such.sock", test_tmpdir());
    cfg_for_test(&cfg);
    cfg.socket_path = missing;
    CHECK_INT(engine_open(&cfg, &e, err), ENGINE_E_UNREACHABLE);
    CHECK(e == NULL);
    CHECK(strstr(err, missing) != NULL);
    fprintf(stderr, "unreachable: %s\n", err);

    cfg_for_test(&cfg);
    cfg.cap_add = bad_caps;
    CHECK_INT(engine_open(&cfg, &e, err), ENGINE_E_INVAL);
    CHECK(strstr(err, "NET_RAW") != NULL);
    cfg_for_test(&cfg);
    cfg.tmp_size = "1G; rm -rf /";
    CHECK_INT(engine_open(&cfg, &e, err), ENGINE_E_INVAL);

    cfg_for_test(&cfg);
    REQUIRE(engine_open(&cfg, &e, err) == 0);
    /* The version chosen lies in the engine's own range. */
    version = raw_json("/version");
    REQUIRE(version != NULL);
    v = atoi(engine_api_version(e) + 2);
    hi = atoi(jstr(version, "ApiVersion") + 2);
    lo = atoi(jstr(version, "MinAPIVersion") + 2);
    fprintf(stderr, "engine API %s..%s, using %s\n", jstr(version, "MinAPIVersion"),
            jstr(version, "ApiVersion"), engine_api_version(e));
    CHECK(strncmp(engine_api_version(e), "1.", 2) == 0);
    CHECK(v >= lo && v <= hi && v <= 43);
    json_decref(version);
    return e;
}

/* The full life of one workspace with a password. */
static void test_lifecycle(struct engine *e)
{
    struct engine_workspace w, *list = NULL;
    const struct engine_workspace *found;
    char err[ENGINE_ERRBUF_SIZE] = "", id[ENGINE_CONTAINER_MAX + 1], ip[ENGINE_IP_MAX + 1];
    char ip2[ENGINE_IP_MAX + 1];
    size_t n = 0;
    int rc;

    rc = engine_create(e, "life", MEMORY, NANO_CPUS, "it's secret", id, err);
    if (rc != 0)
        fprintf(stderr, "create: %s: %s\n", engine_strerror(rc), err);
    REQUIRE(rc == 0);
    CHECK_INT(strlen(id), 64);
    CHECK_INT(raw_status("/volumes/workspace_data_life"), 200);
    check_inspect("life", "64m");
    /* Written before the first start, with the quote escaped for sh. */
    check_auth_archive("life", "AUTH_FLAG=password\nexport PASSWORD='it'\\''s secret'\n");
    CHECK_INT(engine_inspect(e, "life", &w, err), 0);
    CHECK_INT(w.state, ENGINE_STATE_STOPPED);
    CHECK_STR(w.status, "created");
    CHECK_STR(w.container_id, id);
    CHECK_STR(w.project_id, "life");

    CHECK_INT(engine_start(e, "life", ip, err), 0);
    CHECK(ip[0] != '\0');
    fprintf(stderr, "workspace life runs at %s\n", ip);
    CHECK_INT(engine_inspect(e, "life", &w, err), 0);
    CHECK_INT(w.state, ENGINE_STATE_RUNNING);
    CHECK_STR(w.ip, ip);
    /* Starting a running workspace is fine and keeps the address. */
    CHECK_INT(engine_start(e, "life", ip2, err), 0);
    CHECK_STR(ip2, ip);

    CHECK_INT(engine_list(e, &list, &n, err), 0);
    CHECK(has_project(list, n, "life", &found));
    if (has_project(list, n, "life", &found)) {
        CHECK_INT(found->state, ENGINE_STATE_RUNNING);
        CHECK_STR(found->ip, ip);
        CHECK_STR(found->container_id, id);
    }
    engine_list_free(list);

    check_inside("life");
    check_auth_exec("life", "AUTH_FLAG=password\nexport PASSWORD='it'\\''s secret'\n");
    /* The workspace survived its fork bomb. */
    CHECK_INT(engine_inspect(e, "life", &w, err), 0);
    CHECK_INT(w.state, ENGINE_STATE_RUNNING);

    /* New password on a running workspace: file replaced, restarted, address returned. */
    CHECK_INT(engine_write_auth(e, "life", "n3w pass", ip2, err), 0);
    CHECK(ip2[0] != '\0');
    CHECK_INT(engine_inspect(e, "life", &w, err), 0);
    CHECK_INT(w.state, ENGINE_STATE_RUNNING);
    CHECK_STR(w.ip, ip2);
    check_auth_exec("life", "AUTH_FLAG=password\nexport PASSWORD='n3w pass'\n");

    CHECK_INT(engine_stop(e, "life", err), 0);
    CHECK_INT(engine_inspect(e, "life", &w, err), 0);
    CHECK_INT(w.state, ENGINE_STATE_STOPPED);
    CHECK_STR(w.status, "exited");
    /* Stopping a stopped workspace is fine. */
    CHECK_INT(engine_stop(e, "life", err), 0);
    CHECK_INT(engine_list(e, &list, &n, err), 0);
    if (has_project(list, n, "life", &found)) {
        CHECK_INT(found->state, ENGINE_STATE_STOPPED);
        CHECK_STR(found->ip, "");
    } else {
        CHECK(!"stopped workspace missing from the list");
    }
    engine_list_free(list);

    /* Password removed on a stopped workspace: the file changes, it stays stopped. */
    CHECK_INT(engine_write_auth(e, "life", NULL, ip2, err), 0);
    CHECK_STR(ip2, "");
    CHECK_INT(engine_inspect(e, "life", &w, err), 0);
    CHECK_INT(w.state, ENGINE_STATE_STOPPED);
    check_auth_archive("life", "AUTH_FLAG=none\n");
    CHECK_INT(engine_start(e, "life", ip, err), 0);
    CHECK(ip[0] != '\0');
    check_auth_exec("life", "AUTH_FLAG=none\n");

    /* Creating it again is a conflict that leaves the workspace and its volume alone. */
    CHECK_INT(engine_create(e, "life", 0, 0, NULL, id, err), ENGINE_E_CONFLICT);
    fprintf(stderr, "conflict: %s\n", err);
    CHECK(strstr(err, "workspace-life") != NULL);
    CHECK_INT(engine_inspect(e, "life", &w, err), 0);
    CHECK_INT(w.state, ENGINE_STATE_RUNNING);
    CHECK_INT(raw_status("/volumes/workspace_data_life"), 200);

    /* Remove a running workspace, keeping the volume; then purge it. */
    CHECK_INT(engine_remove(e, "life", false, err), 0);
    CHECK_INT(raw_status("/containers/workspace-life/json"), 404);
    CHECK_INT(raw_status("/volumes/workspace_data_life"), 200);
    CHECK_INT(engine_inspect(e, "life", &w, err), ENGINE_E_NOTFOUND);
    CHECK_INT(engine_start(e, "life", ip, err), ENGINE_E_NOTFOUND);
    CHECK_INT(engine_stop(e, "life", err), ENGINE_E_NOTFOUND);
    CHECK_INT(engine_write_auth(e, "life", "whatever1", ip, err), ENGINE_E_NOTFOUND);
    CHECK_INT(engine_remove(e, "life", true, err), ENGINE_E_NOTFOUND);
    CHECK_INT(raw_status("/volumes/workspace_data_life"), 404);
}

/* Defaults, a command override, a kept volume reused, purge on remove. */
static void test_defaults_and_command(void)
{
    static const char *const cmd[] = {"/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait",
                                      NULL};
    struct engine_config cfg;
    struct engine *e = NULL;
    struct buf b;
    char err[ENGINE_ERRBUF_SIZE] = "", id[ENGINE_CONTAINER_MAX + 1], ip[ENGINE_IP_MAX + 1];
    char out[512];
    json_t *root, *want_cmd;

    cfg_for_test(&cfg);
    cfg.command = cmd;
    REQUIRE(engine_open(&cfg, &e, err) == 0);
    CHECK_INT(engine_create(e, "dflt", 0, 0, NULL, id, err), 0);
    root = raw_json("/containers/workspace-dflt/json");
    CHECK(root != NULL);
    CHECK_INT(jint(json_object_get(root, "HostConfig"), "Memory"), 128ULL << 20);
    CHECK_INT(jint(json_object_get(root, "HostConfig"), "NanoCpus"), 250000000);
    want_cmd = json_pack("[s, s, s]", cmd[0], cmd[1], cmd[2]);
    CHECK(json_equal(json_object_get(json_object_get(root, "Config"), "Cmd"), want_cmd));
    json_decref(want_cmd);
    json_decref(root);
    check_auth_archive("dflt", "AUTH_FLAG=none\n");
    CHECK_INT(engine_start(e, "dflt", ip, err), 0);
    exec_ok("workspace-dflt", "echo kept > /home/coder/project/file", out, sizeof out);
    /* Delete without purge, create again: the user's files are still there. */
    CHECK_INT(engine_remove(e, "dflt", false, err), 0);
    CHECK_INT(engine_create(e, "dflt", 0, 0, NULL, id, err), 0);
    CHECK_INT(engine_start(e, "dflt", ip, err), 0);
    exec_ok("workspace-dflt", "cat /home/coder/project/file", out, sizeof out);
    CHECK_STR(out, "kept\n");
    CHECK_INT(engine_remove(e, "dflt", true, err), 0);
    CHECK_INT(raw_status("/containers/workspace-dflt/json"), 404);
    CHECK_INT(raw_status("/volumes/workspace_data_dflt"), 404);
    /* A kept volume is never removed by a failed create that found it. */
    CHECK_INT(raw("POST", "/volumes/create", "{\"Name\":\"workspace_data_kept\"}", &b), 201);
    free(b.data);
    engine_close(e);
    cfg.image = "localhost/no-such-image:latest";
    REQUIRE(engine_open(&cfg, &e, err) == 0);
    CHECK_INT(engine_create(e, "kept", 0, 0, NULL, id, err), ENGINE_E_REFUSED);
    CHECK_INT(raw_status("/volumes/workspace_data_kept"), 200);
    CHECK_INT(raw("DELETE", "/volumes/workspace_data_kept", NULL, &b), 204);
    free(b.data);
    engine_close(e);
}

/* Engine errors: refused with the engine's message, nothing left behind. */
static void test_errors(struct engine *e)
{
    struct engine_config cfg;
    struct engine *bad = NULL;
    struct engine_workspace *list = NULL;
    char err[ENGINE_ERRBUF_SIZE] = "", id[ENGINE_CONTAINER_MAX + 1], ip[ENGINE_IP_MAX + 1];
    char link[512];
    size_t n = 99;

    /* Bad image: the engine's own message, no container, no volume. */
    cfg_for_test(&cfg);
    cfg.image = "localhost/no-such-image:latest";
    REQUIRE(engine_open(&cfg, &bad, err) == 0);
    CHECK_INT(engine_create(bad, "badimg", 0, 0, "password1", id, err), ENGINE_E_REFUSED);
    fprintf(stderr, "bad image: %s\n", err);
    CHECK(strstr(err, "no-such-image") != NULL);
    CHECK(strstr(err, "password1") == NULL);
    CHECK_STR(id, "");
    CHECK_INT(raw_status("/containers/workspace-badimg/json"), 404);
    CHECK_INT(raw_status("/volumes/workspace_data_badimg"), 404);
    engine_close(bad);

    /*
     * A failure after the container exists: the auth file's directory is a
     * file (podman would create a missing directory, dockerd refuses both).
     * Everything is rolled back.
     */
    cfg_for_test(&cfg);
    cfg.auth_path = "/etc/passwd/.code-server-auth";
    REQUIRE(engine_open(&cfg, &bad, err) == 0);
    CHECK_INT(engine_create(bad, "halfmade", 0, 0, "password1", id, err), ENGINE_E_REFUSED);
    fprintf(stderr, "half-made: %s\n", err);
    CHECK(strstr(err, "auth file") != NULL);
    CHECK_INT(raw_status("/containers/workspace-halfmade/json"), 404);
    CHECK_INT(raw_status("/volumes/workspace_data_halfmade"), 404);
    engine_close(bad);

    /* Over the maxima, and bad ids: refused before the engine is asked. */
    CHECK_INT(engine_create(e, "big", 2ULL << 30, 0, NULL, id, err), ENGINE_E_LIMIT);
    CHECK_INT(engine_create(e, "big", 0, 2000000000ULL, NULL, id, err), ENGINE_E_LIMIT);
    CHECK_INT(raw_status("/volumes/workspace_data_big"), 404);
    CHECK_INT(engine_create(e, "../x", 0, 0, NULL, id, err), ENGINE_E_INVAL);
    CHECK_INT(engine_create(e, "", 0, 0, NULL, id, err), ENGINE_E_INVAL);
    CHECK_INT(engine_start(e, "a b", ip, err), ENGINE_E_INVAL);

    /* The engine goes away after open: every call says unreachable. */
    snprintf(link, sizeof link, "%s/engine.sock", test_tmpdir());
    REQUIRE(symlink(sock, link) == 0);
    cfg_for_test(&cfg);
    cfg.socket_path = link;
    REQUIRE(engine_open(&cfg, &bad, err) == 0);
    CHECK_INT(engine_list(bad, &list, &n, err), 0);
    REQUIRE(unlink(link) == 0);
    CHECK_INT(engine_list(bad, &list, &n, err), ENGINE_E_UNREACHABLE);
    CHECK(list == NULL && n == 0);
    CHECK(strstr(err, link) != NULL);
    CHECK_INT(engine_create(bad, "gone", 0, 0, NULL, id, err), ENGINE_E_UNREACHABLE);
    CHECK_INT(engine_start(bad, "gone", ip, err), ENGINE_E_UNREACHABLE);
    engine_close(bad);

    /* Nothing of ours is left: the list is empty. */
    CHECK_INT(engine_list(e, &list, &n, err), 0);
    CHECK_INT(n, 0);
    engine_list_free(list);
}

/*
 * The workspace network: a missing one is named with how to make it, at
 * the check and at create (nothing made); a network removed after the
 * container was made is what the start reports (dockerd checks only
 * then), never a missing container: the container is still there, and
 * starts once the network is back.
 */
static void test_network(void)
{
    struct engine_config cfg;
    struct engine *e = NULL;
    struct engine_workspace w;
    char err[ENGINE_ERRBUF_SIZE] = "", id[ENGINE_CONTAINER_MAX + 1], ip[ENGINE_IP_MAX + 1];
    struct buf b;
    long status;

    cfg_for_test(&cfg);
    cfg.network = "ws-test-late";
    REQUIRE(engine_open(&cfg, &e, err) == 0);
    CHECK_INT(engine_network_check(e, err), ENGINE_E_NONETWORK);
    fprintf(stderr, "missing network: %s\n", err);
    CHECK(strstr(err, "workspace network ws-test-late does not exist") != NULL);
    CHECK(strstr(err, "`egress-net --network ws-test-late up`") != NULL);
    CHECK(strstr(err, "--workspace-network NAME") != NULL);
    CHECK_INT(engine_create(e, "nonet", 0, 0, NULL, id, err), ENGINE_E_NONETWORK);
    CHECK(strstr(err, "ws-test-late") != NULL);
    CHECK_STR(id, "");
    CHECK_INT(raw_status("/containers/workspace-nonet/json"), 404);
    CHECK_INT(raw_status("/volumes/workspace_data_nonet"), 404);

    CHECK_INT(raw("POST", "/networks/create", "{\"Name\":\"ws-test-late\"}", &b), 201);
    free(b.data);
    CHECK_INT(engine_network_check(e, err), 0);
    CHECK_INT(engine_create(e, "netgone", 0, 0, NULL, id, err), 0);
    /* Removed behind our back; podman refuses while a container names it. */
    status = raw("DELETE", "/networks/ws-test-late", NULL, &b);
    fprintf(stderr, "removing the network of a created container: %ld %s\n", status,
            b.data ? b.data : "");
    free(b.data);
    if (status == 204 || status == 200) {
        CHECK_INT(engine_start(e, "netgone", ip, err), ENGINE_E_NONETWORK);
        fprintf(stderr, "start without its network: %s\n", err);
        CHECK(strstr(err, "not found") != NULL); /* the engine's own words */
        CHECK(strstr(err, "`egress-net --network ws-test-late up`") != NULL);
        CHECK_INT(engine_inspect(e, "netgone", &w, err), 0);
        CHECK_STR(w.status, "created");
        CHECK_INT(raw("POST", "/networks/create", "{\"Name\":\"ws-test-late\"}", &b), 201);
        free(b.data);
    } else {
        CHECK(status == 409 || status == 500);
    }
    CHECK_INT(engine_start(e, "netgone", ip, err), 0);
    CHECK(ip[0] != '\0');
    CHECK_INT(engine_remove(e, "netgone", true, err), 0);
    CHECK_INT(raw("DELETE", "/networks/ws-test-late", NULL, &b) / 100, 2);
    free(b.data);
    engine_close(e);

    /* The default network's sentence asks for plain `egress-net up`. */
    cfg_for_test(&cfg);
    cfg.network = ENGINE_DEFAULT_NETWORK;
    REQUIRE(engine_open(&cfg, &e, err) == 0);
    CHECK_INT(engine_network_check(e, err), ENGINE_E_NONETWORK);
    CHECK(strstr(err, "network egress-ws does not exist") != NULL);
    CHECK(strstr(err, "`egress-net up`") != NULL);
    engine_close(e);
}

int main(void)
{
    struct engine *e;

    sock = getenv("ENGINE_SOCKET");
    image = getenv("ENGINE_IMAGE");
    network = getenv("ENGINE_NETWORK");
    if (sock == NULL || image == NULL || network == NULL) {
        fprintf(stderr, "run through test-engine.sh (ENGINE_SOCKET, ENGINE_IMAGE, "
                        "ENGINE_NETWORK unset)\n");
        return 99;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    e = test_open();
    test_lifecycle(e);
    test_defaults_and_command();
    test_errors(e);
    test_network();
    engine_close(e);
    curl_global_cleanup();
    return test_exit();
}
