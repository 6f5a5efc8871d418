/*
 * egress-api: the management daemon of egress-policy. Parses options,
 * opens the store, installs the base domains, serves the API until SIGTERM
 * or SIGINT, then finishes the requests in flight and closes the store.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "api/accounts.h"
#include "api/auth.h"
#include "api/cluster.h"
#include "api/engine.h"
#include "api/http.h"
#include "api/static.h"
#include "api/log.h"
#include "api/workspace.h"
#include "policy/error.h"
#include "policy/rule.h"
#include "policy/size.h"

#define DEFAULT_LISTEN           "127.0.0.1:8088"
#define DEFAULT_BCRYPT_COST      12
#define DEFAULT_MAX_CONNECTIONS  256
#define DEFAULT_MAX_PER_IP       64
#define DEFAULT_CONN_TIMEOUT     30
#define TOKEN_MIN                16
#define WORKSPACE_CMD_MAX        64
#define DEFAULT_SESSION_LIFETIME (8 * 3600) /* a school day */
#define DEFAULT_SESSION_IDLE     (30 * 60)
#define SWARM_LIST_MAX           32 /* --swarm-constraint, --swarm-node-engine */

const char *api_version(void)
{
    return PACKAGE_VERSION;
}

static void usage(FILE *f)
{
    char map_size[EP_SIZE_BUFSZ], max_memory[EP_SIZE_BUFSZ], default_memory[EP_SIZE_BUFSZ];

    ep_size_format(EP_STORE_DEFAULT_MAP_SIZE, map_size);
    ep_size_format(ENGINE_DEFAULT_MEMORY_MAX, max_memory);
    ep_size_format(ENGINE_DEFAULT_MEMORY, default_memory);
    fprintf(f,
            "Usage: egress-api [OPTION]...\n"
            "The management API of egress-policy: projects, passwords, whitelists,\n"
            "recorded domains and their promotion, over the LMDB store.\n"
            "\n"
            "  --db DIR                  store directory, created if missing (default %s)\n"
            "  --listen ADDR:PORT        address to serve on; port 0 picks a free one\n"
            "                            (default %s; IPv6 as [::1]:8088)\n"
            "  --admin-token-file FILE   file holding the admin bearer token (first line);\n"
            "                            else the EGRESS_ADMIN_TOKEN environment variable.\n"
            "                            At least %d characters; required\n"
            "  --base-domains FILE       base domains, one rule a line, '#' comments; replaces\n"
            "                            the store's base domains at start (default: keep them)\n"
            "  --max-projects N          refuse to create more than N projects (default 0 = no "
            "limit)\n"
            "  --map-size SIZE           LMDB map size, e.g. 1g or 512m (default %s)\n"
            "  --max-readers N           LMDB reader slots, fixed by the first opener (default "
            "%d)\n"
            "  --cors-origin ORIGIN      send Access-Control-Allow-Origin: ORIGIN (default: no "
            "CORS)\n"
            "  --default-proxy-mode MODE mode of projects created without one, the only mode\n"
            "                            a caller without the admin token may ask for\n"
            "                            (none, security or logging; default security)\n"
            "  --default-profile NAME    profile of projects created without one (default %s)\n"
            "  --bcrypt-cost N           bcrypt cost of workspace passwords, 10..20 (default "
            "%d)\n"
            "  --max-connections N       simultaneous connections, one thread each (default "
            "%d);\n"
            "                            further ones wait in the listen queue\n"
            "  --max-connections-per-ip N  simultaneous connections from one address, so\n"
            "                            one slow or greedy caller cannot take them all;\n"
            "                            further ones are closed at once (default %d;\n"
            "                            0 = no per-address limit)\n"
            "  --connection-timeout SECONDS  close a connection idle this long, and one\n"
            "                            whose request body takes longer than this to\n"
            "                            arrive (default %d)\n"
            "  --ui-dir DIR              files of the review page served at /\n"
            "                            (default %s;\n"
            "                            a missing default directory turns the page off)\n"
            "  --no-ui                   serve no page, only the API\n"
            "\n"
            "Accounts and sessions:\n"
            "  --create-admin NAME       make admin account NAME, its password the first line\n"
            "                            of standard input or of --password-file FILE; exit\n"
            "  --session-lifetime SECONDS  a browser session ends this long after sign-in\n"
            "                            (default 28800)\n"
            "  --session-idle SECONDS    a session unused this long ends (default 1800)\n"
            "  --tls-proxy               a TLS reverse proxy serves this API: session\n"
            "                            cookies are Secure\n"
            "\n"
            "Workspace containers (Docker Engine API; podman's service works too):\n"
            "  --docker-socket PATH      the engine's unix socket (default %s).\n"
            "                            Given explicitly, an engine that cannot be reached\n"
            "                            stops the daemon; the default path absent means\n"
            "                            no containers (logged)\n"
            "  --no-containers           no engine: start/stop record the status only, and an\n"
            "                            admin maps IPs by hand (PUT /api/projects/:id/ip)\n"
            "  --workspace-image IMAGE   image of the workspace containers (default %s)\n"
            "  --workspace-network NAME  network the workspaces join; their IP on it is mapped\n"
            "                            (default %s)\n"
            "  --workspace-cmd CMD       command replacing the image's own, split at spaces\n"
            "                            (default: the image's entrypoint and command)\n"
            "  --proxy-url URL           HTTP_PROXY and HTTPS_PROXY (both cases) of the\n"
            "                            workspaces, e.g. http://squid:3128 (default: none)\n"
            "  --no-proxy LIST           NO_PROXY (both cases) of the workspaces (default: none)\n"
            "  --capture-ca DIR          egress-ca directory: logging workspaces trust its CA\n"
            "                            (LLM capture), others the system bundle (default: none)\n"
            "  --max-memory SIZE         largest memoryLimit a project may ask for (default %s)\n"
            "  --max-cpus N              largest cpuCores a project may ask for (default %g);\n"
            "                            every CPU count (this, --default-cpus, cpuCores)\n"
            "                            may be fractional, rounded to the nearest 1e-9 CPU\n"
            "  --default-memory SIZE     memory of a project that asks for none (default %s)\n"
            "  --default-cpus N          CPUs of a project that asks for none, fractions\n"
            "                            allowed (default %g)\n"
            "  --pids-limit N            processes per workspace (default %d)\n"
            "  --stop-timeout SECONDS    grace before a stopping workspace is killed (default %d)\n"
            "  --engine docker|swarm     docker (default): one engine, a container per\n"
            "                            workspace; swarm: --docker-socket is a swarm\n"
            "                            manager's, a one-replica service per workspace on\n"
            "                            the swarm-scoped --workspace-network\n"
            "  --swarm-constraint EXPR   swarm: where workspaces run, in the swarm's words,\n"
            "                            e.g. node.labels.egress-policy.pool==course-a\n"
            "                            (repeatable; default: any node)\n"
            "  --swarm-node-engine NODE=SOCKET  swarm: the engine socket of node NODE (its\n"
            "                            label egress-policy.node, else its hostname), where a\n"
            "                            workspace's address is read (repeatable; default:\n"
            "                            none, addresses are mapped by each node's agent)\n"
            "\n"
            "  --version                 print the version and exit\n"
            "  --help                    print this help and exit\n"
            "\n"
            "Logs one line per request on stderr. SIGTERM or SIGINT: finish the requests\n"
            "in flight, then exit.\n",
            EP_STORE_DEFAULT_DIR, DEFAULT_LISTEN, TOKEN_MIN, map_size, EP_STORE_DEFAULT_MAX_READERS,
            EP_PROFILE_DEFAULT, DEFAULT_BCRYPT_COST, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_IP,
            DEFAULT_CONN_TIMEOUT, EP_UI_DIR, ENGINE_DEFAULT_SOCKET, ENGINE_DEFAULT_IMAGE,
            ENGINE_DEFAULT_NETWORK, max_memory, ENGINE_DEFAULT_NANO_CPUS_MAX / 1e9, default_memory,
            ENGINE_DEFAULT_NANO_CPUS / 1e9, ENGINE_DEFAULT_PIDS_LIMIT, ENGINE_DEFAULT_STOP_TIMEOUT);
    fprintf(f, "\nCluster mode:\n%s", cluster_usage);
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A bad option: say which and why, point at --help, exit 2. */
static void die_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "egress-api: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'egress-api --help'.\n");
    exit(2);
}

