/*
 * The role matrix of issue 19: every endpoint of egress-api, called as
 * each kind of caller, through the daemon's own request path in this
 * process (tests/api/inproc.h, http_dispatch()):
 *
 *   anonymous, the workspace password of the course's project, a teacher
 *   of the course, a teacher of another course, a disabled teacher of the
 *   course, the admin, a revoked token of a teacher of the course.
 *
 * Every cell starts from the same store (a copy of one made once) and its
 * status is asserted. Where the caller is refused (any 4xx), the store is
 * dumped afterwards (every key and value of every database) and must be
 * byte for byte the one before, and the answer must hold nothing of the
 * course (its project's name, its rules). No answer ever holds a password,
 * a bcrypt hash or an API token.
 */
#include "config.h"

#include <jansson.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/auth.h"
#include "policy/error.h"
#include "policy/store.h"
#include "tests/api/inproc.h"
#include "tests/lib/testutil.h"

#define WS_PASSWORD  "workspace-pass-1"
#define ACCT_PASS    "account-pass-1"
#define PROJECT_NAME "Course A lab"
#define SECRET_RULE  "secret-rule.example.org"

enum col { ANON, WSPW, TEACHER, OTHER, DISABLED, ADMIN, REVOKED, NCOLS };
static const char *const col_name[NCOLS] = {"anonymous",         "workspace password",
                                            "teacher of course", "teacher of another",
                                            "disabled teacher",  "admin",
                                            "revoked token"};

static char pristine[512], cell[512];
static char tok_alice[128], tok_bob[128], tok_carol[128], tok_dave[128], tok_boss[128];
static char alice_token_id[32];
static char pa[40], pb[40];

/* ---- setup, through the API with the token file's token ---- */

static json_t *call_json(struct inproc *ip, const char *method, const char *target, bool admin,
                         const char *body, unsigned want)
{
    static const char *const h[] = {"Content-Type", "application/json", NULL};
    struct inproc_reply r;
    json_t *j;

    inproc_call(ip, method, target, admin, h, body, body ? strlen(body) : 0, -1, &r);
    if (r.status != want)
        fprintf(stderr, "setup %s %s: %u %s\n", method, target, r.status, r.text);
    REQUIRE(r.status == want);
    j = json_loads(r.text, 0, NULL);
    inproc_reply_free(&r);
    REQUIRE(j != NULL);
    return j;
}

static void account(struct inproc *ip, const char *name, const char *role)
{
    char body[256];

    snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"%s\",\"password\":\"%s\"}", name, role,
             ACCT_PASS);
    json_decref(call_json(ip, "POST", "/api/accounts", true, body, 201));
}

