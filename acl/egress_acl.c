/*
 * egress-acl: squid's external ACL helper for the egress policy, a thin
 * adapter from squid's helper protocol to a policy decision
 * (policy/decide.h) and back; the same decision and the same recording as
 * the ICAP service (icap/srv_egress.c).
 *
 * squid writes one request a line, with concurrency= a channel id first:
 *
 *     ID CLIENT-IP METHOD HOST [PORT] [HOST-HEADER] [WORD...]
 *
 * The fields before the words are those of --format (default
 * client,method,host: squid's %>a %>rm %>rd, or %ssl::>sni for HOST at
 * ssl_bump step 2), in its order: "port" adds %>rP, the request URL's
 * port, which the decision honours (absent or "-": unknown); "host-header"
 * adds %{Host}>h, the Host header ("-" when absent), for --intercept.
 * squid appends the acl line's words after them. Each field is
 * URL-escaped by squid; "-" stands for a value squid does not have. The
 * answer is one line per request, in any order:
 *
 *     ID OK  tag=REASON log="REASON; host=HOST; project=ID[; rule=RULE]"
 *     ID ERR tag=REASON log="..." message="..."
 *
 * OK means the request may pass (the acl matches), ERR that it is denied;
 * log= (logged by %ea) carries the reason, the host, the project and the
 * matching rule, and a denial repeats it in message= (shown by %o on
 * squid's error page; an allowed request has no page, so squid is spared
 * parsing and keeping it). A line
 * that cannot be read is answered ERR with reason bad-request, a host that
 * cannot be read ERR with bad-host: never OK for what was not decided.
 * Without a channel id (no concurrency=) the answer carries none.
 *
 * Words after the fields: "norecord" decides without recording, for a
 * second look at a request already counted (the SNI of an explicit
 * CONNECT); "record" is the default; "-" (squid's %DATA of an acl line
 * without words) is ignored.
 *
 * --intercept is for the helper squid asks about requests of its
 * intercepting http_port, where squid decides on the URL's host but
 * forwards to the connection's original destination: a request there is
 * denied (intercept-connect, intercept-no-host, intercept-host-mismatch)
 * unless it is not CONNECT, has a Host header, and the Host header's host
 * (and port, when it names one) is the request's (ep_gate_intercept_check()),
 * and recorded as denied like any denial. It needs host-header in --format.
 *
 * "iprule" asks whether an ip: rule of the client's project (profile or
 * base domains, any mode) names HOST, an IP literal: OK (tag=ip-rule)
 * when one does, ERR otherwise (no-ip-rule, not-ip for a name,
 * unknown-client, bad-host, store-error). squid denies internal
 * destinations unless this says OK. Nothing is recorded.
 *
 * "bump" asks another question, the ssl_bump decision of LLM capture
 * (contrib/squid/egress-capture.conf): OK (tag=bump) only when CLIENT-IP
 * is mapped to a project in logging mode AND the host is on the store's
 * LLM host list; ERR otherwise (not-logging, not-llm-host, bad-host,
 * store-error): such a connection is spliced, never decrypted, never
 * failed. HOST is the TLS server name (%ssl::>sni); one more field right
 * after it (%>rd, the CONNECT host) is used when the ClientHello carried
 * no server name ("-"). Nothing is recorded: the connection was decided
 * and counted by the policy already.
 *
 * The decision, the recording, the counters, the store and its error
 * lines go through the gate of policy/gate.h, as for srv_egress: the same
 * options with the same bounds, the same reason text.
 *
 * One thread reads, decides and answers; answers are written when no
 * complete request line is left in the input buffer, so squid's pipelined
 * requests are answered in batches. The recorder's own thread writes the
 * counts every flush interval. End of input, SIGTERM, SIGINT or SIGHUP end
 * the loop; the recorder's last flush then writes every count before exit.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "policy/capture_store.h"
#include "policy/decide.h"
#include "policy/error.h"
#include "policy/gate.h"
#include "policy/host.h"
#include "policy/percent.h"
#include "policy/size.h"
#include "policy/store.h"

/* The longest request line read; longer ones are answered bad-request. */
#define ACL_LINE_MAX 8192
#define ACL_OUT_MAX  65536
#define ACL_ID_MAX   20

