/*
 * storectl: put projects, IP mappings and rules into a store from shell
 * tests, and read back what was recorded. A test tool over the policy
 * core's public API (policy/store.h), independent of egress-api.
 *
 *   storectl DIR create-project ID MODE [PROFILE]
 *   storectl DIR set-mode ID MODE
 *   storectl DIR set-profile ID PROFILE
 *   storectl DIR map IP ID
 *   storectl DIR unmap ID
 *   storectl DIR rules-replace PROFILE RULE...      (no RULE: empty whitelist)
 *   storectl DIR rules-replace PROFILE --file FILE  (one rule a line)
 *   storectl DIR add-rule PROFILE RULE
 *   storectl DIR seen ID      prints "HOST COUNT ALLOWED DENIED FIRST LAST VERDICT" lines
 *   storectl DIR rules-list PROFILE   prints the profile's rules, one a line
 *   storectl DIR hold         keeps the store open until its standard input ends
 *                             (so the reader table is not reset by a last close)
 *   storectl DIR fill-readers N   opens the store first with N reader slots and
 *                             holds reads until every slot is taken, prints
 *                             "full K", and keeps them until its standard input ends
 *
 * MODE is security, logging or none. Exit status 0 on success, 1 with a
 * message naming the problem otherwise, 2 on a usage error.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include "policy/decide.h"
#include "policy/error.h"
#include "policy/rule.h"
#include "policy/store.h"

static int usage(void)
{
    fprintf(stderr, "usage: storectl DIR create-project ID MODE [PROFILE]\n"
                    "       storectl DIR set-mode ID MODE\n"
                    "       storectl DIR set-profile ID PROFILE\n"
                    "       storectl DIR map IP ID\n"
                    "       storectl DIR unmap ID\n"
                    "       storectl DIR rules-replace PROFILE [RULE... | --file FILE]\n"
                    "       storectl DIR add-rule PROFILE RULE\n"
                    "       storectl DIR seen ID\n"
                    "       storectl DIR rules-list PROFILE\n"
                    "       storectl DIR hold\n"
                    "       storectl DIR fill-readers N\n");
    return 2;
}

/* Print one rule as written. */
static int print_rule(void *ctx, const struct ep_rule *r)
{
    char text[EP_RULE_BUFSZ];

    (void)ctx;
    ep_rule_format(r, text);
    printf("%s\n", text);
    return 0;
}

/* Parse one rule, printing why it is refused. */
static int parse_rule(const char *text, struct ep_rule *out)
{
    char why[256] = "";
    int rc = ep_rule_parse(text, out, why, sizeof why);

    if (rc != 0)
        fprintf(stderr, "storectl: rule '%s': %s\n", text, why[0] ? why : ep_strerror(rc));
    return rc;
}

/* Read rules from @p path, one a line (empty lines skipped), into a growing array. */
static int read_rules(const char *path, struct ep_rule **rules, size_t *n)
{
    char line[EP_RULE_BUFSZ + 2];
    size_t cap = 0;
    FILE *f = fopen(path, "r");
    int rc = 0;

    if (f == NULL) {
        perror(path);
        return 1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (*n == cap) {
            struct ep_rule *more;
            cap = cap ? cap * 2 : 1024;
            more = realloc(*rules, cap * sizeof **rules);
            if (more == NULL) {
                rc = EP_E_NOMEM;
                goto out;
            }
            *rules = more;
        }
        rc = parse_rule(line, &(*rules)[*n]);
        if (rc != 0)
            goto out;
        (*n)++;
    }
out:
    fclose(f);
    return rc;
}

static int print_seen(void *ctx, const char *host, const struct ep_seen *s)
{
    printf("%s %llu %llu %llu %lld %lld %s\n", host, (unsigned long long)s->count,
           (unsigned long long)s->allowed, (unsigned long long)s->denied, (long long)s->first_seen,
           (long long)s->last_seen, s->last_verdict == EP_VERDICT_ALLOW ? "allow" : "deny");
    return 0;
}

/* Change one field of a project: its mode (@p mode non-NULL) or its profile. */
static int update_project(struct ep_store *store, const char *id, const char *mode,
                          const char *profile)
{
    struct ep_project p;
    enum ep_mode m;
    int rc = ep_store_project_get(store, id, &p);

    if (rc != 0)
        return rc;
    if (mode != NULL) {
        rc = ep_mode_parse(mode, &m);
        if (rc != 0)
            return rc;
        p.mode = m;
    }
    if (profile != NULL)
        snprintf(p.profile, sizeof p.profile, "%s", profile);
    return ep_store_project_update(store, &p);
}

