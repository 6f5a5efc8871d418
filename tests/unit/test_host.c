/*
 * Host normalisation (policy/host.h): a table of hostile and ordinary
 * inputs, each with the exact code it must return and, when accepted, the
 * canonical host, port and kind; request targets; label reversal.
 */
#include <string.h>

#include "policy/error.h"
#include "policy/host.h"
#include "tests/lib/testutil.h"

struct host_case {
    const char *in;
    size_t len; /* 0: strlen(in); otherwise the input holds a NUL */
    int rc;
    const char *out;
    int port;
    enum ep_host_kind kind;
};

#define OK(in, out)                                                                                \
    {                                                                                              \
        in, 0, 0, out, 0, EP_HOST_NAME                                                             \
    }
#define BAD(in, rc)                                                                                \
    {                                                                                              \
        in, 0, rc, "", 0, EP_HOST_NAME                                                             \
    }

static const struct host_case host_cases[] = {
    /* Empty and dots. */
    BAD("", EP_E_HOST_EMPTY),
    BAD(".", EP_E_HOST_EMPTY),
    BAD("..", EP_E_HOST_LABEL),
    BAD("a..b", EP_E_HOST_LABEL),
    BAD(".example.com", EP_E_HOST_LABEL),
    BAD("example.com..", EP_E_HOST_LABEL),
    BAD(":443", EP_E_HOST_EMPTY),
    OK("example.com.", "example.com"),
    /* Labels. */
    BAD("-a.com", EP_E_HOST_LABEL),
    BAD("a-.com", EP_E_HOST_LABEL),
    BAD("a.-com", EP_E_HOST_LABEL),
    BAD("a.com-", EP_E_HOST_LABEL),
    OK("a-b.com", "a-b.com"),
    OK("r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com"),
    OK("_dmarc.example.com", "_dmarc.example.com"),
    /* Whitespace, control characters, characters no host has. */
    BAD("exa mple.com", EP_E_HOST_CHAR),
    BAD(" example.com", EP_E_HOST_CHAR),
    BAD("example.com ", EP_E_HOST_CHAR),
    BAD("a\tb.com", EP_E_HOST_CHAR),
    BAD("example.com\r\n", EP_E_HOST_CHAR),
    BAD("x.com\nhttp_access allow all", EP_E_HOST_CHAR),
    {"a\0b.com", 7, EP_E_HOST_CHAR, "", 0, EP_HOST_NAME},
    {"example.com\0.evil.com", 21, EP_E_HOST_CHAR, "", 0, EP_HOST_NAME},
    BAD("\x7f.com", EP_E_HOST_CHAR),
    BAD("user@host.com", EP_E_HOST_CHAR),
    BAD("x.com/path", EP_E_HOST_CHAR),
    BAD("a*b.com", EP_E_HOST_CHAR),
    BAD("a!.com", EP_E_HOST_CHAR),
    BAD("a,b.com", EP_E_HOST_CHAR),
    BAD("a\\b.com", EP_E_HOST_CHAR),
    /* Percent-escapes: decoded, then checked like any other byte. */
    BAD("%00example.com", EP_E_HOST_CHAR),
    BAD("%2e%2e", EP_E_HOST_LABEL),
    BAD("%zz.com", EP_E_HOST_PERCENT),
    BAD("%", EP_E_HOST_PERCENT),
    BAD("a%4", EP_E_HOST_PERCENT),
    BAD("a.com%2fevil", EP_E_HOST_CHAR),
    BAD("a%20b.com", EP_E_HOST_CHAR),
    BAD("a%3a80", EP_E_HOST_CHAR),
    BAD("a%0d%0a.com", EP_E_HOST_CHAR),
    OK("ex%41mple.com", "example.com"),
    OK("%65xample.com", "example.com"),
    /* Case. */
    OK("EXAMPLE.Com", "example.com"),
    /* Ports. */
    BAD("example.com:0", EP_E_HOST_PORT),
    BAD("example.com:65536", EP_E_HOST_PORT),
    BAD("example.com:abc", EP_E_HOST_PORT),
    BAD("example.com:", EP_E_HOST_PORT),
    BAD("example.com:-1", EP_E_HOST_PORT),
    BAD("example.com:+80", EP_E_HOST_PORT),
    BAD("example.com:123456", EP_E_HOST_PORT),
    BAD("example.com:80:80", EP_E_HOST_PORT),
    BAD("http://x.com", EP_E_HOST_PORT),
    {"Example.COM.:443", 0, 0, "example.com", 443, EP_HOST_NAME},
    {"example.com:65535", 0, 0, "example.com", 65535, EP_HOST_NAME},
    /* IPv6 literals. */
    {"[::1]:443", 0, 0, "::1", 443, EP_HOST_IPV6},
    {"[2001:DB8:0:0:0:0:0:1]", 0, 0, "2001:db8::1", 0, EP_HOST_IPV6},
    {"[::ffff:1.2.3.4]", 0, 0, "::ffff:1.2.3.4", 0, EP_HOST_IPV6},
    {"::1", 0, 0, "::1", 0, EP_HOST_IPV6},
    BAD("[::1", EP_E_HOST_BRACKET),
    BAD("[zz::1]", EP_E_HOST_BRACKET),
    BAD("[::1]x", EP_E_HOST_BRACKET),
    BAD("[::1]:", EP_E_HOST_PORT),
    BAD("[::1]:0", EP_E_HOST_PORT),
    BAD("[]", EP_E_HOST_BRACKET),
    BAD("[fe80::1%25eth0]", EP_E_HOST_BRACKET),
    BAD("[1.2.3.4]", EP_E_HOST_BRACKET),
    BAD("a:b:c", EP_E_HOST_PORT),
    /* IPv4: only the dotted quad; other spellings of an address are refused. */
    {"1.2.3.4", 0, 0, "1.2.3.4", 0, EP_HOST_IPV4},
    {"1.2.3.4:8080", 0, 0, "1.2.3.4", 8080, EP_HOST_IPV4},
    BAD("01.2.3.4", EP_E_HOST_LABEL),
    BAD("1.2.3", EP_E_HOST_LABEL),
    BAD("2130706433", EP_E_HOST_LABEL),
    BAD("1.2.3.256", EP_E_HOST_LABEL),
    BAD("0x7f.0.0.1", EP_E_HOST_LABEL),
    BAD("example.0x7f", EP_E_HOST_LABEL),
    OK("1.2.3.4.example.com", "1.2.3.4.example.com"),
    OK("123.example", "123.example"),
    /* IDN. */
    OK("bücher.de", "xn--bcher-kva.de"),
    OK("BÜCHER.de", "xn--bcher-kva.de"),
    OK("b%C3%BCcher.de", "xn--bcher-kva.de"),
    OK("XN--BCHER-KVA.DE", "xn--bcher-kva.de"),
    OK("münchen.DE.", "xn--mnchen-3ya.de"),
    OK("ß.de", "xn--zca.de"),
    OK("例え.jp", "xn--r8jz45g.jp"),
    OK("r3---sn-abc.bücher.de", "r3---sn-abc.xn--bcher-kva.de"),
    OK("a\xe3\x80\x82"
       "example.com",
       "a.example.com"),
    BAD("xn--a.com", EP_E_HOST_IDN),
    BAD("xn--zz.com", EP_E_HOST_IDN),
    BAD("xn--.com", EP_E_HOST_IDN),
    BAD("\xee\x80\x80.com", EP_E_HOST_IDN),
    BAD("\xcd\xb8.com", EP_E_HOST_IDN),
    BAD("\xff.com", EP_E_HOST_IDN),
    BAD("b%C3.de", EP_E_HOST_IDN),
    BAD("\xef\xbd\x81\xef\xbc\x8f"
        "b.com",
        EP_E_HOST_CHAR),
    BAD("a\xc2\xa0"
        "b.com",
        EP_E_HOST_CHAR),
    BAD("\xe2\x80\x8b.com", EP_E_HOST_LABEL),
};

