/*
 * Captured LLM API exchanges and the LLM host list (capture_store.h).
 * Shares the store handle, its transactions and record helpers with the
 * store's files through store_internal.h, and is a part of the store's
 * schema there (store_part_capture, at the end): the open path makes or
 * upgrades its databases and a project's deletion clears its exchanges
 * through that part's hooks, so the store never calls this file by name.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/capture_store.h"
#include "policy/error.h"
#include "policy/host.h"
#include "policy/store_internal.h"

/* The LLM API hosts a new (or upgraded) store lists. */
static const char *const default_llm_hosts[] = {
    "api.openai.com",   "api.anthropic.com", "generativelanguage.googleapis.com",
    "api.mistral.ai",   "api.groq.com",      "openrouter.ai",
    "api.deepseek.com",
};

#define CAP_VERSION 1
#define CAP_FIELDS  9
#define CAP_KEY_MAX (EP_ID_MAX + 1 + 8)

/* The fixed head of a stored exchange; the CAP_FIELDS texts follow it back to back. */
struct cap_head {
    uint32_t version;
    uint32_t flags;
    int64_t time_us;
    uint32_t status;
    uint32_t reserved;
    uint64_t input_tokens, output_tokens;
    uint64_t request_size, response_size;
    uint32_t len[CAP_FIELDS];
    uint32_t reserved2;
};

/* The text fields of @p c in stored order. */
static void cap_fields(const struct ep_capture *c, const struct ep_capture_text **f)
{
    f[0] = &c->host;
    f[1] = &c->method;
    f[2] = &c->path;
    f[3] = &c->model;
    f[4] = &c->first_user;
    f[5] = &c->request_headers;
    f[6] = &c->response_headers;
    f[7] = &c->request_body;
    f[8] = &c->response_body;
}

static size_t cap_key(const char *project_id, uint64_t id, unsigned char *key)
{
    size_t n = strlen(project_id) + 1;

    memcpy(key, project_id, n);
    for (int i = 7; i >= 0; i--, id >>= 8)
        key[n + (size_t)i] = (unsigned char)(id & 0xff);
    return n + 8;
}

static uint64_t cap_key_id(const MDB_val *key)
{
    const unsigned char *p = (const unsigned char *)key->mv_data + key->mv_size - 8;
    uint64_t id = 0;

    for (int i = 0; i < 8; i++)
        id = id << 8 | p[i];
    return id;
}

/* Whether @p key belongs to the project whose prefix (id NUL) is @p prefix. */
static bool cap_key_of(const MDB_val *key, const char *prefix, size_t plen)
{
    return key->mv_size == plen + 8 && memcmp(key->mv_data, prefix, plen) == 0;
}

/* Decode a stored exchange; the texts point into @p val. */
static int cap_decode(const MDB_val *key, const MDB_val *val, struct ep_capture *c)
{
    const struct ep_capture_text *f[CAP_FIELDS];
    struct cap_head h;
    const char *p;
    size_t left;

    if (val->mv_size < sizeof h || key->mv_size < 9)
        return EP_E_CORRUPT;
    memcpy(&h, val->mv_data, sizeof h);
    if (h.version != CAP_VERSION)
        return EP_E_CORRUPT;
    memset(c, 0, sizeof *c);
    c->id = cap_key_id(key);
    c->time_us = h.time_us;
    c->status = h.status;
    c->flags = h.flags;
    c->input_tokens = h.input_tokens;
    c->output_tokens = h.output_tokens;
    c->request_size = h.request_size;
    c->response_size = h.response_size;
    cap_fields(c, f);
    p = (const char *)val->mv_data + sizeof h;
    left = val->mv_size - sizeof h;
    for (int i = 0; i < CAP_FIELDS; i++) {
        struct ep_capture_text *t = (struct ep_capture_text *)f[i];

        if (h.len[i] > left)
            return EP_E_CORRUPT;
        t->p = p;
        t->n = h.len[i];
        p += h.len[i];
        left -= h.len[i];
    }
    return left == 0 ? 0 : EP_E_CORRUPT;
}

