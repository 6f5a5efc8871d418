/*
 * The LMDB store (policy/store.h) on a real environment: schema creation
 * and reopen, a foreign schema refused, projects with their limit (also
 * from several processes at once), the IP map and its conflicts, clients
 * kept in step, cascading delete, rules with generations (and ports: a
 * range of keys of their own, listed after the others, the rules without a
 * port keeping their keys), seen records (a host with a port as long as
 * the longest), the audit log, a full map that loses nothing committed,
 * read-only use.
 */
#include <errno.h>
#include <lmdb.h>
#include <sys/wait.h>

#include "tests/store/storetest.h"

struct rule_list {
    char text[64][EP_RULE_BUFSZ];
    size_t n;
};

static int rule_list_cb(void *ctx, const struct ep_rule *r)
{
    struct rule_list *l = ctx;

    if (l->n < 64)
        ep_rule_format(r, l->text[l->n]);
    l->n++;
    return 0;
}

static struct rule_list rules_of(struct ep_store *s, const char *profile)
{
    struct rule_list l = {.n = 0};

    CHECK_INT(ep_store_rules_list(s, profile, rule_list_cb, &l), 0);
    return l;
}

static bool client_row(struct ep_store *s, const char *ip, struct ep_client *row)
{
    struct ep_store_read *rd;
    int rc;

    REQUIRE(ep_store_read_begin(s, &rd) == 0);
    rc = ep_store_read_client(rd, ip, row);
    ep_store_read_end(rd);
    REQUIRE(rc == 0 || rc == EP_E_NOTFOUND);
    return rc == 0;
}

