/**
 * @file etcd.h
 * @brief A small etcd v3 client over etcd's JSON gateway (libcurl and
 * jansson): ranges, transactions, leases and watches, with TLS client
 * certificates and etcd's user authentication.
 *
 * Keys and values are bytes with a length (the gateway carries them in
 * base64). Functions return 0, an EP_ETCD_E_* code or an EP_E_* code of
 * policy/error.h; ep_etcd_strerror() says which.
 *
 * @section caveats Caveats
 * - A handle is for one thread at a time (it owns one curl handle and its
 *   connection); each thread opens its own.
 * - Several endpoints may be given: a call that cannot reach one (or gets
 *   "no leader") tries the next, once round the list.
 * - A call made while the cluster has no quorum fails with
 *   EP_ETCD_E_UNAVAILABLE after the call timeout; nothing is retried
 *   beyond that, the caller decides.
 */
#ifndef EP_ETCD_H
#define EP_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EP_ETCD_E_BASE        (-33000)
#define EP_ETCD_E_UNAVAILABLE (EP_ETCD_E_BASE - 1) /**< no endpoint answered, or no leader */
#define EP_ETCD_E_REPLY       (EP_ETCD_E_BASE - 2) /**< an answer that is not what etcd sends */
#define EP_ETCD_E_REFUSED     (EP_ETCD_E_BASE - 3) /**< etcd refused the request (logged) */
#define EP_ETCD_E_AUTH        (EP_ETCD_E_BASE - 4) /**< authentication failed */
#define EP_ETCD_E_COMPACTED   (EP_ETCD_E_BASE - 5) /**< the revision is compacted away */
#define EP_ETCD_E_STOPPED     (EP_ETCD_E_BASE - 6) /**< a watch was stopped by its callback */

struct ep_etcd_options {
    const char *endpoints; /**< "http://127.0.0.1:2379,https://..." */
    const char *cacert;    /**< PEM file of the CA that signed the members, or NULL */
    const char *cert;      /**< client certificate (PEM), or NULL */
    const char *key;       /**< its private key (PEM), or NULL */
    const char *user;      /**< etcd user, or NULL for no authentication */
    const char *password;  /**< its password (never logged) */
    long timeout_ms;       /**< each call's limit; 0 = 5000 */
    /** Ranges read the answering member's copy (no quorum needed; may lag a little). */
    bool serializable;
};

struct ep_etcd;

/** A key-value pair of a range or a watch event. */
struct ep_etcd_kv {
    const char *key;
    size_t key_len;
    const char *value; /**< NULL for a delete event */
    size_t value_len;
    int64_t mod_revision;
};

int ep_etcd_open(const struct ep_etcd_options *opts, struct ep_etcd **out);
void ep_etcd_close(struct ep_etcd *e);
const char *ep_etcd_strerror(int rc);

/**
 * POST @p body to gateway path @p path ("/v3/kv/range"); *@p reply is the
 * parsed answer (the caller frees it). Steals nothing: @p body stays the
 * caller's.
 */
int ep_etcd_call(struct ep_etcd *e, const char *path, json_t *body, json_t **reply);

/**
 * Every key starting with @p prefix (or, with @p prefix_len 0 and
 * @p key, the one key) at revision @p revision (0: the latest), in key
 * order, fetched in pages; *@p revision_out is the revision listed.
 */
int ep_etcd_range_prefix(struct ep_etcd *e, const char *prefix, size_t prefix_len, int64_t revision,
                         int (*fn)(void *ctx, const struct ep_etcd_kv *kv), void *ctx,
                         int64_t *revision_out);
/** Put one key (with @p lease, 0 for none). */
int ep_etcd_put(struct ep_etcd *e, const char *key, size_t key_len, const char *value,
                size_t value_len, int64_t lease);
/** Delete one key (0 when absent). */
int ep_etcd_delete(struct ep_etcd *e, const char *key, size_t key_len);
/** Grant a lease of @p ttl seconds. */
int ep_etcd_lease_grant(struct ep_etcd *e, long ttl, int64_t *id);
/** Refresh lease @p id; EP_E_NOTFOUND when it has expired. */
int ep_etcd_lease_keepalive(struct ep_etcd *e, int64_t id);
/** Revoke lease @p id (its keys go with it). */
int ep_etcd_lease_revoke(struct ep_etcd *e, int64_t id);

/** JSON helpers: a base64 string of @p len bytes; the decoded bytes of one (free()). */
json_t *ep_etcd_b64(const void *data, size_t len);
int ep_etcd_unb64(const char *text, char **out, size_t *out_len);
/** The key just after every key starting with @p prefix (range_end), base64. */
json_t *ep_etcd_prefix_end(const char *prefix, size_t len);

/**
 * Watch every key starting with @p prefix from @p start_revision, with
 * progress notifications. @p fn gets each batch: its events (puts and
 * deletes), their count and the batch's revision (a progress
 * notification has none and only moves the revision); returning non-zero
 * stops the watch with EP_ETCD_E_STOPPED. Blocks until the stream ends:
 * EP_ETCD_E_COMPACTED when @p start_revision is gone (list again),
 * EP_ETCD_E_UNAVAILABLE when the connection is lost or silent for
 * @p silence_s seconds (reconnect).
 */
int ep_etcd_watch(struct ep_etcd *e, const char *prefix, size_t prefix_len, int64_t start_revision,
                  long silence_s,
                  int (*fn)(void *ctx, const struct ep_etcd_kv *events, size_t n, int64_t revision),
                  void *ctx);

#endif