/*
 * The number of a project's exchanges, kept under its id 0 (no exchange
 * has id 0: ids are capture times), so the cap costs one lookup instead
 * of a walk over the project.
 */
static int count_get(MDB_txn *txn, MDB_dbi dbi, const char *project_id, uint64_t *count)
{
    unsigned char kbuf[CAP_KEY_MAX];
    int rc = store_get_fixed(txn, dbi, kbuf, cap_key(project_id, 0, kbuf), count, sizeof *count);

    if (rc == EP_E_NOTFOUND) {
        *count = 0;
        rc = 0;
    }
    return rc;
}

/* Add @p delta (may be negative) to the project's count. */
static int count_add(MDB_txn *txn, MDB_dbi dbi, const char *project_id, int64_t delta)
{
    unsigned char kbuf[CAP_KEY_MAX];
    MDB_val key, val;
    uint64_t count;
    int rc = count_get(txn, dbi, project_id, &count);

    if (rc)
        return rc;
    count = delta < 0 && (uint64_t)-delta > count ? 0 : count + (uint64_t)delta;
    key = store_mkval(kbuf, cap_key(project_id, 0, kbuf));
    if (count == 0) {
        rc = mdb_del(txn, dbi, &key, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    val = store_mkval(&count, sizeof count);
    return mdb_put(txn, dbi, &key, &val, 0);
}

/* Delete the oldest exchanges of a project over the limits, within @p txn. */
static int cap_limit(struct ep_store *s, MDB_txn *txn, const char *project_id,
                     const struct ep_capture_limits *lim, int64_t now_us, uint64_t *gone)
{
    unsigned char key0[CAP_KEY_MAX];
    size_t plen = strlen(project_id) + 1, klen;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    uint64_t count = 0, cutoff = 0;
    int rc;

    if (!lim || (lim->retention_s <= 0 && lim->project_max == 0))
        return 0;
    if (lim->retention_s > 0 && now_us > lim->retention_s * 1000000)
        cutoff = (uint64_t)(now_us - lim->retention_s * 1000000);
    rc = mdb_cursor_open(txn, s->conversations, &cur);
    if (rc)
        return rc;
    rc = count_get(txn, s->conversations, project_id, &count);
    if (rc)
        goto out;
    /* Delete from the oldest on; seek again after each delete (the cursor may be at an end). */
    klen = cap_key(project_id, 1, key0);
    for (;;) {
        bool over, old;

        key = store_mkval(key0, klen);
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc || !cap_key_of(&key, project_id, plen))
            break;
        over = lim->project_max && count > lim->project_max;
        old = cutoff && cap_key_id(&key) < cutoff;
        if (!over && !old)
            break;
        rc = mdb_cursor_del(cur, 0);
        if (rc == 0)
            rc = count_add(txn, s->conversations, project_id, -1);
        if (rc)
            goto out;
        count--;
        if (gone)
            ++*gone;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    mdb_cursor_close(cur);
    return rc;
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The stored size of @p c and its head; EP_E_INVAL for a field too long. */
static int cap_measure(const struct ep_capture *c, struct cap_head *h, size_t *total)
{
    const struct ep_capture_text *f[CAP_FIELDS];

    memset(h, 0, sizeof *h);
    h->version = CAP_VERSION;
    h->flags = c->flags;
    h->time_us = c->time_us ? c->time_us : now_us();
    h->status = c->status;
    h->input_tokens = c->input_tokens;
    h->output_tokens = c->output_tokens;
    h->request_size = c->request_size;
    h->response_size = c->response_size;
    *total = sizeof *h;
    cap_fields(c, f);
    for (int i = 0; i < CAP_FIELDS; i++) {
        if (f[i]->n > UINT32_MAX || (f[i]->n && !f[i]->p))
            return EP_E_INVAL;
        h->len[i] = (uint32_t)f[i]->n;
        *total += f[i]->n;
    }
    return 0;
}

/* Write head @p h and the texts of @p c at @p p (cap_measure()'s size). */
static void cap_encode(const struct ep_capture *c, const struct cap_head *h, char *p)
{
    const struct ep_capture_text *f[CAP_FIELDS];

    cap_fields(c, f);
    memcpy(p, h, sizeof *h);
    p += sizeof *h;
    for (int i = 0; i < CAP_FIELDS; i++) {
        if (f[i]->n)
            memcpy(p, f[i]->p, f[i]->n);
        p += f[i]->n;
    }
}

/*
 * Put an encoded exchange (@p total bytes: head and texts, written by
 * @p fill into the reserved value) under the first free id from @p want on.
 */
static int cap_insert(struct ep_store *s, MDB_txn *txn, const char *project_id, uint64_t want,
                      size_t total, MDB_val *val, uint64_t *id)
{
    unsigned char kbuf[CAP_KEY_MAX];
    MDB_val key, old;
    int rc;

    for (;;) {
        key = store_mkval(kbuf, cap_key(project_id, want, kbuf));
        rc = mdb_get(txn, s->conversations, &key, &old);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc)
            return rc;
        want++;
    }
    val->mv_size = total;
    val->mv_data = NULL;
    rc = mdb_put(txn, s->conversations, &key, val, MDB_RESERVE);
    if (rc == 0 && id)
        *id = want;
    return rc;
}

/*
 * Delete every exchange of @p project_id and its count within @p txn;
 * *@p n (may be NULL) grows by the number of exchanges deleted.
 */
static int cap_clear(struct ep_store *s, MDB_txn *txn, const char *project_id, uint64_t *n)
{
    unsigned char kbuf[CAP_KEY_MAX];
    size_t plen = strlen(project_id) + 1;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, s->conversations, &cur);

    if (rc)
        return rc;
    for (;;) {
        key = store_mkval(kbuf, cap_key(project_id, 0, kbuf));
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc || !cap_key_of(&key, project_id, plen))
            break;
        if (n && cap_key_id(&key) != 0)
            ++*n;
        rc = mdb_cursor_del(cur, 0);
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Make room for one more exchange of a project under @p limits, at time @p t. */
static int cap_room(struct ep_store *s, MDB_txn *txn, const char *project_id,
                    const struct ep_capture_limits *limits, int64_t t)
{
    struct ep_capture_limits room;

    if (!limits || !limits->project_max)
        return cap_limit(s, txn, project_id, limits, t, NULL);
    room = *limits;
    room.project_max = limits->project_max - 1;
    return room.project_max ? cap_limit(s, txn, project_id, &room, t, NULL)
                            : cap_clear(s, txn, project_id, NULL);
}

/* Store exchange @p c of @p project_id within @p txn (the project must exist). */
static int put_txn(struct ep_store *s, MDB_txn *txn, const char *project_id,
                   const struct ep_capture *c, const struct ep_capture_limits *limits, uint64_t *id)
{
    struct ep_project proj;
    struct cap_head h;
    MDB_val val;
    size_t total;
    int rc;

    if (ep_project_id_validate(project_id))
        return EP_E_INVAL;
    rc = cap_measure(c, &h, &total);
    if (rc == 0)
        rc = store_get_fixed(txn, s->projects, project_id, strlen(project_id), &proj, sizeof proj);
    if (rc == 0)
        rc = cap_room(s, txn, project_id, limits, h.time_us);
    if (rc == 0)
        rc = cap_insert(s, txn, project_id, (uint64_t)h.time_us, total, &val, id);
    if (rc == 0)
        cap_encode(c, &h, val.mv_data);
    if (rc == 0)
        rc = count_add(txn, s->conversations, project_id, 1);
    return rc;
}

int ep_capture_put(struct ep_store *store, const char *project_id, const struct ep_capture *c,
                   const struct ep_capture_limits *limits, uint64_t *id)
{
    MDB_txn *txn = NULL;
    int rc;

    if (ep_project_id_validate(project_id))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = put_txn(store, txn, project_id, c, limits, id);
    return store_write_end(store, txn, rc);
}

/* ---- request halves waiting for their response ---- */

/* A pending value: the project id (EP_ID_MAX + 1 bytes, NUL-padded), then an encoded exchange. */
#define PENDING_PROJECT (EP_ID_MAX + 1)

static int pending_put_txn(struct ep_store *s, MDB_txn *txn, const char *key,
                           const char *project_id, const struct ep_capture *c)
{
    struct cap_head h;
    MDB_val k = store_mkval(key, strlen(key)), val;
    size_t total;
    int rc;

    if (ep_project_id_validate(project_id) || !*key || strlen(key) > 400)
        return EP_E_INVAL;
    rc = cap_measure(c, &h, &total);
    if (rc)
        return rc;
    val.mv_size = PENDING_PROJECT + total;
    val.mv_data = NULL;
    rc = mdb_put(txn, s->pending, &k, &val, MDB_RESERVE);
    if (rc == 0) {
        memset(val.mv_data, 0, PENDING_PROJECT);
        memcpy(val.mv_data, project_id, strlen(project_id));
        cap_encode(c, &h, (char *)val.mv_data + PENDING_PROJECT);
    }
    return rc;
}

int ep_capture_pending_put(struct ep_store *store, const char *key, const char *project_id,
                           const struct ep_capture *c)
{
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    if (rc == 0)
        rc = pending_put_txn(store, txn, key, project_id, c);
    return store_write_end(store, txn, rc);
}

/* Decode a pending value into its project id and exchange. */
static int pending_decode(const MDB_val *val, char *project, struct ep_capture *c)
{
    MDB_val rec, key;
    unsigned char kbuf[9] = {0};

    if (val->mv_size < PENDING_PROJECT || ((const char *)val->mv_data)[EP_ID_MAX] != '\0')
        return EP_E_CORRUPT;
    memcpy(project, val->mv_data, PENDING_PROJECT);
    rec.mv_data = (char *)val->mv_data + PENDING_PROJECT;
    rec.mv_size = val->mv_size - PENDING_PROJECT;
    key = store_mkval(kbuf, sizeof kbuf);
    return cap_decode(&key, &rec, c);
}

int ep_capture_pending_take(struct ep_store *store, const char *key,
                            int (*fn)(void *ctx, const char *project_id,
                                      const struct ep_capture *c),
                            void *ctx)
{
    char project[PENDING_PROJECT];
    struct ep_capture c;
    MDB_txn *txn = NULL;
    MDB_val k = store_mkval(key, strlen(key)), val;
    int rc = store_write_begin(store, &txn);

    if (rc)
        goto out;
    rc = mdb_get(txn, store->pending, &k, &val);
    if (rc == MDB_NOTFOUND)
        rc = EP_E_NOTFOUND;
    if (rc == 0)
        rc = pending_decode(&val, project, &c);
    if (rc == 0)
        rc = fn(ctx, project, &c);
    if (rc == 0)
        rc = mdb_del(txn, store->pending, &k, NULL);
out:
    return store_write_end(store, txn, rc);
}

/* A JOIN op: the half under op->key, merged by op->join, stored, the half deleted. */
static int join_txn(struct ep_store *s, MDB_txn *txn, struct ep_capture_op *op,
                    const struct ep_capture_limits *limits)
{
    char project[PENDING_PROJECT];
    struct ep_capture half, out;
    MDB_val k = store_mkval(op->key, strlen(op->key)), val;
    int rc = mdb_get(txn, s->pending, &k, &val);

    if (rc == MDB_NOTFOUND)
        return EP_E_NOTFOUND;
    if (rc == 0)
        rc = pending_decode(&val, project, &half);
    if (rc)
        return rc;
    memset(&out, 0, sizeof out);
    rc = op->join(op->ctx, &half, &out);
    /* The half's texts stay valid until it is deleted below: nothing here frees its page. */
    if (rc == 0)
        rc = put_txn(s, txn, project, &out, limits, NULL);
    if (rc == 0 || rc == EP_E_NOTFOUND) {
        /* Stored, or its project is gone: the half is done with either way. */
        int del = mdb_del(txn, s->pending, &k, NULL);

        if (del)
            rc = del;
    }
    return rc;
}

/* Errors that concern one op only; anything else (a full map) ends the batch. */
static bool op_local(int rc)
{
    return rc == EP_E_NOTFOUND || rc == EP_E_INVAL;
}

int ep_capture_write(struct ep_store *store, struct ep_capture_op *ops, size_t n,
                     const struct ep_capture_limits *limits)
{
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    for (size_t i = 0; i < n; i++)
        ops[i].result = rc;
    if (rc)
        goto out;
    /* Request halves first, so a join later in the same batch finds its half. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            struct ep_capture_op *op = &ops[i];

            if ((op->kind == EP_CAPTURE_OP_PENDING) != (pass == 0))
                continue;
            if (op->kind == EP_CAPTURE_OP_PENDING)
                op->result = pending_put_txn(store, txn, op->key, op->project_id, op->c);
            else if (op->kind == EP_CAPTURE_OP_JOIN)
                op->result = join_txn(store, txn, op, limits);
            else
                op->result = put_txn(store, txn, op->project_id, op->c, limits, NULL);
            if (!op_local(op->result))
                rc = op->result;
        }
    }
    if (rc)
        for (size_t i = 0; i < n; i++)
            ops[i].result = rc;
out:
    return store_write_end(store, txn, rc);
}

/*
 * Request halves older than @p cutoff_us never got a response (the origin
 * was unreachable, squid answered itself): they become exchanges of their
 * project, marked incomplete, or go when the project is gone.
 */
static int pending_expire(struct ep_store *s, MDB_txn *txn, int64_t cutoff_us)
{
    char project[PENDING_PROJECT];
    struct ep_project proj;
    struct ep_capture c;
    MDB_cursor *cur = NULL;
    MDB_val key, val, out;
    int rc = mdb_cursor_open(txn, s->pending, &cur);

    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (pending_decode(&val, project, &c) == 0 && c.time_us >= cutoff_us)
            continue;
        if (pending_decode(&val, project, &c) == 0 &&
            store_get_fixed(txn, s->projects, project, strlen(project), &proj, sizeof proj) == 0) {
            size_t total = val.mv_size - PENDING_PROJECT;
            char *rec = (char *)val.mv_data + PENDING_PROJECT;
            struct cap_head h;

            rc = cap_insert(s, txn, project, (uint64_t)c.time_us, total, &out, NULL);
            if (rc)
                break;
            /* The insert may have moved the pending page: read the value again. */
            rc = mdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT);
            if (rc)
                break;
            rec = (char *)val.mv_data + PENDING_PROJECT;
            memcpy(out.mv_data, rec, total);
            memcpy(&h, out.mv_data, sizeof h);
            h.flags |= EP_CAPTURE_INCOMPLETE;
            memcpy(out.mv_data, &h, sizeof h);
            rc = count_add(txn, s->conversations, project, 1);
            if (rc)
                break;
        }
        rc = mdb_cursor_del(cur, 0);
        if (rc)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Walk exchanges of one project from a read transaction; @p only != 0 stops at that id. */
static int cap_walk(struct ep_store *store, const char *project_id, uint64_t only,
                    int (*fn)(void *ctx, const struct ep_capture *c), void *ctx)
{
    unsigned char kbuf[CAP_KEY_MAX];
    size_t plen, klen;
    struct ep_store_read *rd = NULL;
    struct ep_capture c;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc;

    if (ep_project_id_validate(project_id))
        return EP_E_INVAL;
    plen = strlen(project_id) + 1;
    rc = store_walk_begin(store, store->conversations, &rd, &cur);
    if (rc)
        return rc;
    klen = cap_key(project_id, only ? only : 1, kbuf);
    key = store_mkval(kbuf, klen);
    if (only) {
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY);
        if (rc == MDB_NOTFOUND)
            rc = EP_E_NOTFOUND;
        if (rc == 0)
            rc = cap_decode(&key, &val, &c);
        if (rc == 0)
            rc = fn(ctx, &c);
        goto out;
    }
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0 && cap_key_of(&key, project_id, plen);
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        rc = cap_decode(&key, &val, &c);
        if (rc == 0)
            rc = fn(ctx, &c);
        if (rc)
            goto out;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    return store_walk_end(rd, cur, rc);
}

int ep_capture_list(struct ep_store *store, const char *project_id,
                    int (*fn)(void *ctx, const struct ep_capture *c), void *ctx)
{
    return cap_walk(store, project_id, 0, fn, ctx);
}

int ep_capture_get(struct ep_store *store, const char *project_id, uint64_t id,
                   int (*fn)(void *ctx, const struct ep_capture *c), void *ctx)
{
    if (id == 0)
        return EP_E_NOTFOUND;
    return cap_walk(store, project_id, id, fn, ctx);
}

int ep_capture_delete(struct ep_store *store, const char *project_id, uint64_t id)
{
    unsigned char kbuf[CAP_KEY_MAX];
    MDB_txn *txn = NULL;
    MDB_val key;
    int rc;

    if (ep_project_id_validate(project_id))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc)
        goto out;
    key = store_mkval(kbuf, cap_key(project_id, id, kbuf));
    rc = id ? mdb_del(txn, store->conversations, &key, NULL) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND)
        rc = EP_E_NOTFOUND;
    if (rc == 0)
        rc = count_add(txn, store->conversations, project_id, -1);
out:
    return store_write_end(store, txn, rc);
}

