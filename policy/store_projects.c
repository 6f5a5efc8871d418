/*
 * Projects and clients in the store (store_projects.h): the rows of
 * `projects` and the `clients` row of each mapped IP, which every write
 * here keeps in step with its project in the same transaction; and a
 * project's deletion, which asks every part of the store to clear what it
 * keeps of the project.
 */
#include "config.h"

#include <arpa/inet.h>
#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/store_internal.h"
#include "policy/store_projects.h"

const char *ep_mode_name(enum ep_mode mode)
{
    switch (mode) {
    case EP_MODE_NONE:
        return "none";
    case EP_MODE_SECURITY:
        return "security";
    case EP_MODE_LOGGING:
        return "logging";
    }
    return NULL;
}

int ep_mode_parse(const char *name, enum ep_mode *out)
{
    static const enum ep_mode modes[] = {EP_MODE_NONE, EP_MODE_SECURITY, EP_MODE_LOGGING};

    for (size_t i = 0; name && i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(name, ep_mode_name(modes[i])) == 0) {
            *out = modes[i];
            return 0;
        }
    return EP_E_INVAL;
}

const char *ep_status_name(enum ep_status status)
{
    switch (status) {
    case EP_STATUS_CREATED:
        return "created";
    case EP_STATUS_RUNNING:
        return "running";
    case EP_STATUS_STOPPED:
        return "stopped";
    case EP_STATUS_NOT_FOUND:
        return "not_found";
    }
    return "not_found";
}

int ep_project_id_validate(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > EP_ID_MAX)
        return EP_E_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
            return EP_E_INVAL;
    return 0;
}

static bool valid_id(const char *id)
{
    return ep_project_id_validate(id) == 0;
}

/* Canonical IP text: what inet_ntop() writes back for it. */
static bool valid_ip(const char *ip)
{
    unsigned char addr[16];
    char back[INET6_ADDRSTRLEN];

    if (strlen(ip) > EP_IP_MAX)
        return false;
    if (inet_pton(AF_INET, ip, addr) == 1)
        return inet_ntop(AF_INET, addr, back, sizeof back) && strcmp(back, ip) == 0;
    if (inet_pton(AF_INET6, ip, addr) == 1)
        return inet_ntop(AF_INET6, addr, back, sizeof back) && strcmp(back, ip) == 0;
    return false;
}

/*
 * A clean copy of a caller's project (zero padding, so stored records do
 * not carry stack garbage), validated: every string terminated, a valid
 * id, profile (empty means "default"), IP and mode.
 */
static int project_clean(struct ep_project *dst, const struct ep_project *src)
{
    if (!STORE_TERMINATED(src->id) || !STORE_TERMINATED(src->name) ||
        !STORE_TERMINATED(src->type) || !STORE_TERMINATED(src->profile) ||
        !STORE_TERMINATED(src->password_hash) || !STORE_TERMINATED(src->ip) ||
        !STORE_TERMINATED(src->container_id))
        return EP_E_INVAL;
    memset(dst, 0, sizeof *dst);
    store_copy_str(dst->id, sizeof dst->id, src->id);
    store_copy_str(dst->name, sizeof dst->name, src->name);
    store_copy_str(dst->type, sizeof dst->type, src->type);
    store_copy_str(dst->profile, sizeof dst->profile,
                   src->profile[0] ? src->profile : EP_PROFILE_DEFAULT);
    store_copy_str(dst->password_hash, sizeof dst->password_hash, src->password_hash);
    store_copy_str(dst->ip, sizeof dst->ip, src->ip);
    store_copy_str(dst->container_id, sizeof dst->container_id, src->container_id);
    dst->created_at = src->created_at;
    dst->mode = src->mode;
    dst->status = src->status;
    dst->memory_bytes = src->memory_bytes;
    dst->nano_cpus = src->nano_cpus;
    if (!valid_id(dst->id) || ep_profile_validate(dst->profile) != 0 ||
        (dst->ip[0] && !valid_ip(dst->ip)) || ep_mode_name(dst->mode) == NULL ||
        dst->status > EP_STATUS_NOT_FOUND)
        return EP_E_INVAL;
    return 0;
}

/* ---- the clients row of a project's IP ---- */

