/*
 * The Docker Engine API plumbing both backends share (engine_client.h):
 * requests over the unix socket with libcurl, JSON with jansson, the
 * engine's error messages, the API version, archive uploads.
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

#include "api/engine_client.h"
#include "policy/error.h"

void eng_errbuf_set(char *errbuf, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, ENGINE_ERRBUF_SIZE, fmt, ap);
    va_end(ap);
}

/* Project ids become parts of container and volume names: keep them to what both allow. */
bool eng_project_id_valid(const char *id)
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

void eng_response_free(struct response *r)
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
int eng_request(const struct engine *e, const char *method, const char *path, bool versioned,
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
            eng_errbuf_set(errbuf, "container engine at %s: cannot connect: %s", e->cfg.socket_path,
                           strerror((int)os_errno));
        else
            eng_errbuf_set(errbuf, "container engine at %s: %s", e->cfg.socket_path,
                           curl_err[0] ? curl_err : curl_easy_strerror(cc));
        rc = ENGINE_E_UNREACHABLE;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
out:
    if (rc != 0)
        eng_response_free(r);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

/*
 * Copy the engine's error text into @p errbuf: the "message" member of its
 * JSON answer (dockerd and podman both send one), or the start of the raw
 * body, prefixed with @p what so the reader knows which step failed.
 */
void eng_message(const struct response *r, const char *what, char *errbuf)
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
    eng_errbuf_set(errbuf, "%s: engine answered %ld: %.*s", what, r->status, 400, msg);
    json_decref(root);
}

/* Does the engine's answer say @p words (either case)? */
bool eng_message_says(const struct response *r, const char *words)
{
    return r->data != NULL && strcasestr(r->data, words) != NULL;
}

/* Does the engine's message say a name is taken (podman's 500 for dockerd's 409)? */
bool eng_message_says_in_use(const struct response *r)
{
    return eng_message_says(r, "already in use") || eng_message_says(r, "in use by");
}

/*
 * Does it say a network is missing? dockerd: "network NAME not found";
 * podman: "unable to find network with name or ID NAME: network not found".
 */
bool eng_message_says_no_network(const struct response *r)
{
    return eng_message_says(r, "network") && eng_message_says(r, "not found");
}

/*
 * The workspace network is missing: which network and how to make it
 * (contrib/network/egress-net makes egress-ws by default), then the
 * engine's words when it said so in answer to @p what.
 */
