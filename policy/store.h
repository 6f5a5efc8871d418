/**
 * @file store.h
 * @brief The LMDB store shared by the ICAP children, the squid helper and
 * egress-api: its whole interface, one header per concern.
 *
 * One environment (a directory), named databases, one fixed value layout
 * each, versioned by EP_STORE_SCHEMA in `meta`:
 *
 * | database | key                              | value                         |
 * |----------|----------------------------------|-------------------------------|
 * | meta     | "schema"                         | uint32 schema version         |
 * | projects | project id                       | struct ep_project             |
 * | clients  | canonical IP text                | struct ep_client (hot path)   |
 * | profiles | profile name                     | struct ep_profile_info        |
 * | rules    | profile NUL reversed-host        | uint8 mask of ep_rule_kind    |
 * |          | profile NUL "~" pattern          | (regex rules)                 |
 * |          | profile NUL "#" IP               | (ip: rules)                   |
 * |          | profile NUL ":" 5-digit port key | (rules with a port, covers.h) |
 * | seen     | project id NUL host[:port]       | struct ep_seen                |
 * | audit    | uint64 big-endian µs + seq       | struct ep_audit_entry text    |
 * | conversations, llm_hosts, capture_pending | see capture_store.h (schema 2) |
 * | accounts, sessions, api_tokens, course_owners | see store_accounts.h (schema 3) |
 *
 * Which header declares what:
 * - store_env.h: the handle (open, close, options), the schema (`meta`),
 *   the pooled reads of a decision, and the caveats every caller must know.
 * - store_projects.h: `projects` and `clients`.
 * - store_rules.h: `profiles` and `rules`.
 * - store_match.h: which rule of a profile covers a request (decisions).
 * - store_seen.h: `seen`, what each workspace reached.
 * - store_audit.h: `audit`, the audit log.
 * - store_accounts.h: accounts, sessions, API tokens, course owners.
 * - capture_store.h (not included here): captured LLM exchanges and the
 *   LLM host list, on the same handle.
 *
 * A store of schema 1 is upgraded to 2 by the first writer that opens it,
 * in one write transaction (new databases, default LLM hosts); a
 * read-only opener refuses it with EP_E_SCHEMA until then.
 *
 * Base domains are the rules of the reserved profile EP_PROFILE_BASE.
 *
 * Rules with a port (schema 2 still): their keys are a range of their own
 * (covers.h), so the keys of the rules without a port, and what they
 * mean, are those of every earlier store: no upgrade. A seen record of a
 * request to a port other than 80 and 443 is keyed by the host with that
 * port ("github.com:22", "[2001:db8::1]:22", ep_host_with_port()); one of
 * the web ports by the host alone, as before.
 */
#ifndef EP_STORE_H
#define EP_STORE_H

#include "policy/store_env.h"
#include "policy/store_projects.h"
#include "policy/store_rules.h"
#include "policy/store_match.h"
#include "policy/store_seen.h"
#include "policy/store_audit.h"
#include "policy/store_accounts.h"

#endif
