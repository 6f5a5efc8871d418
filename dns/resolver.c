/*
 * The libunbound resolver (resolver.h): one ub_ctx shared by every
 * thread, set to forward to the configured upstreams (or to recurse), and
 * to validate with a trust anchor when one is given. Its answer packet is
 * handed on as it came; the query path rewrites it for the client.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>
#include <pthread.h>
#include <time.h>
#include <unbound.h>

#include "dns/resolver.h"

#define CACHE_WAYS    4
#define CACHE_KEY_MAX 300 /* a name in presentation form (escapes included) and "|TYPE|CLASS" */

/* One cached answer: the packet as the resolver gave it, and until when it holds. */
struct cache_entry {
    char key[CACHE_KEY_MAX];
    uint8_t *packet;
    size_t len;
    int64_t stored_ms, expires_ms;
    bool secure;
};

struct unbound_resolver {
    struct dns_resolver base;
    struct ub_ctx *ctx;
    pthread_mutex_t lock;
    struct cache_entry *cache; /* DNS_CACHE_ENTRIES */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ull;

    for (; *key != '\0'; key++) {
        h ^= (unsigned char)*key;
        h *= 1099511628211ull;
    }
    return h;
}

/*
 * The key of a question: its name lowercased (names compare without case),
 * type and class. False when it does not fit (not cached then).
 */