/*
 * The value of size option @p opt (policy/size.h: "1g", "512m", "4096"),
 * at least @p min bytes; a bad one exits 2 naming the option and what is
 * wrong.
 */
static uint64_t parse_size(const char *opt, const char *s, uint64_t min)
{
    char why[160], least[EP_SIZE_BUFSZ];
    uint64_t n;

    if (ep_size_parse(s, &n, why, sizeof why) != 0)
        die_usage("%s: %s", opt, why);
    ep_size_format(min, least);
    if (n < min)
        die_usage("%s must be a size of at least %s, not \"%s\"", opt, least, s);
    return n;
}

static unsigned parse_uint(const char *opt, const char *s, unsigned min, unsigned max)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(s, &end, 10);
    if (end == s || *end || errno || *s == '-' || n < min || n > max) {
        fprintf(stderr, "egress-api: %s must be a number from %u to %u, not \"%s\"\n", opt, min,
                max, s);
        exit(2);
    }
    return (unsigned)n;
}

/* "ADDR:PORT" or "[V6]:PORT" into the config. */
static void parse_listen(struct api_config *cfg, const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t hostlen;

    if (colon == NULL || colon == s)
        die_usage("--listen must be ADDR:PORT, not \"%s\"", s);
    hostlen = (size_t)(colon - s);
    if (s[0] == '[') {
        if (hostlen < 3 || s[hostlen - 1] != ']')
            die_usage("--listen must be ADDR:PORT or [V6]:PORT, not \"%s\"", s);
        s++;
        hostlen -= 2;
    }
    if (hostlen >= sizeof cfg->listen_host)
        die_usage("--listen: address too long in \"%s\"", s);
    memcpy(cfg->listen_host, s, hostlen);
    cfg->listen_host[hostlen] = '\0';
    cfg->listen_port = parse_uint("--listen port", colon + 1, 0, 65535);
}

