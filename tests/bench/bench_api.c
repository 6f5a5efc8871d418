/*
 * Benchmark of egress-api on a large store: 10,000 projects and 100,000
 * recorded hosts (10,000 of them in one teacher project, 9 in each of the
 * others), seeded directly through the policy API, then the real daemon
 * on a random loopback port driven over one keep-alive libcurl connection.
 *
 * Measures, each many times: GET /api/health (the baseline: routing, MHD
 * and the client, no store work); what the review page asks (a page of
 * 100 projects, a page of 100 of the teacher's recorded hosts, an
 * unchanged poll answered 304); list all projects, read all the teacher's
 * recorded domains, promote 1,000 hosts. Prints p50 and p99 latencies and
 * their ratios to the baseline of the same run.
 *
 * Usage: bench_api [--projects N] [--hosts-per-project N] [--teacher-hosts N]
 *                  [--promote N] [--rounds N]
 * Needs top_builddir (or runs from the build directory).
 */
#include "config.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy/store.h"

#define TOKEN "bench-admin-token-0123456789abcdef"

static unsigned n_projects = 10000, hosts_per_project = 9, teacher_hosts = 10009, promote_n = 1000,
                rounds = 30;
static char dir[256], db[300], log_path[300];
static unsigned port;
static pid_t daemon_pid;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_api: %s: %s\n", what, err ? ep_strerror(err) : "failed");
    if (daemon_pid > 0)
        kill(daemon_pid, SIGKILL);
    exit(99);
}

/* Seed the store: projects, then seen records in batches of one transaction each. */
static void seed(void)
{
    struct ep_store_options opts = {.map_size = (size_t)4 << 30, .max_readers = 1024};
    struct ep_seen_delta *batch;
    struct ep_store *store;
    static char hosts[8192][48];
    size_t n = 0;
    double t0 = now_ms();
    int err;

    err = ep_store_open(db, &opts, &store);
    if (err)
        die("open the store", err);
    batch = calloc(8192, sizeof *batch);
    if (batch == NULL)
        die("memory", 0);
    for (unsigned i = 0; i < n_projects; i++) {
        struct ep_project p;

        memset(&p, 0, sizeof p);
        snprintf(p.id, sizeof p.id, "p%07u", i);
        snprintf(p.name, sizeof p.name, "Workspace %u", i);
        snprintf(p.type, sizeof p.type, "empty");
        snprintf(p.profile, sizeof p.profile, "course%u", i % 20);
        p.mode = i == 0 ? EP_MODE_LOGGING : EP_MODE_SECURITY;
        p.created_at = 1714564800 + i;
        err = ep_store_project_create(store, &p, 0);
        if (err)
            die("create a project", err);
    }
    for (unsigned i = 0; i < n_projects; i++) {
        unsigned count = i == 0 ? teacher_hosts : hosts_per_project;
        char id[16];

        snprintf(id, sizeof id, "p%07u", i);
        for (unsigned j = 0; j < count; j++) {
            static char ids[8192][16];

            snprintf(ids[n], sizeof ids[n], "%s", id);
            snprintf(hosts[n], sizeof hosts[n], "h%u.site%u.example.org", j, j % 500);
            batch[n] =
                (struct ep_seen_delta){ids[n], hosts[n], 2, j % 3 == 0, 1714564800, 1714568400, 1};
            if (++n == 8192) {
                err = ep_store_seen_add(store, batch, n);
                if (err)
                    die("record hosts", err);
                n = 0;
            }
        }
    }
    if (n && (err = ep_store_seen_add(store, batch, n)) != 0)
        die("record hosts", err);
    free(batch);
    ep_store_close(store);
    printf("seeded %u projects and %u recorded hosts in %.1f s\n", n_projects,
           teacher_hosts + (n_projects - 1) * hosts_per_project, (now_ms() - t0) / 1e3);
}

static void start_daemon(void)
{
    const char *top = getenv("top_builddir");
    char bin[1024], line[512];

    snprintf(bin, sizeof bin, "%s/api/egress-api", top ? top : ".");
    daemon_pid = fork();
    if (daemon_pid < 0)
        die("fork", 0);
    if (daemon_pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(99);
        setenv("EGRESS_ADMIN_TOKEN", TOKEN, 1);
        execl(bin, bin, "--db", db, "--listen", "127.0.0.1:0", "--map-size", "4g", "--max-readers",
              "1024", "--bcrypt-cost", "10", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 2000 && port == 0; i++) {
        FILE *f = fopen(log_path, "r");

        while (f && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "listening on 127.0.0.1:");

            if (p)
                port = (unsigned)atoi(p + strlen("listening on 127.0.0.1:"));
        }
        if (f)
            fclose(f);
        if (waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid)
            die("egress-api exited at start (see its log)", 0);
        usleep(10000);
    }
    if (port == 0)
        die("egress-api did not start", 0);
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    *(size_t *)u += s * n;
    return s * n;
}