static void test_schema(void)
{
    const char *dir = store_dir("schema");
    struct ep_store *s = store_open_dir(dir, 0);
    struct ep_profile_info base, def, again;
    struct rule_list l = rules_of(s, EP_PROFILE_BASE);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val key = {6, "schema"}, val;
    uint32_t other = EP_STORE_SCHEMA + 1;

    /* The reference's six base domains, in reversed-host order. */
    CHECK_INT(l.n, 6);
    CHECK_STR(l.text[0], ".nodesource.com");
    CHECK_STR(l.text[1], ".ubuntu.com");
    CHECK_STR(l.text[2], ".debian.org");
    CHECK_STR(l.text[3], ".eclipsecontent.org");
    CHECK_STR(l.text[4], ".open-vsx.org");
    CHECK_STR(l.text[5], ".openvsx.org");
    CHECK_INT(ep_store_profile_get(s, EP_PROFILE_BASE, &base), 0);
    CHECK_INT(base.rules, 6);
    CHECK_INT(ep_store_profile_get(s, EP_PROFILE_DEFAULT, &def), 0);
    CHECK_INT(def.rules, 0);
    CHECK_INT(ep_store_profile_get(s, "never", &def), EP_E_NOTFOUND);
    ep_store_close(s);

    /* Reopening initialises nothing again. */
    s = store_open_dir(dir, 0);
    CHECK_INT(ep_store_profile_get(s, EP_PROFILE_BASE, &again), 0);
    CHECK_INT(again.generation, base.generation);
    CHECK_INT(rules_of(s, EP_PROFILE_BASE).n, 6);
    ep_store_close(s);

    /* A store written by another schema version is refused. */
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
    REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    val.mv_size = sizeof other;
    val.mv_data = &other;
    REQUIRE(mdb_put(txn, meta, &key, &val, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    s = NULL;
    CHECK_INT(ep_store_open(dir, NULL, &s), EP_E_SCHEMA);
    CHECK(s == NULL);
}

static int count_cb(void *ctx, const struct ep_project *p)
{
    (void)p;
    ++*(int *)ctx;
    return 0;
}

static void test_projects(void)
{
    struct ep_store *s = store_open_dir(store_dir("projects"), 0);
    struct ep_project p = project_make("p1", "", EP_MODE_SECURITY), got, bad;
    int n = 0;

    CHECK_INT(ep_store_project_create(s, &p, 0), 0);
    CHECK_INT(ep_store_project_create(s, &p, 0), EP_E_EXISTS);
    CHECK_INT(ep_store_project_get(s, "p1", &got), 0);
    CHECK_STR(got.name, "Project p1");
    CHECK_STR(got.profile, EP_PROFILE_DEFAULT); /* empty means default */
    CHECK_INT(got.mode, EP_MODE_SECURITY);
    CHECK_INT(ep_store_project_get(s, "nope", &got), EP_E_NOTFOUND);
    CHECK_INT(ep_store_project_get(s, "Bad Id", &got), EP_E_INVAL);

    bad = project_make("UPPER", "default", EP_MODE_SECURITY);
    CHECK_INT(ep_store_project_create(s, &bad, 0), EP_E_INVAL);
    bad = project_make("ok", "bad profile!", EP_MODE_SECURITY);
    CHECK_INT(ep_store_project_create(s, &bad, 0), EP_E_INVAL);
    bad = project_make("ok", "default", 7);
    CHECK_INT(ep_store_project_create(s, &bad, 0), EP_E_INVAL);
    bad = project_make("ok", "default", EP_MODE_SECURITY);
    memset(bad.name, 'x', sizeof bad.name); /* not terminated */
    CHECK_INT(ep_store_project_create(s, &bad, 0), EP_E_INVAL);

    /* The limit counts every project, the check and insert are one transaction. */
    p = project_make("p2", "course", EP_MODE_LOGGING);
    CHECK_INT(ep_store_project_create(s, &p, 3), 0);
    p = project_make("p3", "course", EP_MODE_LOGGING);
    CHECK_INT(ep_store_project_create(s, &p, 3), 0);
    p = project_make("p4", "course", EP_MODE_LOGGING);
    CHECK_INT(ep_store_project_create(s, &p, 3), EP_E_LIMIT);
    CHECK_INT(ep_store_project_create(s, &p, 4), 0);
    CHECK_INT(ep_store_projects_list(s, count_cb, &n), 0);
    CHECK_INT(n, 4);
    /* A project's profile exists from its creation on. */
    struct ep_profile_info info;
    CHECK_INT(ep_store_profile_get(s, "course", &info), 0);
    ep_store_close(s);
}

/* Several processes create projects at once under one limit: never more than the limit. */
static void test_parallel_limit(void)
{
    const char *dir = store_dir("limit");
    const int procs = 6, each = 5, limit = 10;
    int created = 0, status, n = 0;
    struct ep_store *s;

    ep_store_close(store_open_dir(dir, 0));
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();

        REQUIRE(pid >= 0);
        if (pid == 0) {
            int ok = 0;

            s = store_open_dir(dir, 0);
            for (int j = 0; j < each; j++) {
                char id[32];
                struct ep_project p;
                int rc;

                snprintf(id, sizeof id, "c%d-%d", i, j);
                p = project_make(id, "default", EP_MODE_SECURITY);
                rc = ep_store_project_create(s, &p, limit);
                if (rc == 0)
                    ok++;
                else if (rc != EP_E_LIMIT)
                    _exit(99);
            }
            ep_store_close(s);
            _exit(ok);
        }
    }
    for (int i = 0; i < procs; i++) {
        REQUIRE(wait(&status) > 0);
        REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) != 99);
        created += WEXITSTATUS(status);
    }
    CHECK_INT(created, limit);
    s = store_open_dir(dir, 0);
    CHECK_INT(ep_store_projects_list(s, count_cb, &n), 0);
    CHECK_INT(n, limit);
    ep_store_close(s);
}