/* Counts of this process the gate does not keep, printed at exit. */
struct acl_counts {
    unsigned long long bad, bumped, spliced;
};

/* The fields squid sends before the acl line's words (--format). */
enum acl_field { ACL_CLIENT, ACL_METHOD, ACL_HOST, ACL_PORT, ACL_HOST_HEADER, ACL_FIELDS };

static const char *const acl_field_names[ACL_FIELDS] = {"client", "method", "host", "port",
                                                        "host-header"};

/* How a line reads: its fields in order, and whether the intercept check applies. */
struct acl_format {
    enum acl_field field[ACL_FIELDS];
    unsigned n;
    bool intercept;
};

/* The running helper. */
struct acl_state {
    struct ep_gate *gate;
    struct acl_format format;
    struct acl_counts n;
    char out[ACL_OUT_MAX];
    size_t out_len;
};

static volatile sig_atomic_t acl_stop;

static void on_signal(int sig)
{
    acl_stop = sig;
}

/* The gate's log lines go to stderr: squid's cache.log. */
static void gate_log(void *ctx, enum ep_gate_log_kind kind, const char *line)
{
    fprintf(stderr, "egress-acl: %s\n", line);
}

/* --- output ------------------------------------------------------------- */

static void out_flush(struct acl_state *st)
{
    size_t off = 0;

    while (off < st->out_len) {
        ssize_t n = write(STDOUT_FILENO, st->out + off, st->out_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* squid is gone: nobody reads the answers; stop. */
            acl_stop = SIGPIPE;
            break;
        }
        off += (size_t)n;
    }
    st->out_len = 0;
}

static void out_str(struct acl_state *st, const char *s)
{
    size_t n = strlen(s);

    if (st->out_len + n > sizeof st->out)
        out_flush(st);
    if (n > sizeof st->out)
        n = sizeof st->out;
    memcpy(st->out + st->out_len, s, n);
    st->out_len += n;
}

/*
 * Append @p s to @p buf as the inside of a squid helper quoted value: '"'
 * and '\' are escaped with '\', control characters dropped (none reach
 * here from the policy core, this only keeps a reply one line).
 */
static void quote_into(char *buf, size_t size, size_t *used, const char *s)
{
    for (; *s != '\0' && *used + 3 < size; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            continue;
        if (*s == '"' || *s == '\\')
            buf[(*used)++] = '\\';
        buf[(*used)++] = *s;
    }
    buf[*used] = '\0';
}

/*
 * One answer line: "[ID ]OK tag=REASON log="TEXT"" or "[ID ]ERR
 * tag=REASON log="TEXT" message="TEXT"" where TEXT is the gate's reason
 * text "REASON; host=HOST; project=ID[; rule=RULE]".
 */
static void answer_text(struct acl_state *st, const char *id, bool allow, const char *reason,
                        const char *text)
{
    char quoted[2 * EP_GATE_TEXT_BUFSZ + 8];
    char line[2 * sizeof quoted + ACL_ID_MAX + 96];
    size_t q = 0;

    quote_into(quoted, sizeof quoted, &q, text);
    if (allow)
        snprintf(line, sizeof line, "%s%sOK tag=%s log=\"%s\"\n", id, id[0] ? " " : "", reason,
                 quoted);
    else
        snprintf(line, sizeof line, "%s%sERR tag=%s log=\"%s\" message=\"%s\"\n", id,
                 id[0] ? " " : "", reason, quoted, quoted);
    out_str(st, line);
}

/* An answer of the helper's own (bump, a bad request): the reason text made here. */
static void answer(struct acl_state *st, const char *id, bool allow, const char *reason,
                   const char *host, const char *project)
{
    char text[EP_GATE_TEXT_BUFSZ];

    ep_gate_reason_text(reason, host, project, NULL, text);
    answer_text(st, id, allow, reason, text);
}

/* --- input -------------------------------------------------------------- */