/* The admin token from @p file (first line) or EGRESS_ADMIN_TOKEN. Exits 2 when there is none. */
static void load_token(struct api_config *cfg, const char *file)
{
    const char *env = getenv("EGRESS_ADMIN_TOKEN");
    char buf[API_TOKEN_MAX + 2];
    size_t n;

    if (file) {
        FILE *f = fopen(file, "r");
        struct stat st;

        if (f == NULL) {
            fprintf(stderr, "egress-api: --admin-token-file %s: %s\n", file, strerror(errno));
            exit(2);
        }
        if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
            fprintf(stderr, "egress-api: warning: %s is readable by others; chmod 600 it\n", file);
        if (fgets(buf, sizeof buf, f) == NULL)
            buf[0] = '\0';
        fclose(f);
    } else if (env) {
        snprintf(buf, sizeof buf, "%s", env);
    } else {
        fprintf(stderr, "egress-api: no admin token: give --admin-token-file FILE or set "
                        "EGRESS_ADMIN_TOKEN\n");
        exit(2);
    }
    n = strlen(buf);
    while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    if (n < TOKEN_MIN || n > API_TOKEN_MAX) {
        fprintf(stderr, "egress-api: the admin token must be %d to %d characters (it has %zu)\n",
                TOKEN_MIN, API_TOKEN_MAX, n);
        exit(2);
    }
    for (size_t i = 0; i < n; i++) {
        if (buf[i] <= ' ' || buf[i] == 0x7f) {
            fprintf(stderr, "egress-api: the admin token may not contain spaces or control "
                            "characters\n");
            exit(2);
        }
    }
    memcpy(cfg->admin_token, buf, n + 1);
    explicit_bzero(buf, sizeof buf);
    /* The audit names this machine credential "token FILE-NAME" (or the variable). */
    snprintf(cfg->machine_label, sizeof cfg->machine_label, "token %.60s",
             file ? (strrchr(file, '/') ? strrchr(file, '/') + 1 : file) : "EGRESS_ADMIN_TOKEN");
}

/*
 * Read the base domains from @p file and make them the store's base
 * profile in one transaction. A bad line stops the daemon with its line
 * number and the reason. 0, or -1 after a message.
 */