static void test_clients(void)
{
    struct ep_store *s = store_open_dir(store_dir("clients"), 0);
    struct ep_project p, got;
    struct ep_client row;

    project_add(s, "a", "course", EP_MODE_SECURITY, NULL);
    project_add(s, "b", "default", EP_MODE_LOGGING, NULL);
    CHECK_INT(ep_store_client_map(s, "10.0.0.1", "a"), 0);
    CHECK_INT(ep_store_project_get(s, "a", &got), 0);
    CHECK_STR(got.ip, "10.0.0.1");
    CHECK(client_row(s, "10.0.0.1", &row));
    CHECK_STR(row.project_id, "a");
    CHECK_STR(row.profile, "course");
    CHECK_INT(row.mode, EP_MODE_SECURITY);

    /* One IP, one project. */
    CHECK_INT(ep_store_client_map(s, "10.0.0.1", "b"), EP_E_CONFLICT);
    CHECK(client_row(s, "10.0.0.1", &row) && strcmp(row.project_id, "a") == 0);
    CHECK_INT(ep_store_client_map(s, "10.0.0.1", "a"), 0); /* idempotent */
    CHECK_INT(ep_store_client_map(s, "10.0.0.9", "nope"), EP_E_NOTFOUND);
    CHECK_INT(ep_store_client_map(s, "10.0.0.01", "a"), EP_E_INVAL);
    CHECK_INT(ep_store_client_map(s, "::FFFF:1", "a"), EP_E_INVAL);
    CHECK_INT(ep_store_client_map(s, "not-an-ip", "a"), EP_E_INVAL);
    /* A project holding an IP cannot take one held by another. */
    CHECK_INT(ep_store_client_map(s, "10.0.0.2", "b"), 0);
    CHECK_INT(ep_store_client_map(s, "10.0.0.2", "a"), EP_E_CONFLICT);
    CHECK(client_row(s, "10.0.0.1", &row) && strcmp(row.project_id, "a") == 0);

    /* Moving a project to a new IP drops its old one. */
    CHECK_INT(ep_store_client_map(s, "fd00::5", "a"), 0);
    CHECK(!client_row(s, "10.0.0.1", &row));
    CHECK(client_row(s, "fd00::5", &row) && strcmp(row.project_id, "a") == 0);
    CHECK_INT(ep_store_client_map(s, "10.0.0.1", "b"), 0); /* free again */
    CHECK(!client_row(s, "10.0.0.2", &row));

    /* An update keeps the clients row in step but never changes the IP. */
    CHECK_INT(ep_store_project_get(s, "a", &p), 0);
    p.mode = EP_MODE_LOGGING;
    snprintf(p.profile, sizeof p.profile, "other");
    snprintf(p.ip, sizeof p.ip, "10.9.9.9");
    CHECK_INT(ep_store_project_update(s, &p), 0);
    CHECK(client_row(s, "fd00::5", &row));
    CHECK_INT(row.mode, EP_MODE_LOGGING);
    CHECK_STR(row.profile, "other");
    CHECK(!client_row(s, "10.9.9.9", &row));
    CHECK_INT(ep_store_project_get(s, "a", &got), 0);
    CHECK_STR(got.ip, "fd00::5");
    p = project_make("ghost", "default", EP_MODE_SECURITY);
    CHECK_INT(ep_store_project_update(s, &p), EP_E_NOTFOUND);

    /* Unmap. */
    CHECK_INT(ep_store_client_unmap(s, "a"), 0);
    CHECK(!client_row(s, "fd00::5", &row));
    CHECK_INT(ep_store_project_get(s, "a", &got), 0);
    CHECK_STR(got.ip, "");
    CHECK_INT(ep_store_client_unmap(s, "a"), 0);
    CHECK_INT(ep_store_client_unmap(s, "nope"), EP_E_NOTFOUND);
    ep_store_close(s);
}

static int seen_count_cb(void *ctx, const char *host, const struct ep_seen *s)
{
    (void)host;
    (void)s;
    ++*(int *)ctx;
    return 0;
}

