/*
 * Benchmark of accounts (issue 19): sign-in, and a teacher's authorised
 * listing against the admin token's listing, in the same run.
 *
 * The store gets 2,000 projects in 20 courses (100 each) through the
 * policy API; the real daemon (default bcrypt cost 12) is started on a
 * random loopback port; a teacher account owning course0 is made through
 * the API, with a personal API token and a session. Then, interleaved:
 *
 *   sign-in          POST /api/session (bcrypt of the password included)
 *   admin listing    GET /api/projects?limit=100 with the token file's token (today's way)
 *   teacher, token   the same with the teacher's API token (its 100 projects)
 *   teacher, session the same with the teacher's session cookie
 *
 * Prints p50 and p99 of each and the listings' ratios to the admin's.
 * Usage: bench_accounts [--rounds N] [--signins N]; needs top_builddir
 * (or runs from the build directory).
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

#define TOKEN    "bench-admin-token-0123456789abcdef"
#define PASSWORD "bench-teacher-pass"
#define PROJECTS 2000

static unsigned rounds = 300, signins = 40;
static char dir[256], db[300], log_path[300];
static unsigned port;
static pid_t daemon_pid;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_accounts: %s\n", what);
    if (daemon_pid > 0)
        kill(daemon_pid, SIGKILL);
    exit(99);
}

static void seed(void)
{
    struct ep_store *store;

    if (ep_store_open(db, NULL, &store) != 0)
        die("cannot open the store");
    for (unsigned i = 0; i < PROJECTS; i++) {
        struct ep_project p;

        memset(&p, 0, sizeof p);
        snprintf(p.id, sizeof p.id, "p%07u", i);
        snprintf(p.name, sizeof p.name, "Workspace %u", i);
        snprintf(p.type, sizeof p.type, "empty");
        snprintf(p.profile, sizeof p.profile, "course%u", i % 20);
        p.mode = EP_MODE_SECURITY;
        p.created_at = 1714564800 + i;
        if (ep_store_project_create(store, &p, 0) != 0)
            die("cannot create a project");
    }
    ep_store_close(store);
}

static void start_daemon(void)
{
    const char *top = getenv("top_builddir");
    char bin[1024], line[512];

    snprintf(bin, sizeof bin, "%s/api/egress-api", top ? top : ".");
    daemon_pid = fork();
    if (daemon_pid < 0)
        die("fork");
    if (daemon_pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(99);
        setenv("EGRESS_ADMIN_TOKEN", TOKEN, 1);
        execl(bin, bin, "--db", db, "--listen", "127.0.0.1:0", "--no-containers", "--no-ui",
              (char *)NULL);
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
            die("egress-api exited at start (see its log)");
        usleep(10000);
    }
    if (port == 0)
        die("egress-api did not start");
}

struct answer {
    char text[65536];
    size_t len;
    char cookie[200];
};

static size_t take(char *p, size_t s, size_t n, void *u)
{
    struct answer *a = u;
    size_t k = s * n;

    if (a->len + k < sizeof a->text) {
        memcpy(a->text + a->len, p, k);
        a->len += k;
        a->text[a->len] = '\0';
    }
    return k;
}

static size_t header(char *p, size_t s, size_t n, void *u)
{
    struct answer *a = u;

    if (strncasecmp(p, "Set-Cookie: ", 12) == 0)
        snprintf(a->cookie, sizeof a->cookie, "%.*s", (int)strcspn(p + 12, ";\r\n"), p + 12);
    return s * n;
}

/* One request on @p c with @p auth ("Authorization: …" or "Cookie: …", or NULL); its time in ms. */
static double call(CURL *c, const char *method, const char *path, const char *auth,
                   const char *body, long want, struct answer *a)
{
    struct curl_slist *h = NULL;
    char url[512];
    long status = 0;
    double t0;

    a->len = 0;
    a->text[0] = '\0';
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    if (auth)
        h = curl_slist_append(h, auth);
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    t0 = now_ms();
    if (curl_easy_perform(c) != CURLE_OK)
        die(path);
    t0 = now_ms() - t0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (status != want) {
        fprintf(stderr, "%s %s: %ld %s\n", method, path, status, a->text);
        die("unexpected status");
    }
    return t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(unsigned)(p * (n - 1) + 0.5)];
}

