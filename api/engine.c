/*
 * The container engine client: Docker Engine API over a unix socket with
 * libcurl, JSON with jansson. See engine.h for the contract; this file
 * holds the HTTP plumbing, the error mapping and one function per
 * workspace action.
 *
 * dockerd and podman's compatible service differ in a few answers, handled
 * where they occur: podman answers 500 where dockerd answers 409 for a
 * name already in use, and accepts an archive upload to a missing path
 * (dockerd answers 404).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api/engine.h"
#include "api/engine_tar.h"
#include "policy/error.h"

/* Largest answer we read from the engine; a list of many containers fits. */
#define RESPONSE_MAX (32 * 1024 * 1024)

struct engine {
    struct engine_config cfg;
    char version[16]; /* agreed API version, "1.41" */
    char user[32];    /* "uid:gid" */
};

/* One HTTP answer: status and body (NUL-terminated for convenience). */
struct response {
    long status;
    char *data;
    size_t len;
};

/* What to send: a body and its content type, or nothing. */
struct request_body {
    const char *type;
    const char *data;
    size_t len;
};

static void errbuf_set(char *errbuf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errbuf_set(char *errbuf, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, ENGINE_ERRBUF_SIZE, fmt, ap);
    va_end(ap);
}

const char *engine_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case ENGINE_E_UNREACHABLE:
        return "the container engine is unreachable (is dockerd running, is the socket path "
               "right?)";
    case ENGINE_E_REFUSED:
        return "the container engine refused the request";
    case ENGINE_E_NOTFOUND:
        return "the workspace container does not exist";
    case ENGINE_E_CONFLICT:
        return "a workspace container of that name already exists";
    case ENGINE_E_VERSION:
        return "the container engine's API is older than " ENGINE_API_OLDEST;
    case ENGINE_E_PROTOCOL:
        return "the container engine sent an answer that could not be read";
    case ENGINE_E_LIMIT:
        return "memory or CPU limit above the server maximum";
    case ENGINE_E_INVAL:
        return "invalid project id or engine configuration";
    case ENGINE_E_NONETWORK:
        return "the workspace network does not exist on the container engine";
    default:
        return err > 0 ? strerror(err) : "unknown container engine error";
    }
}

void engine_config_defaults(struct engine_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->socket_path = ENGINE_DEFAULT_SOCKET;
    cfg->image = ENGINE_DEFAULT_IMAGE;
    cfg->network = ENGINE_DEFAULT_NETWORK;
    cfg->project_dir = "/home/coder/project";
    cfg->auth_path = "/home/coder/.code-server-auth";
    cfg->uid = 1000;
    cfg->gid = 1000;
    cfg->memory_default = ENGINE_DEFAULT_MEMORY;
    cfg->memory_max = ENGINE_DEFAULT_MEMORY_MAX;
    cfg->nano_cpus_default = ENGINE_DEFAULT_NANO_CPUS;
    cfg->nano_cpus_max = ENGINE_DEFAULT_NANO_CPUS_MAX;
    cfg->pids_limit = ENGINE_DEFAULT_PIDS_LIMIT;
    cfg->tmp_size = "1G";
    cfg->stop_timeout = ENGINE_DEFAULT_STOP_TIMEOUT;
    cfg->timeout_ms = 60000;
}

/* Project ids become parts of container and volume names: keep them to what both allow. */
static bool project_id_valid(const char *id)
{
    size_t i, len = id ? strlen(id) : 0;

    if (len == 0 || len > ENGINE_ID_MAX || !isalnum((unsigned char)id[0]))
        return false;
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '.' && id[i] != '-')
            return false;
    return true;
}

/* "1.41" → 1041; -1 when it is not MAJOR.MINOR. */
static int version_parse(const char *s)
{
    unsigned major, minor;
    int used = 0;

    if (s == NULL || sscanf(s, "%u.%u%n", &major, &minor, &used) != 2 || s[used] != '\0' ||
        minor > 999 || major > 99)
        return -1;
    return (int)(major * 1000 + minor);
}

static size_t response_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct response *r = userdata;
    size_t n = size * nmemb;
    char *p;

    if (r->len + n > RESPONSE_MAX)
        return 0;
    p = ep_realloc(r->data, r->len + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + r->len, ptr, n);
    r->len += n;
    p[r->len] = '\0';
    r->data = p;
    return n;
}

static void response_free(struct response *r)
{
    free(r->data);
    r->data = NULL;
    r->len = 0;
}

/*
 * One request to the engine. @p path starts with '/' and carries its query;
 * when @p versioned, "/v<version>" is put in front. Any transport failure
 * (no socket, refused, timeout, cut answer) is ENGINE_E_UNREACHABLE with
 * curl's reason in @p errbuf; otherwise 0 and the status and body in @p r,
 * whatever the status (each caller decides what a status means).
 */