/* A host of @p labels labels of @p label_len 'a's, with a different letter per label. */
static void make_host(char *buf, int labels, int label_len)
{
    size_t n = 0;

    for (int l = 0; l < labels; l++) {
        if (l > 0)
            buf[n++] = '.';
        for (int i = 0; i < label_len; i++)
            buf[n++] = (char)('a' + l % 26);
    }
    buf[n] = '\0';
}

static void check_case(const struct host_case *c)
{
    char out[EP_HOST_BUFSZ];
    int port = -1;
    enum ep_host_kind kind = (enum ep_host_kind) - 1;
    size_t len = c->len ? c->len : strlen(c->in);
    int rc = ep_host_normalize(c->in, len, out, &port, &kind);

    test_checks++;
    if (rc != c->rc || strcmp(out, c->out) != 0 ||
        (rc == 0 && (port != c->port || kind != c->kind))) {
        test_failures++;
        fprintf(stderr,
                "ep_host_normalize(\"%s\"): rc %d \"%s\" port %d kind %d, expected rc %d \"%s\" "
                "port %d kind %d\n",
                c->in, rc, out, port, kind, c->rc, c->out, c->port, c->kind);
    }
}

static void test_lengths(void)
{
    char in[2000], out[EP_HOST_BUFSZ];

    /* 253 characters (63+1+63+1+63+1+61) is the limit; 254 is over it. */
    make_host(in, 4, 63);
    in[253] = '\0';
    CHECK_INT(ep_host_normalize(in, strlen(in), out, NULL, NULL), 0);
    CHECK_INT(strlen(out), 253);
    make_host(in, 4, 63);
    in[254] = '\0';
    CHECK_INT(ep_host_normalize(in, strlen(in), out, NULL, NULL), EP_E_HOST_TOO_LONG);
    CHECK_STR(out, "");
    /* A trailing dot does not count. */
    make_host(in, 4, 63);
    in[253] = '.';
    in[254] = '\0';
    CHECK_INT(ep_host_normalize(in, strlen(in), out, NULL, NULL), 0);
    /* 63-character labels are fine, 64 are not. */
    make_host(in, 2, 63);
    CHECK_INT(ep_host_normalize(in, strlen(in), out, NULL, NULL), 0);
    make_host(in, 2, 64);
    CHECK_INT(ep_host_normalize(in, strlen(in), out, NULL, NULL), EP_E_HOST_LABEL);
    /* Far too long raw input stops before any work. */
    make_host(in, 30, 60);
    CHECK_INT(ep_host_normalize(in, strlen(in), out, NULL, NULL), EP_E_HOST_TOO_LONG);
    /* A long Unicode label whose punycode is over 63 characters. */
    strcpy(in, "");
    for (int i = 0; i < 60; i++)
        strcat(in, "ü");
    strcat(in, ".de");
    CHECK_INT(ep_host_normalize(in, strlen(in), out, NULL, NULL), EP_E_HOST_LABEL);
    /* The length given bounds the input: no read past it. */
    CHECK_INT(ep_host_normalize("example.comXXXX", 11, out, NULL, NULL), 0);
    CHECK_STR(out, "example.com");
}

