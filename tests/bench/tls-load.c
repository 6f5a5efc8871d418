/*
 * tls-load: new TLS connections per second, each a full handshake and one
 * HTTP request, from C threads with libcurl (a curl process per connection
 * would measure process start-up instead).
 *
 *   tls-load -u URL [-x PROXY] [-r HOST:PORT:ADDR] [-C CAFILE] [-c THREADS] [-d SECONDS] [-R]
 *
 * Each thread loops: a fresh connection (no reuse), the handshake with
 * certificate verification against CAFILE, GET URL, the whole answer
 * read. Every handshake is a full one unless -R: then a thread resumes its
 * previous TLS session where the server allows it (cheaper for client and
 * origin, the same work for a proxy that only splices). With -x the connection is a CONNECT tunnel
 * through the proxy. Prints "connections=N errors=E rate=R" (R per
 * second, only transfers that ended in HTTP 200 count); the first error
 * is printed on stderr.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256

static const char *url, *proxy, *resolve, *cafile;
static atomic_long done, errors;
static atomic_int stop, reported;
static long resume;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    struct curl_slist *res = NULL;
    CURL *h = curl_easy_init();

    (void)arg;
    if (h == NULL) {
        atomic_fetch_add(&errors, 1);
        return NULL;
    }
    if (resolve != NULL)
        res = curl_slist_append(NULL, resolve);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, resume);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_PROXY, proxy != NULL ? proxy : "");
    if (proxy != NULL)
        curl_easy_setopt(h, CURLOPT_HTTPPROXYTUNNEL, 1L);
    if (res != NULL)
        curl_easy_setopt(h, CURLOPT_RESOLVE, res);
    if (cafile != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
    while (!atomic_load(&stop)) {
        long code = 0;
        CURLcode rc = curl_easy_perform(h);

        if (rc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_OK && code == 200) {
            atomic_fetch_add(&done, 1);
        } else {
            atomic_fetch_add(&errors, 1);
            if (atomic_exchange(&reported, 1) == 0)
                fprintf(stderr, "tls-load: %s: %s (HTTP %ld)\n", url, curl_easy_strerror(rc), code);
        }
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(res);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t threads[MAX_THREADS];
    int nthreads = 10, seconds = 5, opt, started = 0;
    double t0, t1;

    while ((opt = getopt(argc, argv, "u:x:r:C:c:d:R")) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'x':
            proxy = optarg;
            break;
        case 'r':
            resolve = optarg;
            break;
        case 'C':
            cafile = optarg;
            break;
        case 'c':
            nthreads = atoi(optarg);
            break;
        case 'd':
            seconds = atoi(optarg);
            break;
        case 'R':
            resume = 1;
            break;
        default:
            goto usage;
        }
    }
    if (url == NULL || nthreads < 1 || nthreads > MAX_THREADS || seconds < 1)
        goto usage;
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        fprintf(stderr, "tls-load: curl_global_init failed\n");
        return 1;
    }
    t0 = now_s();
    for (; started < nthreads; started++)
        if (pthread_create(&threads[started], NULL, worker, NULL) != 0)
            break;
    sleep((unsigned)seconds);
    atomic_store(&stop, 1);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    t1 = now_s();
    printf("connections=%ld errors=%ld rate=%.0f\n", atomic_load(&done), atomic_load(&errors),
           (double)atomic_load(&done) / (t1 - t0));
    curl_global_cleanup();
    return started == nthreads ? 0 : 1;
usage:
    fprintf(stderr, "usage: tls-load -u URL [-x PROXY] [-r HOST:PORT:ADDR] [-C CAFILE] "
                    "[-c THREADS] [-d SECONDS] [-R]\n");
    return 2;
}
