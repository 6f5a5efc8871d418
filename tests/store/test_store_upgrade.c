/*
 * The upgrade of a schema-2 store to schema 3 (accounts, issue 19). The
 * fixture tests/store/fixtures/store-v2/data.mdb was written by the code
 * of schema 2 through its own programs (fixtures/make-store-v2.sh): two
 * courses' projects (one protected and in logging mode, one mapped to an
 * IP), rules of every kind in two profiles, recorded hosts, captured LLM
 * exchanges and the audit of it all.
 *
 * The first writer upgrades it: every database the old store had is byte
 * for byte what it was (only `meta`'s schema number moves), the new
 * databases are empty (no account; every profile a course owned by
 * nobody), and what a program reads back through the store's interface
 * is all there. A read-only opener refuses the old store until then.
 */
#include "config.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/capture_store.h"
#include "policy/error.h"
#include "policy/store.h"
#include "tests/lib/testutil.h"
#include "tests/store/storetest.h"

#define PROJECT_A "5c33e65a3551" /* Lab A: course-a, logging, protected */
#define PROJECT_B "f5e31fcbcea4" /* Lab B: course-b, 10.44.0.7 */

/* Every database but `meta` and those of schema 3, each key and value, as one text. */
static char *dump_old_databases(const char *dir, size_t *len)
{
    static const char *const skip[] = {"meta",       "accounts",      "sessions",
                                       "api_tokens", "course_owners", NULL};
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi main_db;
    MDB_cursor *names;
    MDB_val k, v;
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    int dbs = 0;

    REQUIRE(f != NULL);
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 64) == 0);
    REQUIRE(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, NULL, 0, &main_db) == 0);
    REQUIRE(mdb_cursor_open(txn, main_db, &names) == 0);
    while (mdb_cursor_get(names, &k, &v, MDB_NEXT) == 0) {
        char name[128];
        bool skipped = false;
        MDB_dbi dbi;
        MDB_cursor *c;
        MDB_val dk, dv;

        snprintf(name, sizeof name, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
        for (int i = 0; skip[i]; i++)
            skipped |= strcmp(name, skip[i]) == 0;
        if (skipped)
            continue;
        dbs++;
        REQUIRE(mdb_dbi_open(txn, name, 0, &dbi) == 0);
        REQUIRE(mdb_cursor_open(txn, dbi, &c) == 0);
        fprintf(f, "[%s]\n", name);
        while (mdb_cursor_get(c, &dk, &dv, MDB_NEXT) == 0) {
            fwrite(&dk.mv_size, sizeof dk.mv_size, 1, f);
            fwrite(dk.mv_data, 1, dk.mv_size, f);
            fwrite(&dv.mv_size, sizeof dv.mv_size, 1, f);
            fwrite(dv.mv_data, 1, dv.mv_size, f);
        }
        mdb_cursor_close(c);
    }
    mdb_cursor_close(names);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    REQUIRE(fclose(f) == 0);
    /* projects clients profiles rules seen audit conversations capture_pending llm_hosts */
    CHECK_INT(dbs, 9);
    return text;
}

static uint32_t schema_of(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val key = {6, "schema"}, val;
    uint32_t v = 0;

    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 64) == 0);
    REQUIRE(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    if (mdb_get(txn, meta, &key, &val) == 0 && val.mv_size == sizeof v)
        memcpy(&v, val.mv_data, sizeof v);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return v;
}

static int count_rule(void *ctx, const struct ep_rule *r)
{
    (void)r;
    ++*(int *)ctx;
    return 0;
}

static int count_str(void *ctx, const char *s)
{
    (void)s;
    ++*(int *)ctx;
    return 0;
}

static int count_seen(void *ctx, const char *host, const struct ep_seen *s)
{
    (void)host;
    (void)s;
    ++*(int *)ctx;
    return 0;
}

static int count_audit(void *ctx, const struct ep_audit_entry *e)
{
    (void)e;
    ++*(int *)ctx;
    return 0;
}

static int count_account(void *ctx, const struct ep_account *a)
{
    (void)a;
    ++*(int *)ctx;
    return 0;
}

static int count_capture(void *ctx, const struct ep_capture *c)
{
    (void)c;
    ++*(int *)ctx;
    return 0;
}

struct profiles_seen {
    int n;
    bool a, b;
};

static int note_profile(void *ctx, const struct ep_profile_info *p)
{
    struct profiles_seen *ps = ctx;

    ps->n++;
    ps->a |= strcmp(p->name, "course-a") == 0 && p->rules == 5 && p->projects == 1;
    ps->b |= strcmp(p->name, "course-b") == 0 && p->rules == 1 && p->projects == 1;
    return 0;
}

