/*
 * Rules in memory that answer "which of them already covers rule R?"
 * (rule_set.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "policy/covers.h"
#include "policy/error.h"
#include "policy/rule_set.h"

static int list_append(struct ep_rule_list *list, const struct ep_rule *rule)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        struct ep_rule *v = ep_realloc(list->v, cap * sizeof *v);

        if (v == NULL)
            return EP_E_NOMEM;
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = *rule;
    return 0;
}

int ep_rule_set_add(void *set, const struct ep_rule *rule)
{
    struct ep_rule_set *rs = set;

    if (rule->kind == EP_RULE_REGEX)
        return list_append(&rs->regex, rule);
    rs->sorted = false;
    return list_append(&rs->named, rule);
}

/*
 * By host first, since the lookups below search the rules on one name,
 * then in the one order of rules (ep_rule_compare()): 0 exactly for the
 * same rule.
 */
static int rule_cmp(const void *a, const void *b)
{
    const struct ep_rule *x = a, *y = b;
    int c = strcmp(x->host, y->host);

    return c ? c : ep_rule_compare(x, y);
}

/* The first named rule on @p name (a binary search), or the end of the named rules. */
static const struct ep_rule *first_on(const struct ep_rule_set *rs, const char *name)
{
    size_t lo = 0, hi = rs->named.n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(rs->named.v[mid].host, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return rs->named.v + lo;
}

/* The name one label up ("example.com" for "www.example.com"), NULL after the last. */
static const char *parent_name(const char *name)
{
    const char *dot = strchr(name, '.');

    return dot ? dot + 1 : NULL;
}

/* Among the named rules (at least one): the same rule, then those on the host and its ancestors. */
static const struct ep_rule *covering_named(const struct ep_rule_set *rs,
                                            const struct ep_rule *rule)
{
    const struct ep_rule *end = rs->named.v + rs->named.n;
    const struct ep_rule *same = bsearch(rule, rs->named.v, rs->named.n, sizeof *rule, rule_cmp);

    if (same)
        return same;
    for (const char *name = rule->host; name; name = parent_name(name))
        for (const struct ep_rule *by = first_on(rs, name); by < end && strcmp(by->host, name) == 0;
             by++)
            if (ep_rule_covers_rule(by, rule))
                return by;
    return NULL;
}

const struct ep_rule *ep_rule_set_covering(struct ep_rule_set *set, const struct ep_rule *rule)
{
    const struct ep_rule *by = NULL;

    if (!set->sorted && set->named.n)
        qsort(set->named.v, set->named.n, sizeof *set->named.v, rule_cmp);
    set->sorted = true;
    if (set->named.n)
        by = covering_named(set, rule);
    for (size_t i = 0; by == NULL && i < set->regex.n; i++)
        if (ep_rule_covers_rule(&set->regex.v[i], rule))
            by = &set->regex.v[i];
    return by;
}

void ep_rule_set_free(struct ep_rule_set *set)
{
    free(set->named.v);
    free(set->regex.v);
    memset(set, 0, sizeof *set);
}
