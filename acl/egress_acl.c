/*
 * egress-acl: squid's external ACL helper for the egress policy, a thin
 * adapter from squid's helper protocol to a policy decision
 * (policy/decide.h) and back; the same decision and the same recording as
 * the ICAP service (icap/srv_egress.c).
 *
 * squid writes one request a line, with concurrency= a channel id first:
 *
 *     ID CLIENT-IP METHOD HOST [WORD...]
 *
 * (the format of contrib/squid/egress-acl.conf: %>a %>rm %>rd, or
 * %ssl::>sni for HOST at ssl_bump step 2, then the acl line's words). Each
 * field is URL-escaped by squid; "-" stands for a value squid does not
 * have. The answer is one line per request, in any order:
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
 * Words after HOST: "norecord" decides without recording, for a second
 * look at a request already counted (the SNI of an explicit CONNECT);
 * "record" is the default; "-" (squid's %DATA of an acl line without
 * words) is ignored.
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
#include "policy/host.h"
#include "policy/percent.h"
#include "policy/ratelimit.h"
#include "policy/recorder.h"
#include "policy/size.h"
#include "policy/store.h"

#define ACL_DEFAULT_DATABASE "/var/lib/egress-policy"
/* The longest request line read; longer ones are answered bad-request. */
#define ACL_LINE_MAX 8192
#define ACL_OUT_MAX  65536
#define ACL_ID_MAX   20

/* The settings, from the command line. */
struct acl_conf {
    const char *database;
    bool unknown_allow;
    unsigned flush_ms;
    unsigned max_readers;
    size_t map_size;
};

/* Counts of this process, printed at exit. */
struct acl_counts {
    unsigned long long allowed, denied, recorded, errors, bad, bumped, spliced;
};

/* The running helper. */
struct acl_state {
    struct acl_conf conf;
    struct ep_store *store;
    struct ep_recorder *rec;
    struct ep_ratelimit open_limit; /* an attempt to open the store once per flush interval */
    int open_error;                 /* why the last attempt failed */
    struct ep_ratelimit log_limit;  /* store errors are logged once per flush interval */
    struct acl_counts n;
    char out[ACL_OUT_MAX];
    size_t out_len;
};

static volatile sig_atomic_t acl_stop;

static void on_signal(int sig)
{
    acl_stop = sig;
}

/*
 * Log a store problem on stderr (squid's cache.log) at most once per flush
 * interval, with the number of similar errors left out since the last line.
 */
static void log_store_error(struct acl_state *st, const char *what, int err)
{
    unsigned long left_out;

    st->n.errors++;
    if (ep_ratelimit_pass(&st->log_limit, st->conf.flush_ms, &left_out))
        fprintf(stderr, "egress-acl: %s (store %s): %s (%lu similar errors not logged)\n", what,
                st->conf.database, ep_strerror(err), left_out);
}

/* Open the store and start the recorder (see current_store()). */
static int open_store(struct acl_state *st)
{
    struct ep_store_options opts = {
        .map_size = st->conf.map_size,
        .max_readers = st->conf.max_readers,
        .read_only = false,
    };
    struct ep_store *store = NULL;
    struct ep_recorder *rec = NULL;
    int rc;

    rc = ep_store_open(st->conf.database, &opts, &store);
    if (rc != 0)
        goto out;
    rc = ep_recorder_new(store, st->conf.flush_ms, &rec);
    if (rc != 0)
        goto out;
    st->store = store;
    st->rec = rec;
    store = NULL;
out:
    ep_store_close(store);
    st->open_error = rc;
    return rc;
}

/*
 * The store, opened when it is not open yet: at start and, while that
 * fails, again from a request at most once per flush interval, so a store
 * that appears later (or recovers) is picked up without a restart.
 */
