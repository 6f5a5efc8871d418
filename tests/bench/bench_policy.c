/*
 * Policy core benchmark: the cost of one decision (ep_decide) for
 * whitelists of 10, 10,000 and 1,000,000 rules, and the recording
 * throughput of the batcher with its flush thread. Prints figures and
 * ratios against the 10-rule case of the same run; asserts nothing about
 * time, but exits 1 if a decision is wrong or a count is not exact.
 *
 *   build/tests/bench/bench_policy [lookups]     (default 200000)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy/decide.h"
#include "policy/recorder.h"
#include "policy/store.h"

#define BATCH       100 /* lookups timed together */
#define HOSTSET     4096
#define HOTSET      64
#define CHUNK       100000
#define REC_THREADS 4
#define REC_NOTES   1000000 /* per thread */
#define REC_HOSTS   1000

static char workdir[256];

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_policy: %s: %s\n", what, ep_strerror(rc));
    exit(1);
}

static struct ep_store *open_fresh(const char *name)
{
    struct ep_store_options opts = {.map_size = (size_t)4 << 30};
    struct ep_store *s;
    char dir[512];
    int rc;

    snprintf(dir, sizeof dir, "%s/%s", workdir, name);
    if (mkdir(dir, 0700) != 0)
        die(dir, 5);
    rc = ep_store_open(dir, &opts, &s);
    if (rc)
        die("open", rc);
    return s;
}

/* Rule k: a host of its own, exact, .suffix or *.sub by k % 3. */
static void rule_k(unsigned k, struct ep_rule *r)
{
    static const enum ep_rule_kind kinds[] = {EP_RULE_EXACT, EP_RULE_SUFFIX, EP_RULE_SUBDOMAINS};

    memset(r, 0, sizeof *r);
    r->kind = kinds[k % 3];
    snprintf(r->host, sizeof r->host, "h%u.site%u.example.com", k, k % 9973);
}

/* A host rule k allows (and that the i-th denied host never matches). */
static void allowed_host(unsigned k, char *out)
{
    if (k % 3 == 0)
        snprintf(out, EP_HOST_BUFSZ, "h%u.site%u.example.com", k, k % 9973);
    else
        snprintf(out, EP_HOST_BUFSZ, "www.h%u.site%u.example.com", k, k % 9973);
}

struct result;
static double time_lookups(struct ep_store *s, char (*hosts)[EP_HOST_BUFSZ], unsigned nhosts,
                           unsigned batches, double *samples, struct result *res);

struct result {
    unsigned rules;
    double median, p99, mean; /* lookups spread over the whole list */
    double hot_median;        /* lookups of a hot set of HOTSET hosts */
    double allowed, denied;   /* spread medians of the allowed and of the denied hosts alone */
    double first;             /* the first decision after the rules were written */
};

/*
 * Time @p batches batches of BATCH decisions over the first @p nhosts
 * hosts; the median per-lookup cost, and p99 and mean into @p res if given.
 */
static double time_lookups(struct ep_store *s, char (*hosts)[EP_HOST_BUFSZ], unsigned nhosts,
                           unsigned batches, double *samples, struct result *res)
{
    struct ep_request req = {.client_ip = "10.0.0.1", .method = "GET", .port = 80};
    struct ep_decision d;
    double total = 0;

    for (unsigned b = 0; b < batches; b++) {
        double t0 = now_ns();

        for (unsigned i = 0; i < BATCH; i++) {
            req.host = hosts[(b * BATCH + i * 37) % nhosts];
            ep_decide(s, &req, 0, &d);
        }
        samples[b] = (now_ns() - t0) / BATCH;
        total += samples[b];
    }
    qsort(samples, batches, sizeof *samples, cmp_double);
    if (res) {
        res->p99 = samples[(size_t)(batches * 0.99)];
        res->mean = total / batches;
    }
    return samples[batches / 2];
}

static struct result bench_decide(unsigned nrules, unsigned lookups)
{
    struct ep_store *s;
    struct ep_rule *chunk = malloc(CHUNK * sizeof *chunk);
    static char hosts[HOSTSET][EP_HOST_BUFSZ];
    static char by_verdict[2][HOSTSET / 2][EP_HOST_BUFSZ];
    static bool want_allow[HOSTSET];
    unsigned batches = lookups / BATCH, wrong = 0;
    struct ep_project p;
    struct ep_request req = {.client_ip = "10.0.0.1", .method = "GET", .port = 80};
    struct ep_decision d;
    struct result res = {.rules = nrules};
    double *samples = malloc(batches * sizeof *samples);
    char name[32];
    int rc;