int ep_capture_clear(struct ep_store *store, const char *project_id, uint64_t *n)
{
    MDB_txn *txn = NULL;
    int rc;

    if (n)
        *n = 0;
    if (ep_project_id_validate(project_id))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = cap_clear(store, txn, project_id, n);
    return store_write_end(store, txn, rc);
}

int ep_capture_prune(struct ep_store *store, const struct ep_capture_limits *limits, int64_t now,
                     uint64_t *n)
{
    char project[EP_ID_MAX + 1];
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc;

    if (n)
        *n = 0;
    rc = store_write_begin(store, &txn);
    if (rc)
        goto out;
    rc = mdb_cursor_open(txn, store->projects, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size > EP_ID_MAX)
            continue;
        memcpy(project, key.mv_data, key.mv_size);
        project[key.mv_size] = '\0';
        rc = cap_limit(store, txn, project, limits, now, n);
        if (rc)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0)
        rc = pending_expire(store, txn, now - (int64_t)EP_CAPTURE_PENDING_S * 1000000);
out:
    if (cur)
        mdb_cursor_close(cur);
    return store_write_end(store, txn, rc);
}

/* ---- the LLM host list ---- */

/* List the default LLM hosts (a new store, or one upgraded from before they existed). */
static int cap_seed(struct ep_store *s, MDB_txn *txn)
{
    const unsigned char one = 1;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < sizeof default_llm_hosts / sizeof default_llm_hosts[0]; i++) {
        MDB_val key = store_mkval(default_llm_hosts[i], strlen(default_llm_hosts[i]));
        MDB_val val = store_mkval(&one, 1);

        rc = mdb_put(txn, s->llm_hosts, &key, &val, 0);
    }
    return rc;
}