static int client_row_put(struct ep_store *s, MDB_txn *txn, const struct ep_project *p)
{
    struct ep_client row, old;
    int rc = store_get_fixed(txn, s->clients, p->ip, strlen(p->ip), &old, sizeof old);

    if (rc == 0 && strncmp(old.project_id, p->id, sizeof old.project_id) != 0)
        return EP_E_CONFLICT;
    if (rc && rc != EP_E_NOTFOUND)
        return rc;
    memset(&row, 0, sizeof row);
    store_copy_str(row.project_id, sizeof row.project_id, p->id);
    store_copy_str(row.profile, sizeof row.profile, p->profile);
    row.mode = p->mode;
    return store_put_fixed(txn, s->clients, p->ip, strlen(p->ip), &row, sizeof row, 0);
}

/* Remove the clients row of @p ip if it belongs to project @p id. */
static int client_row_del(struct ep_store *s, MDB_txn *txn, const char *ip, const char *id)
{
    struct ep_client old;
    int rc = store_get_fixed(txn, s->clients, ip, strlen(ip), &old, sizeof old);

    if (rc == EP_E_NOTFOUND)
        return 0;
    if (rc == 0 && strncmp(old.project_id, id, sizeof old.project_id) == 0)
        rc = store_del_key(txn, s->clients, ip, strlen(ip));
    return rc;
}

/* ---- projects ---- */

static int project_read(struct ep_store *s, MDB_txn *txn, const char *id, struct ep_project *out)
{
    if (!valid_id(id))
        return EP_E_INVAL;
    return store_get_fixed(txn, s->projects, id, strlen(id), out, sizeof *out);
}

/*
 * Write the row of project @p p (@p flags MDB_NOOVERWRITE for a new one),
 * make sure its profile exists and map its client IP to it.
 */
static int project_put(struct ep_store *s, MDB_txn *txn, const struct ep_project *p, unsigned flags)
{
    int rc = store_put_fixed(txn, s->projects, p->id, strlen(p->id), p, sizeof *p, flags);

    if (rc == 0)
        rc = store_profile_ensure(s, txn, p->profile);
    if (rc == 0 && p->ip[0])
        rc = client_row_put(s, txn, p);
    if (rc == 0)
        rc = store_outbox_project(s, txn, p->id, p->mode, p->profile);
    return rc;
}

int ep_store_project_create(struct ep_store *store, const struct ep_project *p,
                            unsigned max_projects)
{
    struct ep_project cp;
    MDB_txn *txn = NULL;
    MDB_stat st;
    int rc = project_clean(&cp, p);

    if (rc)
        return rc;
    rc = store_write_begin(store, &txn);
    if (rc)
        goto out;
    if (max_projects > 0) {
        rc = mdb_stat(txn, store->projects, &st);
        if (rc == 0 && st.ms_entries >= max_projects)
            rc = EP_E_LIMIT;
        if (rc)
            goto out;
    }
    rc = project_put(store, txn, &cp, MDB_NOOVERWRITE);
out:
    return store_write_end(store, txn, rc);
}

int ep_store_project_get(struct ep_store *store, const char *id, struct ep_project *out)
{
    struct ep_store_read *rd;
    int rc = ep_store_read_begin(store, &rd);

    if (rc)
        return rc;
    rc = project_read(store, rd->txn, id, out);
    ep_store_read_end(rd);
    return rc;
}

int ep_store_project_update(struct ep_store *store, const struct ep_project *p)
{
    struct ep_project cp, old;
    MDB_txn *txn = NULL;
    int rc = project_clean(&cp, p);

    if (rc)
        return rc;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = project_read(store, txn, cp.id, &old);
    if (rc)
        goto out;
    store_copy_str(cp.ip, sizeof cp.ip, old.ip);
    rc = project_put(store, txn, &cp, 0);
out:
    return store_write_end(store, txn, rc);
}

/*
 * The project's IP mapping, then what every part keeps of it (its seen
 * records, its captured exchanges: the clear hook of each part, in the
 * order of store_parts[]), then its row: one transaction, so a failure
 * anywhere leaves the project whole.
 */
int ep_store_project_delete(struct ep_store *store, const char *id)
{
    struct ep_project old;
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    if (rc == 0)
        rc = project_read(store, txn, id, &old);
    if (rc)
        goto out;
    if (old.ip[0])
        rc = client_row_del(store, txn, old.ip, id);
    for (size_t i = 0; rc == 0 && store_parts[i]; i++)
        if (store_parts[i]->clear)
            rc = store_parts[i]->clear(store, txn, id);
    if (rc == 0)
        rc = store_del_key(txn, store->projects, id, strlen(id));
    if (rc == 0)
        rc = store_outbox_project(store, txn, id, 0, NULL);
out:
    return store_write_end(store, txn, rc);
}