struct target_case {
    const char *in;
    int rc;
    const char *out;
    int port;
};

static const struct target_case target_cases[] = {
    {"http://User:pw@Example.COM:8080/path?q=1", 0, "example.com", 8080},
    {"https://example.com", 0, "example.com", 0},
    {"HTTP://[::1]:8080/", 0, "::1", 8080},
    {"ftp://x.com/", 0, "x.com", 0},
    {"http://ex%41mple.com/", 0, "example.com", 0},
    {"http://a.com#@b.com", 0, "a.com", 0},
    {"http://a.com?@b.com", 0, "a.com", 0},
    {"http://user@host@evil.com/", 0, "evil.com", 0},
    {"http://evil.com\\@good.com/", EP_E_HOST_CHAR, "", 0},
    {"http://x.com%2f.evil.com/", EP_E_HOST_CHAR, "", 0},
    {"http:///x", EP_E_HOST_EMPTY, "", 0},
    {"http://", EP_E_HOST_EMPTY, "", 0},
    {"/path", EP_E_HOST_EMPTY, "", 0},
    {"", EP_E_HOST_EMPTY, "", 0},
    {"example.com:443", 0, "example.com", 443},
    {"Example.com", 0, "example.com", 0},
    {"[2001:db8::1]:443", 0, "2001:db8::1", 443},
    {"user@example.com", EP_E_HOST_CHAR, "", 0},
    {"http://bücher.de/", 0, "xn--bcher-kva.de", 0},
    {"http://x.com\r\nHost: evil.com/", EP_E_HOST_CHAR, "", 0},
};