static void token(struct inproc *ip, const char *name, char *out, char *id_out)
{
    char path[128];
    json_t *j;

    snprintf(path, sizeof path, "/api/accounts/%s/tokens", name);
    j = call_json(ip, "POST", path, true, "{\"name\":\"matrix\"}", 201);
    snprintf(out, 128, "%s", json_string_value(json_object_get(j, "token")));
    if (id_out)
        snprintf(id_out, 32, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

static void project(struct inproc *ip, const char *body, char *id)
{
    json_t *j = call_json(ip, "POST", "/api/projects/create", true, body, 201);

    snprintf(id, 40, "%s",
             json_string_value(json_object_get(json_object_get(j, "project"), "projectId")));
    json_decref(j);
}

static void make_pristine(void)
{
    struct inproc ip;
    struct ep_seen_delta d[2] = {
        {.project_id = pa,
         .host = "pypi.org",
         .allowed = 0,
         .denied = 2,
         .first_seen = 1,
         .last_seen = 2},
        {.project_id = pa,
         .host = "files.example.net",
         .allowed = 1,
         .denied = 0,
         .first_seen = 1,
         .last_seen = 2},
    };
    char body[256];

    REQUIRE(inproc_open(&ip, pristine) == 0);
    account(&ip, "boss", "admin");
    account(&ip, "alice", "teacher");
    account(&ip, "bob", "teacher");
    account(&ip, "carol", "teacher");
    account(&ip, "dave", "teacher");
    json_decref(call_json(&ip, "PUT", "/api/courses/course-a", true,
                          "{\"owners\":[\"alice\",\"carol\",\"dave\"]}", 200));
    json_decref(
        call_json(&ip, "PUT", "/api/courses/course-b", true, "{\"owners\":[\"bob\"]}", 200));
    token(&ip, "alice", tok_alice, alice_token_id);
    token(&ip, "bob", tok_bob, NULL);
    token(&ip, "carol", tok_carol, NULL);
    token(&ip, "boss", tok_boss, NULL);
    {
        char id[32], path[128];

        token(&ip, "dave", tok_dave, id);
        snprintf(path, sizeof path, "/api/accounts/dave/tokens/%s", id);
        json_decref(call_json(&ip, "DELETE", path, true, NULL, 200));
    }
    json_decref(call_json(&ip, "PUT", "/api/accounts/carol", true, "{\"disabled\":true}", 200));
    snprintf(body, sizeof body,
             "{\"projectName\":\"%s\",\"profile\":\"course-a\",\"password\":\"%s\"}", PROJECT_NAME,
             WS_PASSWORD);
    project(&ip, body, pa);
    project(&ip, "{\"projectName\":\"Course B lab\",\"profile\":\"course-b\"}", pb);
    json_decref(call_json(&ip, "POST", "/api/whitelist/domains", true,
                          "{\"domains\":[\"x.org\",\"" SECRET_RULE "\"],\"profile\":\"course-a\"}",
                          200));
    REQUIRE(ep_store_seen_add(ip.ctx.store, d, 2) == 0);
    inproc_close(&ip);
}

/* ---- the store, dumped: every database's every key and value ---- */

struct dump {
    char *text;
    size_t len;
};

static void dump_store(const char *dir, struct dump *out)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi main_db;
    MDB_cursor *names;
    MDB_val k, v;
    FILE *f = open_memstream(&out->text, &out->len);

    REQUIRE(f != NULL);
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 64) == 0);
    REQUIRE(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    REQUIRE(mdb_dbi_open(txn, NULL, 0, &main_db) == 0);
    REQUIRE(mdb_cursor_open(txn, main_db, &names) == 0);
    while (mdb_cursor_get(names, &k, &v, MDB_NEXT) == 0) {
        char name[128];
        MDB_dbi dbi;
        MDB_cursor *c;
        MDB_val dk, dv;

        snprintf(name, sizeof name, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
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
}

static bool dump_equal(const struct dump *a, const struct dump *b)
{
    return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

/* ---- the matrix ---- */

struct endpoint {
    const char *method;
    const char *target; /* "%P" is course A's project id, "%T" alice's token id */
    const char *body;
    unsigned want[NCOLS];
};

#define X 401 /* a refused bearer token: 401 everywhere */
/* clang-format off: one endpoint a line, its row of the matrix */
static const struct endpoint endpoints[] = {
    /*                                                                         anon wspw teach other
       dis admin rev */
    {"GET", "/api/health", NULL, {200, 200, 200, 200, X, 200, X}},
    {"GET", "/api/openapi.json", NULL, {200, 200, 200, 200, X, 200, X}},
    {"POST",
     "/api/projects/create",
     "{\"projectName\":\"n\",\"profile\":\"course-a\"}",
     {403, 403, 201, 403, X, 201, X}},
    {"GET", "/api/projects", NULL, {200, 200, 200, 200, X, 200, X}},
    {"GET", "/api/projects/%P", NULL, {200, 200, 200, 404, X, 200, X}},
    {"DELETE", "/api/projects/%P", NULL, {401, 200, 200, 403, X, 200, X}},
    {"POST", "/api/projects/%P/start", NULL, {401, 200, 200, 403, X, 200, X}},
    {"POST", "/api/projects/%P/stop", NULL, {401, 200, 200, 403, X, 200, X}},
    {"PUT",
     "/api/projects/%P/password",
     "{\"newPassword\":\"another-pass-9\"}",
     {401, 401, 200, 403, X, 200, X}},
    {"PUT",
     "/api/projects/%P/proxy-mode",
     "{\"proxyMode\":\"logging\"}",
     {401, 401, 200, 403, X, 200, X}},
    {"PUT",
     "/api/projects/%P/ip",
     "{\"ipAddress\":\"10.77.0.5\"}",
     {401, 401, 200, 403, X, 200, X}},
    {"GET", "/api/projects/%P/check?host=pypi.org", NULL, {401, 401, 200, 404, X, 200, X}},
    {"GET", "/api/projects/%P/recorded-domains", NULL, {401, 200, 200, 404, X, 200, X}},
    {"DELETE", "/api/projects/%P/recorded-domains", NULL, {401, 401, 200, 403, X, 200, X}},
    {"POST",
     "/api/projects/%P/recorded-domains/promote",
     "{\"domains\":[\"pypi.org\"]}",
     {401, 401, 200, 403, X, 200, X}},
    {"GET", "/api/whitelist?profile=course-a", NULL, {401, 401, 200, 404, X, 200, X}},
    {"PUT",
     "/api/whitelist",
     "{\"domains\":[\"a.org\"],\"profile\":\"course-a\"}",
     {401, 401, 200, 403, X, 200, X}},
    {"POST",
     "/api/whitelist/domains",
     "{\"domain\":\"b.org\",\"profile\":\"course-a\"}",
     {401, 401, 200, 403, X, 200, X}},
    {"DELETE",
     "/api/whitelist/domains/x.org?profile=course-a",
     NULL,
     {401, 401, 200, 403, X, 200, X}},
    {"GET", "/api/profiles", NULL, {401, 401, 200, 200, X, 200, X}},
    {"GET", "/api/audit", NULL, {401, 401, 200, 200, X, 200, X}},
    {"GET", "/metrics", NULL, {401, 401, 403, 403, X, 200, X}},
    {"GET", "/api/cluster", NULL, {401, 401, 403, 403, X, 200, X}},
    {"GET", "/api/projects/%P/conversations", NULL, {401, 200, 200, 404, X, 200, X}},
    {"GET",
     "/api/projects/%P/conversations/1714564800000000",
     NULL,
     {401, 404, 404, 404, X, 404, X}},
    {"DELETE", "/api/projects/%P/conversations", NULL, {401, 200, 200, 403, X, 200, X}},
    {"DELETE",
     "/api/projects/%P/conversations/1714564800000000",
     NULL,
     {401, 404, 404, 403, X, 404, X}},
    {"GET", "/api/capture/hosts", NULL, {401, 401, 403, 403, X, 200, X}},
    {"POST",
     "/api/capture/hosts",
     "{\"host\":\"llm.example.com\"}",
     {401, 401, 403, 403, X, 201, X}},
    {"DELETE", "/api/capture/hosts/api.groq.com", NULL, {401, 401, 403, 403, X, 200, X}},
    {"POST",
     "/api/session",
     "{\"name\":\"ghost\",\"password\":\"not-the-one\"}",
     {401, 401, 401, 401, X, 401, X}},
    {"GET", "/api/session", NULL, {401, 401, 200, 200, X, 200, X}},
    {"DELETE", "/api/session", NULL, {401, 401, 400, 400, X, 400, X}},
    {"GET", "/api/accounts", NULL, {401, 401, 403, 403, X, 200, X}},
    {"POST",
     "/api/accounts",
     "{\"name\":\"newt\",\"password\":\"newt-pass-1\"}",
     {401, 401, 403, 403, X, 201, X}},
    {"PUT", "/api/accounts/alice", "{\"disabled\":true}", {401, 401, 403, 403, X, 200, X}},
    {"GET", "/api/accounts/alice/tokens", NULL, {401, 401, 200, 404, X, 200, X}},
    {"POST",
     "/api/accounts/alice/tokens",
     "{\"name\":\"second\"}",
     {401, 401, 201, 403, X, 201, X}},
    {"DELETE", "/api/accounts/alice/tokens/%T", NULL, {401, 401, 200, 403, X, 200, X}},
    {"GET", "/api/courses", NULL, {401, 401, 200, 200, X, 200, X}},
    {"PUT",
     "/api/courses/course-a",
     "{\"owners\":[\"alice\",\"bob\"]}",
     {401, 401, 403, 403, X, 200, X}},
};
/* clang-format on */

static void expand(const char *target, char *out, size_t size)
{
    size_t n = 0;

    for (const char *s = target; *s && n + 40 < size; s++) {
        if (s[0] == '%' && s[1] == 'P') {
            n += (size_t)snprintf(out + n, size - n, "%s", pa);
            s++;
        } else if (s[0] == '%' && s[1] == 'T') {
            n += (size_t)snprintf(out + n, size - n, "%s", alice_token_id);
            s++;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

/* Nothing secret in any answer: no password, no hash, no API token. */
static void check_no_secret(const char *where, const char *text)
{
    static const char *const secrets[] = {WS_PASSWORD, ACCT_PASS, "$2b$",   tok_alice,
                                          tok_bob,     tok_carol, tok_dave, tok_boss};

    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(text, secrets[i])) {
            fprintf(stderr, "%s: the answer holds a secret: %s\n", where, text);
            CHECK(false);
        }
}

static void run_cell(const struct endpoint *e, enum col c, const struct dump *before)
{
    char target[512], bearer[160], where[700];
    const char *h[8];
    size_t nh = 0;
    struct inproc ip;
    struct inproc_reply r;
    const char *tok = NULL;

    switch (c) {
    case TEACHER:
        tok = tok_alice;
        break;
    case OTHER:
        tok = tok_bob;
        break;
    case DISABLED:
        tok = tok_carol;
        break;
    case ADMIN:
        tok = tok_boss;
        break;
    case REVOKED:
        tok = tok_dave;
        break;
    default:
        break;
    }
    if (tok) {
        snprintf(bearer, sizeof bearer, "Bearer %s", tok);
        h[nh++] = "Authorization";
        h[nh++] = bearer;
    }
    if (c == WSPW) {
        h[nh++] = "X-Project-Password";
        h[nh++] = WS_PASSWORD;
    }
    h[nh++] = "Content-Type";
    h[nh++] = "application/json";
    h[nh] = NULL;
    expand(e->target, target, sizeof target);
    snprintf(where, sizeof where, "%s %s as %s", e->method, e->target, col_name[c]);

    {
        char cmd[1600];

        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", cell, pristine, cell);
        REQUIRE(system(cmd) == 0);
    }
    REQUIRE(inproc_open(&ip, cell) == 0);
    auth_backoff_clear("@ghost"); /* each cell's failed sign-in is its first */
    inproc_call(&ip, e->method, target, false, h, e->body, e->body ? strlen(e->body) : 0, -1, &r);
    inproc_close(&ip);
    if (r.status != e->want[c])
        fprintf(stderr, "%s: %u, expected %u: %s\n", where, r.status, e->want[c], r.text);
    CHECK_INT(r.status, e->want[c]);
    check_no_secret(where, r.text);
    if (r.status >= 400 && r.status < 500) {
        struct dump after;

        dump_store(cell, &after);
        if (!dump_equal(before, &after)) {
            fprintf(stderr, "%s: refused, but the store changed\n", where);
            CHECK(false);
        }
        free(after.text);
        if (strstr(r.text, PROJECT_NAME) || strstr(r.text, SECRET_RULE) ||
            strstr(r.text, "\"error\"") == NULL) {
            fprintf(stderr, "%s: refused, but the answer tells: %s\n", where, r.text);
            CHECK(false);
        }
    }
    /* A teacher of another course sees nothing of course A, even where a listing answers. */
    if (c == OTHER && (strstr(r.text, PROJECT_NAME) || strstr(r.text, SECRET_RULE) ||
                       strstr(r.text, "course-a") || strstr(r.text, pa))) {
        fprintf(stderr, "%s: another course's teacher was shown course A: %s\n", where, r.text);
        CHECK(false);
    }
    inproc_reply_free(&r);
}

int main(void)
{
    const char *dir = test_tmpdir();
    struct dump before;
    size_t n = sizeof endpoints / sizeof endpoints[0];

    snprintf(pristine, sizeof pristine, "%s/pristine", dir);
    snprintf(cell, sizeof cell, "%s/cell", dir);
    REQUIRE(mkdir(pristine, 0700) == 0);
    make_pristine();
    dump_store(pristine, &before);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < NCOLS; c++)
            run_cell(&endpoints[i], (enum col)c, &before);
    free(before.text);
    fprintf(stderr, "%zu endpoints x %d callers\n", n, NCOLS);
    return test_exit();
}