static void test_seen_and_delete(void)
{
    struct ep_store *s = store_open_dir(store_dir("seen"), 0);
    struct ep_seen_delta d[3] = {
        {"a", "x.example.com", 2, 1, 100, 200, EP_VERDICT_DENY},
        {"a", "y.example.com", 1, 0, 150, 150, EP_VERDICT_ALLOW},
        {"b", "x.example.com", 0, 4, 120, 130, EP_VERDICT_DENY},
    };
    struct ep_seen_delta later = {"a", "x.example.com", 1, 0, 90, 300, EP_VERDICT_ALLOW};
    struct ep_seen seen;
    struct ep_client row;
    struct ep_project got;
    uint64_t total;
    int n = 0;

    project_add(s, "a", "default", EP_MODE_LOGGING, "10.1.0.1");
    project_add(s, "b", "default", EP_MODE_SECURITY, "10.1.0.2");
    CHECK_INT(ep_store_seen_add(s, d, 3), 0);
    CHECK_INT(ep_store_seen_add(s, &later, 1), 0);
    CHECK(seen_get(s, "a", "x.example.com", &seen));
    CHECK_INT(seen.count, 4);
    CHECK_INT(seen.allowed, 3);
    CHECK_INT(seen.denied, 1);
    CHECK_INT(seen.first_seen, 90);
    CHECK_INT(seen.last_seen, 300);
    CHECK_INT(seen.last_verdict, EP_VERDICT_ALLOW);
    CHECK_INT(ep_store_seen_total(s, &total), 0);
    CHECK_INT(total, 3);
    CHECK_INT(ep_store_seen_list(s, "a", seen_count_cb, &n), 0);
    CHECK_INT(n, 2);

    /* Delete: the project, its IP mapping and its seen records; nothing of b. */
    CHECK_INT(ep_store_project_delete(s, "a"), 0);
    CHECK_INT(ep_store_project_get(s, "a", &got), EP_E_NOTFOUND);
    CHECK(!client_row(s, "10.1.0.1", &row));
    CHECK(client_row(s, "10.1.0.2", &row));
    n = 0;
    CHECK_INT(ep_store_seen_list(s, "a", seen_count_cb, &n), 0);
    CHECK_INT(n, 0);
    CHECK(seen_get(s, "b", "x.example.com", &seen));
    CHECK_INT(seen.count, 4);
    CHECK_INT(ep_store_project_delete(s, "a"), EP_E_NOTFOUND);
    /* A recycled IP inherits nothing. */
    project_add(s, "c", "default", EP_MODE_SECURITY, "10.1.0.1");
    CHECK(!seen_get(s, "c", "x.example.com", &seen));

    /* A host with a port is a record of its own, up to the longest name with ":65535". */
    char longest[EP_HOST_PORT_BUFSZ], too_long[EP_HOST_PORT_BUFSZ + 1];
    struct ep_seen_delta port_d[2] = {
        {"b", "x.example.com:22", 0, 1, 140, 140, EP_VERDICT_DENY},
        {"b", longest, 0, 1, 140, 140, EP_VERDICT_DENY},
    };
    memset(longest, 'a', EP_HOST_MAX);
    for (size_t i = 63; i < EP_HOST_MAX; i += 64)
        longest[i] = '.';
    snprintf(longest + EP_HOST_MAX, sizeof longest - EP_HOST_MAX, ":65535");
    CHECK_INT(strlen(longest), EP_HOST_PORT_MAX);
    CHECK_INT(ep_store_seen_add(s, port_d, 2), 0);
    CHECK(seen_get(s, "b", "x.example.com:22", &seen));
    CHECK_INT(seen.denied, 1);
    CHECK(seen_get(s, "b", longest, &seen));
    CHECK(seen_get(s, "b", "x.example.com", &seen));
    CHECK_INT(seen.count, 4);
    snprintf(too_long, sizeof too_long, "%sx", longest);
    port_d[0].host = too_long;
    CHECK_INT(ep_store_seen_add(s, port_d, 1), EP_E_INVAL);
    n = 0;
    CHECK_INT(ep_store_seen_list_after(s, "b", "x.example.com", seen_count_cb, &n), 0);
    CHECK_INT(n, 1); /* x.example.com:22 sorts right after x.example.com */

    CHECK_INT(ep_store_seen_clear(s, "b"), 0);
    CHECK_INT(ep_store_seen_total(s, &total), 0);
    CHECK_INT(total, 0);
    ep_store_close(s);
}

static int profile_list_cb(void *ctx, const struct ep_profile_info *p)
{
    struct rule_list *l = ctx;

    if (l->n < 64)
        snprintf(l->text[l->n], sizeof l->text[0], "%s:%u:%u", p->name, p->rules, p->projects);
    l->n++;
    return 0;
}