static void test_targets(void)
{
    for (size_t i = 0; i < sizeof target_cases / sizeof target_cases[0]; i++) {
        const struct target_case *c = &target_cases[i];
        char out[EP_HOST_BUFSZ];
        int port = -1;
        int rc = ep_host_from_request_target(c->in, strlen(c->in), out, &port, NULL);

        test_checks++;
        if (rc != c->rc || strcmp(out, c->out) != 0 || (rc == 0 && port != c->port)) {
            test_failures++;
            fprintf(stderr,
                    "ep_host_from_request_target(\"%s\"): rc %d \"%s\" port %d, expected rc %d "
                    "\"%s\" port %d\n",
                    c->in, rc, out, port, c->rc, c->out, c->port);
        }
    }
}

static void test_reverse(void)
{
    char out[EP_HOST_BUFSZ], in[300], back[EP_HOST_BUFSZ];

    ep_host_reverse("api.example.com", out);
    CHECK_STR(out, "com.example.api");
    ep_host_reverse("com", out);
    CHECK_STR(out, "com");
    ep_host_reverse("1.2.3.4", out);
    CHECK_STR(out, "4.3.2.1");
    ep_host_reverse("::1", out);
    CHECK_STR(out, "::1");
    ep_host_reverse("", out);
    CHECK_STR(out, "");
    /* The longest host reverses into the buffer and back to itself. */
    make_host(in, 4, 63);
    in[253] = '\0';
    ep_host_reverse(in, out);
    CHECK_INT(strlen(out), 253);
    CHECK(out[0] == 'd' && out[61] == '.');
    ep_host_reverse(out, back);
    CHECK_STR(back, in);
}

int main(void)
{
    for (size_t i = 0; i < sizeof host_cases / sizeof host_cases[0]; i++)
        check_case(&host_cases[i]);
    /* NULL outputs are allowed. */
    {
        char out[EP_HOST_BUFSZ];
        CHECK_INT(ep_host_normalize("a.com:1", 7, out, NULL, NULL), 0);
        CHECK_STR(out, "a.com");
        CHECK_INT(ep_host_normalize(NULL, 0, out, NULL, NULL), EP_E_HOST_EMPTY);
    }
    test_lengths();
    test_targets();
    test_reverse();
    /* The kind of every canonical case is the kind its normalisation gave. */
    for (size_t i = 0; i < sizeof host_cases / sizeof host_cases[0]; i++) {
        char out[EP_HOST_BUFSZ];
        enum ep_host_kind kind;
        const char *in = host_cases[i].in;
        if (ep_host_normalize(in, strlen(in), out, NULL, &kind) == 0)
            CHECK_INT(ep_host_kind_of(out), kind);
    }
    CHECK_INT(ep_host_kind_of("10.1.2.3"), EP_HOST_IPV4);
    CHECK_INT(ep_host_kind_of("2001:db8::1"), EP_HOST_IPV6);
    CHECK_INT(ep_host_kind_of("10.1.2.3.example"), EP_HOST_NAME);
    CHECK_INT(ep_host_kind_of("1.2.3"), EP_HOST_NAME);
    fprintf(stderr, "%zu host cases, %zu request targets\n",
            sizeof host_cases / sizeof host_cases[0], sizeof target_cases / sizeof target_cases[0]);
    return test_exit();
}