/*
 * Take every reader slot of a store this process opens first (so the
 * reader table has @p slots entries) and keep them until standard input
 * ends: what a store overloaded by readers looks like to everyone else.
 */
static int fill_readers(const char *dir, const char *slots)
{
    struct ep_store_options opts = {.max_readers = (unsigned)strtoul(slots, NULL, 10)};
    struct ep_store_read *reads[4096];
    struct ep_store *store = NULL;
    size_t n = 0;
    int rc;

    rc = ep_store_open(dir, &opts, &store);
    while (rc == 0 && n < sizeof reads / sizeof reads[0])
        if ((rc = ep_store_read_begin(store, &reads[n])) == 0)
            n++;
    if (rc == MDB_READERS_FULL) {
        printf("full %zu\n", n);
        fflush(stdout);
        while (getchar() != EOF)
            ;
        rc = 0;
    } else {
        fprintf(stderr, "storectl: fill-readers: %s after %zu reads\n",
                rc ? ep_strerror(rc) : "no limit reached", n);
        rc = rc ? rc : EP_E_INVAL;
    }
    while (n > 0)
        ep_store_read_end(reads[--n]);
    ep_store_close(store);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct ep_store *store = NULL;
    struct ep_rule *rules = NULL;
    size_t n = 0;
    const char *cmd;
    int rc;

    if (argc < 3)
        return usage();
    cmd = argv[2];
    if (strcmp(cmd, "fill-readers") == 0)
        return argc == 4 ? fill_readers(argv[1], argv[3]) : usage();
    rc = ep_store_open(argv[1], NULL, &store);
    if (rc != 0) {
        fprintf(stderr, "storectl: cannot open the store in %s: %s\n", argv[1], ep_strerror(rc));
        return 1;
    }
    if (strcmp(cmd, "create-project") == 0 && (argc == 5 || argc == 6)) {
        struct ep_project p;
        enum ep_mode m;

        memset(&p, 0, sizeof p);
        rc = ep_mode_parse(argv[4], &m);
        if (rc == 0) {
            snprintf(p.id, sizeof p.id, "%s", argv[3]);
            snprintf(p.name, sizeof p.name, "%s", argv[3]);
            snprintf(p.type, sizeof p.type, "%s", "test");
            snprintf(p.profile, sizeof p.profile, "%s", argc == 6 ? argv[5] : EP_PROFILE_DEFAULT);
            p.created_at = (int64_t)time(NULL);
            p.mode = m;
            p.status = EP_STATUS_RUNNING;
            rc = ep_store_project_create(store, &p, 0);
        }
    } else if (strcmp(cmd, "set-mode") == 0 && argc == 5) {
        rc = update_project(store, argv[3], argv[4], NULL);
    } else if (strcmp(cmd, "set-profile") == 0 && argc == 5) {
        rc = update_project(store, argv[3], NULL, argv[4]);
    } else if (strcmp(cmd, "map") == 0 && argc == 5) {
        rc = ep_store_client_map(store, argv[3], argv[4]);
    } else if (strcmp(cmd, "unmap") == 0 && argc == 4) {
        rc = ep_store_client_unmap(store, argv[3]);
    } else if (strcmp(cmd, "rules-replace") == 0 && argc >= 4) {
        if (argc == 6 && strcmp(argv[4], "--file") == 0) {
            rc = read_rules(argv[5], &rules, &n);
        } else {
            rules = calloc((size_t)argc, sizeof *rules);
            rc = rules == NULL ? EP_E_NOMEM : 0;
            for (int i = 4; rc == 0 && i < argc; i++)
                rc = parse_rule(argv[i], &rules[n++]);
        }
        if (rc == 0)
            rc = ep_store_rules_replace(store, argv[3], rules, n);
    } else if (strcmp(cmd, "add-rule") == 0 && argc == 5) {
        struct ep_rule r;
        bool added;

        rc = parse_rule(argv[4], &r);
        if (rc == 0)
            rc = ep_store_rule_add(store, argv[3], &r, &added);
    } else if (strcmp(cmd, "hold") == 0 && argc == 3) {
        printf("held\n");
        fflush(stdout);
        while (getchar() != EOF)
            ;
    } else if (strcmp(cmd, "rules-list") == 0 && argc == 4) {
        rc = ep_store_rules_list(store, argv[3], print_rule, NULL);
    } else if (strcmp(cmd, "seen") == 0 && argc == 4) {
        rc = ep_store_seen_list(store, argv[3], print_seen, NULL);
    } else {
        ep_store_close(store);
        return usage();
    }
    if (rc != 0)
        fprintf(stderr, "storectl: %s: %s\n", cmd, ep_strerror(rc));
    free(rules);
    ep_store_close(store);
    return rc == 0 ? 0 : 1;
}