static void test_rules(void)
{
    struct ep_store *s = store_open_dir(store_dir("rules"), 0);
    struct ep_profile_info info, before;
    struct ep_rule r = rule_of("api.example.com");
    struct rule_list l;
    bool added = true;
    static const char *const mixed[] = {
        "~^[a-z]+\\.example\\.org$", "ip:192.0.2.7", "*.example.com",
        "api.example.com",           ".example.com", "ip:2001:db8::1",
        "zeta.example.net",          NULL,
    };

    CHECK_INT(ep_store_rule_add(s, "course", &r, &added), 0);
    CHECK(added);
    CHECK_INT(ep_store_profile_get(s, "course", &info), 0);
    CHECK_INT(info.rules, 1);
    before = info;
    CHECK_INT(ep_store_rule_add(s, "course", &r, &added), 0);
    CHECK(!added);
    CHECK_INT(ep_store_profile_get(s, "course", &info), 0);
    CHECK_INT(info.rules, 1);

    /* Three host kinds on one name are three rules. */
    r = rule_of(".api.example.com");
    CHECK_INT(ep_store_rule_add(s, "course", &r, &added), 0);
    CHECK(added);
    r = rule_of("*.api.example.com");
    CHECK_INT(ep_store_rule_add(s, "course", &r, NULL), 0);
    CHECK_INT(ep_store_profile_get(s, "course", &info), 0);
    CHECK_INT(info.rules, 3);
    CHECK(info.generation > before.generation);
    l = rules_of(s, "course");
    CHECK_INT(l.n, 3);
    CHECK_STR(l.text[0], "api.example.com");
    CHECK_STR(l.text[1], ".api.example.com");
    CHECK_STR(l.text[2], "*.api.example.com");

    before = info;
    CHECK_INT(ep_store_rule_remove(s, "course", &r), 0);
    CHECK_INT(ep_store_rule_remove(s, "course", &r), EP_E_NOTFOUND);
    CHECK_INT(ep_store_rule_remove(s, "never", &r), EP_E_NOTFOUND);
    CHECK_INT(ep_store_profile_get(s, "course", &info), 0);
    CHECK_INT(info.rules, 2);
    CHECK(info.generation > before.generation);
    CHECK_INT(ep_store_rule_add(s, "Bad Name", &r, NULL), EP_E_INVAL);

    /* Replace: listing gives host rules (reversed-host order), ip:, then regex. */
    before = info;
    CHECK_INT(rules_set(s, "course", mixed), 0);
    CHECK_INT(ep_store_profile_get(s, "course", &info), 0);
    CHECK_INT(info.rules, 7);
    CHECK(info.generation > before.generation);
    l = rules_of(s, "course");
    CHECK_INT(l.n, 7);
    CHECK_STR(l.text[0], ".example.com");
    CHECK_STR(l.text[1], "*.example.com");
    CHECK_STR(l.text[2], "api.example.com");
    CHECK_STR(l.text[3], "zeta.example.net");
    CHECK_STR(l.text[4], "ip:192.0.2.7");
    CHECK_STR(l.text[5], "ip:2001:db8::1");
    CHECK_STR(l.text[6], "~^[a-z]+\\.example\\.org$");

    /*
     * Ports: the same names with ports are other rules, listed after the
     * rules without a port, by port; each removed alone. A hand-made rule
     * of a web port or a regex with a port is no rule.
     */
    static const char *const ported[] = {
        ".example.com:8080",
        "api.example.com",
        "ip:[2001:db8::1]:22",
        "api.example.com:22",
        "*.example.com:22",
        "ip:192.0.2.7:8080",
        ".example.com",
        "ip:192.0.2.7",
        "~^[a-z]+\\.example\\.org$",
        "zeta.example.net:65535",
        NULL,
    };
    CHECK_INT(rules_set(s, "course", ported), 0);
    CHECK_INT(ep_store_profile_get(s, "course", &info), 0);
    CHECK_INT(info.rules, 10);
    l = rules_of(s, "course");
    CHECK_INT(l.n, 10);
    CHECK_STR(l.text[0], ".example.com");
    CHECK_STR(l.text[1], "api.example.com");
    CHECK_STR(l.text[2], "ip:192.0.2.7");
    CHECK_STR(l.text[3], "~^[a-z]+\\.example\\.org$");
    CHECK_STR(l.text[4], "ip:[2001:db8::1]:22");
    CHECK_STR(l.text[5], "*.example.com:22");
    CHECK_STR(l.text[6], "api.example.com:22");
    CHECK_STR(l.text[7], "ip:192.0.2.7:8080");
    CHECK_STR(l.text[8], ".example.com:8080");
    CHECK_STR(l.text[9], "zeta.example.net:65535");
    r = rule_of("api.example.com:22");
    CHECK_INT(ep_store_rule_remove(s, "course", &r), 0);
    CHECK_INT(ep_store_rule_remove(s, "course", &r), EP_E_NOTFOUND);
    r = rule_of("api.example.com:2222");
    CHECK_INT(ep_store_rule_remove(s, "course", &r), EP_E_NOTFOUND);
    l = rules_of(s, "course");
    CHECK_INT(l.n, 9);
    CHECK_STR(l.text[1], "api.example.com");
    CHECK_STR(l.text[5], "*.example.com:22");
    r = rule_of("api.example.com");
    r.port = 443;
    CHECK_INT(ep_store_rule_add(s, "course", &r, NULL), EP_E_INVAL);
    r = rule_of("~^a$");
    r.port = 22;
    CHECK_INT(ep_store_rule_add(s, "course", &r, NULL), EP_E_INVAL);
    CHECK_INT(rules_set(s, "course", mixed), 0);

    /* Batch add reports what was new; other profiles and the base are untouched. */
    struct ep_rule batch[2] = {rule_of("zeta.example.net"), rule_of("new.example.net")};
    bool was_new[2];
    CHECK_INT(ep_store_rules_add(s, "course", batch, 2, was_new), 0);
    CHECK(!was_new[0] && was_new[1]);
    CHECK_INT(rules_of(s, EP_PROFILE_BASE).n, 6);
    static const char *const none[] = {NULL};
    CHECK_INT(rules_set(s, "course", none), 0);
    CHECK_INT(rules_of(s, "course").n, 0);
    CHECK_INT(ep_store_profile_get(s, "course", &info), 0);
    CHECK_INT(info.rules, 0);

    /* Profiles list: never the base profile, with project counts. */
    project_add(s, "p1", "course", EP_MODE_SECURITY, NULL);
    project_add(s, "p2", "course", EP_MODE_SECURITY, NULL);
    project_add(s, "p3", "default", EP_MODE_SECURITY, NULL);
    l.n = 0;
    CHECK_INT(ep_store_profiles_list(s, profile_list_cb, &l), 0);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.text[0], "course:0:2");
    CHECK_STR(l.text[1], "default:0:1");
    ep_store_close(s);
}