/* The value of "member": "…" in @p json, into @p out. */
static void member(const char *json, const char *name, char *out, size_t size)
{
    char key[64];
    const char *p;

    snprintf(key, sizeof key, "\"%s\":\"", name);
    p = strstr(json, key);
    if (p == NULL)
        die("a member is missing from an answer");
    p += strlen(key);
    snprintf(out, size, "%.*s", (int)strcspn(p, "\""), p);
}

int main(int argc, char **argv)
{
    static struct answer a;
    char admin[128], bearer[160], cookie[220], token[128];
    double *t_sign, *t_admin, *t_token, *t_session;
    CURL *c;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--signins") == 0)
            signins = (unsigned)atoi(argv[i + 1]);
    }
    snprintf(dir, sizeof dir, "%s/bench-accounts-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    snprintf(db, sizeof db, "%s/db", dir);
    snprintf(log_path, sizeof log_path, "%s/api.log", dir);
    mkdir(db, 0700);
    seed();
    start_daemon();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    snprintf(admin, sizeof admin, "Authorization: Bearer %s", TOKEN);
    call(c, "POST", "/api/accounts", admin, "{\"name\":\"teacher\",\"password\":\"" PASSWORD "\"}",
         201, &a);
    call(c, "PUT", "/api/courses/course0", admin, "{\"owners\":[\"teacher\"]}", 200, &a);
    call(c, "POST", "/api/accounts/teacher/tokens", admin, "{\"name\":\"bench\"}", 201, &a);
    member(a.text, "token", token, sizeof token);
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", token);

    t_sign = calloc(signins, sizeof *t_sign);
    t_admin = calloc(rounds, sizeof *t_admin);
    t_token = calloc(rounds, sizeof *t_token);
    t_session = calloc(rounds, sizeof *t_session);
    if (!t_sign || !t_admin || !t_token || !t_session)
        die("memory");
    for (unsigned i = 0; i < signins; i++) {
        t_sign[i] = call(c, "POST", "/api/session", NULL,
                         "{\"name\":\"teacher\",\"password\":\"" PASSWORD "\"}", 200, &a);
        snprintf(cookie, sizeof cookie, "Cookie: %s", a.cookie);
    }
    for (unsigned i = 0; i < rounds; i++) {
        t_admin[i] = call(c, "GET", "/api/projects?limit=100", admin, NULL, 200, &a);
        t_token[i] = call(c, "GET", "/api/projects?limit=100", bearer, NULL, 200, &a);
        if (strstr(a.text, "\"count\":100") == NULL)
            die("the teacher's page is not 100 projects");
        t_session[i] = call(c, "GET", "/api/projects?limit=100", cookie, NULL, 200, &a);
    }
    {
        double a50 = pct(t_admin, rounds, .5), a99 = pct(t_admin, rounds, .99);
        double k50 = pct(t_token, rounds, .5), k99 = pct(t_token, rounds, .99);
        double s50 = pct(t_session, rounds, .5), s99 = pct(t_session, rounds, .99);

        printf("%u projects in 20 courses; %u sign-ins, %u rounds of listings (page of 100)\n",
               PROJECTS, signins, rounds);
        printf("%-34s %9s %9s %8s\n", "", "p50 ms", "p99 ms", "p99 x");
        printf("%-34s %9.2f %9.2f\n", "sign-in (bcrypt cost 12)", pct(t_sign, signins, .5),
               pct(t_sign, signins, .99));
        printf("%-34s %9.3f %9.3f %8.2f\n", "listing, admin token (baseline)", a50, a99, 1.0);
        printf("%-34s %9.3f %9.3f %8.2f\n", "listing, teacher API token", k50, k99, k99 / a99);
        printf("%-34s %9.3f %9.3f %8.2f\n", "listing, teacher session cookie", s50, s99, s99 / a99);
    }
    curl_easy_cleanup(c);
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, NULL, 0);
    {
        char cmd[400];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