static int request(const struct engine *e, const char *method, const char *path, bool versioned,
                   const struct request_body *body, long extra_timeout_ms, struct response *r,
                   char *errbuf)
{
    char url[1024], curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    CURL *curl = NULL;
    CURLcode cc;
    int rc = 0;

    memset(r, 0, sizeof *r);
    if (versioned)
        snprintf(url, sizeof url, "http://localhost/v%s%s", e->version, path);
    else
        snprintf(url, sizeof url, "http://localhost%s", path);
    curl = curl_easy_init();
    if (curl == NULL) {
        rc = ENOMEM;
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, e->cfg.socket_path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, e->cfg.timeout_ms + extra_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, response_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    /* Keep the proxy environment of egress-api itself away from the socket. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    headers = curl_slist_append(NULL, "Expect:");
    if (headers != NULL && body != NULL) {
        struct curl_slist *more;
        char type[128];

        snprintf(type, sizeof type, "Content-Type: %s", body->type);
        more = curl_slist_append(headers, type);
        if (more == NULL) {
            rc = ENOMEM;
            goto out;
        }
        headers = more;
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (headers == NULL) {
        rc = ENOMEM;
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        long os_errno = 0;

        /* curl words a failed unix-socket connect as "localhost port 80": say what happened. */
        curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
        if (cc == CURLE_COULDNT_CONNECT && os_errno != 0)
            errbuf_set(errbuf, "container engine at %s: cannot connect: %s", e->cfg.socket_path,
                       strerror((int)os_errno));
        else
            errbuf_set(errbuf, "container engine at %s: %s", e->cfg.socket_path,
                       curl_err[0] ? curl_err : curl_easy_strerror(cc));
        rc = ENGINE_E_UNREACHABLE;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
out:
    if (rc != 0)
        response_free(r);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

/*
 * Copy the engine's error text into @p errbuf: the "message" member of its
 * JSON answer (dockerd and podman both send one), or the start of the raw
 * body, prefixed with @p what so the reader knows which step failed.
 */
static void engine_message(const struct response *r, const char *what, char *errbuf)
{
    json_t *root = NULL;
    const char *msg = NULL;

    if (errbuf == NULL)
        return;
    if (r->data != NULL)
        root = json_loadb(r->data, r->len, 0, NULL);
    if (root != NULL)
        msg = json_string_value(json_object_get(root, "message"));
    if (msg == NULL)
        msg = r->data && r->len ? r->data : "(no message)";
    errbuf_set(errbuf, "%s: engine answered %ld: %.*s", what, r->status, 400, msg);
    json_decref(root);
}

/* Does the engine's answer say @p words (either case)? */
static bool message_says(const struct response *r, const char *words)
{
    return r->data != NULL && strcasestr(r->data, words) != NULL;
}

/* Does the engine's message say a name is taken (podman's 500 for dockerd's 409)? */
static bool message_says_in_use(const struct response *r)
{
    return message_says(r, "already in use") || message_says(r, "in use by");
}

/*
 * Does it say a network is missing? dockerd: "network NAME not found";
 * podman: "unable to find network with name or ID NAME: network not found".
 */
static bool message_says_no_network(const struct response *r)
{
    return message_says(r, "network") && message_says(r, "not found");
}

/*
 * The workspace network is missing: which network and how to make it
 * (contrib/network/egress-net makes egress-ws by default), then the
 * engine's words when it said so in answer to @p what.
 */
static int network_missing(const struct engine *e, const struct response *r, const char *what,
                           char *errbuf)
{
    char engine_said[ENGINE_ERRBUF_SIZE] = "", name_option[160] = "";

    if (r != NULL)
        engine_message(r, what, engine_said);
    if (strcmp(e->cfg.network, ENGINE_DEFAULT_NETWORK) != 0)
        snprintf(name_option, sizeof name_option, "--network %.128s ", e->cfg.network);
    /* The remedy first: a long message from the engine may be cut at the end. */
    errbuf_set(errbuf,
               "the workspace network %s does not exist on the container engine: make it "
               "with `egress-net %sup` (contrib/network/egress-net), or give egress-api an "
               "existing network with --workspace-network NAME%s%s",
               e->cfg.network, name_option, engine_said[0] ? "; " : "", engine_said);
    return ENGINE_E_NONETWORK;
}

/*
 * Map an error answer to a request addressed to a workspace container by
 * what the engine says, never by its status alone: a 404 is also what
 * both engines answer for a missing network (start), a missing path in
 * the container (archive upload) or a missing image. Only "no such
 * container" (dockerd's "No such container: NAME", podman's "...: no such
 * container") means the container is gone.
 */
static int container_error(const struct engine *e, const struct response *r, const char *what,
                           char *errbuf)
{
    if (message_says_no_network(r))
        return network_missing(e, r, what, errbuf);
    engine_message(r, what, errbuf);
    return message_says(r, "no such container") ? ENGINE_E_NOTFOUND : ENGINE_E_REFUSED;
}

static bool status_in(long status, const long *ok)
{
    for (; *ok; ok++)
        if (*ok == status)
            return true;
    return false;
}

/*
 * A request without a body whose answer matters by its status alone: 0
 * for one of @p ok (0-terminated), else the engine's refusal of @p what
 * (container_error()) or the transport's error.
 */
static int request_status(struct engine *e, const char *method, const char *path,
                          long extra_timeout_ms, const long *ok, const char *what, char *errbuf)
{
    struct response r;
    int rc = request(e, method, path, true, NULL, extra_timeout_ms, &r, errbuf);

    if (rc == 0 && !status_in(r.status, ok))
        rc = container_error(e, &r, what, errbuf);
    response_free(&r);
    return rc;
}

/* POST the compact JSON text of @p body (NULL: out of memory) to @p path; the answer into @p r. */
static int post_json(struct engine *e, const char *path, const json_t *body, struct response *r,
                     char *errbuf)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct request_body rb = {"application/json", text, text ? strlen(text) : 0};
    int rc;

    memset(r, 0, sizeof *r);
    if (text == NULL)
        return ENOMEM;
    rc = request(e, "POST", path, true, &rb, 0, r, errbuf);
    free(text);
    return rc;
}

/*
 * GET @p path (under the agreed API version when @p versioned) and parse
 * its 200 answer into *@p root (NULL when it is not JSON: the caller
 * says what it expected). Any other status is the engine's refusal of
 * @p what.
 */
static int get_json(struct engine *e, const char *path, bool versioned, const char *what,
                    json_t **root, char *errbuf)
{
    struct response r;
    int rc = request(e, "GET", path, versioned, NULL, 0, &r, errbuf);

    *root = NULL;
    if (rc == 0 && r.status != 200) {
        engine_message(&r, what, errbuf);
        rc = ENGINE_E_REFUSED;
    }
    if (rc == 0)
        *root = json_loadb(r.data, r.len, 0, NULL);
    response_free(&r);
    return rc;
}

static bool cap_forbidden(const char *cap)
{
    static const char *const forbidden[] = {"ALL", "NET_RAW", "NET_ADMIN", "SYS_ADMIN", NULL};
    const char *name = strncasecmp(cap, "CAP_", 4) == 0 ? cap + 4 : cap;
    size_t i;

    for (i = 0; forbidden[i] != NULL; i++)
        if (strcasecmp(name, forbidden[i]) == 0)
            return true;
    return false;
}

/* Digits and an optional k, m or g suffix: what tmpfs and the engine both read as a size. */
static bool tmp_size_valid(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return n > 0 && (s[n] == '\0' || (strchr("kKmMgG", s[n]) && s[n + 1] == '\0'));
}

/* Refuse a configuration that would weaken the hardening or could not work. */
static int config_check(const struct engine_config *cfg, char *errbuf)
{
    size_t i;

    if (cfg->socket_path == NULL || cfg->image == NULL || cfg->image[0] == '\0' ||
        cfg->network == NULL || cfg->network[0] == '\0') {
        errbuf_set(errbuf, "engine configuration: socket path, image and network are required");
        return ENGINE_E_INVAL;
    }
    if (cfg->project_dir == NULL || cfg->project_dir[0] != '/' || cfg->auth_path == NULL ||
        cfg->auth_path[0] != '/' || strrchr(cfg->auth_path, '/')[1] == '\0') {
        errbuf_set(errbuf, "engine configuration: project directory and auth file must be "
                           "absolute paths");
        return ENGINE_E_INVAL;
    }
    if (cfg->tmp_size == NULL || !tmp_size_valid(cfg->tmp_size)) {
        errbuf_set(errbuf,
                   "engine configuration: /tmp size \"%s\" is not digits with an "
                   "optional k, m or g",
                   cfg->tmp_size ? cfg->tmp_size : "");
        return ENGINE_E_INVAL;
    }
    if (cfg->memory_default == 0 || cfg->memory_default > cfg->memory_max ||
        cfg->nano_cpus_default == 0 || cfg->nano_cpus_default > cfg->nano_cpus_max ||
        cfg->pids_limit <= 0) {
        errbuf_set(errbuf, "engine configuration: defaults must be positive and within the "
                           "maxima, and the pids limit positive");
        return ENGINE_E_INVAL;
    }
    /* env_add_both() builds "NAME=value" in a fixed buffer: refuse rather than cut. */
    if ((cfg->proxy_url != NULL && strlen(cfg->proxy_url) > 1024) ||
        (cfg->no_proxy != NULL && strlen(cfg->no_proxy) > 1024)) {
        errbuf_set(errbuf, "engine configuration: proxy URL or NO_PROXY list over 1024 bytes");
        return ENGINE_E_INVAL;
    }
    for (i = 0; cfg->cap_add != NULL && cfg->cap_add[i] != NULL; i++)
        if (cap_forbidden(cfg->cap_add[i])) {
            errbuf_set(errbuf,
                       "engine configuration: capability %s may not be given to a "
                       "workspace",
                       cfg->cap_add[i]);
            return ENGINE_E_INVAL;
        }
    return 0;
}

/*
 * Agree on an API version. The unversioned GET /version is answered at the
 * engine's newest version and states its range; we take our preferred
 * version clamped into [MinAPIVersion, ApiVersion]. Above our preference
 * we would rely on behaviour we have not checked; below the engine's
 * minimum it refuses every call (Docker 29 starts at 1.44).
 */
static int version_negotiate(struct engine *e, char *errbuf)
{
    json_t *root = NULL;
    const char *api_s, *min_s;
    int api, min, want = version_parse(ENGINE_API_PREFERRED), rc;

    rc = get_json(e, "/version", false, "GET /version", &root, errbuf);
    if (rc != 0)
        goto out;
    api_s = json_string_value(json_object_get(root, "ApiVersion"));
    min_s = json_string_value(json_object_get(root, "MinAPIVersion"));
    api = version_parse(api_s);
    min = min_s ? version_parse(min_s) : version_parse(ENGINE_API_OLDEST);
    if (api < 0 || min < 0) {
        errbuf_set(errbuf, "GET /version: no readable ApiVersion/MinAPIVersion");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    if (api < version_parse(ENGINE_API_OLDEST)) {
        errbuf_set(errbuf, "the engine speaks API %s at most; egress-api needs %s or newer", api_s,
                   ENGINE_API_OLDEST);
        rc = ENGINE_E_VERSION;
        goto out;
    }
    if (want > api)
        want = api;
    if (want < min)
        want = min;
    snprintf(e->version, sizeof e->version, "%d.%d", want / 1000, want % 1000);
out:
    json_decref(root);
    return rc;
}

int engine_open(const struct engine_config *cfg, struct engine **out, char *errbuf)
{
    struct engine *e = NULL;
    int rc;

    *out = NULL;
    rc = config_check(cfg, errbuf);
    if (rc != 0)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ENOMEM;
    e = ep_calloc(1, sizeof *e);
    if (e == NULL) {
        rc = ENOMEM;
        goto out;
    }
    e->cfg = *cfg;
    snprintf(e->user, sizeof e->user, "%u:%u", cfg->uid, cfg->gid);
    rc = version_negotiate(e, errbuf);
out:
    if (rc != 0) {
        free(e);
        curl_global_cleanup();
        return rc;
    }
    *out = e;
    return 0;
}

void engine_close(struct engine *engine)
{
    if (engine == NULL)
        return;
    free(engine);
    curl_global_cleanup();
}

const char *engine_api_version(const struct engine *engine)
{
    return engine->version;
}

/*
 * GET /networks/NAME: 200 when it exists. The engines answer 404 with
 * "network NAME not found" (dockerd) or "...: network not found" (podman)
 * when it does not; any other answer is the engine refusing.
 */
int engine_network_check(struct engine *engine, char *errbuf)
{
    struct response r;
    char path[256], *esc;
    int rc;

    esc = curl_easy_escape(NULL, engine->cfg.network, 0);
    if (esc == NULL)
        return ENOMEM;
    snprintf(path, sizeof path, "/networks/%s", esc);
    curl_free(esc);
    rc = request(engine, "GET", path, true, NULL, 0, &r, errbuf);
    if (rc == 0 && r.status != 200) {
        if (message_says_no_network(&r)) {
            rc = network_missing(engine, NULL, NULL, errbuf);
        } else {
            engine_message(&r, "looking up the workspace network", errbuf);
            rc = ENGINE_E_REFUSED;
        }
    }
    response_free(&r);
    return rc;
}

/* The content of the auth override file, malloc'd. The password is single-quoted for sh. */
static char *auth_content(const char *password)
{
    size_t i, n = 0, len;
    char *s;

    if (password == NULL)
        return ep_strdup("AUTH_FLAG=none\n");
    len = strlen(password);
    for (i = 0; i < len; i++)
        n += password[i] == '\'' ? 4 : 1;
    s = ep_malloc(sizeof "AUTH_FLAG=password\nexport PASSWORD=''\n" + n);
    if (s == NULL)
        return NULL;
    n = (size_t)sprintf(s, "AUTH_FLAG=password\nexport PASSWORD='");
    for (i = 0; i < len; i++) {
        if (password[i] == '\'') {
            memcpy(s + n, "'\\''", 4);
            n += 4;
        } else {
            s[n++] = password[i];
        }
    }
    strcpy(s + n, "'\n");
    return s;
}

/*
 * Upload one tar entry into directory @p dir of container @p name
 * (PUT /containers/{name}/archive). The entry's owner and mode come from
 * its tar header: the engine applies them as written. The caller wipes
 * @p entry's data afterwards if it is secret; the archive copy is wiped here.
 */
static int archive_put_n(struct engine *e, const char *name, const char *dir,
                         const struct engine_tar_entry *entry, size_t n, const char *what,
                         char *errbuf)
{
    struct request_body body = {"application/x-tar", NULL, 0};
    struct response r = {0};
    char *tar = NULL, *esc = NULL, path[1024];
    size_t tar_len = 0;
    int rc;

    rc = engine_tar_build(entry, n, &tar, &tar_len);
    if (rc != 0)
        goto out;
    esc = curl_easy_escape(NULL, dir, 0);
    if (esc == NULL) {
        rc = ENOMEM;
        goto out;
    }
    snprintf(path, sizeof path, "/containers/%s/archive?path=%s", name, esc);
    body.data = tar;
    body.len = tar_len;
    rc = request(e, "PUT", path, true, &body, 0, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 200)
        rc = container_error(e, &r, what, errbuf);
out:
    if (tar != NULL) {
        explicit_bzero(tar, tar_len);
        free(tar);
    }
    curl_free(esc);
    response_free(&r);
    return rc;
}

static int archive_put(struct engine *e, const char *name, const char *dir,
                       const struct engine_tar_entry *entry, const char *what, char *errbuf)
{
    return archive_put_n(e, name, dir, entry, 1, what, errbuf);
}

/* Split an absolute path into its directory ("/" for a top-level name) and last component. */
static void path_split(const char *path, char *dir, size_t dir_size, const char **base)
{
    const char *slash = strrchr(path, '/');
    size_t n = (size_t)(slash - path);

    if (n == 0)
        n = 1;
    snprintf(dir, dir_size, "%.*s", (int)n, path);
    *base = slash + 1;
}

/* Upload the auth override file for @p password into container @p name. */
static int auth_upload(struct engine *e, const char *name, const char *password, char *errbuf)
{
    struct engine_tar_entry entry = {0};
    char dir[512], *content;
    int rc;

    content = auth_content(password);
    if (content == NULL)
        return ENOMEM;
    path_split(e->cfg.auth_path, dir, sizeof dir, &entry.name);
    entry.data = content;
    entry.size = strlen(content);
    entry.mode = 0600;
    entry.uid = e->cfg.uid;
    entry.gid = e->cfg.gid;
    rc = archive_put(e, name, dir, &entry, "writing the auth file", errbuf);
    explicit_bzero(content, entry.size);
    free(content);
    return rc;
}

/* The CA variables of every workspace when capture is configured (engine_write_ca()). */
static int ca_env(json_t *env)
{
    static const char *const vars[] = {
        "SSL_CERT_FILE=" ENGINE_CA_DIR "/bundle.pem",
        "REQUESTS_CA_BUNDLE=" ENGINE_CA_DIR "/bundle.pem",
        "CURL_CA_BUNDLE=" ENGINE_CA_DIR "/bundle.pem",
        "NODE_EXTRA_CA_CERTS=" ENGINE_CA_DIR "/extra.pem",
    };
    int err = 0;

    for (size_t i = 0; !err && i < sizeof vars / sizeof vars[0]; i++)
        err = json_array_append_new(env, json_string(vars[i])) ? ENOMEM : 0;
    return err;
}

/* Read @p name of directory @p dir whole (malloc'd). */
static int file_read(const char *dir, const char *name, char **out, size_t *len, char *errbuf)
{
    char path[1024];
    FILE *f;
    long n;
    int rc = 0;

    *out = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        errbuf_set(errbuf, "cannot read %s: %s (make it with egress-ca create)", path,
                   strerror(errno));
        rc = ENGINE_E_INVAL;
        goto out;
    }
    *out = malloc((size_t)n + 1);
    if (*out == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if (fread(*out, 1, (size_t)n, f) != (size_t)n) {
        errbuf_set(errbuf, "cannot read %s", path);
        rc = ENGINE_E_INVAL;
        goto out;
    }
    *len = (size_t)n;
out:
    if (f != NULL)
        fclose(f);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/*
 * Hand the project directory (the volume's mount point) to the workspace
 * user. A fresh named volume takes the ownership of the image's directory,
 * or root's when the image has none, and user 1000 could then not write
 * its own project: a directory entry owned by uid:gid fixes that.
 */
static int project_dir_own(struct engine *e, const char *name, char *errbuf)
{
    struct engine_tar_entry entry = {0};
    char dir[512];
    const char *base;

    path_split(e->cfg.project_dir, dir, sizeof dir, &base);
    if (base[0] == '\0')
        return 0;
    entry.name = base;
    entry.is_dir = 1;
    entry.mode = 0755;
    entry.uid = e->cfg.uid;
    entry.gid = e->cfg.gid;
    return archive_put(e, name, dir, &entry, "preparing the project directory", errbuf);
}

/* json_array_append_new for strings, reporting allocation failure. */
static int array_add(json_t *array, const char *s)
{
    json_t *v = json_string(s);

    return v != NULL && json_array_append_new(array, v) == 0 ? 0 : ENOMEM;
}

/* Append "NAME=value" to @p env under both the upper- and the lowercase name. */
static int env_add_both(json_t *env, const char *upper, const char *value)
{
    char buf[2048], lower[32];
    size_t i;

    for (i = 0; upper[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)upper[i]);
    lower[i] = '\0';
    snprintf(buf, sizeof buf, "%s=%s", upper, value);
    if (array_add(env, buf) != 0)
        return ENOMEM;
    snprintf(buf, sizeof buf, "%s=%s", lower, value);
    return array_add(env, buf);
}

/*
 * The body of POST /containers/create: every hardening item of DESIGN.md.
 * Capabilities: all are dropped and none added by default. code-server
 * runs as an unprivileged user and needs none; CHOWN, SETUID, SETGID,
 * DAC_OVERRIDE and FOWNER only matter to an entrypoint that starts as root
 * and drops privileges, which our user setting rules out. Dropping the
 * bounding set too means even `docker exec -u 0` gets no capability, and
 * NET_RAW/NET_ADMIN (forging another workspace's address) are refused by
 * config_check() if an operator tries to add them.
 */
static json_t *create_body(const struct engine *e, const char *project_id, const char *volume,
                           uint64_t memory, uint64_t nano_cpus)
{
    const struct engine_config *c = &e->cfg;
    json_t *body = NULL, *host, *env, *caps, *cmd, *mounts;
    char tmpfs[128];
    size_t i;
    int err = 0;

    snprintf(tmpfs, sizeof tmpfs, "size=%s,noexec,nosuid,nodev", c->tmp_size);
    env = json_array();
    caps = json_array();
    mounts = json_pack("[{s:s, s:s, s:s}]", "Type", "volume", "Source", volume, "Target",
                       c->project_dir);
    if (env == NULL || caps == NULL || mounts == NULL)
        err = ENOMEM;
    if (!err && c->proxy_url != NULL)
        err = env_add_both(env, "HTTP_PROXY", c->proxy_url);
    if (!err && c->proxy_url != NULL)
        err = env_add_both(env, "HTTPS_PROXY", c->proxy_url);
    if (!err && c->no_proxy != NULL)
        err = env_add_both(env, "NO_PROXY", c->no_proxy);
    if (!err && c->capture_ca_dir != NULL)
        err = ca_env(env);
    for (i = 0; !err && c->cap_add != NULL && c->cap_add[i] != NULL; i++)
        err = array_add(caps, c->cap_add[i]);
    if (err) {
        json_decref(env);
        json_decref(caps);
        json_decref(mounts);
        return NULL;
    }
    host = json_pack("{s:[s], s:[s], s:o, s:{s:s}, s:o, s:I, s:I, s:I, s:I, s:I, s:s}",
                     "SecurityOpt", "no-new-privileges:true", "CapDrop", "ALL", "CapAdd", caps,
                     "Tmpfs", "/tmp", tmpfs, "Mounts", mounts, "NanoCpus", (json_int_t)nano_cpus,
                     "Memory", (json_int_t)memory, "MemorySwap", (json_int_t)memory,
                     "MemoryReservation", (json_int_t)(memory / 2), "PidsLimit",
                     (json_int_t)c->pids_limit, "NetworkMode", c->network);
    if (host == NULL) {
        json_decref(env);
        return NULL;
    }
    body = json_pack("{s:s, s:s, s:o, s:{s:s, s:s}, s:o}", "Image", c->image, "User", e->user,
                     "Env", env, "Labels", ENGINE_LABEL_PROJECT, project_id,
                     ENGINE_LABEL_MANAGED_BY, ENGINE_MANAGED_BY, "HostConfig", host);
    if (body == NULL)
        return NULL;
    if (c->command != NULL) {
        cmd = json_array();
        for (i = 0; cmd != NULL && c->command[i] != NULL && err == 0; i++)
            err = array_add(cmd, c->command[i]);
        /* json_object_set_new takes cmd's reference even when it fails. */
        if (cmd == NULL || err != 0) {
            json_decref(cmd);
            json_decref(body);
            return NULL;
        }
        if (json_object_set_new(body, "Cmd", cmd) != 0) {
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

/*
 * Make sure the named volume exists; *created tells whether this call made
 * it (only then may a failed create remove it again).
 */
static int volume_ensure(struct engine *e, const char *project_id, const char *volume,
                         bool *created, char *errbuf)
{
    struct response r = {0};
    char path[256];
    json_t *body = NULL;
    int rc;

    *created = false;
    snprintf(path, sizeof path, "/volumes/%s", volume);
    rc = request(e, "GET", path, true, NULL, 0, &r, errbuf);
    if (rc != 0 || r.status == 200)
        goto out;
    if (!message_says(&r, "no such volume")) {
        engine_message(&r, "looking up the workspace volume", errbuf);
        rc = ENGINE_E_REFUSED;
        goto out;
    }
    response_free(&r);
    body = json_pack("{s:s, s:{s:s, s:s}}", "Name", volume, "Labels", ENGINE_LABEL_PROJECT,
                     project_id, ENGINE_LABEL_MANAGED_BY, ENGINE_MANAGED_BY);
    rc = post_json(e, "/volumes/create", body, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 201 && r.status != 200) {
        engine_message(&r, "creating the workspace volume", errbuf);
        rc = ENGINE_E_REFUSED;
        goto out;
    }
    *created = true;
out:
    json_decref(body);
    response_free(&r);
    return rc;
}

/* Remove a volume; one the engine says does not exist is fine. */
static int volume_remove(struct engine *e, const char *volume, char *errbuf)
{
    struct response r;
    char path[256];
    int rc;

    snprintf(path, sizeof path, "/volumes/%s", volume);
    rc = request(e, "DELETE", path, true, NULL, 0, &r, errbuf);
    if (rc == 0 && r.status != 204 && r.status != 200 && !message_says(&r, "no such volume")) {
        engine_message(&r, "removing the workspace volume", errbuf);
        rc = ENGINE_E_REFUSED;
    }
    response_free(&r);
    return rc;
}

/* Remove container @p name, running or not; 0, ENGINE_E_NOTFOUND or an error. */
static int container_remove(struct engine *e, const char *name, char *errbuf)
{
    char path[256];

    snprintf(path, sizeof path, "/containers/%s?force=true", name);
    return request_status(e, "DELETE", path, 0, (const long[]){204, 200, 0},
                          "removing the workspace container", errbuf);
}

static void names(const char *project_id, char *container, size_t csize, char *volume, size_t vsize)
{
    snprintf(container, csize, "workspace-%s", project_id);
    snprintf(volume, vsize, "workspace_data_%s", project_id);
}

/*
 * engine_create: volume, container, project directory owner, auth file, in
 * that order; on failure undo in reverse. The rollback's own errors are
 * not reported over the first error (which is what the user must see),
 * but the container is removed before the volume so the volume is free.
 */
int engine_create(struct engine *engine, const char *project_id, uint64_t memory_bytes,
                  uint64_t nano_cpus, const char *password,
                  char container_id[ENGINE_CONTAINER_MAX + 1], char *errbuf)
{
    struct response r = {0};
    char name[96], volume[96], path[160];
    json_t *body = NULL, *answer = NULL;
    bool volume_made = false, container_made = false;
    const char *id;
    int rc;

    container_id[0] = '\0';
    if (!project_id_valid(project_id)) {
        errbuf_set(errbuf, "project id is not 1..%d of [A-Za-z0-9_.-]", ENGINE_ID_MAX);
        return ENGINE_E_INVAL;
    }
    if (memory_bytes == 0)
        memory_bytes = engine->cfg.memory_default;
    if (nano_cpus == 0)
        nano_cpus = engine->cfg.nano_cpus_default;
    if (memory_bytes > engine->cfg.memory_max || nano_cpus > engine->cfg.nano_cpus_max ||
        memory_bytes > INT64_MAX || nano_cpus > INT64_MAX) {
        errbuf_set(errbuf, "memory %llu bytes / %llu nano-CPUs: the maxima are %llu / %llu",
                   (unsigned long long)memory_bytes, (unsigned long long)nano_cpus,
                   (unsigned long long)engine->cfg.memory_max,
                   (unsigned long long)engine->cfg.nano_cpus_max);
        return ENGINE_E_LIMIT;
    }
    names(project_id, name, sizeof name, volume, sizeof volume);

    /* Before anything is made: a container on a missing network would only fail at start. */
    rc = engine_network_check(engine, errbuf);
    if (rc != 0)
        goto out;
    rc = volume_ensure(engine, project_id, volume, &volume_made, errbuf);
    if (rc != 0)
        goto out;
    body = create_body(engine, project_id, volume, memory_bytes, nano_cpus);
    snprintf(path, sizeof path, "/containers/create?name=%s", name);
    rc = post_json(engine, path, body, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 201 && message_says_in_use(&r)) {
        engine_message(&r, "creating the workspace container", errbuf);
        rc = ENGINE_E_CONFLICT;
        goto out;
    }
    if (r.status != 201 && message_says_no_network(&r)) {
        /* podman checks the network here (dockerd at start): removed since the check above. */
        rc = network_missing(engine, &r, "creating the workspace container", errbuf);
        goto out;
    }
    if (r.status != 201) {
        engine_message(&r, "creating the workspace container", errbuf);
        rc = ENGINE_E_REFUSED;
        goto out;
    }
    container_made = true;
    answer = json_loadb(r.data, r.len, 0, NULL);
    id = json_string_value(json_object_get(answer, "Id"));
    if (id == NULL || strlen(id) > ENGINE_CONTAINER_MAX) {
        errbuf_set(errbuf, "creating the workspace container: the answer has no container id");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    snprintf(container_id, ENGINE_CONTAINER_MAX + 1, "%s", id);
    rc = project_dir_own(engine, name, errbuf);
    if (rc != 0)
        goto out;
    rc = auth_upload(engine, name, password, errbuf);
out:
    if (rc != 0) {
        /* The container made here gone mid-way: the create failed, no project's container is. */
        if (rc == ENGINE_E_NOTFOUND)
            rc = ENGINE_E_REFUSED;
        if (container_made)
            container_remove(engine, name, NULL);
        if (volume_made)
            volume_remove(engine, volume, NULL);
        container_id[0] = '\0';
    }
    json_decref(answer);
    json_decref(body);
    response_free(&r);
    return rc;
}

/* Copy a JSON string member into a fixed buffer ("" when absent). */
static void copy_string(char *dst, size_t size, json_t *v)
{
    const char *s = json_string_value(v);

    snprintf(dst, size, "%s", s ? s : "");
}

/*
 * The workspace's IP from a NetworkSettings.Networks object: the configured
 * network's address, or the first non-empty one if the container sits on
 * another network (e.g. NetworkMode "default" is reported as "bridge").
 */
static void ip_from_networks(const struct engine *e, json_t *networks, char *ip)
{
    const char *key;
    json_t *net;

    ip[0] = '\0';
    copy_string(ip, ENGINE_IP_MAX + 1,
                json_object_get(json_object_get(networks, e->cfg.network), "IPAddress"));
    if (ip[0] != '\0')
        return;
    json_object_foreach(networks, key, net)
    {
        copy_string(ip, ENGINE_IP_MAX + 1, json_object_get(net, "IPAddress"));
        if (ip[0] != '\0')
            return;
    }
}

static void state_from_status(struct engine_workspace *w, const char *status)
{
    snprintf(w->status, sizeof w->status, "%s", status ? status : "");
    w->state =
        status && strcmp(status, "running") == 0 ? ENGINE_STATE_RUNNING : ENGINE_STATE_STOPPED;
}

int engine_inspect(struct engine *engine, const char *project_id, struct engine_workspace *out,
                   char *errbuf)
{
    struct response r;
    char name[96], volume[96], path[160];
    json_t *root = NULL, *state, *label;
    int rc;

    memset(out, 0, sizeof *out);
    if (!project_id_valid(project_id)) {
        errbuf_set(errbuf, "project id is not 1..%d of [A-Za-z0-9_.-]", ENGINE_ID_MAX);
        return ENGINE_E_INVAL;
    }
    names(project_id, name, sizeof name, volume, sizeof volume);
    snprintf(path, sizeof path, "/containers/%s/json", name);
    rc = request(engine, "GET", path, true, NULL, 0, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 200) {
        rc = container_error(engine, &r, "inspecting the workspace container", errbuf);
        goto out;
    }
    root = json_loadb(r.data, r.len, 0, NULL);
    state = json_object_get(root, "State");
    if (!json_is_object(state)) {
        errbuf_set(errbuf, "inspecting the workspace container: no State in the answer");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    label = json_object_get(json_object_get(json_object_get(root, "Config"), "Labels"),
                            ENGINE_LABEL_PROJECT);
    copy_string(out->project_id, sizeof out->project_id, label);
    if (out->project_id[0] == '\0')
        snprintf(out->project_id, sizeof out->project_id, "%s", project_id);
    copy_string(out->container_id, sizeof out->container_id, json_object_get(root, "Id"));
    state_from_status(out, json_string_value(json_object_get(state, "Status")));
    ip_from_networks(engine, json_object_get(json_object_get(root, "NetworkSettings"), "Networks"),
                     out->ip);
out:
    json_decref(root);
    response_free(&r);
    return rc;
}

/* POST /containers/{name}/ACTION[?t=N]: 204 done, 304 already in that state. */
static int container_action(struct engine *e, const char *name, const char *action, bool timed,
                            const char *what, char *errbuf)
{
    char path[192];

    if (timed)
        snprintf(path, sizeof path, "/containers/%s/%s?t=%u", name, action, e->cfg.stop_timeout);
    else
        snprintf(path, sizeof path, "/containers/%s/%s", name, action);
    return request_status(e, "POST", path, timed ? (long)e->cfg.stop_timeout * 1000 : 0,
                          (const long[]){204, 304, 200, 0}, what, errbuf);
}

/* After a start or restart: the workspace must be running and have its address. */
static int running_ip(struct engine *e, const char *project_id, char *ip, char *errbuf)
{
    struct engine_workspace w;
    int rc;

    rc = engine_inspect(e, project_id, &w, errbuf);
    if (rc != 0)
        return rc;
    if (w.state != ENGINE_STATE_RUNNING) {
        errbuf_set(errbuf,
                   "the workspace container stopped right after starting (status %s); "
                   "see the engine's logs for it",
                   w.status);
        return ENGINE_E_REFUSED;
    }
    snprintf(ip, ENGINE_IP_MAX + 1, "%s", w.ip);
    return 0;
}

int engine_start(struct engine *engine, const char *project_id, char ip[ENGINE_IP_MAX + 1],
                 char *errbuf)
{
    char name[96], volume[96];
    int rc;

    ip[0] = '\0';
    if (!project_id_valid(project_id)) {
        errbuf_set(errbuf, "project id is not 1..%d of [A-Za-z0-9_.-]", ENGINE_ID_MAX);
        return ENGINE_E_INVAL;
    }
    names(project_id, name, sizeof name, volume, sizeof volume);
    rc = container_action(engine, name, "start", false, "starting the workspace", errbuf);
    if (rc == 0)
        rc = running_ip(engine, project_id, ip, errbuf);
    return rc;
}

int engine_stop(struct engine *engine, const char *project_id, char *errbuf)
{
    char name[96], volume[96];

    if (!project_id_valid(project_id)) {
        errbuf_set(errbuf, "project id is not 1..%d of [A-Za-z0-9_.-]", ENGINE_ID_MAX);
        return ENGINE_E_INVAL;
    }
    names(project_id, name, sizeof name, volume, sizeof volume);
    return container_action(engine, name, "stop", true, "stopping the workspace", errbuf);
}

int engine_remove(struct engine *engine, const char *project_id, bool purge_volume, char *errbuf)
{
    char name[96], volume[96];
    int rc, vrc;

    if (!project_id_valid(project_id)) {
        errbuf_set(errbuf, "project id is not 1..%d of [A-Za-z0-9_.-]", ENGINE_ID_MAX);
        return ENGINE_E_INVAL;
    }
    names(project_id, name, sizeof name, volume, sizeof volume);
    rc = container_remove(engine, name, errbuf);
    if (rc != 0 && rc != ENGINE_E_NOTFOUND)
        return rc;
    if (purge_volume) {
        vrc = volume_remove(engine, volume, errbuf);
        if (vrc != 0)
            return vrc;
    }
    if (rc == ENGINE_E_NOTFOUND)
        errbuf_set(errbuf, "no container %s", name);
    return rc;
}

/*
 * The file goes in first (a stopped workspace reads it at its next start);
 * a running one is restarted so code-server reads it now, and may come
 * back with another address.
 */
int engine_write_auth(struct engine *engine, const char *project_id, const char *password,
                      char ip[ENGINE_IP_MAX + 1], char *errbuf)
{
    struct engine_workspace w;
    char name[96], volume[96];
    int rc;

    ip[0] = '\0';
    rc = engine_inspect(engine, project_id, &w, errbuf);
    if (rc != 0)
        return rc;
    names(project_id, name, sizeof name, volume, sizeof volume);
    rc = auth_upload(engine, name, password, errbuf);
    if (rc != 0 || w.state != ENGINE_STATE_RUNNING)
        return rc;
    rc = container_action(engine, name, "restart", true, "restarting the workspace", errbuf);
    if (rc == 0)
        rc = running_ip(engine, project_id, ip, errbuf);
    return rc;
}

/*
 * GET /containers/json?all=true with a label filter: one call for every
 * workspace we manage. The filter is JSON in the query string.
 */
int engine_list(struct engine *engine, struct engine_workspace **out, size_t *count, char *errbuf)
{
    static const char filter[] =
        "{\"label\":[\"" ENGINE_LABEL_MANAGED_BY "=" ENGINE_MANAGED_BY "\"]}";
    struct engine_workspace *list = NULL, *w;
    json_t *root = NULL, *item;
    char path[256], *esc;
    size_t i, n = 0;
    int rc;

    *out = NULL;
    *count = 0;
    esc = curl_easy_escape(NULL, filter, 0);
    if (esc == NULL)
        return ENOMEM;
    snprintf(path, sizeof path, "/containers/json?all=true&filters=%s", esc);
    curl_free(esc);
    rc = get_json(engine, path, true, "listing workspace containers", &root, errbuf);
    if (rc != 0)
        goto out;
    if (!json_is_array(root)) {
        errbuf_set(errbuf, "listing workspace containers: the answer is not a JSON array");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    if (json_array_size(root) > 0) {
        list = ep_calloc(json_array_size(root), sizeof *list);
        if (list == NULL) {
            rc = ENOMEM;
            goto out;
        }
    }
    json_array_foreach(root, i, item)
    {
        const char *project = json_string_value(
            json_object_get(json_object_get(item, "Labels"), ENGINE_LABEL_PROJECT));

        if (!project_id_valid(project))
            continue;
        w = &list[n++];
        snprintf(w->project_id, sizeof w->project_id, "%s", project);
        copy_string(w->container_id, sizeof w->container_id, json_object_get(item, "Id"));
        state_from_status(w, json_string_value(json_object_get(item, "State")));
        ip_from_networks(
            engine, json_object_get(json_object_get(item, "NetworkSettings"), "Networks"), w->ip);
        /* A stopped container may still be listed with its last address. */
        if (w->state != ENGINE_STATE_RUNNING)
            w->ip[0] = '\0';
    }
    if (n == 0) {
        free(list);
        list = NULL;
    }
    *out = list;
    *count = n;
    list = NULL;
out:
    free(list);
    json_decref(root);
    return rc;
}

void engine_list_free(struct engine_workspace *list)
{
    free(list);
}

int engine_write_ca(struct engine *engine, const char *project_id, bool capture, char *errbuf)
{
    struct engine_tar_entry entries[3] = {{0}};
    char container[128], volume[128], *bundle = NULL, *extra = NULL;
    size_t bundle_len = 0, extra_len = 0;
    const char *dir = engine->cfg.capture_ca_dir;
    int rc;

    if (dir == NULL)
        return 0;
    if (!project_id_valid(project_id))
        return ENGINE_E_INVAL;
    names(project_id, container, sizeof container, volume, sizeof volume);
    rc = file_read(dir, capture ? "bundle.pem" : "system.pem", &bundle, &bundle_len, errbuf);
    if (rc == 0)
        rc = file_read(dir, capture ? "ca.pem" : "system.pem", &extra, &extra_len, errbuf);
    if (rc != 0)
        goto out;
    entries[0] = (struct engine_tar_entry){.name = "egress-policy-ca", .mode = 0755, .is_dir = 1};
    entries[1] = (struct engine_tar_entry){
        .name = "egress-policy-ca/bundle.pem", .data = bundle, .size = bundle_len, .mode = 0644};
    entries[2] = (struct engine_tar_entry){
        .name = "egress-policy-ca/extra.pem", .data = extra, .size = extra_len, .mode = 0644};
    rc = archive_put_n(engine, container, "/etc", entries, 3, "writing the CA files", errbuf);
out:
    free(bundle);
    free(extra);
    return rc;
}
