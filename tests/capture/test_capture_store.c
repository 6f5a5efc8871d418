/*
 * The capture databases of the store: exchanges in and out, the limits
 * (per-project cap, retention), deleting a project deletes its exchanges,
 * the LLM host list, and the upgrade of a schema 1 store made by the
 * previous release (fixtures/store-v1, written by fixtures/make-store-v1.c
 * against commit 6d49a0a).
 */
#include "config.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/capture_store.h"
#include "tests/store/storetest.h"

#define TXT(s) ((struct ep_capture_text){(s), sizeof(s) - 1})

struct collect {
    unsigned n;
    uint64_t ids[64];
    char first_body[256];
    char first_host[256];
    uint32_t first_flags;
    uint64_t first_in, first_out;
};

static int collect_cb(void *ctx, const struct ep_capture *c)
{
    struct collect *col = ctx;

    if (col->n == 0) {
        snprintf(col->first_body, sizeof col->first_body, "%.*s", (int)c->response_body.n,
                 c->response_body.p);
        snprintf(col->first_host, sizeof col->first_host, "%.*s", (int)c->host.n, c->host.p);
        col->first_flags = c->flags;
        col->first_in = c->input_tokens;
        col->first_out = c->output_tokens;
    }
    if (col->n < 64)
        col->ids[col->n] = c->id;
    col->n++;
    return 0;
}

static struct ep_capture exchange(int64_t t, const char *body)
{
    struct ep_capture c;

    memset(&c, 0, sizeof c);
    c.time_us = t;
    c.status = 200;
    c.host = TXT("api.openai.com");
    c.method = TXT("POST");
    c.path = TXT("/v1/chat/completions");
    c.model = TXT("gpt-4o");
    c.request_body = TXT("{\"model\":\"gpt-4o\"}");
    c.response_body.p = body;
    c.response_body.n = strlen(body);
    c.input_tokens = 12;
    c.output_tokens = 34;
    c.flags = EP_CAPTURE_STREAMED;
    return c;
}

static unsigned count(struct ep_store *s, const char *project)
{
    struct collect col = {0};

    REQUIRE(ep_capture_list(s, project, collect_cb, &col) == 0);
    return col.n;
}