/* One timed request on the shared connection; exits on an unexpected status. */
static double timed(CURL *c, const char *method, const char *path, const char *body, size_t *bytes)
{
    char url[512];
    long status = 0;
    double t0;

    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
    curl_easy_setopt(c, CURLOPT_HTTPGET, body ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, bytes);
    t0 = now_ms();
    if (curl_easy_perform(c) != CURLE_OK)
        die(path, 0);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        fprintf(stderr, "bench_api: %s %s answered %ld\n", method, path, status);
        die("unexpected status", 0);
    }
    return now_ms() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned n, double p)
{
    unsigned i = (unsigned)(p * (n - 1) + 0.5);

    return v[i];
}

static double base_p99;

static double report(const char *name, double *v, unsigned n, size_t bytes, double base)
{
    double p50, p99;

    qsort(v, n, sizeof *v, cmp_double);
    p50 = pct(v, n, 0.50);
    p99 = pct(v, n, 0.99);
    if (base <= 0)
        base_p99 = p99;
    printf("%-40s %9.2f %9.2f %10.1f %10.1f %12zu\n", name, p50, p99, base > 0 ? p50 / base : 1.0,
           base > 0 ? p99 / base_p99 : 1.0, bytes / n);
    return p50;
}

/* A GET with one extra header, expecting @p want (200 or 304); the time in ms. */
static double timed_get(CURL *c, const char *path, const char *header, long want, size_t *bytes)
{
    struct curl_slist *hl = NULL;
    char url[512];
    long status = 0;
    double t0;

    hl = curl_slist_append(hl, "Authorization: Bearer " TOKEN);
    if (header)
        hl = curl_slist_append(hl, header);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, bytes);
    t0 = now_ms();
    if (curl_easy_perform(c) != CURLE_OK)
        die(path, 0);
    t0 = now_ms() - t0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (status != want) {
        fprintf(stderr, "bench_api: GET %s answered %ld, not %ld\n", path, status, want);
        die("unexpected status", 0);
    }
    return t0;
}

/* The ETag of one answer to GET @p path. */
static void etag_of(const char *path, char *out, size_t n)
{
    char cmd[1024];
    FILE *f;

    snprintf(cmd, sizeof cmd,
             "curl -s --noproxy '*' -D - -o /dev/null -H 'Authorization: Bearer %s' "
             "'http://127.0.0.1:%u%s' | sed -n 's/^ETag: \\(.*\\)\\r$/\\1/p'",
             TOKEN, port, path);
    out[0] = '\0';
    f = popen(cmd, "r");
    if (f == NULL || fgets(out, (int)n, f) == NULL)
        die("read an ETag", 0);
    out[strcspn(out, "\n")] = '\0';
    pclose(f);
}

/*
 * What the review page asks: a page of 100 projects (first and middle of
 * 10,000), a page of 100 of the teacher's recorded hosts, and an unchanged
 * poll of the whole listing (304). Each p99 against the health baseline.
 */
static void bench_pages(CURL *c, double *lat, double base)
{
    static const struct {
        const char *name, *path;
    } pages[] = {
        {"GET /api/projects?limit=100", "/api/projects?limit=100"},
        {"GET /api/projects?limit=100&offset=5000", "/api/projects?limit=100&offset=5000"},
        {"GET /api/projects?limit=100&after=(5000)", "/api/projects?limit=100&after=p0005000"},
        {"GET recorded ?limit=100 (of 10k)",
         "/api/projects/p0000000/recorded-domains?limit=100&coverage=1"},
        {"GET recorded ?limit=100&offset=9000",
         "/api/projects/p0000000/recorded-domains?limit=100&offset=9000&coverage=1"},
        {"GET recorded ?limit=100&after=(middle)",
         "/api/projects/p0000000/recorded-domains?limit=100&after=h5000.site0.example.org&"
         "coverage=1"},
        {NULL, NULL},
    };
    const char *poll = "/api/projects/p0000000/recorded-domains?coverage=1";
    char etag[96], header[128];
    size_t bytes;

    for (int p = 0; pages[p].name; p++) {
        bytes = 0;
        for (unsigned i = 0; i < rounds * 10; i++)
            lat[i] = timed_get(c, pages[p].path, NULL, 200, &bytes);
        report(pages[p].name, lat, rounds * 10, bytes, base);
    }
    etag_of(poll, etag, sizeof etag);
    snprintf(header, sizeof header, "If-None-Match: %s", etag);
    bytes = 0;
    for (unsigned i = 0; i < rounds * 10; i++)
        lat[i] = timed_get(c, poll, header, 304, &bytes);
    report("poll recorded, unchanged (304)", lat, rounds * 10, bytes, base);
}