static struct ep_store *current_store(struct acl_state *st)
{
    if (st->store == NULL && ep_ratelimit_pass(&st->open_limit, st->conf.flush_ms, NULL))
        open_store(st);
    return st->store;
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
 * tag=REASON log="TEXT" message="TEXT"" where TEXT is "REASON; host=HOST;
 * project=ID[; rule=RULE]".
 */
static void answer(struct acl_state *st, const char *id, bool allow, const char *reason,
                   const char *host, const char *project, const char *rule)
{
    char text[EP_HOST_BUFSZ + EP_RULE_BUFSZ + EP_ID_MAX + 96];
    char quoted[2 * sizeof text + 8];
    char line[2 * sizeof quoted + ACL_ID_MAX + 96];
    size_t q = 0;

    snprintf(text, sizeof text, "%s; host=%s; project=%s%s%s", reason, host,
             project[0] ? project : "-", rule[0] ? "; rule=" : "", rule);
    quote_into(quoted, sizeof quoted, &q, text);
    if (allow)
        snprintf(line, sizeof line, "%s%sOK tag=%s log=\"%s\"\n", id, id[0] ? " " : "", reason,
                 quoted);
    else
        snprintf(line, sizeof line, "%s%sERR tag=%s log=\"%s\" message=\"%s\"\n", id,
                 id[0] ? " " : "", reason, quoted, quoted);
    out_str(st, line);
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
        answer(st, id, false, "bad-host", "invalid", "", "");
        return;
    }
    store = current_store(st);
    if (store == NULL) {
        log_store_error(st, "cannot open the store, not bumped", st->open_error);
        st->n.spliced++;
        answer(st, id, false, ep_reason_name(EP_REASON_STORE_ERROR), host, "", "");
        return;
    }
    rc = ep_capture_decide(store, ip, host, &verdict, project);
    if (rc != 0) {
        log_store_error(st, "reading the store for the bump decision failed, not bumped", rc);
        reason = ep_reason_name(EP_REASON_STORE_ERROR);
    } else {
        /* squid's word for "decrypt and capture" is bump. */
        reason = verdict == EP_CAPTURE_YES ? "bump" : ep_capture_verdict_name(verdict);
    }
    if (verdict == EP_CAPTURE_YES)
        st->n.bumped++;
    else
        st->n.spliced++;
    answer(st, id, verdict == EP_CAPTURE_YES, reason, host, project, "");
}

/*
 * One request line (without its newline). The decision and the recording
 * are those of srv_egress.c: a host that cannot be read is denied
 * (bad-host) and not recorded; otherwise ep_decide() decides and the
 * request is noted when the decision says so, unless the acl said
 * norecord.
 */
static void handle_line(struct acl_state *st, char *line, bool too_long)
{
    char id[ACL_ID_MAX + 1] = "";
    char host[EP_HOST_BUFSZ], client[EP_IP_MAX + 1];
    char *p = line, *f, *ip, *method, *rawhost, *alt = NULL;
    bool record = true, bump = false;
    unsigned nword = 0;
    struct ep_decision d;
    struct ep_request er;
    struct ep_store *store;
    const char *reason;
    int rc;

    /* A channel id: digits first, when squid runs us with concurrency=. */
    f = next_field(&p);
    if (f != NULL && all_digits(f)) {
        snprintf(id, sizeof id, "%.*s", ACL_ID_MAX, f);
        f = next_field(&p);
    }
    ip = f;
    method = next_field(&p);
    rawhost = next_field(&p);
    if (too_long || ip == NULL || method == NULL || rawhost == NULL)
        goto bad;
    /* The first field after HOST may be bump mode's fallback host. */
    while ((f = next_field(&p)) != NULL) {
        if (strcmp(f, "norecord") == 0)
            record = false;
        else if (strcmp(f, "bump") == 0)
            bump = true;
        else if (nword == 0 && strcmp(f, "record") != 0 && strcmp(f, "-") != 0)
            alt = f;
        else if (strcmp(f, "record") != 0 && strcmp(f, "-") != 0)
            goto bad;
        nword++;
    }
    if (alt != NULL && !bump)
        goto bad;
    if (!url_unescape(ip) || !url_unescape(method))
        goto bad;
    canonical_ip(ip, client);
    if (bump) {
        handle_bump(st, id, client, rawhost, alt);
        return;
    }

    memset(&d, 0, sizeof d);
    if (!url_unescape(rawhost) || strcmp(rawhost, "-") == 0 ||
        ep_host_normalize(rawhost, strlen(rawhost), host, NULL, NULL) != 0)
        goto bad_host;
    store = current_store(st);
    if (store == NULL) {
        log_store_error(st, "cannot open the store, request denied", st->open_error);
        answer(st, id, false, ep_reason_name(EP_REASON_STORE_ERROR), host, "", "");
        st->n.denied++;
        return;
    }
    er.client_ip = client;
    er.host = host;
    er.method = method;
    er.port = 0;
    rc = ep_decide(store, &er, st->conf.unknown_allow ? EP_DECIDE_ALLOW_UNKNOWN : 0, &d);
    if (rc != 0)
        log_store_error(st, "decision fell back", rc);
    reason = ep_reason_name(d.reason);
    if (d.record && record) {
        rc = ep_recorder_note(st->rec, d.project_id, host, d.verdict);
        if (rc == 0)
            st->n.recorded++;
        else
            log_store_error(st, "recording a new host failed (kept for the next flush)", rc);
    }
    if (d.verdict == EP_VERDICT_ALLOW)
        st->n.allowed++;
    else
        st->n.denied++;
    answer(st, id, d.verdict == EP_VERDICT_ALLOW, reason, host, d.project_id, d.rule);
    return;
bad_host:
    st->n.denied++;
    answer(st, id, false, "bad-host", "invalid", "", "");
    return;
bad:
    st->n.bad++;
    st->n.denied++;
    answer(st, id, false, "bad-request", "invalid", "", "");
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
    fprintf(f,
            "usage: egress-acl [OPTION...]\n"
            "squid external ACL helper for the egress policy (contrib/squid/egress-acl.conf).\n"
            "Reads \"[ID] CLIENT-IP METHOD HOST [norecord]\" lines, answers \"[ID] OK|ERR ...\".\n"
            "With the word bump (\"[ID] CLIENT-IP METHOD SNI [CONNECT-HOST] bump\") it answers\n"
            "the ssl_bump question of LLM capture: OK for a logging workspace reaching\n"
            "a listed LLM host (contrib/squid/egress-capture.conf).\n"
            "\n"
            "  --database DIR        the LMDB store shared with egress-api\n"
            "                        (default " ACL_DEFAULT_DATABASE ")\n"
            "  --unknown-client deny|allow\n"
            "                        a client IP mapped to no project (default deny)\n"
            "  --flush-interval TIME how often counts are written: 10ms..3600s, e.g. 1s,\n"
            "                        500ms (default 1s)\n"
            "  --max-readers N       LMDB reader slots if this process creates the store\n"
            "                        (default 512)\n"
            "  --map-size SIZE       LMDB map size, at least 1M, K/M/G/T suffix (default 1G)\n"
            "  --help                this text\n");
}

