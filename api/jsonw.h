/*
 * A streaming JSON writer for the large listings (all projects, a
 * teacher's recorded domains): text is appended to one growing buffer,
 * without building a jansson tree of thousands of small objects first.
 * Errors (out of memory) are sticky and reported by jsonw_finish().
 */
#ifndef API_JSONW_H
#define API_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
    bool need_comma; /* a value was written at this level: the next needs a comma */
};

void jsonw_init(struct jsonw *w);
/* Open an object or array ('{' or '['), as a value or after jsonw_key(). */
void jsonw_open(struct jsonw *w, char bracket);
void jsonw_close(struct jsonw *w, char bracket);
/* A member name inside an object; the value follows. */
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_string(struct jsonw *w, const char *s);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_double(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* The finished text (the caller frees it), or NULL after a failure. */
char *jsonw_finish(struct jsonw *w);

#endif
