/*
 * The one percent-decoder (policy/percent.h): escapes in either case, a
 * malformed '%' copied as it is with EP_E_HOST_PERCENT, "%00" as a NUL
 * inside the decoded length, input that is not NUL-terminated, and
 * decoding in place.
 */
#include <string.h>

#include "policy/error.h"
#include "policy/percent.h"
#include "tests/lib/testutil.h"

struct decode_case {
    const char *in;
    int rc;
    const char *out; /* up to the first NUL */
    size_t len;      /* decoded length, NUL bytes included */
};

static const struct decode_case cases[] = {
    {"", 0, "", 0},
    {"plain.example", 0, "plain.example", 13},
    {"b%C3%BCcher", 0, "b\303\274cher", 7},
    {"%2f%2F", 0, "//", 2},
    {"%2565", 0, "%65", 3}, /* one pass only */
    {"a%00b", 0, "a", 3},
    {"%", EP_E_HOST_PERCENT, "%", 1},
    {"a%4", EP_E_HOST_PERCENT, "a%4", 3},
    {"%zz.com", EP_E_HOST_PERCENT, "%zz.com", 7},
    {"%%41", EP_E_HOST_PERCENT, "%A", 2},
    {"%41%", EP_E_HOST_PERCENT, "A%", 2},
};

int main(void)
{
    char out[64], text[64];
    size_t len;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct decode_case *c = &cases[i];
        int rc = ep_percent_decode(c->in, strlen(c->in), out, &len);

        test_checks++;
        if (rc != c->rc || strcmp(out, c->out) != 0 || len != c->len || out[len] != '\0') {
            test_failures++;
            fprintf(stderr, "\"%s\": rc %d \"%s\" (%zu bytes), expected rc %d \"%s\" (%zu)\n",
                    c->in, rc, out, len, c->rc, c->out, c->len);
        }
    }
    /* Only @p len bytes are read: an escape cut by the length is malformed. */
    CHECK_INT(ep_percent_decode("a%41", 3, out, &len), EP_E_HOST_PERCENT);
    CHECK_STR(out, "a%4");
    /* In place, as egress-acl decodes its fields. */
    strcpy(text, "exact.test%2Fx%zz");
    CHECK_INT(ep_percent_decode(text, strlen(text), text, &len), EP_E_HOST_PERCENT);
    CHECK_STR(text, "exact.test/x%zz");
    CHECK_INT(len, strlen("exact.test/x%zz"));
    return test_exit();
}