int main(int argc, char **argv)
{
    struct curl_slist *hl = NULL;
    double *lat;
    double base;
    size_t bytes;
    char *body;
    CURL *c;
    int st;

    for (int i = 1; i + 1 < argc; i += 2) {
        unsigned v = (unsigned)strtoul(argv[i + 1], NULL, 10);

        if (strcmp(argv[i], "--projects") == 0)
            n_projects = v;
        else if (strcmp(argv[i], "--hosts-per-project") == 0)
            hosts_per_project = v;
        else if (strcmp(argv[i], "--teacher-hosts") == 0)
            teacher_hosts = v;
        else if (strcmp(argv[i], "--promote") == 0)
            promote_n = v;
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = v;
        else {
            fprintf(stderr, "bench_api: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (n_projects < 1 || rounds < 2 || promote_n < 1 || promote_n > 100000)
        return 2;
    snprintf(dir, sizeof dir, "%s/ep-bench-api-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", 0);
    snprintf(db, sizeof db, "%s/db", dir);
    snprintf(log_path, sizeof log_path, "%s/egress-api.log", dir);
    mkdir(db, 0700);
    seed();
    start_daemon();

    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    hl = curl_slist_append(hl, "Authorization: Bearer " TOKEN);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    lat = calloc(rounds * 10, sizeof *lat);
    body = malloc((size_t)promote_n * 48 + 64);
    if (c == NULL || lat == NULL || body == NULL)
        die("memory", 0);

    printf("%-40s %9s %9s %10s %10s %12s\n", "request", "p50 ms", "p99 ms", "p50/health",
           "p99/health", "bytes");
    bytes = 0;
    for (unsigned i = 0; i < rounds * 10; i++)
        lat[i] = timed(c, "GET", "/api/health", NULL, &bytes);
    base = report("GET /api/health (baseline)", lat, rounds * 10, bytes, 0);

    bench_pages(c, lat, base);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);

    bytes = 0;
    for (unsigned i = 0; i < rounds; i++)
        lat[i] = timed(c, "GET", "/api/projects", NULL, &bytes);
    report("GET /api/projects (10k)", lat, rounds, bytes, base);

    bytes = 0;
    for (unsigned i = 0; i < rounds; i++)
        lat[i] = timed(c, "GET", "/api/projects/p0000000/recorded-domains", NULL, &bytes);
    report("GET recorded-domains (teacher)", lat, rounds, bytes, base);

    bytes = 0;
    for (unsigned i = 0; i < rounds * 10; i++)
        lat[i] = timed(c, "GET", "/api/projects/p0000001/recorded-domains", NULL, &bytes);
    report("GET recorded-domains (student)", lat, rounds * 10, bytes, base);

    /* Each round promotes promote_n hosts none of the earlier rounds did. */
    bytes = 0;
    for (unsigned i = 0; i < rounds; i++) {
        size_t n = (size_t)sprintf(body, "{\"form\": \"exact\", \"domains\": [");

        for (unsigned j = 0; j < promote_n; j++)
            n += (size_t)sprintf(body + n, "%s\"h%u.r%u.example.org\"", j ? ", " : "", j, i);
        sprintf(body + n, "]}");
        lat[i] = timed(c, "POST", "/api/projects/p0000000/recorded-domains/promote", body, &bytes);
    }
    report("POST promote (1,000 hosts)", lat, rounds, bytes, base);

    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    curl_global_cleanup();
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, &st, 0);
    free(lat);
    free(body);
    if (getenv("TEST_KEEP") == NULL) {
        char cmd[400];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
