/*
 * The one size parser (policy/size.h): what it accepts and the exact
 * value, and for every kind of bad input a refusal whose sentence names
 * the problem; ep_size_format() reads back through the parser; the
 * duration and CPU count parsers beside it, the latter's one rounding rule
 * (nearest nano-CPU, a half up) at its edges.
 */
#include <stdint.h>
#include <string.h>

#include "policy/error.h"
#include "policy/size.h"
#include "tests/lib/testutil.h"

struct good {
    const char *text;
    uint64_t bytes;
};

static const struct good goods[] = {
    {"0", 0},
    {"4096", 4096},
    {"1k", 1024},
    {"1K", 1024},
    {"512m", 512ull << 20},
    {"512M", 512ull << 20},
    {"4g", 4ull << 30},
    {"1G", 1ull << 30},
    {"2t", 2ull << 40},
    {"1.5g", 3ull << 29},
    {"0.5k", 512},
    {"1.0001k", 1024}, /* 1024.1024 bytes, rounded down */
    {"16777215t", 16777215ull << 40},
    {"18446744073709551615", UINT64_MAX},
    {"17179869183.999999999999g", UINT64_MAX},
};

/* CPU counts in nano-CPUs (the "bytes" member holds them). */
static const struct good cpus_goods[] = {
    {"0", 0},
    {"1", 1000000000ull},
    {"2", 2000000000ull},
    {"1.5", 1500000000ull},
    {"0.25", 250000000ull},
    {"0.01", 10000000ull},
    {"0.3", 300000000ull},
    {"1024", 1024000000000ull},
    {"00.5", 500000000ull},
    {"0.000000001", 1},
    {"0.0000000005", 1},          /* the tenth digit: a half rounds up */
    {"0.00000000049", 0},         /* below a half: down */
    {"0.00000000049999999", 0},   /* only the tenth digit rounds */
    {"1.9999999995", 2000000000}, /* rounding up carries into the whole */
    {"1.9999999994", 1999999999},
    {"0.29999999999999998890", 300000000ull},
    {"18446744073.709551615", UINT64_MAX},
};

struct bad {
    const char *text;
    const char *why; /* a part of the sentence that names the problem */
};

static const struct bad bads[] = {
    {"", "empty"},
    {"-1g", "no sign"},
    {"+1g", "no sign"},
    {" 1g", "does not start with a digit"},
    {"g", "does not start with a digit"},
    {"1x", "unknown unit \"x\""},
    {"1 g", "unknown unit \" \""},
    {"1gb", "unexpected \"b\" after the unit"},
    {"1g ", "unexpected \" \" after the unit"},
    {"1.", "no digit after the decimal point"},
    {"1.g", "no digit after the decimal point"},
    {"1.5", "a fraction needs a unit"},
    {"18446744073709551616", "too large"},
    {"16777216t", "too large"},
    {"17179869184g", "too large"},
};

static const struct bad cpus_bads[] = {
    {"", "empty"},
    {"-1", "no sign"},
    {"+1", "no sign"},
    {".5", "does not start with a digit"},
    {" 1", "does not start with a digit"},
    {"1.", "no digit after the decimal point"},
    {"1.x", "no digit after the decimal point"},
    {"1e3", "unexpected \"e3\""},
    {"2 ", "unexpected \" \""},
    {"1,5", "unexpected \",5\""},
    {"2g", "no unit or exponent"},
    {"18446744073.7095516155", "too large"},
    {"18446744074", "too large"},
    {"99999999999999999999", "too large"},
};