struct audit_walk {
    char seen[16][200];
    int n;
};

static int audit_cb(void *ctx, const struct ep_audit_entry *e)
{
    struct audit_walk *w = ctx;

    if (w->n < 16)
        snprintf(w->seen[w->n], sizeof w->seen[0], "%lld:%s", (long long)e->time_us, e->target);
    w->n++;
    return 0;
}

static void test_audit(void)
{
    struct ep_store *s = store_open_dir(store_dir("audit"), 0);
    struct ep_audit_entry e;
    struct audit_walk w = {.n = 0};
    const char *targets[] = {"first", "second", "third"};

    /* Entries of the same microsecond keep their order; earlier times sort first. */
    for (int i = 0; i < 3; i++) {
        memset(&e, 0, sizeof e);
        e.time_us = 5000;
        snprintf(e.action, sizeof e.action, "project.create");
        snprintf(e.target, sizeof e.target, "%s", targets[i]);
        CHECK_INT(ep_store_audit_append(s, &e), 0);
    }
    e.time_us = 4000;
    snprintf(e.target, sizeof e.target, "older");
    CHECK_INT(ep_store_audit_append(s, &e), 0);
    e.time_us = 0;
    snprintf(e.target, sizeof e.target, "now");
    CHECK_INT(ep_store_audit_append(s, &e), 0);

    CHECK_INT(ep_store_audit_list(s, 0, audit_cb, &w), 0);
    CHECK_INT(w.n, 5);
    CHECK(strstr(w.seen[0], ":now") != NULL && strtoll(w.seen[0], NULL, 10) > 1600000000000000LL);
    CHECK_STR(w.seen[1], "5000:third");
    CHECK_STR(w.seen[2], "5000:second");
    CHECK_STR(w.seen[3], "5000:first");
    CHECK_STR(w.seen[4], "4000:older");
    w.n = 0;
    CHECK_INT(ep_store_audit_list(s, 2, audit_cb, &w), 0);
    CHECK_INT(w.n, 2);
    ep_store_close(s);
}