int eng_network_missing(const struct engine *e, const struct response *r, const char *what,
                        char *errbuf)
{
    char engine_said[ENGINE_ERRBUF_SIZE] = "", name_option[160] = "";

    if (r != NULL)
        eng_message(r, what, engine_said);
    if (strcmp(e->cfg.network, ENGINE_DEFAULT_NETWORK) != 0)
        snprintf(name_option, sizeof name_option, "--network %.128s ", e->cfg.network);
    /* The remedy first: a long message from the engine may be cut at the end. */
    eng_errbuf_set(errbuf,
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
int eng_container_error(const struct engine *e, const struct response *r, const char *what,
                        char *errbuf)
{
    if (eng_message_says_no_network(r))
        return eng_network_missing(e, r, what, errbuf);
    eng_message(r, what, errbuf);
    return eng_message_says(r, "no such container") ? ENGINE_E_NOTFOUND : ENGINE_E_REFUSED;
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
 * (eng_container_error()) or the transport's error.
 */
int eng_request_status(struct engine *e, const char *method, const char *path,
                       long extra_timeout_ms, const long *ok, const char *what, char *errbuf)
{
    struct response r;
    int rc = eng_request(e, method, path, true, NULL, extra_timeout_ms, &r, errbuf);

    if (rc == 0 && !status_in(r.status, ok))
        rc = eng_container_error(e, &r, what, errbuf);
    eng_response_free(&r);
    return rc;
}

/* POST the compact JSON text of @p body (NULL: out of memory) to @p path; the answer into @p r. */
int eng_post_json(struct engine *e, const char *path, const json_t *body, struct response *r,
                  char *errbuf)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct request_body rb = {"application/json", text, text ? strlen(text) : 0};
    int rc;

    memset(r, 0, sizeof *r);
    if (text == NULL)
        return ENOMEM;
    rc = eng_request(e, "POST", path, true, &rb, 0, r, errbuf);
    free(text);
    return rc;
}

/*
 * GET @p path (under the agreed API version when @p versioned) and parse
 * its 200 answer into *@p root (NULL when it is not JSON: the caller
 * says what it expected). Any other status is the engine's refusal of
 * @p what.
 */
int eng_get_json(struct engine *e, const char *path, bool versioned, const char *what,
                 json_t **root, char *errbuf)
{
    struct response r;
    int rc = eng_request(e, "GET", path, versioned, NULL, 0, &r, errbuf);

    *root = NULL;
    if (rc == 0 && r.status != 200) {
        eng_message(&r, what, errbuf);
        rc = ENGINE_E_REFUSED;
    }
    if (rc == 0)
        *root = json_loadb(r.data, r.len, 0, NULL);
    eng_response_free(&r);
    return rc;
}

/*
 * Agree on an API version. The unversioned GET /version is answered at the
 * engine's newest version and states its range; we take our preferred
 * version clamped into [MinAPIVersion, ApiVersion]. Above our preference
 * we would rely on behaviour we have not checked; below the engine's
 * minimum it refuses every call (Docker 29 starts at 1.44).
 */
int eng_version_negotiate(struct engine *e, char *errbuf)
{
    json_t *root = NULL;
    const char *api_s, *min_s;
    int api, min, want = version_parse(ENGINE_API_PREFERRED), rc;

    rc = eng_get_json(e, "/version", false, "GET /version", &root, errbuf);
    if (rc != 0)
        goto out;
    api_s = json_string_value(json_object_get(root, "ApiVersion"));
    min_s = json_string_value(json_object_get(root, "MinAPIVersion"));
    api = version_parse(api_s);
    min = min_s ? version_parse(min_s) : version_parse(ENGINE_API_OLDEST);
    if (api < 0 || min < 0) {
        eng_errbuf_set(errbuf, "GET /version: no readable ApiVersion/MinAPIVersion");
        rc = ENGINE_E_PROTOCOL;
        goto out;
    }
    if (api < version_parse(ENGINE_API_OLDEST)) {
        eng_errbuf_set(errbuf, "the engine speaks API %s at most; egress-api needs %s or newer",
                       api_s, ENGINE_API_OLDEST);
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

/*
 * GET /networks/NAME: 200 when it exists. The engines answer 404 with
 * "network NAME not found" (dockerd) or "...: network not found" (podman)
 * when it does not; any other answer is the engine refusing.
 */
int eng_network_check(struct engine *engine, char *errbuf)
{
    struct response r;
    char path[256], *esc;
    int rc;

    esc = curl_easy_escape(NULL, engine->cfg.network, 0);
    if (esc == NULL)
        return ENOMEM;
    snprintf(path, sizeof path, "/networks/%s", esc);
    curl_free(esc);
    rc = eng_request(engine, "GET", path, true, NULL, 0, &r, errbuf);
    if (rc == 0 && r.status != 200) {
        if (eng_message_says_no_network(&r)) {
            rc = eng_network_missing(engine, NULL, NULL, errbuf);
        } else {
            eng_message(&r, "looking up the workspace network", errbuf);
            rc = ENGINE_E_REFUSED;
        }
    }
    eng_response_free(&r);
    return rc;
}

/* The content of the auth override file, malloc'd. The password is single-quoted for sh. */
char *eng_auth_content(const char *password)
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
int eng_archive_put_n(struct engine *e, const char *name, const char *dir,
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
    rc = eng_request(e, "PUT", path, true, &body, 0, &r, errbuf);
    if (rc != 0)
        goto out;
    if (r.status != 200)
        rc = eng_container_error(e, &r, what, errbuf);
out:
    if (tar != NULL) {
        explicit_bzero(tar, tar_len);
        free(tar);
    }
    curl_free(esc);
    eng_response_free(&r);
    return rc;
}

int eng_archive_put(struct engine *e, const char *name, const char *dir,
                    const struct engine_tar_entry *entry, const char *what, char *errbuf)
{
    return eng_archive_put_n(e, name, dir, entry, 1, what, errbuf);
}

/* Split an absolute path into its directory ("/" for a top-level name) and last component. */
void eng_path_split(const char *path, char *dir, size_t dir_size, const char **base)
{
    const char *slash = strrchr(path, '/');
    size_t n = (size_t)(slash - path);

    if (n == 0)
        n = 1;
    snprintf(dir, dir_size, "%.*s", (int)n, path);
    *base = slash + 1;
}

/* Upload the auth override file for @p password into container @p name. */
int eng_auth_upload(struct engine *e, const char *name, const char *password, char *errbuf)
{
    struct engine_tar_entry entry = {0};
    char dir[512], *content;
    int rc;

    content = eng_auth_content(password);
    if (content == NULL)
        return ENOMEM;
    eng_path_split(e->cfg.auth_path, dir, sizeof dir, &entry.name);
    entry.data = content;
    entry.size = strlen(content);
    entry.mode = 0600;
    entry.uid = e->cfg.uid;
    entry.gid = e->cfg.gid;
    rc = eng_archive_put(e, name, dir, &entry, "writing the auth file", errbuf);
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
int eng_file_read(const char *dir, const char *name, char **out, size_t *len, char *errbuf)
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
        eng_errbuf_set(errbuf, "cannot read %s: %s (make it with egress-ca create)", path,
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
        eng_errbuf_set(errbuf, "cannot read %s", path);
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
int eng_project_dir_own(struct engine *e, const char *name, char *errbuf)
{
    struct engine_tar_entry entry = {0};
    char dir[512];
    const char *base;

    eng_path_split(e->cfg.project_dir, dir, sizeof dir, &base);
    if (base[0] == '\0')
        return 0;
    entry.name = base;
    entry.is_dir = 1;
    entry.mode = 0755;
    entry.uid = e->cfg.uid;
    entry.gid = e->cfg.gid;
    return eng_archive_put(e, name, dir, &entry, "preparing the project directory", errbuf);
}

/* json_array_append_new for strings, reporting allocation failure. */
int eng_array_add(json_t *array, const char *s)
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
    if (eng_array_add(env, buf) != 0)
        return ENOMEM;
    snprintf(buf, sizeof buf, "%s=%s", lower, value);
    return eng_array_add(env, buf);
}

/* Copy a JSON string member into a fixed buffer ("" when absent). */
void eng_copy_string(char *dst, size_t size, json_t *v)
{
    const char *s = json_string_value(v);

    snprintf(dst, size, "%s", s ? s : "");
}

/*
 * The workspace's IP from a NetworkSettings.Networks object: the configured
 * network's address, or the first non-empty one if the container sits on
 * another network (e.g. NetworkMode "default" is reported as "bridge").
 */
void eng_ip_from_networks(const struct engine *e, json_t *networks, char *ip)
{
    const char *key;
    json_t *net;

    ip[0] = '\0';
    eng_copy_string(ip, ENGINE_IP_MAX + 1,
                    json_object_get(json_object_get(networks, e->cfg.network), "IPAddress"));
    if (ip[0] != '\0')
        return;
    json_object_foreach(networks, key, net)
    {
        eng_copy_string(ip, ENGINE_IP_MAX + 1, json_object_get(net, "IPAddress"));
        if (ip[0] != '\0')
            return;
    }
}

void eng_state_from_status(struct engine_workspace *w, const char *status)
{
    snprintf(w->status, sizeof w->status, "%s", status ? status : "");
    w->state =
        status && strcmp(status, "running") == 0 ? ENGINE_STATE_RUNNING : ENGINE_STATE_STOPPED;
}

/*
 * The environment of every workspace: the proxy variables (upper- and
 * lowercase), NO_PROXY, and the CA variables when capture is configured.
 * No secret ever goes here (the password is a file). NULL: out of memory.
 */
json_t *eng_workspace_env(const struct engine *e)
{
    const struct engine_config *c = &e->cfg;
    json_t *env = json_array();
    int err = env == NULL ? ENOMEM : 0;

    if (!err && c->proxy_url != NULL)
        err = env_add_both(env, "HTTP_PROXY", c->proxy_url);
    if (!err && c->proxy_url != NULL)
        err = env_add_both(env, "HTTPS_PROXY", c->proxy_url);
    if (!err && c->no_proxy != NULL)
        err = env_add_both(env, "NO_PROXY", c->no_proxy);
    if (!err && c->capture_ca_dir != NULL)
        err = ca_env(env);
    if (err) {
        json_decref(env);
        return NULL;
    }
    return env;
}

/* A JSON array of the NULL-terminated @p items (NULL items: an empty array); NULL on ENOMEM. */
json_t *eng_string_array(const char *const *items)
{
    json_t *array = json_array();
    size_t i;

    for (i = 0; array != NULL && items != NULL && items[i] != NULL; i++)
        if (eng_array_add(array, items[i]) != 0) {
            json_decref(array);
            return NULL;
        }
    return array;
}

/* The engine's names of a project's workspace: container (or service) and volume. */
void eng_names(const char *project_id, char *container, size_t csize, char *volume, size_t vsize)
{
    snprintf(container, csize, "workspace-%s", project_id);
    snprintf(volume, vsize, "workspace_data_%s", project_id);
}
