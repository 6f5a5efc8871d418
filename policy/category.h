/**
 * @file category.h
 * @brief What a recorded host is (category) and what it belongs to (registrable domain).
 */
#ifndef EP_CATEGORY_H
#define EP_CATEGORY_H

#include <stddef.h>

/**
 * The category of canonical @p host: "Package Managers", "AI APIs",
 * "Documentation", "Version Control", "System", "Cloud Storage", "CDN" or
 * "Other". The narrowest table entry wins: storage.googleapis.com is Cloud
 * Storage even though generativelanguage.googleapis.com is an AI API.
 * Never NULL; the string is static.
 */
const char *ep_category_of(const char *host);

/** Every category name, NULL-terminated, in display order. */
extern const char *const ep_category_names[];

/**
 * The registrable domain of @p host (libpsl: "files.pythonhosted.org" →
 * "pythonhosted.org"), written to @p out (EP_HOST_BUFSZ bytes). A host that
 * is itself a public suffix, or an IP literal, is its own group.
 * @return 0 or EP_E_INVAL.
 */
int ep_registrable_domain(const char *host, char *out);

#endif