int ep_store_projects_list(struct ep_store *store, int (*fn)(void *ctx, const struct ep_project *p),
                           void *ctx)
{
    return ep_store_projects_list_after(store, NULL, fn, ctx);
}

int ep_store_projects_count(struct ep_store *store, uint64_t *out)
{
    *out = 0;
    return store_count_entries(store, store->projects, out);
}

int ep_store_projects_list_after(struct ep_store *store, const char *after,
                                 int (*fn)(void *ctx, const struct ep_project *p), void *ctx)
{
    struct ep_store_read *rd;
    struct ep_project p;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = store_walk_begin(store, store->projects, &rd, &cur);

    if (rc)
        return rc;
    if (after) {
        /* The first key above @p after: position at it or past it, skip an exact match. */
        key = store_mkval(after, strlen(after));
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0 && key.mv_size == strlen(after) && memcmp(key.mv_data, after, key.mv_size) == 0)
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    } else {
        rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    }
    while (rc == 0) {
        if (val.mv_size != sizeof p) {
            rc = EP_E_CORRUPT;
            break;
        }
        memcpy(&p, val.mv_data, sizeof p);
        rc = fn(ctx, &p);
        if (rc)
            goto out;
        rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    return store_walk_end(rd, cur, rc);
}

/* ---- clients ---- */

int ep_store_client_map(struct ep_store *store, const char *ip, const char *id)
{
    struct ep_project p;
    MDB_txn *txn = NULL;
    int rc;

    if (!valid_ip(ip))
        return EP_E_INVAL;
    rc = store_write_begin(store, &txn);
    if (rc == 0)
        rc = project_read(store, txn, id, &p);
    if (rc)
        goto out;
    if (p.ip[0] && strcmp(p.ip, ip) != 0) {
        /* Check the new IP is free before dropping the old mapping. */
        struct ep_client held;

        rc = store_get_fixed(txn, store->clients, ip, strlen(ip), &held, sizeof held);
        if (rc == 0 && strncmp(held.project_id, id, sizeof held.project_id) != 0)
            rc = EP_E_CONFLICT;
        else if (rc == EP_E_NOTFOUND || rc == 0)
            rc = client_row_del(store, txn, p.ip, id);
        if (rc)
            goto out;
    }
    store_copy_str(p.ip, sizeof p.ip, ip);
    rc = client_row_put(store, txn, &p);
    if (rc == 0)
        rc = store_put_fixed(txn, store->projects, p.id, strlen(p.id), &p, sizeof p, 0);
out:
    return store_write_end(store, txn, rc);
}

int ep_store_client_unmap(struct ep_store *store, const char *id)
{
    struct ep_project p;
    MDB_txn *txn = NULL;
    int rc = store_write_begin(store, &txn);

    if (rc == 0)
        rc = project_read(store, txn, id, &p);
    if (rc || !p.ip[0])
        goto out;
    rc = client_row_del(store, txn, p.ip, id);
    p.ip[0] = '\0';
    if (rc == 0)
        rc = store_put_fixed(txn, store->projects, p.id, strlen(p.id), &p, sizeof p, 0);
out:
    return store_write_end(store, txn, rc);
}

int ep_store_read_client(struct ep_store_read *rd, const char *ip, struct ep_client *out)
{
    size_t n = strlen(ip);
    int rc;

    if (n == 0 || n > EP_IP_MAX)
        return EP_E_NOTFOUND;
    rc = store_get_fixed(rd->txn, rd->store->clients, ip, n, out, sizeof *out);
    if (rc == 0 && (!STORE_TERMINATED(out->project_id) || !STORE_TERMINATED(out->profile)))
        rc = EP_E_CORRUPT;
    return rc;
}

/* The projects part: its databases; what it keeps of a project is its row, deleted above. */
static const struct store_db projects_dbs[] = {
    {"projects", offsetof(struct ep_store, projects)},
    {"clients", offsetof(struct ep_store, clients)},
    {NULL, 0},
};

const struct store_part store_part_projects = {
    .dbs = projects_dbs,
};
