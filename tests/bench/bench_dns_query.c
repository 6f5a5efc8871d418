/*
 * egress-dns's query path in a loop, for callgrind's instruction counts
 * (tests/bench/README.md, DNS section): dns_query_answer() RUNS times on
 * one input of tests/fuzz/corpus/dns/ (a setup byte, then the message),
 * over fuzz_dns.c's store and stand-in resolver (no network, recording
 * off). The cost of one query is the difference of two runs:
 *
 *   valgrind --tool=callgrind tests/bench/bench_dns_query INPUT 1000
 *   valgrind --tool=callgrind tests/bench/bench_dns_query INPUT 3000
 *   (second total - first total) / 2000
 */
#include "tests/fuzz/fuzz_dns.c"

int main(int argc, char **argv)
{
    uint8_t in[2048];
    size_t n;
    long runs;
    FILE *f;

    if (argc != 3 || (f = fopen(argv[1], "rb")) == NULL) {
        fprintf(stderr, "usage: bench_dns_query INPUT RUNS\n");
        return 2;
    }
    n = fread(in, 1, sizeof in, f);
    fclose(f);
    runs = atol(argv[2]);
    if (n < 2)
        return 2;
    setup();
    for (long i = 0; i < runs; i++) {
        struct dns_outcome oc;
        uint8_t *out;
        size_t outlen;

        if (dns_query_answer(&svc, clients[in[0] & 3], (in[0] & 4) != 0, in + 1, n - 1, i, &out,
                             &outlen, &oc) == 0)
            free(out);
    }
    return 0;
}