static bool cache_key(const char *name, int type, int rrclass, char *key)
{
    size_t n = strlen(name);
    int w;

    if (n + 16 > CACHE_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        key[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
    w = snprintf(key + n, CACHE_KEY_MAX - n, "|%d|%d", type, rrclass);
    return w > 0 && (size_t)w < CACHE_KEY_MAX - n;
}

/* A copy of the cached answer to @p key, if one holds now. */
static bool cache_get(struct unbound_resolver *u, const char *key, struct dns_upstream_answer *out)
{
    uint64_t h = key_hash(key);
    int64_t now = mono_ms();
    bool hit = false;

    pthread_mutex_lock(&u->lock);
    for (unsigned i = 0; i < CACHE_WAYS && !hit; i++) {
        struct cache_entry *e = &u->cache[(h + i) & (DNS_CACHE_ENTRIES - 1)];
        if (e->packet == NULL || e->expires_ms <= now || strcmp(e->key, key) != 0)
            continue;
        out->packet = malloc(e->len);
        if (out->packet != NULL) {
            memcpy(out->packet, e->packet, e->len);
            out->len = e->len;
            out->secure = e->secure;
            out->age = (unsigned)((now - e->stored_ms) / 1000);
            hit = true;
        }
    }
    pthread_mutex_unlock(&u->lock);
    return hit;
}

/*
 * The smallest TTL of an answer's records (answer and authority: a
 * negative answer's SOA); -1 for an answer not to cache (SERVFAIL and
 * other errors, no records, a packet that does not parse).
 */
static int64_t answer_ttl(const uint8_t *packet, size_t len)
{
    ldns_pkt *p = NULL;
    int64_t ttl = -1;
    ldns_rr_list *lists[2];

    if (ldns_wire2pkt(&p, packet, len) != LDNS_STATUS_OK)
        return -1;
    if (ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR ||
        ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN) {
        lists[0] = ldns_pkt_answer(p);
        lists[1] = ldns_pkt_authority(p);
        for (int l = 0; l < 2; l++)
            for (size_t i = 0; i < ldns_rr_list_rr_count(lists[l]); i++) {
                int64_t t = ldns_rr_ttl(ldns_rr_list_rr(lists[l], i));
                if (ttl < 0 || t < ttl)
                    ttl = t;
            }
    }
    ldns_pkt_free(p);
    return ttl;
}

/* Keep a copy of answer @p a to @p key for its TTL, in a free or expired slot, else the oldest. */
static void cache_put(struct unbound_resolver *u, const char *key,
                      const struct dns_upstream_answer *a)
{
    int64_t ttl = answer_ttl(a->packet, a->len), now = mono_ms();
    uint64_t h = key_hash(key);
    struct cache_entry *slot = NULL;
    uint8_t *copy;

    if (ttl <= 0)
        return;
    copy = malloc(a->len);
    if (copy == NULL)
        return;
    memcpy(copy, a->packet, a->len);
    pthread_mutex_lock(&u->lock);
    for (unsigned i = 0; i < CACHE_WAYS; i++) {
        struct cache_entry *e = &u->cache[(h + i) & (DNS_CACHE_ENTRIES - 1)];
        if (e->packet == NULL || e->expires_ms <= now || strcmp(e->key, key) == 0) {
            slot = e;
            break;
        }
        if (slot == NULL || e->stored_ms < slot->stored_ms)
            slot = e;
    }
    free(slot->packet);
    snprintf(slot->key, sizeof slot->key, "%s", key);
    slot->packet = copy;
    slot->len = a->len;
    slot->stored_ms = now;
    slot->expires_ms = now + ttl * 1000;
    slot->secure = a->secure;
    pthread_mutex_unlock(&u->lock);
}

static int unbound_resolve(struct dns_resolver *r, const char *name, int type, int rrclass,
                           struct dns_upstream_answer *out, const char **why)
{
    struct unbound_resolver *u = (struct unbound_resolver *)r;
    struct ub_result *res = NULL;
    char key[CACHE_KEY_MAX];
    bool cacheable;
    int rc;

    memset(out, 0, sizeof *out);
    cacheable = cache_key(name, type, rrclass, key);
    if (cacheable && cache_get(u, key, out))
        return 0;
    rc = ub_resolve(u->ctx, name, type, rrclass, &res);
    if (rc != 0) {
        *why = ub_strerror(rc);
        return rc;
    }
    if (res->answer_packet == NULL || res->answer_len <= 0) {
        *why = "the resolver has no answer (upstreams unreachable or failing)";
        rc = EIO;
        goto out;
    }
    out->packet = malloc((size_t)res->answer_len);
    if (out->packet == NULL) {
        *why = "out of memory";
        rc = ENOMEM;
        goto out;
    }
    memcpy(out->packet, res->answer_packet, (size_t)res->answer_len);
    out->len = (size_t)res->answer_len;
    out->secure = res->secure != 0;
    out->bogus = res->bogus != 0;
    if (cacheable && !out->bogus)
        cache_put(u, key, out);
out:
    ub_resolve_free(res);
    return rc;
}

static void unbound_free(struct dns_resolver *r)
{
    struct unbound_resolver *u = (struct unbound_resolver *)r;

    if (u == NULL)
        return;
    if (u->ctx != NULL)
        ub_ctx_delete(u->ctx);
    for (unsigned i = 0; u->cache != NULL && i < DNS_CACHE_ENTRIES; i++)
        free(u->cache[i].packet);
    free(u->cache);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

/* Set libunbound option "NAME: VALUE" (one string, as unbound.conf writes it). */
static int set_option(struct ub_ctx *ctx, const char *text, char *why, size_t whysz)
{
    char name[128];
    const char *colon = strchr(text, ':');
    int rc;

    if (colon == NULL || (size_t)(colon - text) + 2 > sizeof name) {
        snprintf(why, whysz, "'%s' is not NAME: VALUE", text);
        return EINVAL;
    }
    memcpy(name, text, (size_t)(colon - text) + 1);
    name[colon - text + 1] = '\0';
    colon++;
    while (*colon == ' ')
        colon++;
    rc = ub_ctx_set_option(ctx, name, colon);
    if (rc != 0)
        snprintf(why, whysz, "'%s': %s", text, ub_strerror(rc));
    return rc;
}

int dns_resolver_unbound_new(const struct dns_resolver_options *opts, struct dns_resolver **out,
                             char *why, size_t whysz)
{
    struct unbound_resolver *u;
    int rc = 0;

    *out = NULL;
    u = calloc(1, sizeof *u);
    if (u == NULL)
        return ENOMEM;
    u->base.resolve = unbound_resolve;
    u->base.free = unbound_free;
    pthread_mutex_init(&u->lock, NULL);
    u->cache = calloc(DNS_CACHE_ENTRIES, sizeof *u->cache);
    if (u->cache == NULL) {
        snprintf(why, whysz, "no memory for the answer cache");
        rc = ENOMEM;
        goto out;
    }
    u->ctx = ub_ctx_create();
    if (u->ctx == NULL) {
        snprintf(why, whysz, "cannot create the libunbound context");
        rc = ENOMEM;
        goto out;
    }
    /* Resolve in the caller's thread: each worker thread waits for its own answer. */
    rc = ub_ctx_async(u->ctx, 0);
    if (rc == 0 && opts->n_upstream > 0) {
        /*
         * Upstreams are the administrator's explicit choice: one on this
         * host (a local unbound, a test's resolver) is fine.
         */
        rc = ub_ctx_set_option(u->ctx, "do-not-query-localhost:", "no");
        if (rc != 0)
            snprintf(why, whysz, "do-not-query-localhost: %s", ub_strerror(rc));
    }
    for (unsigned i = 0; rc == 0 && i < opts->n_upstream; i++) {
        rc = ub_ctx_set_fwd(u->ctx, opts->upstream[i]);
        if (rc != 0)
            snprintf(why, whysz, "upstream '%s': %s", opts->upstream[i], ub_strerror(rc));
    }
    if (rc == 0 && opts->trust_anchor_file != NULL) {
        rc = ub_ctx_add_ta_file(u->ctx, opts->trust_anchor_file);
        if (rc != 0)
            snprintf(why, whysz, "trust anchor '%s': %s", opts->trust_anchor_file, ub_strerror(rc));
    }
    for (unsigned i = 0; rc == 0 && i < opts->n_option; i++)
        rc = set_option(u->ctx, opts->option[i], why, whysz);
out:
    if (rc != 0) {
        unbound_free(&u->base);
        return rc;
    }
    *out = &u->base;
    return 0;
}

void dns_upstream_answer_clear(struct dns_upstream_answer *a)
{
    free(a->packet);
    a->packet = NULL;
    a->len = 0;
}