    snprintf(name, sizeof name, "rules-%u", nrules);
    s = open_fresh(name);
    for (unsigned base = 0; base < nrules; base += CHUNK) {
        unsigned n = nrules - base < CHUNK ? nrules - base : CHUNK;

        for (unsigned i = 0; i < n; i++)
            rule_k(base + i, &chunk[i]);
        rc = base == 0 ? ep_store_rules_replace(s, "bench", chunk, n)
                       : ep_store_rules_add(s, "bench", chunk, n, NULL);
        if (rc)
            die("populate", rc);
    }
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "bench");
    snprintf(p.profile, sizeof p.profile, "bench");
    p.mode = EP_MODE_SECURITY;
    if ((rc = ep_store_project_create(s, &p, 0)) ||
        (rc = ep_store_client_map(s, "10.0.0.1", "bench")))
        die("project", rc);

    /* Half the lookups are allowed hosts spread over the whole list, half are denied. */
    srand(42);
    for (unsigned i = 0; i < HOSTSET; i++) {
        unsigned k = (unsigned)(((unsigned long)rand() * RAND_MAX + rand()) % nrules);

        want_allow[i] = i % 2 == 0;
        if (want_allow[i])
            allowed_host(k, hosts[i]);
        else
            snprintf(hosts[i], sizeof hosts[i], "nope%u.site%u.example.com", k, k % 9973);
    }
    /* Warm up, and check every answer once. */
    for (unsigned i = 0; i < HOSTSET; i++) {
        double t0 = now_ns();

        req.host = hosts[i];
        rc = ep_decide(s, &req, 0, &d);
        if (i == 0)
            res.first = now_ns() - t0;
        if (rc || (d.verdict == EP_VERDICT_ALLOW) != want_allow[i])
            wrong++;
    }
    res.hot_median = time_lookups(s, hosts, HOTSET, batches, samples, NULL);
    res.median = time_lookups(s, hosts, HOSTSET, batches, samples, &res);
    /* The same spread, allowed hosts alone and denied hosts alone. */
    for (unsigned i = 0; i < HOSTSET; i++)
        memcpy(by_verdict[i % 2][i / 2], hosts[i], EP_HOST_BUFSZ);
    res.allowed = time_lookups(s, by_verdict[0], HOSTSET / 2, batches / 2, samples, NULL);
    res.denied = time_lookups(s, by_verdict[1], HOSTSET / 2, batches / 2, samples, NULL);
    if (wrong) {
        fprintf(stderr, "bench_policy: %u wrong decisions with %u rules\n", wrong, nrules);
        exit(1);
    }
    ep_store_close(s);
    free(samples);
    free(chunk);
    return res;
}

struct rec_worker {
    struct ep_recorder *rec;
    unsigned id;
};

static void *rec_thread(void *arg)
{
    struct rec_worker *w = arg;
    char host[REC_HOSTS][32];

    for (unsigned h = 0; h < REC_HOSTS; h++)
        snprintf(host[h], sizeof host[h], "r%u.example.com", h);
    for (unsigned i = 0; i < REC_NOTES; i++)
        if (ep_recorder_note(w->rec, "rec", host[(i + w->id * 13) % REC_HOSTS],
                             i % 4 ? EP_VERDICT_ALLOW : EP_VERDICT_DENY) != 0)
            die("note", -1);
    return NULL;
}

static int sum_cb(void *ctx, const char *host, const struct ep_seen *s)
{
    (void)host;
    *(uint64_t *)ctx += s->count;
    return 0;
}

static void bench_record(void)
{
    struct ep_store *s = open_fresh("record");
    struct rec_worker w[REC_THREADS];
    pthread_t t[REC_THREADS];
    struct ep_recorder *rec;
    uint64_t stored = 0, want = (uint64_t)REC_THREADS * REC_NOTES;
    double t0, secs;
    int rc = ep_recorder_new(s, 1000, &rec);

    if (rc)
        die("recorder", rc);
    t0 = now_ns();
    for (unsigned i = 0; i < REC_THREADS; i++) {
        w[i] = (struct rec_worker){.rec = rec, .id = i};
        pthread_create(&t[i], NULL, rec_thread, &w[i]);
    }
    for (unsigned i = 0; i < REC_THREADS; i++)
        pthread_join(t[i], NULL);
    ep_recorder_free(rec);
    secs = (now_ns() - t0) / 1e9;
    ep_store_seen_list(s, "rec", sum_cb, &stored);
    printf("\nrecording: %u threads x %u notes over %u hosts, flush every 1 s\n", REC_THREADS,
           REC_NOTES, REC_HOSTS);
    printf("  %.2f s, %.2f M notes/s (%.0f ns a note), stored count %llu of %llu\n", secs,
           want / secs / 1e6, secs * 1e9 / want, (unsigned long long)stored,
           (unsigned long long)want);
    ep_store_close(s);
    if (stored != want) {
        fprintf(stderr, "bench_policy: counts not exact\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const unsigned sizes[] = {10, 10000, 1000000};
    unsigned lookups = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
    struct result r[3];
    char cmd[300];
    const char *tmp = getenv("TMPDIR");

    if (lookups < BATCH * 10)
        lookups = BATCH * 10;
    snprintf(workdir, sizeof workdir, "%s/ep-bench-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(workdir))
        die("mkdtemp", 5);

    printf("decision cost (ep_decide, security mode, half allowed / half denied hosts,\n"
           "%u lookups timed in batches of %u, spread over %u hosts across the whole list;\n"
           "\"hot\": the same over %u hosts, as one workspace's own few hosts are;\n"
           "allowed/denied: the spread median of the allowed or the denied hosts alone;\n"
           "first: the first decision after the rules were written, which builds the\n"
           "key filter of a profile of 4,096 rules or more)\n\n",
           lookups, BATCH, HOSTSET, HOTSET);
    printf("%10s %12s %12s %12s %10s %10s   %14s %8s   %10s %10s %10s\n", "rules", "median ns",
           "p99 ns", "mean ns", "median x", "p99 x", "hot median ns", "hot x", "allowed ns",
           "denied ns", "first us");
    for (int i = 0; i < 3; i++) {
        r[i] = bench_decide(sizes[i], lookups);
        printf("%10u %12.0f %12.0f %12.0f %10.2f %10.2f   %14.0f %8.2f   %10.0f %10.0f %10.0f\n",
               r[i].rules, r[i].median, r[i].p99, r[i].mean, r[i].median / r[0].median,
               r[i].p99 / r[0].p99, r[i].hot_median, r[i].hot_median / r[0].hot_median,
               r[i].allowed, r[i].denied, r[i].first / 1e3);
        fflush(stdout);
    }
    bench_record();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", workdir);
    return 0;
}