static int load_base_domains(struct ep_store *store, const char *file)
{
    FILE *f = fopen(file, "r");
    struct ep_rule *rules = NULL;
    size_t n = 0, cap = 0;
    char line[1024], why[256];
    unsigned lineno = 0;
    int rc = -1, err;

    if (f == NULL) {
        fprintf(stderr, "egress-api: --base-domains %s: %s\n", file, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *s = line, *e;

        lineno++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        if (n == cap) {
            struct ep_rule *grown = ep_realloc(rules, (cap = cap ? cap * 2 : 32) * sizeof *rules);

            if (grown == NULL) {
                fprintf(stderr, "egress-api: out of memory reading %s\n", file);
                goto out;
            }
            rules = grown;
        }
        why[0] = '\0';
        err = ep_rule_parse(s, &rules[n], why, sizeof why);
        if (err) {
            fprintf(stderr, "egress-api: %s:%u: rule \"%s\": %s\n", file, lineno, s,
                    why[0] ? why : ep_strerror(err));
            goto out;
        }
        n++;
    }
    if (ferror(f)) {
        fprintf(stderr, "egress-api: reading %s: %s\n", file, strerror(errno));
        goto out;
    }
    err = ep_store_rules_replace(store, EP_PROFILE_BASE, rules, n);
    if (err) {
        fprintf(stderr, "egress-api: storing the base domains of %s: %s\n", file, ep_strerror(err));
        goto out;
    }
    rc = 0;
out:
    free(rules);
    fclose(f);
    return rc;
}

/*
 * The value of CPU option @p opt (policy/size.h: "2", "1.5", nano-CPUs
 * rounded as it says), from 0.01 to 1024 CPUs; a bad one exits 2 naming
 * the option and what is wrong.
 */
static uint64_t parse_cpus(const char *opt, const char *s)
{
    char why[160];
    uint64_t n;

    if (ep_cpus_parse(s, &n, why, sizeof why) != 0)
        die_usage("%s: %s", opt, why);
    if (n < ENGINE_NANO_CPUS_MIN || n > 1024 * EP_NANO_PER_CPU)
        die_usage("%s must be a number from 0.01 to 1024, not \"%s\"", opt, s);
    return n;
}

/* Split @p s (modified in place) at spaces into @p argv, NULL-terminated. Exits 2 when empty. */
static void split_command(char *s, const char **argv, size_t max)
{
    size_t n = 0;

    for (char *tok = strtok(s, " \t"); tok; tok = strtok(NULL, " \t")) {
        if (n + 1 >= max)
            die_usage("--workspace-cmd has more than %zu words", max - 1);
        argv[n++] = tok;
    }
    if (n == 0)
        die_usage("--workspace-cmd must name a command");
    argv[n] = NULL;
}

/*
 * Connect to the container engine, unless told not to, check that the
 * workspace network exists (logged with how to make it when it does not),
 * and reconcile the store with it before the first request. The default socket being absent
 * means a host without an engine: the API runs without containers and says
 * so. A socket given explicitly, or present but not answering, is a
 * mistake the operator must see: -1 after a message (exit 1).
 */
static int engine_setup(struct api_ctx *ctx, const struct engine_config *ecfg, bool socket_given,
                        bool off)
{
    char errbuf[ENGINE_ERRBUF_SIZE] = "";
    struct stat st;
    int rc;

    if (off) {
        log_line("containers: off (--no-containers); start and stop record the status only, "
                 "IPs are mapped by an admin");
        return 0;
    }
    if (!socket_given && stat(ecfg->socket_path, &st) < 0 && errno == ENOENT) {
        log_line("containers: off: no engine socket at %s (give --docker-socket PATH for an "
                 "engine, or --no-containers to silence this); start and stop record the status "
                 "only, IPs are mapped by an admin",
                 ecfg->socket_path);
        return 0;
    }
    rc = engine_open(ecfg, &ctx->engine, errbuf);
    if (rc) {
        fprintf(stderr,
                "egress-api: the container engine at %s: %s%s%s\n"
                "egress-api: start the engine, correct --docker-socket, or run with "
                "--no-containers\n",
                ecfg->socket_path, engine_strerror(rc), errbuf[0] ? ": " : "", errbuf);
        return -1;
    }
    log_line("containers: engine at %s, API %s, image %s, network %s, backend %s",
             ecfg->socket_path, engine_api_version(ctx->engine), ecfg->image, ecfg->network,
             engine_kind_name(ctx->engine));
    /*
     * The API still serves without the network (listings, whitelists, the
     * review page); creating and starting workspaces answer 503 with the
     * same sentence until it exists.
     */
    rc = engine_network_check(ctx->engine, errbuf);
    if (rc == ENGINE_E_NONETWORK)
        log_line("containers: %s; until then no workspace can be created or started", errbuf);
    else if (rc)
        log_line("containers: checking the workspace network %s: %s (%s)", ecfg->network,
                 engine_strerror(rc), errbuf);
    if (ecfg->proxy_url == NULL)
        log_line("containers: no --proxy-url: workspaces get no proxy variables");
    /* A failed reconciliation is logged; the API still serves, with the stored statuses. */
    workspace_reconcile(ctx);
    return 0;
}

/*
 * --create-admin NAME: the password is the first line of --password-file
 * FILE, or of standard input. 0, 1 or 2 (no password).
 */
static int create_admin(struct ep_store *store, const char *name, const char *file)
{
    char buf[256];
    FILE *f = file ? fopen(file, "r") : stdin;
    size_t n;
    int rc;

    if (f == NULL) {
        fprintf(stderr, "egress-api: --password-file %s: %s\n", file, strerror(errno));
        return 2;
    }
    if (fgets(buf, sizeof buf, f) == NULL)
        buf[0] = '\0';
    if (file)
        fclose(f);
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    if (n == 0) {
        fprintf(stderr, "egress-api: --create-admin: no password on %s\n",
                file ? file : "standard input");
        return 2;
    }
    rc = accounts_create_admin(store, name, buf);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

enum {
    OPT_DB = 256,
    OPT_LISTEN,
    OPT_TOKEN_FILE,
    OPT_BASE,
    OPT_MAX_PROJECTS,
    OPT_MAP_SIZE,
    OPT_MAX_READERS,
    OPT_CORS,
    OPT_DEFAULT_MODE,
    OPT_DEFAULT_PROFILE,
    OPT_BCRYPT_COST,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_PER_IP,
    OPT_CONN_TIMEOUT,
    OPT_MAX_MEMORY,
    OPT_MAX_CPUS,
    OPT_DOCKER_SOCKET,
    OPT_NO_CONTAINERS,
    OPT_WORKSPACE_IMAGE,
    OPT_WORKSPACE_NETWORK,
    OPT_WORKSPACE_CMD,
    OPT_PROXY_URL,
    OPT_NO_PROXY,
    OPT_CAPTURE_CA,
    OPT_DEFAULT_MEMORY,
    OPT_DEFAULT_CPUS,
    OPT_PIDS_LIMIT,
    OPT_STOP_TIMEOUT,
    OPT_ENGINE,
    OPT_SWARM_CONSTRAINT,
    OPT_SWARM_NODE_ENGINE,
    OPT_VERSION,
    OPT_HELP,
    OPT_UI_DIR,
    OPT_NO_UI,
    OPT_CREATE_ADMIN, /* accounts (issue 19) */
    OPT_PASSWORD_FILE,
    OPT_SESSION_LIFETIME,
    OPT_SESSION_IDLE,
    OPT_TLS_PROXY,
    OPT_CLUSTER, /* the --etcd options: cluster_option() by name */
};

static const struct option long_options[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"admin-token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"base-domains", required_argument, NULL, OPT_BASE},
    {"max-projects", required_argument, NULL, OPT_MAX_PROJECTS},
    {"map-size", required_argument, NULL, OPT_MAP_SIZE},
    {"max-readers", required_argument, NULL, OPT_MAX_READERS},
    {"cors-origin", required_argument, NULL, OPT_CORS},
    {"default-proxy-mode", required_argument, NULL, OPT_DEFAULT_MODE},
    {"default-profile", required_argument, NULL, OPT_DEFAULT_PROFILE},
    {"bcrypt-cost", required_argument, NULL, OPT_BCRYPT_COST},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"max-connections-per-ip", required_argument, NULL, OPT_MAX_PER_IP},
    {"connection-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
    {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
    {"max-cpus", required_argument, NULL, OPT_MAX_CPUS},
    {"docker-socket", required_argument, NULL, OPT_DOCKER_SOCKET},
    {"no-containers", no_argument, NULL, OPT_NO_CONTAINERS},
    {"workspace-image", required_argument, NULL, OPT_WORKSPACE_IMAGE},
    {"workspace-network", required_argument, NULL, OPT_WORKSPACE_NETWORK},
    {"workspace-cmd", required_argument, NULL, OPT_WORKSPACE_CMD},
    {"proxy-url", required_argument, NULL, OPT_PROXY_URL},
    {"no-proxy", required_argument, NULL, OPT_NO_PROXY},
    {"capture-ca", required_argument, NULL, OPT_CAPTURE_CA},
    {"default-memory", required_argument, NULL, OPT_DEFAULT_MEMORY},
    {"default-cpus", required_argument, NULL, OPT_DEFAULT_CPUS},
    {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
    {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
    {"engine", required_argument, NULL, OPT_ENGINE},
    {"swarm-constraint", required_argument, NULL, OPT_SWARM_CONSTRAINT},
    {"swarm-node-engine", required_argument, NULL, OPT_SWARM_NODE_ENGINE},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {"ui-dir", required_argument, NULL, OPT_UI_DIR},
    {"no-ui", no_argument, NULL, OPT_NO_UI},
    {"create-admin", required_argument, NULL, OPT_CREATE_ADMIN},
    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"session-lifetime", required_argument, NULL, OPT_SESSION_LIFETIME},
    {"session-idle", required_argument, NULL, OPT_SESSION_IDLE},
    {"tls-proxy", no_argument, NULL, OPT_TLS_PROXY},
    {"etcd", required_argument, NULL, OPT_CLUSTER},
    {"etcd-prefix", required_argument, NULL, OPT_CLUSTER},
    {"etcd-cacert", required_argument, NULL, OPT_CLUSTER},
    {"etcd-cert", required_argument, NULL, OPT_CLUSTER},
    {"etcd-key", required_argument, NULL, OPT_CLUSTER},
    {"etcd-user", required_argument, NULL, OPT_CLUSTER},
    {"etcd-password-file", required_argument, NULL, OPT_CLUSTER},
    {"etcd-batch", required_argument, NULL, OPT_CLUSTER},
    {NULL, 0, NULL, 0},
};

/*
 * What the command line says: the daemon's and the engine's
 * configurations, and the choices main() acts on. Strings point into argv.
 */
struct api_args {
    struct api_config cfg;
    struct engine_config ecfg;
    const char *command[WORKSPACE_CMD_MAX + 1];   /* --workspace-cmd, split */
    const char *constraints[SWARM_LIST_MAX + 1];  /* --swarm-constraint, in order */
    const char *node_engines[SWARM_LIST_MAX + 1]; /* --swarm-node-engine, in order */
    size_t n_constraints, n_node_engines;
    struct cluster_config cluster;
    const char *token_file;
    const char *ui_dir;
    const char *create_admin, *password_file; /* --create-admin NAME [--password-file FILE] */
    bool socket_given, containers_off, ui_given, ui_off;
};

/*
 * Fill @p a with the defaults, then the options; options that must agree
 * with each other are checked once all are read. A bad option exits 2
 * naming it (die_usage()); --help and --version print and exit 0.
 * 0, or 2 for an option getopt itself refused (it said why).
 */
static int parse_args(int argc, char **argv, struct api_args *a)
{
    struct api_config *cfg = &a->cfg;
    struct engine_config *ecfg = &a->ecfg;
    int opt, index = 0;

    cfg->db_dir = EP_STORE_DEFAULT_DIR;
    parse_listen(cfg, DEFAULT_LISTEN);
    cfg->default_mode = EP_MODE_SECURITY;
    snprintf(cfg->default_profile, sizeof cfg->default_profile, "%s", EP_PROFILE_DEFAULT);
    cfg->bcrypt_cost = DEFAULT_BCRYPT_COST;
    cfg->max_connections = DEFAULT_MAX_CONNECTIONS;
    cfg->max_connections_per_ip = DEFAULT_MAX_PER_IP;
    cfg->connection_timeout = DEFAULT_CONN_TIMEOUT;
    engine_config_defaults(ecfg);
    cfg->max_memory_bytes = ecfg->memory_max;
    cfg->max_nano_cpus = ecfg->nano_cpus_max;
    a->ui_dir = EP_UI_DIR;
    cfg->session_lifetime = DEFAULT_SESSION_LIFETIME;
    cfg->session_idle = DEFAULT_SESSION_IDLE;

    while ((opt = getopt_long(argc, argv, "", long_options, &index)) != -1) {
        switch (opt) {
        case OPT_DB:
            cfg->db_dir = optarg;
            break;
        case OPT_LISTEN:
            parse_listen(cfg, optarg);
            break;
        case OPT_TOKEN_FILE:
            a->token_file = optarg;
            break;
        case OPT_BASE:
            cfg->base_domains_file = optarg;
            break;
        case OPT_MAX_PROJECTS:
            cfg->max_projects = parse_uint("--max-projects", optarg, 0, UINT_MAX);
            break;
        case OPT_MAP_SIZE:
            cfg->map_size = (size_t)parse_size("--map-size", optarg, EP_STORE_MAP_SIZE_MIN);
            break;
        case OPT_MAX_READERS:
            cfg->max_readers = parse_uint("--max-readers", optarg, EP_STORE_MAX_READERS_MIN,
                                          EP_STORE_MAX_READERS_MAX);
            break;
        case OPT_CORS:
            if (optarg[0] == '\0' || strcmp(optarg, "*") == 0 || strpbrk(optarg, "\r\n"))
                die_usage("--cors-origin must name one origin (\"*\" is refused), not \"%s\"",
                          optarg);
            cfg->cors_origin = optarg;
            break;
        case OPT_DEFAULT_MODE:
            if (ep_mode_parse(optarg, &cfg->default_mode) != 0)
                die_usage("--default-proxy-mode must be none, security or logging, not \"%s\"",
                          optarg);
            break;
        case OPT_DEFAULT_PROFILE:
            if (ep_profile_validate(optarg) != 0)
                die_usage("--default-profile: \"%s\" is not a valid profile name", optarg);
            snprintf(cfg->default_profile, sizeof cfg->default_profile, "%s", optarg);
            break;
        case OPT_BCRYPT_COST:
            cfg->bcrypt_cost = parse_uint("--bcrypt-cost", optarg, 10, 20);
            break;
        case OPT_MAX_CONNECTIONS:
            cfg->max_connections = parse_uint("--max-connections", optarg, 1, 10000);
            break;
        case OPT_MAX_PER_IP:
            cfg->max_connections_per_ip = parse_uint("--max-connections-per-ip", optarg, 0, 10000);
            break;
        case OPT_CONN_TIMEOUT:
            cfg->connection_timeout = parse_uint("--connection-timeout", optarg, 1, 3600);
            break;
        case OPT_MAX_MEMORY:
            cfg->max_memory_bytes = parse_size("--max-memory", optarg, 64u << 20);
            break;
        case OPT_MAX_CPUS:
            cfg->max_nano_cpus = parse_cpus("--max-cpus", optarg);
            break;
        case OPT_DOCKER_SOCKET:
            if (optarg[0] == '\0')
                die_usage("--docker-socket needs a path");
            ecfg->socket_path = optarg;
            a->socket_given = true;
            break;
        case OPT_NO_CONTAINERS:
            a->containers_off = true;
            break;
        case OPT_WORKSPACE_IMAGE:
            if (optarg[0] == '\0')
                die_usage("--workspace-image needs an image name");
            ecfg->image = optarg;
            break;
        case OPT_WORKSPACE_NETWORK:
            if (optarg[0] == '\0')
                die_usage("--workspace-network needs a network name");
            ecfg->network = optarg;
            break;
        case OPT_WORKSPACE_CMD:
            split_command(optarg, a->command, sizeof a->command / sizeof a->command[0]);
            ecfg->command = a->command;
            break;
        case OPT_PROXY_URL:
            ecfg->proxy_url = optarg[0] ? optarg : NULL;
            break;
        case OPT_NO_PROXY:
            ecfg->no_proxy = optarg[0] ? optarg : NULL;
            break;
        case OPT_CAPTURE_CA:
            ecfg->capture_ca_dir = optarg[0] ? optarg : NULL;
            break;
        case OPT_DEFAULT_MEMORY:
            ecfg->memory_default = parse_size("--default-memory", optarg, 64u << 20);
            break;
        case OPT_DEFAULT_CPUS:
            ecfg->nano_cpus_default = parse_cpus("--default-cpus", optarg);
            break;
        case OPT_PIDS_LIMIT:
            ecfg->pids_limit = parse_uint("--pids-limit", optarg, 16, 1u << 22);
            break;
        case OPT_STOP_TIMEOUT:
            ecfg->stop_timeout = parse_uint("--stop-timeout", optarg, 0, 3600);
            break;
        case OPT_ENGINE:
            if (strcmp(optarg, "docker") == 0)
                ecfg->kind = ENGINE_KIND_DOCKER;
            else if (strcmp(optarg, "swarm") == 0)
                ecfg->kind = ENGINE_KIND_SWARM;
            else
                die_usage("--engine is docker or swarm, not \"%s\"", optarg);
            break;
        case OPT_SWARM_CONSTRAINT:
            if (optarg[0] == '\0' || a->n_constraints >= SWARM_LIST_MAX)
                die_usage("--swarm-constraint needs an expression (at most %d)", SWARM_LIST_MAX);
            a->constraints[a->n_constraints++] = optarg;
            ecfg->swarm_constraints = a->constraints;
            break;
        case OPT_SWARM_NODE_ENGINE:
            if (strchr(optarg, '=') == NULL || a->n_node_engines >= SWARM_LIST_MAX)
                die_usage("--swarm-node-engine is NODE=SOCKET (at most %d)", SWARM_LIST_MAX);
            a->node_engines[a->n_node_engines++] = optarg;
            ecfg->swarm_node_engines = a->node_engines;
            break;
        case OPT_VERSION:
            printf("egress-api %s\n", api_version());
            exit(0);
        case OPT_HELP:
            usage(stdout);
            exit(0);
        case OPT_UI_DIR:
            a->ui_dir = optarg;
            a->ui_given = true;
            break;
        case OPT_NO_UI:
            a->ui_off = true;
            break;
        case OPT_CREATE_ADMIN:
            a->create_admin = optarg;
            break;
        case OPT_PASSWORD_FILE:
            a->password_file = optarg;
            break;
        case OPT_SESSION_LIFETIME:
            cfg->session_lifetime = parse_uint("--session-lifetime", optarg, 60, 30 * 86400);
            break;
        case OPT_SESSION_IDLE:
            cfg->session_idle = parse_uint("--session-idle", optarg, 60, 30 * 86400);
            break;
        case OPT_TLS_PROXY:
            cfg->secure_cookies = true;
            break;
        case OPT_CLUSTER:
            if (cluster_option(&a->cluster, long_options[index].name, optarg) < 0)
                exit(2);
            break;
        default:
            fprintf(stderr, "Try 'egress-api --help'.\n");
            return 2;
        }
    }
    if (optind < argc)
        die_usage("unexpected argument \"%s\"", argv[optind]);
    ecfg->memory_max = cfg->max_memory_bytes;
    ecfg->nano_cpus_max = cfg->max_nano_cpus;
    if (ecfg->memory_default > ecfg->memory_max)
        die_usage("--default-memory is above --max-memory");
    if (ecfg->nano_cpus_default > ecfg->nano_cpus_max)
        die_usage("--default-cpus is above --max-cpus");
    if (a->ui_off && a->ui_given)
        die_usage("--ui-dir and --no-ui exclude each other");
    if (ecfg->kind != ENGINE_KIND_SWARM && (a->n_constraints > 0 || a->n_node_engines > 0))
        die_usage("--swarm-constraint and --swarm-node-engine need --engine swarm");
    return 0;
}

int main(int argc, char **argv)
{
    static struct api_args args;
    struct ep_store_options sopts = {0};
    struct api_ctx ctx = {.cfg = &args.cfg};
    const struct api_config *cfg = &args.cfg;
    struct MHD_Daemon *daemon = NULL;
    sigset_t sigs;
    unsigned port;
    int sig, err, rc;

    /* jansson allocates through the policy core's wrapper, as everything else does. */
    json_set_alloc_funcs(ep_malloc, ep_free);
    rc = parse_args(argc, argv, &args);
    if (rc != 0)
        return rc;
    if (args.create_admin == NULL)
        load_token(&args.cfg, args.token_file);
    if (static_init(args.ui_off ? NULL : args.ui_dir, args.ui_given) < 0)
        return 2;

    rc = 1;
    if (mkdir(cfg->db_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "egress-api: cannot create %s: %s\n", cfg->db_dir, strerror(errno));
        return 1;
    }
    sopts.map_size = cfg->map_size;
    sopts.max_readers = cfg->max_readers;
    err = ep_store_open(cfg->db_dir, &sopts, &ctx.store);
    if (err) {
        fprintf(stderr, "egress-api: cannot open the store in %s: %s\n", cfg->db_dir,
                ep_strerror(err));
        return 1;
    }
    if (cfg->base_domains_file && load_base_domains(ctx.store, cfg->base_domains_file) < 0) {
        rc = 2; /* a configuration error, like a bad option */
        goto out;
    }
    if (auth_init(cfg->bcrypt_cost) < 0) {
        fprintf(stderr, "egress-api: bcrypt is not available from libxcrypt\n");
        goto out;
    }
    if (args.create_admin) {
        rc = create_admin(ctx.store, args.create_admin, args.password_file);
        goto out;
    }

    /* Before any thread: engine_open() initialises libcurl. */
    if (engine_setup(&ctx, &args.ecfg, args.socket_given, args.containers_off) < 0)
        goto out;

    /* Every thread MHD starts inherits this mask: only the main thread takes the signals. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (cluster_start(&ctx, &args.cluster) < 0)
        goto out;
    if (http_start(&ctx, &daemon, &port) < 0)
        goto out;
    log_line("listening on %s%s%s:%u", strchr(cfg->listen_host, ':') ? "[" : "", cfg->listen_host,
             strchr(cfg->listen_host, ':') ? "]" : "", port);
    log_line("version %s, store %s, max projects %u, default mode %s, profile %s", api_version(),
             cfg->db_dir, cfg->max_projects, ep_mode_name(cfg->default_mode), cfg->default_profile);
    while (sigwait(&sigs, &sig) != 0)
        ;
    log_line("signal %d: finishing requests in flight", sig);
    http_stop(daemon);
    cluster_stop(&ctx);
    log_line("stopped");
    rc = 0;
out:
    cluster_stop(&ctx);
    engine_close(ctx.engine);
    ep_store_close(ctx.store);
    return rc;
}
