/*
 * The review page's files, served from one directory. A request path is
 * checked segment by segment (no empty, ".", ".." or hidden segments, only
 * a plain set of characters; MHD has already percent-decoded it, so
 * "%2e%2e" arrives as ".." and is refused), then resolved with realpath and
 * served only if the result is a regular file inside the directory, which
 * also refuses symlinks that lead out of it. Answers are revalidated on
 * every use (Cache-Control: no-cache) against an ETag made of the file's
 * size and modification time, so a new install is seen at once and an
 * unchanged file costs a 304.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/log.h"
#include "api/static.h"

#define STATIC_PATH_MAX 256

/* The page loads only its own files and talks only to its own origin. */
#define STATIC_CSP                                                                                 \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "                 \
    "frame-ancestors 'none'"

static char static_root[PATH_MAX];
static size_t static_root_len;
static bool static_on;

int static_init(const char *dir, bool given)
{
    struct stat sb;

    static_on = false;
    if (dir == NULL) {
        log_line("ui: off (--no-ui)");
        return 0;
    }
    if (realpath(dir, static_root) == NULL || stat(static_root, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        if (given) {
            fprintf(stderr, "egress-api: --ui-dir %s: %s\n", dir,
                    errno ? strerror(errno) : "not a directory");
            return -1;
        }
        log_line("ui: off: no page files at %s (--ui-dir names them)", dir);
        return 0;
    }
    static_root_len = strlen(static_root);
    static_on = true;
    log_line("ui: serving %s at /", static_root);
    return 0;
}

bool static_wants(const char *method, const char *url)
{
    if (!static_on || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
        return false;
    if (strcmp(url, "/api") == 0 || strncmp(url, "/api/", 5) == 0)
        return false;
    return strcmp(url, "/metrics") != 0 && strcmp(url, "/metrics/") != 0;
}

/* The Content-Type of a file, from its extension. */
static const char *content_type(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".png", "image/png"},
        {".svg", "image/svg+xml"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {NULL, NULL},
    };
    const char *dot = strrchr(path, '.');

    for (int i = 0; dot && types[i].ext; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/*
 * Whether @p url is a path the UI may serve: "/" or segments of
 * [A-Za-z0-9._-] that are not empty and do not start with a dot.
 */
static bool path_ok(const char *url)
{
    const char *s = url;

    if (s[0] != '/' || strlen(s) > STATIC_PATH_MAX)
        return false;
    if (s[1] == '\0')
        return true;
    while (*s == '/') {
        size_t n;

        s++;
        n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
        if (n == 0 || s[0] == '.')
            return false;
        s += n;
    }
    return *s == '\0';
}

static void add_page_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy", STATIC_CSP);
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "strict-origin-when-cross-origin");
}

/* Queue an answer with no file behind it (404 JSON, or an empty 304). */
static int reply_small(struct MHD_Connection *conn, unsigned status, const char *etag,
                       unsigned *sent)
{
    static const char not_found[] =
        "{\"error\":\"not_found\",\"message\":\"no such file in the review page\"}\n";
    const char *body = status == 404 ? not_found : "";
    struct MHD_Response *resp;
    int ret;

    resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    add_page_headers(resp);
    if (status == 404) {
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    } else {
        MHD_add_response_header(resp, "ETag", etag);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
    }
    *sent = status;
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int static_serve(struct MHD_Connection *conn, const char *url, unsigned *status)
{
    char want[PATH_MAX], real[PATH_MAX], etag[64];
    const char *match;
    struct MHD_Response *resp;
    struct stat sb;
    int fd = -1, ret;

    if (!path_ok(url))
        return reply_small(conn, 404, NULL, status);
    if (snprintf(want, sizeof want, "%s%s", static_root,
                 strcmp(url, "/") == 0 ? "/index.html" : url) >= (int)sizeof want)
        return reply_small(conn, 404, NULL, status);
    /* Resolve every symlink, then insist on staying inside the directory. */
    if (realpath(want, real) == NULL || strncmp(real, static_root, static_root_len) != 0 ||
        real[static_root_len] != '/')
        return reply_small(conn, 404, NULL, status);
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        return reply_small(conn, 404, NULL, status);
    }
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)sb.st_mtim.tv_nsec);
    match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    if (match && strstr(match, etag) != NULL) {
        close(fd);
        return reply_small(conn, 304, etag, status);
    }
    resp = MHD_create_response_from_fd((size_t)sb.st_size, fd); /* owns fd now */
    if (resp == NULL) {
        close(fd);
        return MHD_NO;
    }
    add_page_headers(resp);
    MHD_add_response_header(resp, "Content-Type", content_type(real));
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "ETag", etag);
    *status = 200;
    ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