static int rules_of(struct ep_store *s, const char *profile)
{
    int n = 0;

    CHECK_INT(ep_store_rules_list(s, profile, count_rule, &n), 0);
    return n;
}

int main(void)
{
    const char *src = getenv("top_srcdir");
    const char *dir = store_dir("upgrade-v2");
    struct ep_store_options ro = {.read_only = true};
    struct ep_store *s = NULL;
    struct ep_store_read *rd;
    struct ep_project p;
    struct ep_client cl;
    struct ep_rule r;
    struct profiles_seen ps = {0};
    char cmd[1024], *before, *after;
    size_t before_len, after_len;
    int n;
    bool owned = true;

    snprintf(cmd, sizeof cmd, "cp '%s/tests/store/fixtures/store-v2/data.mdb' '%s/'",
             src ? src : "..", dir);
    REQUIRE(system(cmd) == 0);
    CHECK_INT((int)schema_of(dir), 2);
    before = dump_old_databases(dir, &before_len);

    /* Read-only: refused until a writer has upgraded it. */
    CHECK_INT(ep_store_open(dir, &ro, &s), EP_E_SCHEMA);
    s = store_open_dir(dir, 0);
    CHECK_INT((int)schema_of(dir), EP_STORE_SCHEMA);

    /* Projects, their modes, passwords and mappings. */
    CHECK_INT(ep_store_project_get(s, PROJECT_A, &p), 0);
    CHECK_STR(p.name, "Lab A");
    CHECK_STR(p.profile, "course-a");
    CHECK_INT(p.mode, EP_MODE_LOGGING);
    CHECK(strncmp(p.password_hash, "$2b$10$", 7) == 0);
    CHECK_INT(ep_store_project_get(s, PROJECT_B, &p), 0);
    CHECK_STR(p.profile, "course-b");
    CHECK_STR(p.ip, "10.44.0.7");
    REQUIRE(ep_store_read_begin(s, &rd) == 0);
    CHECK_INT(ep_store_read_client(rd, "10.44.0.7", &cl), 0);
    CHECK_STR(cl.project_id, PROJECT_B);
    /* Rules of every kind still decide. */
    CHECK_INT(ep_store_read_match(rd, "course-a", "files.pythonhosted.org", 0, &r), 0);
    CHECK_INT(ep_store_read_match(rd, "course-a", "cdn7.example.net", 0, &r), 0);
    CHECK_INT(ep_store_read_match(rd, "course-a", "github.com", 22, &r), 0);
    CHECK_INT(ep_store_read_match(rd, "course-a", "crates.io", 0, &r), EP_E_NOTFOUND);
    ep_store_read_end(rd);
    CHECK_INT(rules_of(s, "course-a"), 5);
    CHECK_INT(rules_of(s, "course-b"), 1);
    CHECK_INT(rules_of(s, EP_PROFILE_BASE), 6); /* the default base domains */
    CHECK_INT(ep_store_profiles_list(s, note_profile, &ps), 0);
    CHECK(ps.a && ps.b);
    /* Records: seen hosts, conversations, the audit log. */
    n = 0;
    CHECK_INT(ep_store_seen_list(s, PROJECT_A, count_seen, &n), 0);
    CHECK_INT(n, 3);
    n = 0;
    CHECK_INT(ep_capture_list(s, PROJECT_A, count_capture, &n), 0);
    CHECK_INT(n, 3);
    n = 0;
    CHECK_INT(ep_store_audit_list(s, 0, count_audit, &n), 0);
    CHECK_INT(n, 5); /* two creates, an IP, a whitelist replace and an add */
    /* The new part: no account, and every course owned by nobody (an admin's alone). */
    n = 0;
    CHECK_INT(ep_store_accounts_list(s, count_account, &n), 0);
    CHECK_INT(n, 0);
    n = 0;
    CHECK_INT(ep_store_course_owners_list(s, "course-a", count_str, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(ep_store_course_owned(s, "course-a", "anyone", &owned), 0);
    CHECK(!owned);
    ep_store_close(s);

    /* Every database of schema 2, byte for byte. */
    after = dump_old_databases(dir, &after_len);
    CHECK(before_len == after_len && memcmp(before, after, before_len) == 0);
    free(before);
    free(after);

    /* Opened again: nothing to upgrade; read-only works now. */
    s = NULL;
    CHECK_INT(ep_store_open(dir, &ro, &s), 0);
    ep_store_close(s);
    return test_exit();
}
