/*
 * The audit log in the store (store_audit.h): entries keyed by time in
 * microseconds and a sequence number within the microsecond, appended in
 * one write transaction each, listed newest first.
 */
#include "config.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "policy/store_audit.h"
#include "policy/store_internal.h"

#define AUDIT_KEY_SIZE 12

static void audit_key(uint64_t time_us, uint32_t seq, unsigned char *key)
{
    for (int i = 0; i < 8; i++)
        key[i] = (unsigned char)(time_us >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        key[8 + i] = (unsigned char)(seq >> (24 - 8 * i));
}

/*
 * Append one entry under (time, sequence): the sequence is one more than
 * the last entry of the same microsecond, found by positioning on the
 * first key of the next microsecond and stepping back.
 */
int ep_store_audit_append(struct ep_store *store, const struct ep_audit_entry *e)
{
    struct ep_audit_entry cp;
    unsigned char k[AUDIT_KEY_SIZE];
    MDB_cursor *cur = NULL;
    MDB_txn *txn = NULL;
    MDB_val key, val;
    uint32_t seq = 0;
    struct timespec ts;
    int rc;

    if (!STORE_TERMINATED(e->action) || !STORE_TERMINATED(e->target) ||
        !STORE_TERMINATED(e->source) || !STORE_TERMINATED(e->detail) || e->time_us < 0)
        return EP_E_INVAL;
    memset(&cp, 0, sizeof cp);
    cp.time_us = e->time_us;
    if (cp.time_us == 0) {
        clock_gettime(CLOCK_REALTIME, &ts);
        cp.time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    store_copy_str(cp.action, sizeof cp.action, e->action);
    store_copy_str(cp.target, sizeof cp.target, e->target);
    store_copy_str(cp.source, sizeof cp.source, e->source);
    store_copy_str(cp.detail, sizeof cp.detail, e->detail);

    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, store->audit, &cur);
    if (rc)
        goto out;
    audit_key((uint64_t)cp.time_us + 1, 0, k);
    key = store_mkval(k, sizeof k);
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
    if (rc == 0 && key.mv_size == AUDIT_KEY_SIZE) {
        unsigned char mine[AUDIT_KEY_SIZE];

        audit_key((uint64_t)cp.time_us, 0, mine);
        if (memcmp(key.mv_data, mine, 8) == 0) {
            const unsigned char *q = (const unsigned char *)key.mv_data + 8;

            seq = ((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]) + 1;
        }
    }
    if (rc && rc != MDB_NOTFOUND)
        goto out;
    audit_key((uint64_t)cp.time_us, seq, k);
    rc = store_put_fixed(txn, store->audit, k, sizeof k, &cp, sizeof cp, MDB_NOOVERWRITE);
out:
    if (cur)
        mdb_cursor_close(cur);
    return store_write_end(store, txn, rc);
}

int ep_store_audit_list(struct ep_store *store, size_t limit,
                        int (*fn)(void *ctx, const struct ep_audit_entry *e), void *ctx)
{
    struct ep_store_read *rd;
    struct ep_audit_entry e;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    size_t done = 0;
    int rc = store_walk_begin(store, store->audit, &rd, &cur);

    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_LAST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_PREV)) {
        if (limit && done == limit)
            break;
        if (val.mv_size != sizeof e) {
            rc = EP_E_CORRUPT;
            goto out;
        }
        memcpy(&e, val.mv_data, sizeof e);
        if ((rc = fn(ctx, &e)) != 0)
            goto out;
        done++;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    return store_walk_end(rd, cur, rc);
}

/* The audit part: its database. The log outlives the projects it names, so no clear. */
static const struct store_db audit_dbs[] = {
    {"audit", offsetof(struct ep_store, audit)},
    {NULL, 0},
};

const struct store_part store_part_audit = {
    .dbs = audit_dbs,
};