/* Parse the options into @p conf; 0, or 2 with a message naming the option. */
static int parse_args(int argc, char **argv, struct acl_conf *conf)
{
    static const struct option longopts[] = {
        {"database", required_argument, NULL, 'd'},
        {"unknown-client", required_argument, NULL, 'u'},
        {"flush-interval", required_argument, NULL, 'f'},
        {"max-readers", required_argument, NULL, 'r'},
        {"map-size", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char why[160], *end;
    uint64_t v;
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (optarg[0] != '/') {
                fprintf(stderr, "egress-acl: --database must be an absolute path, not '%s'\n",
                        optarg);
                return 2;
            }
            conf->database = optarg;
            break;
        case 'u':
            if (strcmp(optarg, "deny") == 0 || strcmp(optarg, "allow") == 0) {
                conf->unknown_allow = optarg[0] == 'a';
                break;
            }
            fprintf(stderr, "egress-acl: --unknown-client must be deny or allow, not '%s'\n",
                    optarg);
            return 2;
        case 'f':
            if (ep_duration_parse(optarg, 1000, &v, why, sizeof why) != 0) {
                fprintf(stderr, "egress-acl: --flush-interval: %s\n", why);
                return 2;
            }
            if (v < 10 || v > 3600 * 1000) {
                fprintf(stderr,
                        "egress-acl: --flush-interval must be a time from 10ms to 3600s (e.g. "
                        "1s or 500ms), not '%s'\n",
                        optarg);
                return 2;
            }
            conf->flush_ms = (unsigned)v;
            break;
        case 'r':
            v = strtoull(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || v < 1 || v > 1000000) {
                fprintf(stderr,
                        "egress-acl: --max-readers must be a number from 1 to 1000000, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            conf->max_readers = (unsigned)v;
            break;
        case 'm':
            if (ep_size_parse(optarg, &v, why, sizeof why) != 0) {
                fprintf(stderr, "egress-acl: --map-size: %s\n", why);
                return 2;
            }
            if (v < (1ULL << 20) || v > SIZE_MAX) {
                fprintf(stderr, "egress-acl: --map-size must be a size of at least 1m, not '%s'\n",
                        optarg);
                return 2;
            }
            conf->map_size = (size_t)v;
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
    return 0;
}

int main(int argc, char **argv)
{
    static struct acl_state st = {
        .conf =
            {
                .database = ACL_DEFAULT_DATABASE,
                .unknown_allow = false,
                .flush_ms = 1000,
                .max_readers = 512,
                .map_size = (size_t)1 << 30,
            },
    };
    struct sigaction sa;
    int rc;

    rc = parse_args(argc, argv, &st.conf);
    if (rc != 0)
        return rc;

    /* No SA_RESTART: a signal ends the blocking read, and the loop with it. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (current_store(&st) == NULL)
        log_store_error(&st, "cannot open the store at start, requests are denied until it opens",
                        st.open_error);

    serve(&st);

    /* The last flush: every count noted reaches the store before exit. */
    ep_recorder_free(st.rec);
    ep_store_close(st.store);
    fprintf(stderr,
            "egress-acl: exit (%s): %llu allowed, %llu denied, %llu recorded, %llu store errors, "
            "%llu bad requests, %llu bumped, %llu not bumped\n",
            acl_stop == SIGPIPE ? "output closed"
            : acl_stop          ? "signal"
                                : "end of input",
            st.n.allowed, st.n.denied, st.n.recorded, st.n.errors, st.n.bad, st.n.bumped,
            st.n.spliced);
    return 0;
}