int main(void)
{
    char why[160], text[EP_SIZE_BUFSZ];
    uint64_t v;

    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        v = 12345;
        test_checks++;
        if (ep_size_parse(goods[i].text, &v, why, sizeof why) != 0 || v != goods[i].bytes) {
            test_failures++;
            fprintf(stderr, "\"%s\": got %llu (%s), expected %llu\n", goods[i].text,
                    (unsigned long long)v, why, (unsigned long long)goods[i].bytes);
        }
    }
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        v = 12345;
        test_checks++;
        if (ep_size_parse(bads[i].text, &v, why, sizeof why) != EP_E_INVAL || v != 12345 ||
            strstr(why, bads[i].why) == NULL) {
            test_failures++;
            fprintf(stderr, "\"%s\": refusal \"%s\" does not say \"%s\" (or it was accepted)\n",
                    bads[i].text, why, bads[i].why);
        }
    }
    /* The sentence quotes the input; NULL and a missing buffer are refused too. */
    CHECK(ep_size_parse("12q", &v, why, sizeof why) == EP_E_INVAL);
    CHECK(strstr(why, "\"12q\" is not a size") != NULL);
    CHECK(ep_size_parse(NULL, &v, why, sizeof why) == EP_E_INVAL);
    CHECK(ep_size_parse("1x", &v, NULL, 0) == EP_E_INVAL);

    /* Formatting: the largest exact unit, and back through the parser. */
    ep_size_format(16ull << 30, text);
    CHECK_STR(text, "16g");
    ep_size_format(512ull << 20, text);
    CHECK_STR(text, "512m");
    ep_size_format(4097, text);
    CHECK_STR(text, "4097");
    ep_size_format(0, text);
    CHECK_STR(text, "0");
    ep_size_format(UINT64_MAX, text);
    CHECK(ep_size_parse(text, &v, NULL, 0) == 0 && v == UINT64_MAX);
    for (uint64_t b = 1; b < (1ull << 62); b = b * 3 + 1024) {
        ep_size_format(b, text);
        CHECK(ep_size_parse(text, &v, NULL, 0) == 0 && v == b);
    }

    /* Durations: the unit, or the caller's unit for a bare number. */
    CHECK(ep_duration_parse("500ms", 1000, &v, why, sizeof why) == 0 && v == 500);
    CHECK(ep_duration_parse("1s", 1, &v, why, sizeof why) == 0 && v == 1000);
    CHECK(ep_duration_parse("2", 1000, &v, why, sizeof why) == 0 && v == 2000);
    CHECK(ep_duration_parse("10M", 1000, &v, why, sizeof why) == 0 && v == 600000);
    CHECK(ep_duration_parse("12h", 1000, &v, why, sizeof why) == 0 && v == 43200000);
    CHECK(ep_duration_parse("30d", 1000, &v, why, sizeof why) == 0 && v == 2592000000ull);
    CHECK(ep_duration_parse("0d", 1000, &v, why, sizeof why) == 0 && v == 0);
    v = 12345;
    CHECK(ep_duration_parse("1.5s", 1000, &v, why, sizeof why) == EP_E_INVAL && v == 12345);
    CHECK(strstr(why, "\"1.5s\" is not a duration: a duration is whole") != NULL);
    CHECK(ep_duration_parse("5w", 1000, &v, why, sizeof why) == EP_E_INVAL);
    CHECK(strstr(why, "unknown unit \"w\"") != NULL);
    CHECK(ep_duration_parse("-1s", 1000, &v, why, sizeof why) == EP_E_INVAL);
    CHECK(strstr(why, "no sign") != NULL);
    CHECK(ep_duration_parse("", 1000, &v, why, sizeof why) == EP_E_INVAL);
    CHECK(strstr(why, "empty") != NULL);
    CHECK(ep_duration_parse("213503982335d", 1000, &v, why, sizeof why) == EP_E_INVAL);
    CHECK(strstr(why, "too large") != NULL);

    /* CPU counts: nano-CPUs, exact, rounded to the nearest with a half up. */
    for (size_t i = 0; i < sizeof cpus_goods / sizeof cpus_goods[0]; i++) {
        v = 12345;
        test_checks++;
        if (ep_cpus_parse(cpus_goods[i].text, &v, why, sizeof why) != 0 ||
            v != cpus_goods[i].bytes) {
            test_failures++;
            fprintf(stderr, "CPUs \"%s\": got %llu (%s), expected %llu\n", cpus_goods[i].text,
                    (unsigned long long)v, why, (unsigned long long)cpus_goods[i].bytes);
        }
    }
    for (size_t i = 0; i < sizeof cpus_bads / sizeof cpus_bads[0]; i++) {
        v = 12345;
        test_checks++;
        if (ep_cpus_parse(cpus_bads[i].text, &v, why, sizeof why) != EP_E_INVAL || v != 12345 ||
            strstr(why, cpus_bads[i].why) == NULL) {
            test_failures++;
            fprintf(stderr,
                    "CPUs \"%s\": refusal \"%s\" does not say \"%s\" (or it was accepted)\n",
                    cpus_bads[i].text, why, cpus_bads[i].why);
        }
    }
    CHECK(ep_cpus_parse("2x", &v, why, sizeof why) == EP_E_INVAL);
    CHECK(strstr(why, "\"2x\" is not a CPU count") != NULL);
    CHECK(ep_cpus_parse(NULL, &v, why, sizeof why) == EP_E_INVAL);
    CHECK(ep_cpus_parse("x", &v, NULL, 0) == EP_E_INVAL);
    /*
     * A double written as size.h says ("%.15g") reads back as the decimal
     * that made it, for every hundredth of a CPU up to 1024; the double's
     * own value (0.29999999999999998890 for 0.3) would round down.
     */
    for (unsigned hundredths = 1; hundredths <= 102400; hundredths++) {
        char buf[32];

        snprintf(buf, sizeof buf, "%.15g", hundredths / 100.0);
        v = 0;
        test_checks++;
        if (ep_cpus_parse(buf, &v, NULL, 0) != 0 || v != hundredths * 10000000ull) {
            test_failures++;
            fprintf(stderr, "CPUs %u/100 written \"%s\": got %llu\n", hundredths, buf,
                    (unsigned long long)v);
        }
    }
    return test_exit();
}