const char *ep_capture_verdict_name(enum ep_capture_verdict v)
{
    switch (v) {
    case EP_CAPTURE_YES:
        return "capture";
    case EP_CAPTURE_NOT_LOGGING:
        return "not-logging";
    case EP_CAPTURE_NOT_LLM_HOST:
        return "not-llm-host";
    }
    return "?";
}

int ep_capture_decide(struct ep_store *store, const char *client_ip, const char *host,
                      enum ep_capture_verdict *out, char *project_id)
{
    struct ep_store_read *rd = NULL;
    struct ep_client client;
    MDB_val key = store_mkval(host, strlen(host)), val;
    int rc;

    *out = EP_CAPTURE_NOT_LOGGING;
    project_id[0] = '\0';
    rc = ep_store_read_begin(store, &rd);
    if (rc)
        return rc;
    rc = ep_store_read_client(rd, client_ip, &client);
    if (rc == EP_E_NOTFOUND) {
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    snprintf(project_id, EP_ID_MAX + 1, "%s", client.project_id);
    if (client.mode != EP_MODE_LOGGING)
        goto out;
    rc = mdb_get(rd->txn, store->llm_hosts, &key, &val);
    if (rc == MDB_NOTFOUND) {
        *out = EP_CAPTURE_NOT_LLM_HOST;
        rc = 0;
    } else if (rc == 0) {
        *out = EP_CAPTURE_YES;
    }
out:
    ep_store_read_end(rd);
    return rc;
}

int ep_capture_host_add(struct ep_store *store, const char *host, bool *added)
{
    const unsigned char one = 1;
    char canon[EP_HOST_BUFSZ];
    enum ep_host_kind kind;
    MDB_txn *txn = NULL;
    MDB_val key, val = store_mkval(&one, 1);
    int port = 0, rc = ep_host_normalize(host, strlen(host), canon, &port, &kind);

    if (added)
        *added = false;
    if (rc)
        return rc;
    if (port || kind != EP_HOST_NAME)
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc)
        goto out;
    key = store_mkval(canon, strlen(canon));
    rc = mdb_put(txn, store->llm_hosts, &key, &val, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = store_outbox_llm_host(store, txn, canon, true);
    if (rc == 0 && added)
        *added = true;
    if (rc == MDB_KEYEXIST)
        rc = 0;
out:
    return store_write_end(store, txn, rc);
}

int ep_capture_host_remove(struct ep_store *store, const char *host)
{
    char canon[EP_HOST_BUFSZ];
    MDB_txn *txn = NULL;
    MDB_val key;
    int rc = ep_host_normalize(host, strlen(host), canon, NULL, NULL);

    if (rc)
        return rc;
    rc = store_write_begin(store, &txn);
    if (rc)
        goto out;
    key = store_mkval(canon, strlen(canon));
    rc = mdb_del(txn, store->llm_hosts, &key, NULL);
    if (rc == 0)
        rc = store_outbox_llm_host(store, txn, canon, false);
    if (rc == MDB_NOTFOUND)
        rc = EP_E_NOTFOUND;
out:
    return store_write_end(store, txn, rc);
}

int ep_capture_hosts_list(struct ep_store *store, int (*fn)(void *ctx, const char *host), void *ctx)
{
    char host[EP_HOST_BUFSZ];
    struct ep_store_read *rd = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = store_walk_begin(store, store->llm_hosts, &rd, &cur);

    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size > EP_HOST_MAX)
            continue;
        memcpy(host, key.mv_data, key.mv_size);
        host[key.mv_size] = '\0';
        rc = fn(ctx, host);
        if (rc)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return store_walk_end(rd, cur, rc);
}

/* ---- the capture part of the store ---- */

/* Schema 2 brought the capture's databases: a store older than that gets the default hosts. */
static int cap_upgrade(struct ep_store *s, MDB_txn *txn, uint32_t from)
{
    return from < 2 ? cap_seed(s, txn) : 0;
}

/* A deleted project's exchanges go with it. */
static int cap_clear_project(struct ep_store *s, MDB_txn *txn, const char *project_id)
{
    return cap_clear(s, txn, project_id, NULL);
}

static const struct store_db capture_dbs[] = {
    {"conversations", offsetof(struct ep_store, conversations)},
    {"llm_hosts", offsetof(struct ep_store, llm_hosts)},
    {"capture_pending", offsetof(struct ep_store, pending)},
    {NULL, 0},
};

const struct store_part store_part_capture = {
    .dbs = capture_dbs,
    .create = cap_seed,
    .upgrade = cap_upgrade,
    .clear = cap_clear_project,
};
