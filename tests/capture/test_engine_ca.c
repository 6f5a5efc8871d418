/*
 * The capture CA in workspace containers (api/engine.c) against a real
 * engine started by test-engine-ca.sh (ENGINE_SOCKET, ENGINE_IMAGE,
 * ENGINE_NETWORK): with --capture-ca every workspace gets the trust
 * variables, and engine_write_ca() gives a logging workspace the bundle
 * with the capture CA and any other the system bundle alone. Read back
 * through the engine's own API (inspect, archive), not through the client.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api/engine.h"
#include "tests/lib/testutil.h"

static const char *sock;

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

static long raw_get(const char *path, struct buf *out)
{
    char url[1024];
    long status = 0;
    CURL *c = curl_easy_init();

    REQUIRE(c != NULL);
    memset(out, 0, sizeof *out);
    snprintf(url, sizeof url, "http://localhost%s", path);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    REQUIRE(curl_easy_perform(c) == CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

/* The content of one file of a container, through the archive API ("" when absent). */
static char *container_file(const char *container, const char *file)
{
    char path[512];
    struct buf b;
    char *out;
    size_t size;

    snprintf(path, sizeof path, "/containers/%s/archive?path=%s", container, file);
    if (raw_get(path, &b) != 200 || b.len < 1024) {
        free(b.data);
        return strdup("");
    }
    size = strtoul(b.data + 124, NULL, 8);
    REQUIRE(512 + size <= b.len);
    out = malloc(size + 1);
    REQUIRE(out != NULL);
    memcpy(out, b.data + 512, size);
    out[size] = '\0';
    free(b.data);
    return out;
}

/* The container's environment, joined by newlines. */
static char *container_env(const char *container)
{
    char path[256], *out;
    struct buf b;
    json_t *j, *v;
    size_t i, n = 0;

    snprintf(path, sizeof path, "/containers/%s/json", container);
    REQUIRE(raw_get(path, &b) == 200);
    j = json_loadb(b.data, b.len, 0, NULL);
    REQUIRE(j != NULL);
    out = calloc(1, 8192);
    REQUIRE(out != NULL);
    json_array_foreach(json_object_get(json_object_get(j, "Config"), "Env"), i, v) n +=
        (size_t)snprintf(out + n, n < 8192 ? 8192 - n : 0, "%s\n", json_string_value(v));
    json_decref(j);
    free(b.data);
    return out;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static struct engine *open_engine(const char *ca_dir)
{
    struct engine_config cfg;
    struct engine *e = NULL;
    char err[ENGINE_ERRBUF_SIZE] = "";

    engine_config_defaults(&cfg);
    cfg.socket_path = sock;
    cfg.image = getenv("ENGINE_IMAGE");
    cfg.network = getenv("ENGINE_NETWORK");
    cfg.memory_default = 128ULL << 20;
    cfg.nano_cpus_default = 250000000ULL;
    cfg.tmp_size = "16m";
    cfg.stop_timeout = 2;
    cfg.capture_ca_dir = ca_dir;
    if (engine_open(&cfg, &e, err) != 0)
        fprintf(stderr, "engine_open: %s\n", err);
    REQUIRE(e != NULL);
    return e;
}

int main(void)
{
    char ca_dir[512], container[ENGINE_CONTAINER_MAX + 1], err[ENGINE_ERRBUF_SIZE] = "";
    struct engine *e, *plain;
    char *env, *bundle, *extra;

    sock = getenv("ENGINE_SOCKET");
    REQUIRE(sock && getenv("ENGINE_IMAGE") && getenv("ENGINE_NETWORK"));
    snprintf(ca_dir, sizeof ca_dir, "%s", test_tmpdir());
    write_file(ca_dir, "ca.pem", "CAPTURE-CA\n");
    write_file(ca_dir, "bundle.pem", "SYSTEM-BUNDLE\nCAPTURE-CA\n");
    write_file(ca_dir, "system.pem", "SYSTEM-BUNDLE\n");
    e = open_engine(ca_dir);
    plain = open_engine(NULL);

    /* With a CA directory: the variables, and the files by mode. */
    REQUIRE(engine_create(e, "ca-log", 0, 0, NULL, container, err) == 0);
    env = container_env("workspace-ca-log");
    CHECK(strstr(env, "SSL_CERT_FILE=" ENGINE_CA_DIR "/bundle.pem\n") != NULL);
    CHECK(strstr(env, "REQUESTS_CA_BUNDLE=" ENGINE_CA_DIR "/bundle.pem\n") != NULL);
    CHECK(strstr(env, "NODE_EXTRA_CA_CERTS=" ENGINE_CA_DIR "/extra.pem\n") != NULL);
    free(env);
    CHECK_INT(engine_write_ca(e, "ca-log", true, err), 0);
    bundle = container_file("workspace-ca-log", ENGINE_CA_DIR "/bundle.pem");
    extra = container_file("workspace-ca-log", ENGINE_CA_DIR "/extra.pem");
    CHECK_STR(bundle, "SYSTEM-BUNDLE\nCAPTURE-CA\n");
    CHECK_STR(extra, "CAPTURE-CA\n");
    free(bundle);
    free(extra);
    /* The mode changes to security: the CA goes. */
    CHECK_INT(engine_write_ca(e, "ca-log", false, err), 0);
    bundle = container_file("workspace-ca-log", ENGINE_CA_DIR "/bundle.pem");
    extra = container_file("workspace-ca-log", ENGINE_CA_DIR "/extra.pem");
    CHECK_STR(bundle, "SYSTEM-BUNDLE\n");
    CHECK_STR(extra, "SYSTEM-BUNDLE\n");
    CHECK(strstr(bundle, "CAPTURE-CA") == NULL);
    free(bundle);
    free(extra);
    /* A missing CA file is an error that names it. */
    {
        char path[600];

        snprintf(path, sizeof path, "%s/ca.pem", ca_dir);
        REQUIRE(remove(path) == 0);
        CHECK_INT(engine_write_ca(e, "ca-log", true, err), ENGINE_E_INVAL);
        CHECK(strstr(err, "ca.pem") != NULL);
    }
    CHECK_INT(engine_remove(e, "ca-log", true, err), 0);

    /* Without: no variables, nothing written. */
    REQUIRE(engine_create(plain, "ca-none", 0, 0, NULL, container, err) == 0);
    env = container_env("workspace-ca-none");
    CHECK(strstr(env, "SSL_CERT_FILE") == NULL);
    CHECK(strstr(env, "NODE_EXTRA_CA_CERTS") == NULL);
    free(env);
    CHECK_INT(engine_write_ca(plain, "ca-none", true, err), 0);
    bundle = container_file("workspace-ca-none", ENGINE_CA_DIR "/bundle.pem");
    CHECK_STR(bundle, "");
    free(bundle);
    CHECK_INT(engine_remove(plain, "ca-none", true, err), 0);

    engine_close(e);
    engine_close(plain);
    return test_exit();
}