/*
 * Decode squid's URL escaping of one field in place ("%2F" → "/"); a '%'
 * not followed by two hex digits stays as it is. False when it hides a NUL
 * ("%00"), which would cut the field short: a host
 * "allowed.test%00.evil.test" must not become "allowed.test".
 */
static bool url_unescape(char *s)
{
    size_t len;

    (void)ep_percent_decode(s, strlen(s), s, &len);
    return strlen(s) == len;
}

/*
 * Client address @p text as the canonical text the store's clients table
 * is keyed by (what inet_ntop writes), as srv_egress does with what c-icap
 * read, into @p out (EP_IP_MAX + 1 bytes); "" (an unknown client) when it
 * is no address.
 */
static void canonical_ip(const char *text, char *out)
{
    unsigned char addr[sizeof(struct in6_addr)];
    int family = strchr(text, ':') ? AF_INET6 : AF_INET;

    if (inet_pton(family, text, addr) != 1 ||
        inet_ntop(family, addr, out, (socklen_t)(EP_IP_MAX + 1)) == NULL)
        out[0] = '\0';
}

/* Split off the next space-separated field of *@p p; NULL at the end. */
static char *next_field(char **p)
{
    char *s = *p, *e;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return NULL;
    e = s + strcspn(s, " \t");
    if (*e != '\0')
        *e++ = '\0';
    *p = e;
    return s;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/*
 * The ssl_bump question ("bump" word): whether to decrypt the TLS of
 * client @p ip to @p sni (or @p alt when the ClientHello had no server
 * name; both URL-escaped, "-" when squid has none). Only a logging
 * workspace reaching a listed LLM host is OK; an unknown client, a
 * security workspace, an unreadable host or a store error is ERR.
 */
static void handle_bump(struct acl_state *st, const char *id, const char *ip, char *sni, char *alt)
{
    char *name = sni;
    char host[EP_HOST_BUFSZ], project[EP_ID_MAX + 1];
    enum ep_capture_verdict verdict;
    struct ep_store *store;
    const char *reason;
    int rc;

    if ((strcmp(name, "-") == 0 || name[0] == '\0') && alt != NULL)
        name = alt;
    if (!url_unescape(name) || strcmp(name, "-") == 0 ||
        ep_host_from_request_target(name, strlen(name), host, NULL, NULL) != 0) {
        st->n.spliced++;
        answer(st, id, false, "bad-host", "invalid", "");
        return;
    }
    rc = ep_gate_store(st->gate, NULL, &store);
    if (rc != 0) {
        ep_gate_log_error(st->gate, "cannot open the store, not bumped", rc);
        st->n.spliced++;
        answer(st, id, false, ep_reason_name(EP_REASON_STORE_ERROR), host, "");
        return;
    }
    rc = ep_capture_decide(store, ip, host, &verdict, project);
    if (rc != 0) {
        ep_gate_log_error(st->gate, "reading the store for the bump decision failed, not bumped",
                          rc);
        reason = ep_reason_name(EP_REASON_STORE_ERROR);
    } else {
        /* squid's word for "decrypt and capture" is bump. */
        reason = verdict == EP_CAPTURE_YES ? "bump" : ep_capture_verdict_name(verdict);
    }
    if (verdict == EP_CAPTURE_YES)
        st->n.bumped++;
    else
        st->n.spliced++;
    answer(st, id, verdict == EP_CAPTURE_YES, reason, host, project);
}

/* A port field: "-" or 0 for unknown, else 1..65535; false for anything else. */
static bool read_port(const char *s, int *port)
{
    unsigned long n;
    char *end;

    *port = 0;
    if (strcmp(s, "-") == 0)
        return true;
    if (!all_digits(s) || strlen(s) > 5)
        return false;
    n = strtoul(s, &end, 10);
    if (n > 65535)
        return false;
    *port = (int)n;
    return true;
}

/*
 * One request line (without its newline), decided by the gate as
 * srv_egress decides: a host that cannot be read is denied (bad-host) and
 * not recorded; otherwise ep_decide() decides (after the intercept check
 * with --intercept) and the request is noted when the decision says so,
 * unless the acl said norecord. The words bump and iprule ask their own
 * questions instead.
 */
static void handle_line(struct acl_state *st, char *line, bool too_long)
{
    char id[ACL_ID_MAX + 1] = "";
    char host[EP_HOST_BUFSZ], client[EP_IP_MAX + 1];
    char *p = line, *f, *v[ACL_FIELDS] = {NULL}, *alt = NULL;
    bool record = true, bump = false, iprule = false;
    unsigned nword = 0;
    struct ep_gate_request gr;
    struct ep_gate_result res;

    /* A channel id: digits first, when squid runs us with concurrency=. */
    f = next_field(&p);
    if (f != NULL && all_digits(f)) {
        snprintf(id, sizeof id, "%.*s", ACL_ID_MAX, f);
        f = next_field(&p);
    }
    for (unsigned i = 0; i < st->format.n; i++) {
        if (f == NULL)
            goto bad;
        v[st->format.field[i]] = f;
        f = next_field(&p);
    }
    if (too_long)
        goto bad;
    /* The first word may be bump mode's fallback host. */
    for (; f != NULL; f = next_field(&p)) {
        if (strcmp(f, "norecord") == 0)
            record = false;
        else if (strcmp(f, "bump") == 0)
            bump = true;
        else if (strcmp(f, "iprule") == 0)
            iprule = true;
        else if (nword == 0 && strcmp(f, "record") != 0 && strcmp(f, "-") != 0)
            alt = f;
        else if (strcmp(f, "record") != 0 && strcmp(f, "-") != 0)
            goto bad;
        nword++;
    }
    if ((alt != NULL && !bump) || (bump && iprule))
        goto bad;
    if (!url_unescape(v[ACL_CLIENT]) || !url_unescape(v[ACL_METHOD]))
        goto bad;
    memset(&gr, 0, sizeof gr);
    if (v[ACL_PORT] != NULL && !read_port(v[ACL_PORT], &gr.port))
        goto bad;
    if (v[ACL_HOST_HEADER] != NULL) {
        if (!url_unescape(v[ACL_HOST_HEADER]))
            goto bad;
        if (strcmp(v[ACL_HOST_HEADER], "-") != 0 && v[ACL_HOST_HEADER][0] != '\0')
            gr.host_header = v[ACL_HOST_HEADER];
    }
    canonical_ip(v[ACL_CLIENT], client);
    if (bump) {
        handle_bump(st, id, client, v[ACL_HOST], alt);
        return;
    }

    gr.client_ip = client;
    gr.method = v[ACL_METHOD];
    gr.no_record = !record;
    gr.intercept = st->format.intercept;
    if (url_unescape(v[ACL_HOST]) && strcmp(v[ACL_HOST], "-") != 0 &&
        ep_host_normalize(v[ACL_HOST], strlen(v[ACL_HOST]), host, NULL, NULL) == 0)
        gr.host = host;
    if (iprule)
        ep_gate_ip_rule(st->gate, &gr, &res);
    else
        ep_gate_decide(st->gate, &gr, &res);
    answer_text(st, id, res.verdict == EP_VERDICT_ALLOW, res.reason, res.text);
    return;
bad:
    st->n.bad++;
    answer(st, id, false, "bad-request", "invalid", "");
}

/*
 * The loop: read what squid sent, answer every complete line, write the
 * answers before waiting for more. A line longer than ACL_LINE_MAX is
 * answered (bad-request, with its channel id) and the rest of it skipped.
 */
static void serve(struct acl_state *st)
{
    static char buf[ACL_LINE_MAX + 1];
    size_t len = 0;
    bool skipping = false;

    while (!acl_stop) {
        ssize_t n = read(STDIN_FILENO, buf + len, ACL_LINE_MAX - len);
        size_t start = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        for (;;) {
            char *nl = memchr(buf + start, '\n', len - start);
            if (nl == NULL)
                break;
            *nl = '\0';
            if (nl > buf + start && nl[-1] == '\r')
                nl[-1] = '\0';
            if (skipping)
                skipping = false;
            else
                handle_line(st, buf + start, false);
            start = (size_t)(nl - buf) + 1;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (len == ACL_LINE_MAX) {
            /* No newline in a full buffer: answer from what we have, skip the rest. */
            buf[len] = '\0';
            if (!skipping)
                handle_line(st, buf, true);
            skipping = true;
            len = 0;
        }
        out_flush(st);
    }
    out_flush(st);
}

/* --- command line ------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: egress-acl [OPTION...]\n"
          "squid external ACL helper for the egress policy (contrib/squid/egress-acl.conf).\n"
          "Reads \"[ID] FIELD... [WORD...]\" lines, answers \"[ID] OK|ERR ...\". The fields\n"
          "are those of --format, in its order; squid appends the acl line's words:\n"
          "  norecord   decide without recording (a second look at a counted request)\n"
          "  bump       the ssl_bump question of LLM capture (HOST is the SNI, then an\n"
          "             optional CONNECT-HOST word): OK for a logging workspace reaching\n"
          "             a listed LLM host (contrib/squid/egress-capture.conf)\n"
          "  iprule     OK when an ip: rule of the client's project names HOST, an IP\n"
          "             literal (any mode, never recorded); ERR otherwise\n"
          "\n"
          "  --format LIST         the fields before the words, comma-separated, in\n"
          "                        squid's order: client (%>a), method (%>rm), host\n"
          "                        (%>rd or %ssl::>sni) are required; port (%>rP, the\n"
          "                        URL's port; \"-\" unknown) and host-header (%{Host}>h,\n"
          "                        \"-\" when absent) are optional\n"
          "                        (default client,method,host)\n"
          "  --intercept           for the helper of squid's intercepting http_port:\n"
          "                        deny CONNECT, a request without Host header, and one\n"
          "                        whose Host header (host, and port when it names one)\n"
          "                        is not the URL's (intercept-connect,\n"
          "                        intercept-no-host, intercept-host-mismatch); needs\n"
          "                        host-header in --format\n"
          "  --database DIR        the LMDB store shared with egress-api\n"
          "                        (default " EP_STORE_DEFAULT_DIR ")\n"
          "  --unknown-client deny|allow\n"
          "                        a client IP mapped to no project (default deny)\n"
          "  --flush-interval TIME how often counts are written: 10ms..3600s, e.g. 1s,\n"
          "                        500ms (default 1s); also the longest silence between\n"
          "                        two store error lines and between tries to open it\n"
          "  --max-readers N       LMDB reader slots if this process creates the store:\n"
          "                        16..1048576 (default 512)\n"
          "  --map-size SIZE       LMDB map size, at least 1M, K/M/G/T suffix (default 1G)\n"
          "  --key-filter on|off   key filters of whitelists of 4,096 rules or more\n"
          "                        (default on; the c-icap module's egress.KeyFilter)\n"
          "  --key-filter-memory SIZE\n"
          "                        the most memory they hold together, 64K..4G (default 16M)\n"
          "  --log-decisions       one line per decision on stderr (squid's cache.log):\n"
          "                        \"allow|deny METHOD HOST[:PORT] from CLIENT: TEXT\"\n"
          "  --help                this text\n",
          f);
}

/*
 * Parse --format's comma-separated field names into @p fmt: each at most
 * once, client, method and host required. 0, or 2 with a message.
 */
static int parse_format(const char *list, struct acl_format *fmt)
{
    const char *p = list;
    unsigned seen = 0;

    fmt->n = 0;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        unsigned k;

        for (k = 0; k < ACL_FIELDS; k++)
            if (strlen(acl_field_names[k]) == len && strncmp(p, acl_field_names[k], len) == 0)
                break;
        if (k == ACL_FIELDS || (seen & (1u << k)) != 0) {
            fprintf(stderr,
                    "egress-acl: --format: '%.*s' is %s (fields: client, method, host, port, "
                    "host-header)\n",
                    (int)len, p, k == ACL_FIELDS ? "not a field" : "named twice");
            return 2;
        }
        seen |= 1u << k;
        fmt->field[fmt->n++] = (enum acl_field)k;
        p += len;
        if (*p == ',')
            p++;
    }
    if ((seen & 7u) != 7u) {
        fprintf(stderr, "egress-acl: --format must name client, method and host, not '%s'\n", list);
        return 2;
    }
    return 0;
}

/* Parse the options into @p opts and @p fmt; 0, or 2 with a message naming the option. */
static int parse_args(int argc, char **argv, struct ep_gate_options *opts, struct acl_format *fmt)
{
    static const struct option longopts[] = {
        {"database", required_argument, NULL, EP_GATE_OPT_DATABASE},
        {"unknown-client", required_argument, NULL, EP_GATE_OPT_UNKNOWN_CLIENT},
        {"flush-interval", required_argument, NULL, EP_GATE_OPT_INTERVAL},
        {"max-readers", required_argument, NULL, EP_GATE_OPT_MAX_READERS},
        {"map-size", required_argument, NULL, EP_GATE_OPT_MAP_SIZE},
        {"key-filter", required_argument, NULL, EP_GATE_OPT_KEY_FILTER},
        {"key-filter-memory", required_argument, NULL, EP_GATE_OPT_KEY_FILTER_MEMORY},
        {"log-decisions", no_argument, NULL, 'l'},
        {"format", required_argument, NULL, 'F'},
        {"intercept", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char why[256];
    int c, index;

    while ((c = getopt_long(argc, argv, "", longopts, &index)) != -1) {
        switch (c) {
        case EP_GATE_OPT_DATABASE:
        case EP_GATE_OPT_UNKNOWN_CLIENT:
        case EP_GATE_OPT_INTERVAL:
        case EP_GATE_OPT_MAX_READERS:
        case EP_GATE_OPT_MAP_SIZE:
        case EP_GATE_OPT_KEY_FILTER:
        case EP_GATE_OPT_KEY_FILTER_MEMORY:
            if (ep_gate_option_set(opts, (enum ep_gate_option)c, optarg, why, sizeof why) != 0) {
                fprintf(stderr, "egress-acl: --%s: %s\n", longopts[index].name, why);
                return 2;
            }
            break;
        case 'l':
            opts->log_decisions = true;
            break;
        case 'F':
            if (parse_format(optarg, fmt) != 0)
                return 2;
            break;
        case 'i':
            fmt->intercept = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "egress-acl: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    for (unsigned i = 0; fmt->intercept && i < fmt->n; i++)
        if (fmt->field[i] == ACL_HOST_HEADER)
            return 0;
    if (fmt->intercept) {
        fprintf(stderr, "egress-acl: --intercept needs the Host header: add host-header to "
                        "--format (squid's %%{Host}>h)\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct acl_state st;
    struct ep_gate_hooks hooks = {.log = gate_log, .count = NULL, .ctx = NULL};
    struct ep_gate_options opts;
    struct ep_gate_counts n;
    struct ep_store *store;
    struct sigaction sa;
    int rc;

    ep_gate_options_default(&opts);
    opts.path = EP_GATE_PATH_ACL;
    st.format = (struct acl_format){.field = {ACL_CLIENT, ACL_METHOD, ACL_HOST}, .n = 3};
    rc = parse_args(argc, argv, &opts, &st.format);
    if (rc != 0)
        return rc;
    rc = ep_gate_new(&opts, &hooks, &st.gate);
    if (rc != 0) {
        fprintf(stderr, "egress-acl: cannot start: %s\n", ep_strerror(rc));
        return 1;
    }

    /* No SA_RESTART: a signal ends the blocking read, and the loop with it. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    ep_gate_store(st.gate, "cannot open the store at start, requests are denied until it opens",
                  &store);

    serve(&st);

    /* The last flush: every count noted reaches the store before exit. */
    ep_gate_counts(st.gate, &n);
    ep_gate_free(st.gate);
    fprintf(stderr,
            "egress-acl: exit (%s): %llu allowed, %llu denied, %llu recorded, %llu store errors, "
            "%llu bad requests, %llu bumped, %llu not bumped\n",
            acl_stop == SIGPIPE ? "output closed"
            : acl_stop          ? "signal"
                                : "end of input",
            (unsigned long long)n.allowed, (unsigned long long)(n.denied + st.n.bad),
            (unsigned long long)n.recorded, (unsigned long long)n.errors, st.n.bad, st.n.bumped,
            st.n.spliced);
    return 0;
}
