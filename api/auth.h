/*
 * Credentials of egress-api: the admin bearer token, workspace passwords
 * (bcrypt "$2b$" through libxcrypt) and the per-project failure backoff.
 */
#ifndef API_AUTH_H
#define API_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/store.h"

/* Length of a generated password. */
#define AUTH_GENERATED_LEN 12

/*
 * Prepare password hashing with bcrypt cost @p cost (10..31) and make the
 * dummy hash that unknown projects are verified against. 0 or -1.
 */
int auth_init(unsigned cost);

/* Constant-time comparison of a presented token with the configured one. */
bool auth_admin_token_ok(const char *configured, const char *given);

/* Hash @p password into @p out (EP_HASH_MAX + 1 bytes). 0 or -1. */
int auth_hash_password(const char *password, char *out);

/*
 * Does @p password match @p hash? With @p hash NULL or empty the password
 * is checked against a dummy hash of the same cost and the answer is
 * false, so the time spent does not tell whether a project exists.
 */
bool auth_verify_password(const char *password, const char *hash);

/* A random password of AUTH_GENERATED_LEN characters with an upper, a lower, a digit and a symbol.
 */
int auth_generate_password(char *out);

/*
 * Backoff: 0 when project @p id may try a password now, or the seconds to
 * wait. Failures past the third double the wait, up to a minute.
 */
unsigned auth_backoff_wait(const char *id);
/* Note a failed password for @p id from @p source (logged). */
void auth_backoff_fail(const char *id, const char *source);
/* Forget the failures of @p id after a correct password. */
void auth_backoff_clear(const char *id);

#endif
