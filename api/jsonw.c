/* The streaming JSON writer: see jsonw.h. Strings are escaped as RFC 8259 requires. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonw.h"

void jsonw_init(struct jsonw *w)
{
    memset(w, 0, sizeof *w);
}

static void put(struct jsonw *w, const char *s, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        char *b;

        while (cap < w->len + n + 1)
            cap *= 2;
        b = realloc(w->buf, cap);
        if (b == NULL) {
            w->failed = true;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* Before a value: a comma unless it is the first at its level or follows a key. */
static void before_value(struct jsonw *w)
{
    if (w->need_comma)
        put(w, ",", 1);
    w->need_comma = true;
}

void jsonw_open(struct jsonw *w, char bracket)
{
    before_value(w);
    put(w, &bracket, 1);
    w->need_comma = false;
}

void jsonw_close(struct jsonw *w, char bracket)
{
    char c = bracket == '{' ? '}' : ']';

    put(w, &c, 1);
    w->need_comma = true;
}

void jsonw_key(struct jsonw *w, const char *key)
{
    jsonw_string(w, key);
    put(w, ":", 1);
    w->need_comma = false;
}

void jsonw_string(struct jsonw *w, const char *s)
{
    const char *run = s;
    char esc[8];

    before_value(w);
    put(w, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(w, esc, 2);
        } else {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(w, esc, 6);
        }
        run = s + 1;
    }
    put(w, run, (size_t)(s - run));
    put(w, "\"", 1);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);

    before_value(w);
    put(w, num, (size_t)n);
}

void jsonw_double(struct jsonw *w, double v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%.9g", v);

    before_value(w);
    put(w, num, (size_t)n);
}

void jsonw_bool(struct jsonw *w, bool v)
{
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
    before_value(w);
    put(w, "null", 4);
}

char *jsonw_finish(struct jsonw *w)
{
    if (w->failed) {
        free(w->buf);
        return NULL;
    }
    put(w, "", 0);
    if (w->failed) {
        free(w->buf);
        return NULL;
    }
    w->buf[w->len] = '\0';
    return w->buf;
}
