/*
 * Admin token, workspace passwords and failure backoff.
 *
 * Passwords are hashed with bcrypt ($2b$) through libxcrypt's
 * crypt_gensalt_rn/crypt_rn, which are thread-safe with a caller-owned
 * struct crypt_data (30 KiB, so it is allocated, not put on a thread's
 * stack). Verification always runs one bcrypt of the configured cost, even
 * for a project that does not exist.
 */
#include "config.h"

#include <crypt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "api/auth.h"
#include "api/log.h"

#define BACKOFF_SLOTS      256
#define BACKOFF_FREE_TRIES 3
#define BACKOFF_MAX_S      60

struct backoff_slot {
    char id[EP_ID_MAX + 1];
    unsigned failures;
    time_t not_before;
    time_t last;
};

static unsigned auth_cost;
static char dummy_hash[EP_HASH_MAX + 1];
static struct backoff_slot backoff[BACKOFF_SLOTS];
static pthread_mutex_t backoff_lock = PTHREAD_MUTEX_INITIALIZER;

bool auth_admin_token_ok(const char *configured, const char *given)
{
    size_t a = strlen(configured), b = strlen(given);
    unsigned char diff = (unsigned char)(a != b);

    /* Walk the whole presented token whatever it holds: no early exit. */
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(given[i] ^ configured[i % (a ? a : 1)]);
    return a > 0 && diff == 0;
}

static int random_bytes(void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);

        if (r < 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

int auth_hash_password(const char *password, char *out)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *data = NULL;
    int rc = -1;

    if (crypt_gensalt_rn("$2b$", auth_cost, NULL, 0, setting, sizeof setting) == NULL) {
        log_line("auth: crypt_gensalt_rn failed");
        goto out;
    }
    data = ep_calloc(1, sizeof *data);
    if (data == NULL)
        goto out;
    if (crypt_rn(password, setting, data, sizeof *data) == NULL || data->output[0] == '*' ||
        strlen(data->output) > EP_HASH_MAX) {
        log_line("auth: bcrypt failed");
        goto out;
    }
    strcpy(out, data->output);
    rc = 0;
out:
    if (data)
        explicit_bzero(data, sizeof *data);
    free(data);
    return rc;
}

bool auth_verify_password(const char *password, const char *hash)
{
    struct crypt_data *data = ep_calloc(1, sizeof *data);
    bool real = hash != NULL && hash[0] != '\0';
    const char *h = real ? hash : dummy_hash;
    unsigned char diff = 0;
    size_t n = strlen(h);

    if (data == NULL)
        return false;
    if (crypt_rn(password, h, data, sizeof *data) == NULL || strlen(data->output) != n) {
        diff = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            diff |= (unsigned char)(data->output[i] ^ h[i]);
    }
    explicit_bzero(data, sizeof *data);
    free(data);
    return real && diff == 0;
}

int auth_generate_password(char *out)
{
    static const char *const classes[4] = {"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz",
                                           "23456789", "!#%+-=?@_"};
    uint32_t r[AUTH_GENERATED_LEN * 2];

    /* Draw until all four classes are present; rejection keeps the draw uniform. */
    for (;;) {
        unsigned seen = 0;

        if (random_bytes(r, sizeof r) < 0)
            return -1;
        for (int i = 0; i < AUTH_GENERATED_LEN; i++) {
            unsigned cls = r[2 * i] % 4;
            const char *set = classes[cls];
            size_t n = strlen(set);

            out[i] = set[r[2 * i + 1] % n];
            seen |= 1u << cls;
        }
        out[AUTH_GENERATED_LEN] = '\0';
        if (seen == 15)
            break;
    }
    explicit_bzero(r, sizeof r);
    return 0;
}

int auth_init(unsigned cost)
{
    unsigned char seed[18];
    char random_pw[40];

    auth_cost = cost;
    if (random_bytes(seed, sizeof seed) < 0)
        return -1;
    for (size_t i = 0; i < sizeof seed; i++)
        snprintf(random_pw + 2 * i, 3, "%02x", seed[i]);
    return auth_hash_password(random_pw, dummy_hash);
}

/* The slot of @p id, or a free or the oldest one taken over for it; under backoff_lock. */
static struct backoff_slot *backoff_slot(const char *id, bool create)
{
    struct backoff_slot *oldest = &backoff[0];

    for (int i = 0; i < BACKOFF_SLOTS; i++) {
        if (strcmp(backoff[i].id, id) == 0)
            return &backoff[i];
        if (backoff[i].last < oldest->last)
            oldest = &backoff[i];
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->id, sizeof oldest->id, "%s", id);
    return oldest;
}

unsigned auth_backoff_wait(const char *id)
{
    time_t now = time(NULL);
    unsigned wait = 0;
    struct backoff_slot *s;

    pthread_mutex_lock(&backoff_lock);
    s = backoff_slot(id, false);
    if (s && s->not_before > now)
        wait = (unsigned)(s->not_before - now);
    pthread_mutex_unlock(&backoff_lock);
    return wait;
}

void auth_backoff_fail(const char *id, const char *source)
{
    time_t now = time(NULL);
    unsigned failures, delay = 0;
    struct backoff_slot *s;

    pthread_mutex_lock(&backoff_lock);
    s = backoff_slot(id, true);
    s->failures++;
    s->last = now;
    failures = s->failures;
    if (failures > BACKOFF_FREE_TRIES) {
        unsigned shift = failures - BACKOFF_FREE_TRIES - 1;

        delay = shift >= 6 ? BACKOFF_MAX_S : 1u << shift;
        if (delay > BACKOFF_MAX_S)
            delay = BACKOFF_MAX_S;
        s->not_before = now + delay;
    }
    pthread_mutex_unlock(&backoff_lock);
    /* "@NAME" is an account's sign-in (api/session.c), anything else a workspace. */
    log_line("auth: wrong password for %s %s from %s (%u failures in a row%s)",
             id[0] == '@' ? "account" : "project", id + (id[0] == '@'), source, failures,
             delay ? ", next try delayed" : "");
}

void auth_backoff_clear(const char *id)
{
    struct backoff_slot *s;

    pthread_mutex_lock(&backoff_lock);
    s = backoff_slot(id, false);
    if (s)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&backoff_lock);
}
