/*
 * egress-node: the agent of one node of a cluster (docs/cluster.md). It
 * keeps the node's store equal to the policy in etcd (sync.c), registers
 * the node under a lease with its applied revision and workspaces
 * (register.c), maps the workspace containers of the node's own engine
 * (containers.c) and pushes the node's counters (counters.c); with
 * --metrics-listen it serves the node's proxy-side metrics (metrics_http.c). squid,
 * egress-acl and c-icap on the node read the store as on a single host.
 *
 *   egress-node --name NAME --etcd URLS --db DIR [options]
 *   egress-node --db DIR --dump      the store's policy as etcd keys, and its revision
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/publisher.h"
#include "node/node.h"
#include "policy/store_cluster.h"

static struct node the_node;

void node_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "egress-node[%s]: %s\n", the_node.name ? the_node.name : "-", line);
}

bool node_nap(struct node *n, long ms)
{
    while (ms > 0 && !atomic_load(&n->stop)) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000L};

        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !atomic_load(&n->stop);
}

size_t node_key(const struct node *n, char *out, size_t size, const char *fmt, ...)
{
    size_t plen = (size_t)snprintf(out, size, "%s", n->prefix);
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(out + plen, size - plen, fmt, ap);
    va_end(ap);
    return len < 0 ? plen : plen + (size_t)len < size ? plen + (size_t)len : size - 1;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: egress-node --name NAME --etcd URLS --db DIR [options]\n"
        "       egress-node --db DIR --dump\n"
        "Keeps this node's store equal to the cluster's policy in etcd, registers the\n"
        "node, maps its workspace containers and pushes its counters (docs/cluster.md).\n"
        "  --name NAME              this node's name (default: the host name)\n"
        "  --etcd URLS              etcd endpoints, comma-separated (http:// or https://)\n"
        "  --etcd-prefix PREFIX     the keyspace's prefix (default %s)\n"
        "  --etcd-cacert FILE       CA of the etcd members (PEM)\n"
        "  --etcd-cert FILE         client certificate (PEM)\n"
        "  --etcd-key FILE          its key (PEM)\n"
        "  --etcd-user USER         etcd user (password from --etcd-password-file)\n"
        "  --etcd-password-file F   file holding that user's password\n"
        "  --db DIR                 the node's store (default %s)\n"
        "  --ttl SECONDS            lease of the node's registration (default 10)\n"
        "  --watch-silence SECONDS  a watch silent this long is reconnected (default 15)\n"
        "  --counters-interval SEC  seconds between pushes of the counters (default 2)\n"
        "  --docker-socket PATH     this node's Docker engine (default: no container events)\n"
        "  --network NAME           the workspaces' network on it (default egress-ws)\n"
        "  --label KEY              container label naming the project (default egress.project)\n"
        "  --metrics-listen A:P     serve GET /metrics (this node's proxy-side metrics) on\n"
        "                           ADDR:PORT, e.g. 127.0.0.1:9101 (default: not served)\n"
        "  --metrics-token-file F   a scrape must carry \"Authorization: Bearer\" and the\n"
        "                           first line of F\n"
        "  --dump                   print the store's policy as etcd keys and exit\n",
        EP_CLUSTER_DEFAULT_PREFIX, EP_STORE_DEFAULT_DIR);
}

static char *read_secret(const char *file)
{
    char buf[256];
    FILE *f = fopen(file, "r");
    size_t len;

    if (!f || !fgets(buf, sizeof buf, f)) {
        fprintf(stderr, "egress-node: cannot read %s: %s\n", file, strerror(errno));
        exit(2);
    }
    fclose(f);
    len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    return strdup(buf);
}

static int print_kv(void *ctx, const struct ep_cluster_kv *kv)
{
    printf("%s%.*s=%.*s\n", (const char *)ctx, (int)kv->key_len, kv->key, (int)kv->value_len,
           kv->value);
    return 0;
}

/* --dump: "revision R", then one "KEY=VALUE" a line (full keys), as etcdctl can print them. */
static int dump(struct node *n, const char *db)
{
    struct ep_store_options o = {.read_only = true};
    struct ep_store *s;
    int64_t rev = 0;
    char prefix[512];
    int rc = ep_store_open(db, &o, &s);

    if (rc) {
        fprintf(stderr, "egress-node: cannot open the store in %s: %s\n", db, ep_strerror(rc));
        return 1;
    }
    snprintf(prefix, sizeof prefix, "%spolicy/", n->prefix);
    rc = ep_store_sync_revision(s, &rev);
    printf("revision %lld\n", (long long)rev);
    if (rc == 0)
        rc = ep_store_cluster_export(s, print_kv, prefix);
    ep_store_close(s);
    return rc ? 1 : 0;
}

enum {
    OPT_NAME = 256,
    OPT_ETCD,
    OPT_PREFIX,
    OPT_CACERT,
    OPT_CERT,
    OPT_KEY,
    OPT_USER,
    OPT_PASSWORD_FILE,
    OPT_DB,
    OPT_TTL,
    OPT_SILENCE,
    OPT_COUNTERS,
    OPT_DOCKER,
    OPT_NETWORK,
    OPT_LABEL,
    OPT_METRICS_LISTEN,
    OPT_METRICS_TOKEN,
    OPT_DUMP,
    OPT_HELP,
};