/* A map too small for the next write: MDB_MAP_FULL, and everything committed before stays. */
static void test_map_full(void)
{
    const char *dir = store_dir("mapfull");
    const size_t map = 256 * 1024;
    struct ep_store *s = store_open_dir(dir, map);
    struct ep_rule batch[50] = {0};
    size_t committed = 0;
    int rc = 0, round;

    for (round = 0; round < 1000; round++) {
        for (int i = 0; i < 50; i++) {
            batch[i].kind = EP_RULE_EXACT;
            snprintf(batch[i].host, sizeof batch[i].host, "host-%d-%d.a-rather-long-domain.test",
                     round, i);
        }
        rc = ep_store_rules_add(s, "big", batch, 50, NULL);
        if (rc)
            break;
        committed += 50;
    }
    CHECK_INT(rc, MDB_MAP_FULL);
    CHECK(committed > 0);
    CHECK(strstr(ep_strerror(rc), "map") != NULL || strstr(ep_strerror(rc), "Map") != NULL);
    /* Other writes fail the same way, never half done; reads go on. */
    struct ep_profile_info info;
    CHECK_INT(ep_store_profile_get(s, "big", &info), 0);
    CHECK_INT(info.rules, committed);
    ep_store_close(s);

    s = store_open_dir(dir, map);
    CHECK_INT(rules_of(s, "big").n, committed);
    CHECK_INT(ep_store_profile_get(s, "big", &info), 0);
    CHECK_INT(info.rules, committed);
    CHECK_INT(rules_of(s, EP_PROFILE_BASE).n, 6);
    ep_store_close(s);
    /* A larger map on the next open makes room again. */
    s = store_open_dir(dir, 4 * map);
    CHECK_INT(ep_store_rules_add(s, "big", batch, 50, NULL), 0);
    CHECK_INT(rules_of(s, "big").n, committed + 50);
    ep_store_close(s);
}

static void test_read_only(void)
{
    const char *dir = store_dir("ro");
    struct ep_store_options ro = {.read_only = true};
    struct ep_store *s = NULL;
    struct ep_project p = project_make("x", "default", EP_MODE_SECURITY);
    unsigned readers = 0;

    /* A read-only open of an empty directory cannot create the schema. */
    CHECK(ep_store_open(dir, &ro, &s) != 0);
    ep_store_close(store_open_dir(dir, 0));
    CHECK_INT(ep_store_open(dir, &ro, &s), 0);
    if (!s)
        return;
    CHECK_INT(ep_store_project_create(s, &p, 0), EACCES);
    CHECK_INT(rules_of(s, EP_PROFILE_BASE).n, 6);
    CHECK_INT(ep_store_readers_used(s, &readers), 0);
    CHECK(readers >= 1); /* the pooled read transaction keeps its slot */
    ep_store_close(s);
}

static void test_names(void)
{
    enum ep_mode m;

    CHECK_STR(ep_mode_name(EP_MODE_SECURITY), "security");
    CHECK_STR(ep_mode_name(EP_MODE_LOGGING), "logging");
    CHECK_STR(ep_mode_name(EP_MODE_NONE), "none");
    CHECK(ep_mode_name(9) == NULL);
    CHECK_INT(ep_mode_parse("logging", &m), 0);
    CHECK_INT(m, EP_MODE_LOGGING);
    CHECK_INT(ep_mode_parse("Logging", &m), EP_E_INVAL);
    CHECK_INT(ep_mode_parse(NULL, &m), EP_E_INVAL);
    CHECK_STR(ep_status_name(EP_STATUS_RUNNING), "running");
    CHECK_STR(ep_status_name(EP_STATUS_NOT_FOUND), "not_found");
}

int main(void)
{
    test_names();
    test_schema();
    test_projects();
    test_parallel_limit();
    test_clients();
    test_seen_and_delete();
    test_rules();
    test_audit();
    test_map_full();
    test_read_only();
    return test_exit();
}
