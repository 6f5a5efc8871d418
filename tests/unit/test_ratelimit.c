/*
 * The limiter of store retries and store error lines (policy/ratelimit.h):
 * a zeroed limiter lets its first event through, refuses and counts the
 * others until the interval is over, then lets one through with the count;
 * of threads racing for one due event, exactly one gets it.
 */
#include <pthread.h>
#include <time.h>

#include "policy/ratelimit.h"
#include "tests/lib/testutil.h"

#define RACERS      8
#define RACER_CALLS 1000

static struct ep_ratelimit raced;
static atomic_int raced_passes;

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void *racer(void *arg)
{
    (void)arg;
    for (int i = 0; i < RACER_CALLS; i++)
        if (ep_ratelimit_pass(&raced, 60000, NULL))
            atomic_fetch_add(&raced_passes, 1);
    return NULL;
}

int main(void)
{
    struct ep_ratelimit rl = {0};
    pthread_t threads[RACERS];
    unsigned long refused = 12345;

    /* The first event passes, with nothing refused before it. */
    CHECK(ep_ratelimit_pass(&rl, 300, &refused));
    CHECK_INT(refused, 0);
    /* Within the interval: refused and counted. */
    for (int i = 0; i < 5; i++)
        CHECK(!ep_ratelimit_pass(&rl, 300, &refused));
    /* Once the interval is over, one passes and hears of the 5 refused. */
    sleep_ms(400);
    CHECK(ep_ratelimit_pass(&rl, 300, &refused));
    CHECK_INT(refused, 5);
    /* The count starts again at 0, also when the caller does not ask for it. */
    CHECK(!ep_ratelimit_pass(&rl, 300, NULL));
    sleep_ms(400);
    CHECK(ep_ratelimit_pass(&rl, 300, NULL));
    sleep_ms(400);
    CHECK(ep_ratelimit_pass(&rl, 300, &refused));
    CHECK_INT(refused, 0);

    /* Racing threads: one event per interval among all of them. */
    for (int i = 0; i < RACERS; i++)
        REQUIRE(pthread_create(&threads[i], NULL, racer, NULL) == 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(threads[i], NULL);
    CHECK_INT(atomic_load(&raced_passes), 1);
    CHECK_INT(atomic_load(&raced.refused), RACERS * RACER_CALLS - 1);
    return test_exit();
}
