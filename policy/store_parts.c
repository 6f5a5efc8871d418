/*
 * The parts of the store's schema, in the order their databases are
 * opened, a new store is made and a deleted project is cleared
 * (store_internal.h, struct store_part). The one list of them: a part is
 * added here and nowhere else, so the open path and a project's deletion
 * never name a part, and no file of the store calls another part's hooks
 * by name.
 */
#include "config.h"

#include "policy/store_internal.h"

const struct store_part *const store_parts[] = {
    &store_part_projects,
    &store_part_rules,
    &store_part_seen,
    &store_part_audit,
    &store_part_capture,
    &store_part_accounts,
    NULL,
};
