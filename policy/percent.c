/* The one percent-decoder (percent.h). */
#include "config.h"

#include "policy/error.h"
#include "policy/percent.h"

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte the escape at @p in[@p i] stands for, or -1 when no escape starts there. */
static int escape_at(const char *in, size_t len, size_t i)
{
    int hi, lo;

    if (in[i] != '%' || len - i < 3)
        return -1;
    hi = hex_value((unsigned char)in[i + 1]);
    lo = hex_value((unsigned char)in[i + 2]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

int ep_percent_decode(const char *in, size_t len, char *out, size_t *outlen)
{
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; i < len; i++) {
        int byte = escape_at(in, len, i);

        if (byte >= 0) {
            out[n++] = (char)byte;
            i += 2;
            continue;
        }
        if (in[i] == '%')
            rc = EP_E_HOST_PERCENT;
        out[n++] = in[i];
    }
    out[n] = '\0';
    *outlen = n;
    return rc;
}