static void test_put_get_delete(void)
{
    struct ep_store *s = store_open_dir(store_dir("basic"), 0);
    struct ep_capture c = exchange(1700000000000000LL, "hello");
    struct collect col = {0};
    uint64_t id1, id2, n;

    project_add(s, "teacher", "default", EP_MODE_LOGGING, NULL);
    project_add(s, "other", "default", EP_MODE_LOGGING, NULL);
    CHECK_INT(ep_capture_put(s, "nobody", &c, NULL, NULL), EP_E_NOTFOUND);
    CHECK_INT(ep_capture_put(s, "teacher", &c, NULL, &id1), 0);
    /* The same time again gets the next id, not an overwrite. */
    CHECK_INT(ep_capture_put(s, "teacher", &c, NULL, &id2), 0);
    CHECK_INT(id2, id1 + 1);
    CHECK_INT(ep_capture_put(s, "other", &c, NULL, NULL), 0);
    CHECK_INT(count(s, "teacher"), 2);
    CHECK_INT(ep_capture_get(s, "teacher", id2, collect_cb, &col), 0);
    CHECK_INT(col.n, 1);
    CHECK_STR(col.first_body, "hello");
    CHECK_STR(col.first_host, "api.openai.com");
    CHECK_INT(col.first_flags, EP_CAPTURE_STREAMED);
    CHECK_INT(col.first_in, 12);
    CHECK_INT(col.first_out, 34);
    CHECK_INT(ep_capture_get(s, "teacher", 42, collect_cb, &col), EP_E_NOTFOUND);
    CHECK_INT(ep_capture_get(s, "other", id2, collect_cb, &col), EP_E_NOTFOUND);
    CHECK_INT(ep_capture_delete(s, "teacher", id1), 0);
    CHECK_INT(ep_capture_delete(s, "teacher", id1), EP_E_NOTFOUND);
    CHECK_INT(count(s, "teacher"), 1);
    CHECK_INT(ep_capture_clear(s, "teacher", &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(count(s, "teacher"), 0);
    CHECK_INT(count(s, "other"), 1);
    /* Deleting a project deletes its exchanges, and only its own. */
    CHECK_INT(ep_capture_put(s, "teacher", &c, NULL, NULL), 0);
    CHECK_INT(ep_store_project_delete(s, "other"), 0);
    CHECK_INT(count(s, "other"), 0);
    CHECK_INT(count(s, "teacher"), 1);
    ep_store_close(s);
}

static void test_limits(void)
{
    struct ep_store *s = store_open_dir(store_dir("limits"), 0);
    struct ep_capture_limits cap = {.project_max = 3};
    struct ep_capture_limits keep = {.retention_s = 3600};
    const int64_t hour = 3600LL * 1000000;
    const int64_t t0 = 1700000000000000LL;
    struct collect col = {0};
    char body[16];
    uint64_t gone;

    project_add(s, "teacher", "default", EP_MODE_LOGGING, NULL);
    project_add(s, "student", "default", EP_MODE_LOGGING, NULL);
    for (int i = 0; i < 5; i++) {
        struct ep_capture c;

        snprintf(body, sizeof body, "n%d", i);
        c = exchange(t0 + i, body);
        CHECK_INT(ep_capture_put(s, "teacher", &c, &cap, NULL), 0);
    }
    /* The cap keeps the newest three. */
    CHECK_INT(ep_capture_list(s, "teacher", collect_cb, &col), 0);
    CHECK_INT(col.n, 3);
    CHECK_STR(col.first_body, "n2");
    /* The count behind the cap follows deletions: delete one, then three more fit before the cap.
     */
    CHECK_INT(ep_capture_delete(s, "teacher", col.ids[1]), 0);
    for (int i = 5; i < 8; i++) {
        struct ep_capture c = exchange(t0 + i, "more");

        CHECK_INT(ep_capture_put(s, "teacher", &c, &cap, NULL), 0);
    }
    memset(&col, 0, sizeof col);
    CHECK_INT(ep_capture_list(s, "teacher", collect_cb, &col), 0);
    CHECK_INT(col.n, 3);
    CHECK_INT(col.ids[0], t0 + 5);
    /* Retention at put time: an exchange two hours later drops the old ones. */
    {
        struct ep_capture c = exchange(t0 + 2 * hour, "late");

        CHECK_INT(ep_capture_put(s, "teacher", &c, &keep, NULL), 0);
        CHECK_INT(count(s, "teacher"), 1);
    }
    /* Prune applies retention to every project. */
    {
        struct ep_capture c = exchange(t0, "old");

        CHECK_INT(ep_capture_put(s, "student", &c, NULL, NULL), 0);
        CHECK_INT(ep_capture_prune(s, &keep, t0 + 2 * hour + 1, &gone), 0);
        CHECK_INT(gone, 1);
        CHECK_INT(count(s, "student"), 0);
        CHECK_INT(count(s, "teacher"), 1);
        CHECK_INT(ep_capture_prune(s, &keep, t0 + 4 * hour, &gone), 0);
        CHECK_INT(gone, 1);
        CHECK_INT(count(s, "teacher"), 0);
    }
    ep_store_close(s);
}

struct taken {
    char project[64];
    char path[64];
};

static int take_cb(void *ctx, const char *project_id, const struct ep_capture *c)
{
    struct taken *t = ctx;

    snprintf(t->project, sizeof t->project, "%s", project_id);
    snprintf(t->path, sizeof t->path, "%.*s", (int)c->path.n, c->path.p);
    return 0;
}

static void test_pending(void)
{
    struct ep_store *s = store_open_dir(store_dir("pending"), 0);
    const int64_t t0 = 1700000000000000LL;
    struct ep_capture c = exchange(t0, "");
    struct ep_capture_limits none = {0};
    struct taken t = {0};
    struct collect col = {0};
    uint64_t gone;

    project_add(s, "teacher", "default", EP_MODE_LOGGING, NULL);
    c.flags = EP_CAPTURE_INCOMPLETE;
    CHECK_INT(ep_capture_pending_put(s, "17 127.0.0.5", "teacher", &c), 0);
    CHECK_INT(ep_capture_pending_take(s, "18 127.0.0.5", take_cb, &t), EP_E_NOTFOUND);
    CHECK_INT(ep_capture_pending_take(s, "17 127.0.0.5", take_cb, &t), 0);
    CHECK_STR(t.project, "teacher");
    CHECK_STR(t.path, "/v1/chat/completions");
    CHECK_INT(ep_capture_pending_take(s, "17 127.0.0.5", take_cb, &t), EP_E_NOTFOUND);
    /* A request half that never gets its response becomes an incomplete exchange. */
    CHECK_INT(ep_capture_pending_put(s, "19 127.0.0.5", "teacher", &c), 0);
    CHECK_INT(ep_capture_prune(s, &none, t0 + 1000000, &gone), 0);
    CHECK_INT(count(s, "teacher"), 0);
    CHECK_INT(ep_capture_prune(s, &none, t0 + (EP_CAPTURE_PENDING_S + 1) * 1000000LL, &gone), 0);
    CHECK_INT(ep_capture_list(s, "teacher", collect_cb, &col), 0);
    CHECK_INT(col.n, 1);
    CHECK(col.first_flags & EP_CAPTURE_INCOMPLETE);
    CHECK_INT(ep_capture_pending_take(s, "19 127.0.0.5", take_cb, &t), EP_E_NOTFOUND);
    ep_store_close(s);
}

/* The join of the batch test: the half's path and the response's body. */
static int join_cb(void *ctx, const struct ep_capture *half, struct ep_capture *out)
{
    *out = *(const struct ep_capture *)ctx;
    out->path = half->path;
    out->request_body = half->request_body;
    out->time_us = half->time_us;
    return 0;
}

static void test_batch(void)
{
    struct ep_store *s = store_open_dir(store_dir("batch"), 0);
    const int64_t t0 = 1700000000000000LL;
    struct ep_capture req = exchange(t0, ""), resp = exchange(t0 + 5, "the answer");
    struct ep_capture_op ops[4];
    struct collect col = {0};

    project_add(s, "teacher", "default", EP_MODE_LOGGING, NULL);
    req.path = TXT("/v1/messages?x=1");
    memset(ops, 0, sizeof ops);
    /* The join comes first in the array: halves are written first anyway. */
    ops[0] = (struct ep_capture_op){
        .kind = EP_CAPTURE_OP_JOIN, .key = "7 a", .join = join_cb, .ctx = &resp};
    ops[1] = (struct ep_capture_op){
        .kind = EP_CAPTURE_OP_PENDING, .project_id = "teacher", .key = "7 a", .c = &req};
    ops[2] = (struct ep_capture_op){
        .kind = EP_CAPTURE_OP_JOIN, .key = "8 a", .join = join_cb, .ctx = &resp};
    ops[3] = (struct ep_capture_op){.kind = EP_CAPTURE_OP_PUT, .project_id = "nobody", .c = &resp};
    CHECK_INT(ep_capture_write(s, ops, 4, NULL), 0);
    CHECK_INT(ops[0].result, 0);
    CHECK_INT(ops[1].result, 0);
    CHECK_INT(ops[2].result, EP_E_NOTFOUND); /* no half yet: the caller tries again */
    CHECK_INT(ops[3].result, EP_E_NOTFOUND); /* no such project: only this op fails */
    CHECK_INT(ep_capture_list(s, "teacher", collect_cb, &col), 0);
    CHECK_INT(col.n, 1);
    CHECK_STR(col.first_body, "the answer");
    CHECK_INT(col.ids[0], t0);
    /* The half was taken by the join. */
    {
        struct taken t = {0};

        CHECK_INT(ep_capture_pending_take(s, "7 a", take_cb, &t), EP_E_NOTFOUND);
    }
    ep_store_close(s);
}

static int host_count_cb(void *ctx, const char *host)
{
    (void)host;
    ++*(unsigned *)ctx;
    return 0;
}

struct find_host {
    const char *host;
    bool found;
};

static int find_host_cb(void *ctx, const char *host)
{
    struct find_host *f = ctx;

    f->found = f->found || strcmp(host, f->host) == 0;
    return 0;
}

/* Whether @p host is on the LLM host list, as its listing says. */
static int host_listed(struct ep_store *s, const char *host, bool *listed)
{
    struct find_host f = {host, false};
    int rc = ep_capture_hosts_list(s, find_host_cb, &f);

    *listed = f.found;
    return rc;
}

static void test_hosts(void)
{
    struct ep_store *s = store_open_dir(store_dir("hosts"), 0);
    unsigned n = 0;
    bool listed, added;

    CHECK_INT(ep_capture_hosts_list(s, host_count_cb, &n), 0);
    CHECK_INT(n, 7);
    CHECK_INT(host_listed(s, "api.anthropic.com", &listed), 0);
    CHECK(listed);
    CHECK_INT(host_listed(s, "anthropic.com", &listed), 0);
    CHECK(!listed);
    CHECK_INT(ep_capture_host_add(s, "LLM.Example.COM.", &added), 0);
    CHECK(added);
    CHECK_INT(ep_capture_host_add(s, "llm.example.com", &added), 0);
    CHECK(!added);
    CHECK_INT(host_listed(s, "llm.example.com", &listed), 0);
    CHECK(listed);
    CHECK_INT(ep_capture_host_add(s, "llm.example.com:443", &added), EP_E_INVAL);
    CHECK(ep_capture_host_add(s, "bad host", &added) != 0);
    CHECK_INT(ep_capture_host_remove(s, "llm.example.com"), 0);
    CHECK_INT(ep_capture_host_remove(s, "llm.example.com"), EP_E_NOTFOUND);
    ep_store_close(s);
}

/* Only a logging workspace reaching a listed LLM host is captured; a mode change applies at once.
 */
static void test_decide(void)
{
    struct ep_store *s = store_open_dir(store_dir("decide"), 0);
    enum ep_capture_verdict v;
    char project[EP_ID_MAX + 1];
    struct ep_project p;

    project_add(s, "teacher", "default", EP_MODE_LOGGING, "10.0.0.2");
    project_add(s, "student", "default", EP_MODE_SECURITY, "10.0.0.3");

    CHECK_INT(ep_capture_decide(s, "10.0.0.2", "api.openai.com", &v, project), 0);
    CHECK_INT(v, EP_CAPTURE_YES);
    CHECK_STR(project, "teacher");
    CHECK_INT(ep_capture_decide(s, "10.0.0.2", "pypi.org", &v, project), 0);
    CHECK_INT(v, EP_CAPTURE_NOT_LLM_HOST);
    CHECK_STR(ep_capture_verdict_name(v), "not-llm-host");
    CHECK_INT(ep_capture_decide(s, "10.0.0.3", "api.openai.com", &v, project), 0);
    CHECK_INT(v, EP_CAPTURE_NOT_LOGGING);
    CHECK_STR(project, "student");
    CHECK_INT(ep_capture_decide(s, "10.0.0.9", "api.openai.com", &v, project), 0);
    CHECK_INT(v, EP_CAPTURE_NOT_LOGGING);
    CHECK_STR(project, "");

    CHECK_INT(ep_store_project_get(s, "teacher", &p), 0);
    p.mode = EP_MODE_SECURITY;
    CHECK_INT(ep_store_project_update(s, &p), 0);
    CHECK_INT(ep_capture_decide(s, "10.0.0.2", "api.openai.com", &v, project), 0);
    CHECK_INT(v, EP_CAPTURE_NOT_LOGGING);
    ep_store_close(s);
}

static int audit_count_cb(void *ctx, const struct ep_audit_entry *e)
{
    (void)e;
    ++*(unsigned *)ctx;
    return 0;
}

static int schema_of(const char *dir)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val key = {6, "schema"}, val;
    uint32_t v = 0;

    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
    REQUIRE(mdb_env_open(env, dir, MDB_RDONLY, 0664) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    if (mdb_get(txn, dbi, &key, &val) == 0 && val.mv_size == sizeof v)
        memcpy(&v, val.mv_data, sizeof v);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return (int)v;
}

static void test_upgrade(void)
{
    const char *src = getenv("top_srcdir");
    const char *dir = store_dir("upgrade");
    struct ep_store_options ro = {.read_only = true};
    struct ep_store *s = NULL;
    struct ep_project p;
    struct ep_store_read *rd;
    struct ep_client cl;
    struct ep_rule r;
    struct seen_find f = {.host = "api.openai.com"};
    struct ep_capture c = exchange(0, "after upgrade");
    char cmd[1024];
    unsigned hosts = 0;
    bool listed;

    snprintf(cmd, sizeof cmd, "cp '%s/tests/capture/fixtures/store-v1/data.mdb' '%s/'",
             src ? src : "..", dir);
    REQUIRE(system(cmd) == 0);
    CHECK_INT(schema_of(dir), 1);
    /* A read-only opener cannot upgrade: it refuses the old schema. */
    CHECK_INT(ep_store_open(dir, &ro, &s), EP_E_SCHEMA);
    s = store_open_dir(dir, 0);
    CHECK_INT(schema_of(dir), EP_STORE_SCHEMA);
    /* Everything of the old store is still there. */
    CHECK_INT(ep_store_project_get(s, "teacher", &p), 0);
    CHECK_INT(p.mode, EP_MODE_LOGGING);
    CHECK_STR(p.ip, "127.0.0.21");
    CHECK_INT(ep_store_project_get(s, "student", &p), 0);
    CHECK_STR(p.profile, "course-a");
    REQUIRE(ep_store_read_begin(s, &rd) == 0);
    CHECK_INT(ep_store_read_client(rd, "127.0.0.22", &cl), 0);
    CHECK_STR(cl.project_id, "student");
    CHECK_INT(ep_store_read_match(rd, "course-a", "files.pythonhosted.org", 0, &r), 0);
    CHECK_INT(ep_store_read_match(rd, "course-a", "pypi.org", 0, &r), 0);
    ep_store_read_end(rd);
    CHECK_INT(ep_store_seen_list(s, "teacher", seen_find_cb, &f), 0);
    CHECK(f.found);
    CHECK_INT(f.seen.count, 3);
    {
        unsigned n = 0;

        CHECK_INT(ep_store_audit_list(s, 0, audit_count_cb, &n), 0);
        CHECK_INT(n, 1);
    }
    /* The new databases work, with the default host list. */
    CHECK_INT(ep_capture_hosts_list(s, host_count_cb, &hosts), 0);
    CHECK_INT(hosts, 7);
    CHECK_INT(host_listed(s, "api.deepseek.com", &listed), 0);
    CHECK(listed);
    CHECK_INT(ep_capture_put(s, "teacher", &c, NULL, NULL), 0);
    CHECK_INT(count(s, "teacher"), 1);
    ep_store_close(s);
    /* Opened again: already upgraded, nothing changes, read-only works now. */
    s = store_open_dir(dir, 0);
    CHECK_INT(count(s, "teacher"), 1);
    ep_store_close(s);
    s = NULL;
    CHECK_INT(ep_store_open(dir, &ro, &s), 0);
    ep_store_close(s);
}

int main(void)
{
    test_put_get_delete();
    test_limits();
    test_hosts();
    test_decide();
    test_pending();
    test_batch();
    test_upgrade();
    return test_exit();
}
