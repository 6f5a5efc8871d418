/*
 * null-acl: the cheapest possible squid external ACL helper, for
 * tests/bench/bench-acl.sh. It reads squid's concurrent helper protocol
 * ("ID ..." lines) and answers every line "ID OK" at once, a whole read's
 * answers in one write, without looking at the request. What squid spends
 * on a request with this helper is the floor of the external-ACL path:
 * no helper, however fast its decision, costs squid less.
 */
#include <string.h>
#include <unistd.h>

#define IN_MAX 65536

/* Write all of @p buf; false when squid is gone. */
static int write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);

        if (n <= 0)
            return 0;
        buf += n;
        len -= (size_t)n;
    }
    return 1;
}

int main(void)
{
    static char in[IN_MAX], out[2 * IN_MAX];
    size_t len = 0;

    for (;;) {
        ssize_t n = read(STDIN_FILENO, in + len, sizeof in - len);
        size_t start = 0, used = 0;
        char *nl;

        if (n <= 0)
            return 0;
        len += (size_t)n;
        while ((nl = memchr(in + start, '\n', len - start)) != NULL) {
            size_t id_len = strcspn(in + start, " \n");

            memcpy(out + used, in + start, id_len);
            used += id_len;
            memcpy(out + used, " OK\n", 4);
            used += 4;
            start = (size_t)(nl - in) + 1;
        }
        memmove(in, in + start, len - start);
        len -= start;
        if (len == sizeof in)
            len = 0; /* a line longer than the buffer: not squid's */
        if (used > 0 && !write_all(out, used))
            return 0;
    }
}
