/*
 * Seen records in the store (store_seen.h): what each workspace reached,
 * keyed by project id, NUL and host (with its port for a port other than
 * 80 and 443), summed in one write transaction per recorder batch.
 */
#include "config.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/store_internal.h"
#include "policy/store_projects.h"
#include "policy/store_seen.h"

/* A seen key: project id NUL host, with ":PORT" for a port other than 80 and 443. */
#define SEEN_KEY_MAX (EP_ID_MAX + 1 + EP_HOST_PORT_BUFSZ)

static size_t seen_key(const char *project_id, const char *host, char *key)
{
    size_t ilen = strlen(project_id), hlen = strlen(host);

    if (ep_project_id_validate(project_id) != 0 || hlen == 0 || hlen > EP_HOST_PORT_MAX)
        return 0;
    memcpy(key, project_id, ilen + 1);
    memcpy(key + ilen + 1, host, hlen);
    return ilen + 1 + hlen;
}

int ep_store_seen_add(struct ep_store *store, const struct ep_seen_delta *d, size_t n)
{
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char key[SEEN_KEY_MAX];
        size_t klen = seen_key(d[i].project_id, d[i].host, key);
        struct ep_seen s;

        if (klen == 0) {
            rc = EP_E_INVAL;
            break;
        }
        rc = store_get_fixed(txn, store->seen, key, klen, &s, sizeof s);
        if (rc == EP_E_NOTFOUND) {
            memset(&s, 0, sizeof s);
            s.first_seen = d[i].first_seen;
            s.last_seen = d[i].last_seen;
            s.last_verdict = d[i].last_verdict;
            rc = 0;
        } else if (rc) {
            break;
        }
        s.allowed += d[i].allowed;
        s.denied += d[i].denied;
        s.count += d[i].allowed + d[i].denied;
        if (d[i].first_seen < s.first_seen)
            s.first_seen = d[i].first_seen;
        if (d[i].last_seen >= s.last_seen) {
            s.last_seen = d[i].last_seen;
            s.last_verdict = d[i].last_verdict;
        }
        rc = store_put_fixed(txn, store->seen, key, klen, &s, sizeof s, 0);
    }
    return store_write_end(store, txn, rc);
}

int ep_store_seen_list(struct ep_store *store, const char *project_id,
                       int (*fn)(void *ctx, const char *host, const struct ep_seen *s), void *ctx)
{
    return ep_store_seen_list_after(store, project_id, NULL, fn, ctx);
}

int ep_store_seen_list_after(struct ep_store *store, const char *project_id, const char *after,
                             int (*fn)(void *ctx, const char *host, const struct ep_seen *s),
                             void *ctx)
{
    struct ep_store_read *rd;
    MDB_cursor *cur = NULL;
    size_t plen = strlen(project_id) + 1;
    char start[EP_ID_MAX + 1 + EP_HOST_PORT_BUFSZ];
    size_t slen = plen;
    MDB_val key, val;
    int rc;

    if (ep_project_id_validate(project_id) != 0 || (after && strlen(after) > EP_HOST_PORT_MAX))
        return EP_E_INVAL;
    memcpy(start, project_id, plen);
    if (after) {
        memcpy(start + plen, after, strlen(after));
        slen += strlen(after);
    }
    rc = store_walk_begin(store, store->seen, &rd, &cur);
    if (rc)
        return rc;
    key = store_mkval(start, slen);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        char host[EP_HOST_PORT_BUFSZ];
        struct ep_seen s;

        if (key.mv_size <= plen || memcmp(key.mv_data, project_id, plen) != 0)
            break;
        if (after && key.mv_size == slen && memcmp(key.mv_data, start, slen) == 0)
            continue; /* strictly after */
        if (val.mv_size != sizeof s || key.mv_size - plen > EP_HOST_PORT_MAX) {
            rc = EP_E_CORRUPT;
            goto out;
        }
        memcpy(&s, val.mv_data, sizeof s);
        memcpy(host, (const char *)key.mv_data + plen, key.mv_size - plen);
        host[key.mv_size - plen] = '\0';
        if ((rc = fn(ctx, host, &s)) != 0)
            goto out;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    return store_walk_end(rd, cur, rc);
}

int ep_store_seen_total(struct ep_store *store, uint64_t *out)
{
    return store_count_entries(store, store->seen, out);
}

/* Delete the seen records of a valid project id within @p txn: its id and NUL prefix them all. */
static int seen_clear(struct ep_store *s, MDB_txn *txn, const char *project_id)
{
    return store_del_prefix(txn, s->seen, project_id, strlen(project_id) + 1);
}

int ep_store_seen_clear(struct ep_store *store, const char *project_id)
{
    MDB_txn *txn = NULL;
    int rc;

    if (ep_project_id_validate(project_id) != 0)
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = seen_clear(store, txn, project_id);
    return store_write_end(store, txn, rc);
}

/* The seen part: its database; a deleted project's records go with it. */
static const struct store_db seen_dbs[] = {
    {"seen", offsetof(struct ep_store, seen)},
    {NULL, 0},
};

const struct store_part store_part_seen = {
    .dbs = seen_dbs,
    .clear = seen_clear,
};
