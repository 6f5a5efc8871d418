/*
 * Accounts, sessions, personal API tokens and course owners in the store
 * (store_accounts.h): the schema-3 part. Each write is one transaction;
 * disabling an account ends its sessions in the same one.
 */
#include "config.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/store_accounts.h"
#include "policy/store_internal.h"

/* A course_owners key: profile NUL account. */
#define OWNER_KEY_MAX (EP_PROFILE_MAX + 1 + EP_ACCOUNT_MAX)

const char *ep_role_name(enum ep_role role)
{
    switch (role) {
    case EP_ROLE_TEACHER:
        return "teacher";
    case EP_ROLE_ADMIN:
        return "admin";
    }
    return NULL;
}

int ep_role_parse(const char *name, enum ep_role *out)
{
    if (strcmp(name, "teacher") == 0)
        *out = EP_ROLE_TEACHER;
    else if (strcmp(name, "admin") == 0)
        *out = EP_ROLE_ADMIN;
    else
        return EP_E_INVAL;
    return 0;
}

int ep_account_name_validate(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > EP_ACCOUNT_MAX || name[0] < 'a' || name[0] > 'z')
        return EP_E_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '-'))
            return EP_E_INVAL;
    return 0;
}

/* A hex SHA-256 text: exactly EP_DIGEST_HEX of [0-9a-f]. */
static bool digest_ok(const char *d)
{
    size_t n = strlen(d);

    if (n != EP_DIGEST_HEX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
            return false;
    return true;
}

static bool token_id_ok(const char *id)
{
    if (strlen(id) != EP_TOKEN_ID_LEN)
        return false;
    for (size_t i = 0; id[i]; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

/* Read one fixed-size record of @p dbi from a pooled read. */
static int read_fixed(struct ep_store *s, MDB_dbi dbi, const char *key, void *out, size_t size)
{
    struct ep_store_read *rd;
    int rc = ep_store_read_begin(s, &rd);

    if (rc)
        return rc;
    rc = store_get_fixed(rd->txn, dbi, key, strlen(key), out, size);
    ep_store_read_end(rd);
    return rc;
}

/* ---- accounts ---- */

static bool account_clean(const struct ep_account *a)
{
    return STORE_TERMINATED(a->name) && STORE_TERMINATED(a->password_hash) &&
           ep_account_name_validate(a->name) == 0 && ep_role_name(a->role) != NULL;
}

int ep_store_account_create(struct ep_store *store, const struct ep_account *a)
{
    MDB_txn *txn = NULL;
    int rc;

    if (!account_clean(a))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = store_put_fixed(txn, store->accounts, a->name, strlen(a->name), a, sizeof *a,
                             MDB_NOOVERWRITE);
    return store_write_end(store, txn, rc);
}

int ep_store_account_get(struct ep_store *store, const char *name, struct ep_account *out)
{
    if (ep_account_name_validate(name) != 0)
        return EP_E_NOTFOUND;
    return read_fixed(store, store->accounts, name, out, sizeof *out);
}

/* Delete, within @p txn, every session of @p account. */
static int sessions_of_delete(struct ep_store *s, MDB_txn *txn, const char *account)
{
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, s->sessions, &cur);

    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct ep_session se;

        if (val.mv_size != sizeof se) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(&se, val.mv_data, sizeof se);
        if (strncmp(se.account, account, sizeof se.account) == 0 &&
            (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int ep_store_account_update(struct ep_store *store, const struct ep_account *a)
{
    struct ep_account old;
    MDB_txn *txn = NULL;
    int rc;

    if (!account_clean(a))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = store_get_fixed(txn, store->accounts, a->name, strlen(a->name), &old, sizeof old);
    if (rc == 0)
        rc = store_put_fixed(txn, store->accounts, a->name, strlen(a->name), a, sizeof *a, 0);
    if (rc == 0 && a->disabled)
        rc = sessions_of_delete(store, txn, a->name);
    return store_write_end(store, txn, rc);
}

int ep_store_accounts_list(struct ep_store *store, int (*fn)(void *ctx, const struct ep_account *a),
                           void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = store_walk_begin(store, store->accounts, &rd, &cur);

    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct ep_account a;

        if (val.mv_size != sizeof a) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(&a, val.mv_data, sizeof a);
        if ((rc = fn(ctx, &a)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return store_walk_end(rd, cur, rc);
}

int ep_store_accounts_count(struct ep_store *store, uint64_t *out)
{
    return store_count_entries(store, store->accounts, out);
}

/* ---- sessions ---- */

int ep_store_session_put(struct ep_store *store, const char *id_digest, const struct ep_session *s)
{
    MDB_txn *txn = NULL;
    int rc;

    if (!digest_ok(id_digest) || !STORE_TERMINATED(s->account))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = store_put_fixed(txn, store->sessions, id_digest, EP_DIGEST_HEX, s, sizeof *s, 0);
    return store_write_end(store, txn, rc);
}

int ep_store_session_get(struct ep_store *store, const char *id_digest, struct ep_session *out)
{
    if (!digest_ok(id_digest))
        return EP_E_NOTFOUND;
    return read_fixed(store, store->sessions, id_digest, out, sizeof *out);
}

int ep_store_session_delete(struct ep_store *store, const char *id_digest)
{
    MDB_txn *txn = NULL;
    int rc;

    if (!digest_ok(id_digest))
        return EP_E_NOTFOUND;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = store_del_key(txn, store->sessions, id_digest, EP_DIGEST_HEX);
    return store_write_end(store, txn, rc);
}

int ep_store_sessions_count(struct ep_store *store, uint64_t *out)
{
    return store_count_entries(store, store->sessions, out);
}

int ep_store_sessions_expire(struct ep_store *store, int64_t now, uint64_t *removed)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    uint64_t n = 0;
    int rc = store_write_begin(store, &txn);

    if (rc == 0)
        rc = mdb_cursor_open(txn, store->sessions, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct ep_session se;

        if (val.mv_size != sizeof se) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(&se, val.mv_data, sizeof se);
        if (se.expires_at < now) {
            if ((rc = mdb_cursor_del(cur, 0)) != 0)
                break;
            n++;
        }
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (removed)
        *removed = rc == 0 ? n : 0;
    return store_write_end(store, txn, rc);
}

/* ---- personal API tokens ---- */

int ep_store_token_create(struct ep_store *store, const struct ep_api_token *t)
{
    MDB_txn *txn = NULL;
    int rc;

    if (!STORE_TERMINATED(t->id) || !token_id_ok(t->id) || !STORE_TERMINATED(t->account) ||
        !STORE_TERMINATED(t->name) || !STORE_TERMINATED(t->digest) || !digest_ok(t->digest))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = store_put_fixed(txn, store->api_tokens, t->id, EP_TOKEN_ID_LEN, t, sizeof *t,
                             MDB_NOOVERWRITE);
    return store_write_end(store, txn, rc);
}

int ep_store_token_get(struct ep_store *store, const char *id, struct ep_api_token *out)
{
    if (!token_id_ok(id))
        return EP_E_NOTFOUND;
    return read_fixed(store, store->api_tokens, id, out, sizeof *out);
}

int ep_store_token_revoke(struct ep_store *store, const char *id, int64_t when)
{
    struct ep_api_token t;
    MDB_txn *txn = NULL;
    int rc;

    if (!token_id_ok(id))
        return EP_E_NOTFOUND;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = store_get_fixed(txn, store->api_tokens, id, EP_TOKEN_ID_LEN, &t, sizeof t);
    if (rc == 0 && t.revoked_at == 0) {
        t.revoked_at = when;
        rc = store_put_fixed(txn, store->api_tokens, id, EP_TOKEN_ID_LEN, &t, sizeof t, 0);
    }
    return store_write_end(store, txn, rc);
}

int ep_store_tokens_list(struct ep_store *store, const char *account,
                         int (*fn)(void *ctx, const struct ep_api_token *t), void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = store_walk_begin(store, store->api_tokens, &rd, &cur);

    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct ep_api_token t;

        if (val.mv_size != sizeof t) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(&t, val.mv_data, sizeof t);
        if (account && strncmp(t.account, account, sizeof t.account) != 0)
            continue;
        if ((rc = fn(ctx, &t)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return store_walk_end(rd, cur, rc);
}

/* ---- course owners ---- */

static size_t owner_key(const char *profile, const char *account, char *key)
{
    size_t plen = strlen(profile), alen = strlen(account);

    if (ep_profile_validate(profile) != 0 || ep_account_name_validate(account) != 0)
        return 0;
    memcpy(key, profile, plen + 1);
    memcpy(key + plen + 1, account, alen);
    return plen + 1 + alen;
}

int ep_store_course_owners_set(struct ep_store *store, const char *profile,
                               const char *const *names, size_t n)
{
    static const uint8_t one = 1;
    MDB_txn *txn = NULL;
    int rc;

    if (ep_profile_validate(profile) != 0 || strcmp(profile, EP_PROFILE_BASE) == 0)
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = store_del_prefix(txn, store->course_owners, profile, strlen(profile) + 1);
    if (rc == 0)
        rc = store_profile_ensure(store, txn, profile);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char key[OWNER_KEY_MAX];
        size_t klen = owner_key(profile, names[i], key);
        struct ep_account a;

        if (klen == 0) {
            rc = EP_E_INVAL;
            break;
        }
        rc = store_get_fixed(txn, store->accounts, names[i], strlen(names[i]), &a, sizeof a);
        if (rc == 0)
            rc = store_put_fixed(txn, store->course_owners, key, klen, &one, 1, 0);
    }
    return store_write_end(store, txn, rc);
}

int ep_store_course_owners_list(struct ep_store *store, const char *profile,
                                int (*fn)(void *ctx, const char *account), void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur = NULL;
    size_t plen = strlen(profile) + 1;
    MDB_val key, val;
    int rc;

    if (ep_profile_validate(profile) != 0)
        return EP_E_INVAL;
    rc = store_walk_begin(store, store->course_owners, &rd, &cur);
    if (rc)
        return rc;
    key = store_mkval(profile, plen);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char account[EP_ACCOUNT_MAX + 1];

        if (key.mv_size <= plen || memcmp(key.mv_data, profile, plen) != 0)
            break;
        if (key.mv_size - plen > EP_ACCOUNT_MAX) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(account, (const char *)key.mv_data + plen, key.mv_size - plen);
        account[key.mv_size - plen] = '\0';
        if ((rc = fn(ctx, account)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return store_walk_end(rd, cur, rc);
}

int ep_store_course_owned(struct ep_store *store, const char *profile, const char *account,
                          bool *out)
{
    char key[OWNER_KEY_MAX];
    size_t klen = owner_key(profile, account, key);
    struct ep_store_read *rd;
    uint8_t v;
    int rc;

    *out = false;
    if (klen == 0)
        return 0;
    rc = ep_store_read_begin(store, &rd);
    if (rc)
        return rc;
    rc = store_get_fixed(rd->txn, store->course_owners, key, klen, &v, 1);
    ep_store_read_end(rd);
    if (rc == EP_E_NOTFOUND)
        return 0;
    *out = rc == 0;
    return rc;
}

int ep_store_courses_of(struct ep_store *store, const char *account,
                        int (*fn)(void *ctx, const char *profile), void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur = NULL;
    size_t alen = strlen(account);
    MDB_val key, val;
    int rc = store_walk_begin(store, store->course_owners, &rd, &cur);

    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        const char *k = key.mv_data;
        const char *nul = memchr(k, '\0', key.mv_size);
        char profile[EP_PROFILE_MAX + 1];

        if (nul == NULL || (size_t)(nul - k) > EP_PROFILE_MAX) {
            rc = EP_E_CORRUPT;
            break;
        }
        if (key.mv_size - (size_t)(nul - k) - 1 != alen || memcmp(nul + 1, account, alen) != 0)
            continue;
        memcpy(profile, k, (size_t)(nul - k));
        profile[nul - k] = '\0';
        if ((rc = fn(ctx, profile)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return store_walk_end(rd, cur, rc);
}

/*
 * The accounts part: its databases. A new store and an upgraded one of
 * schema 1 or 2 start with none of them filled: no account (the first
 * admin is made with egress-api --create-admin) and no course owner, so
 * every profile an older store had is a course only an admin sees.
 */
static const struct store_db accounts_dbs[] = {
    {"accounts", offsetof(struct ep_store, accounts)},
    {"sessions", offsetof(struct ep_store, sessions)},
    {"api_tokens", offsetof(struct ep_store, api_tokens)},
    {"course_owners", offsetof(struct ep_store, course_owners)},
    {NULL, 0},
};

const struct store_part store_part_accounts = {
    .dbs = accounts_dbs,
};