static const struct option long_options[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"etcd", required_argument, NULL, OPT_ETCD},
    {"etcd-prefix", required_argument, NULL, OPT_PREFIX},
    {"etcd-cacert", required_argument, NULL, OPT_CACERT},
    {"etcd-cert", required_argument, NULL, OPT_CERT},
    {"etcd-key", required_argument, NULL, OPT_KEY},
    {"etcd-user", required_argument, NULL, OPT_USER},
    {"etcd-password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"db", required_argument, NULL, OPT_DB},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"watch-silence", required_argument, NULL, OPT_SILENCE},
    {"counters-interval", required_argument, NULL, OPT_COUNTERS},
    {"docker-socket", required_argument, NULL, OPT_DOCKER},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"label", required_argument, NULL, OPT_LABEL},
    {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
    {"metrics-token-file", required_argument, NULL, OPT_METRICS_TOKEN},
    {"dump", no_argument, NULL, OPT_DUMP},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static long seconds(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end || v < lo || v > hi) {
        fprintf(stderr, "egress-node: %s must be %ld..%ld seconds, not \"%s\"\n", opt, lo, hi, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct node *n = &the_node;
    const char *db = EP_STORE_DEFAULT_DIR;
    static char host[256];
    bool want_dump = false;
    pthread_t threads[4];
    size_t nthreads = 0;
    sigset_t sigs;
    int opt, sig, rc;

    n->prefix = EP_CLUSTER_DEFAULT_PREFIX;
    n->ttl = 10;
    n->silence = 15;
    n->counters_every = 2;
    n->network = "egress-ws";
    n->label = "egress.project";
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case OPT_NAME:
            n->name = optarg;
            break;
        case OPT_ETCD:
            n->etcd.endpoints = optarg;
            break;
        case OPT_PREFIX:
            n->prefix = optarg;
            break;
        case OPT_CACERT:
            n->etcd.cacert = optarg;
            break;
        case OPT_CERT:
            n->etcd.cert = optarg;
            break;
        case OPT_KEY:
            n->etcd.key = optarg;
            break;
        case OPT_USER:
            n->etcd.user = optarg;
            break;
        case OPT_PASSWORD_FILE:
            n->etcd.password = read_secret(optarg);
            break;
        case OPT_DB:
            db = optarg;
            break;
        case OPT_TTL:
            n->ttl = seconds("--ttl", optarg, 2, 3600);
            break;
        case OPT_SILENCE:
            n->silence = seconds("--watch-silence", optarg, 1, 3600);
            break;
        case OPT_COUNTERS:
            n->counters_every = seconds("--counters-interval", optarg, 1, 3600);
            break;
        case OPT_DOCKER:
            n->docker_socket = optarg;
            break;
        case OPT_NETWORK:
            n->network = optarg;
            break;
        case OPT_LABEL:
            n->label = optarg;
            break;
        case OPT_METRICS_LISTEN:
            n->metrics_listen = optarg;
            break;
        case OPT_METRICS_TOKEN:
            n->metrics_token = read_secret(optarg);
            break;
        case OPT_DUMP:
            want_dump = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (want_dump)
        return dump(n, db);
    if (!n->etcd.endpoints) {
        fprintf(stderr, "egress-node: --etcd is required\n");
        return 2;
    }
    if (n->metrics_token && (!*n->metrics_token || !n->metrics_listen)) {
        fprintf(stderr, "egress-node: --metrics-token-file needs --metrics-listen and a "
                        "non-empty first line\n");
        return 2;
    }
    if (n->etcd.user && !n->etcd.password) {
        fprintf(stderr, "egress-node: --etcd-user needs --etcd-password-file\n");
        return 2;
    }
    if (!n->name) {
        gethostname(host, sizeof host - 1);
        n->name = host;
    }
    if (strchr(n->name, '/') || !*n->name) {
        fprintf(stderr, "egress-node: --name must be non-empty and hold no '/'\n");
        return 2;
    }
    if (mkdir(db, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "egress-node: cannot create %s: %s\n", db, strerror(errno));
        return 1;
    }
    rc = ep_store_open(db, NULL, &n->store);
    if (rc) {
        fprintf(stderr, "egress-node: cannot open the store in %s: %s\n", db, ep_strerror(rc));
        return 1;
    }
    n->db = db;
    if (n->metrics_listen && (rc = node_metrics_start(n)) != 0) {
        ep_store_close(n->store);
        return rc;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    pthread_create(&threads[nthreads++], NULL, node_sync_run, n);
    pthread_create(&threads[nthreads++], NULL, node_register_run, n);
    pthread_create(&threads[nthreads++], NULL, node_counters_run, n);
    if (n->docker_socket)
        pthread_create(&threads[nthreads++], NULL, node_containers_run, n);
    node_log("started: store %s, etcd %s, prefix %s%s%s", db, n->etcd.endpoints, n->prefix,
             n->docker_socket ? ", engine " : "", n->docker_socket ? n->docker_socket : "");
    while (sigwait(&sigs, &sig) != 0)
        ;
    node_log("signal %d: stopping", sig);
    atomic_store(&n->stop, true);
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    node_metrics_stop();
    ep_store_close(n->store);
    curl_global_cleanup();
    return 0;
}
