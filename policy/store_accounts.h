/**
 * @file store_accounts.h
 * @brief Accounts, their sign-in sessions and personal API tokens, and the
 * teachers who own each course, in the store (schema 3).
 *
 * Part of the store's interface (store.h includes it). A course is a
 * profile (its whitelist) with an owner list; a project belongs to the
 * course its profile names. The databases:
 *
 * | database      | key                      | value               |
 * |---------------|--------------------------|---------------------|
 * | accounts      | account name             | struct ep_account   |
 * | sessions      | hex SHA-256 of the id    | struct ep_session   |
 * | api_tokens    | token id (12 hex)        | struct ep_api_token |
 * | course_owners | profile NUL account name | one byte, 1         |
 *
 * Secrets are never stored: a password as its bcrypt hash, a session id
 * and an API token as the hex SHA-256 the caller computed. Accounts
 * are disabled, never deleted, so the audit log keeps naming them;
 * disabling one deletes its sessions in the same transaction.
 *
 * A store of schema 1 or 2 gets these databases, empty, at its upgrade:
 * every existing profile is then a course owned by nobody.
 */
#ifndef EP_STORE_ACCOUNTS_H
#define EP_STORE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/rule.h"
#include "policy/store_env.h"
#include "policy/store_projects.h"

#define EP_ACCOUNT_MAX    32 /**< account names: 1..32 of [a-z0-9-], starting with a letter */
#define EP_DIGEST_HEX     64 /**< a hex SHA-256 */
#define EP_TOKEN_ID_LEN   12 /**< a token's public id: 12 lowercase hex */
#define EP_TOKEN_NAME_MAX 64 /**< a token's label */

enum ep_role { EP_ROLE_TEACHER = 0, EP_ROLE_ADMIN = 1 };

/** "teacher", "admin"; NULL for a bad value. */
const char *ep_role_name(enum ep_role role);
/** 0 and *out set, or EP_E_INVAL. */
int ep_role_parse(const char *name, enum ep_role *out);
/** An account name: 1..EP_ACCOUNT_MAX of [a-z0-9-], the first a letter. 0 or EP_E_INVAL. */
int ep_account_name_validate(const char *name);

/** An account. Stored as is: fixed size, strings NUL-terminated. */
struct ep_account {
    char name[EP_ACCOUNT_MAX + 1];
    char password_hash[EP_HASH_MAX + 1]; /**< bcrypt "$2b$" */
    uint32_t role;                       /**< enum ep_role */
    uint32_t disabled;                   /**< 1 once disabled */
    int64_t created_at;                  /**< seconds since the epoch */
    int64_t disabled_at;                 /**< 0 while enabled */
};

/** A browser session, keyed by the SHA-256 of its id (the cookie's value). */
struct ep_session {
    char account[EP_ACCOUNT_MAX + 1];
    char csrf[EP_DIGEST_HEX + 1]; /**< its CSRF token (not a credential alone: no cookie) */
    int64_t created_at;
    int64_t last_seen;  /**< moved at most once a minute */
    int64_t expires_at; /**< created_at + the lifetime */
};

/** A personal API token. The secret itself is shown once and never kept. */
struct ep_api_token {
    char id[EP_TOKEN_ID_LEN + 1]; /**< public: the token's prefix */
    char account[EP_ACCOUNT_MAX + 1];
    char name[EP_TOKEN_NAME_MAX + 1];
    char digest[EP_DIGEST_HEX + 1]; /**< SHA-256 of the whole token */
    int64_t created_at;
    int64_t revoked_at; /**< 0 while valid */
};

/** @name Accounts @{ */
/** Add @p a (name must be new: EP_E_EXISTS otherwise). */
int ep_store_account_create(struct ep_store *store, const struct ep_account *a);
int ep_store_account_get(struct ep_store *store, const char *name, struct ep_account *out);
/**
 * Replace the stored account with @p a (same name; EP_E_NOTFOUND if
 * none). When @p a is disabled, every session of the account is deleted
 * in the same transaction.
 */
int ep_store_account_update(struct ep_store *store, const struct ep_account *a);
/** Every account in name order, from one read; a non-zero return of @p fn stops the walk. */
int ep_store_accounts_list(struct ep_store *store, int (*fn)(void *ctx, const struct ep_account *a),
                           void *ctx);
/** Number of accounts. */
int ep_store_accounts_count(struct ep_store *store, uint64_t *out);
/** @} */

/** @name Sessions @{ */
/** Store session @p s under @p id_digest (EP_DIGEST_HEX hex characters). */
int ep_store_session_put(struct ep_store *store, const char *id_digest, const struct ep_session *s);
int ep_store_session_get(struct ep_store *store, const char *id_digest, struct ep_session *out);
/** Delete one session (EP_E_NOTFOUND when there is none). */
int ep_store_session_delete(struct ep_store *store, const char *id_digest);
/** Number of sessions stored (live or not yet swept). */
int ep_store_sessions_count(struct ep_store *store, uint64_t *out);
/** Delete every session whose expiry is before @p now; *removed says how many. */
int ep_store_sessions_expire(struct ep_store *store, int64_t now, uint64_t *removed);
/** @} */

/** @name Personal API tokens @{ */
/** Add @p t (its id must be new). */
int ep_store_token_create(struct ep_store *store, const struct ep_api_token *t);
int ep_store_token_get(struct ep_store *store, const char *id, struct ep_api_token *out);
/** Mark token @p id revoked at @p when (EP_E_NOTFOUND when there is none; revoking twice is 0). */
int ep_store_token_revoke(struct ep_store *store, const char *id, int64_t when);
/** The tokens of @p account (all accounts with NULL), in id order. */
int ep_store_tokens_list(struct ep_store *store, const char *account,
                         int (*fn)(void *ctx, const struct ep_api_token *t), void *ctx);
/** @} */

/** @name Course owners @{ */
/**
 * Make @p names (@p n account names, each an existing account) the whole
 * owner list of course @p profile, creating the profile's row when it is
 * new. EP_E_NOTFOUND names no account; nothing changes then.
 */
int ep_store_course_owners_set(struct ep_store *store, const char *profile,
                               const char *const *names, size_t n);
/** The owners of @p profile in name order. */
int ep_store_course_owners_list(struct ep_store *store, const char *profile,
                                int (*fn)(void *ctx, const char *account), void *ctx);
/** Does @p account own course @p profile? 0 and *out set. */
int ep_store_course_owned(struct ep_store *store, const char *profile, const char *account,
                          bool *out);
/** The courses @p account owns, in profile order. */
int ep_store_courses_of(struct ep_store *store, const char *account,
                        int (*fn)(void *ctx, const char *profile), void *ctx);
/** @} */

#endif
