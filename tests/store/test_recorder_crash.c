/*
 * kill -9 of a recording process: it loses at most the counts noted since
 * its last flush, never a discovered host. The child notes requests over a
 * growing set of hosts, flushes now and then, and reports on a pipe each
 * note once it has returned and each flush once it has completed; the
 * parent kills it with SIGKILL mid-stream and checks the store against
 * what was reported:
 *   - every reported host is in the store with count >= 1;
 *   - count >= the notes reported before the last reported flush;
 *   - count <= the notes reported, plus one that may have been under way.
 */
#include <signal.h>
#include <sys/wait.h>

#include "policy/recorder.h"
#include "tests/store/storetest.h"

#define MAX_HOSTS  400
#define KILL_AFTER 3000 /* reported lines before the kill */

struct tally {
    unsigned noted;   /* notes reported */
    unsigned flushed; /* notes reported before the last reported flush */
};

static void child(const char *dir, int out)
{
    struct ep_store *s = store_open_dir(dir, 0);
    struct ep_recorder *rec;
    char line[64];

    /* A long interval: only the explicit flushes below write counts. */
    REQUIRE(ep_recorder_new(s, 60000, &rec) == 0);
    for (unsigned i = 0;; i++) {
        /* New hosts keep appearing, and older ones come back. */
        unsigned h = (i * 7919u) % (i / 4 + 1) % MAX_HOSTS;
        int len;

        snprintf(line, sizeof line, "h%u.example.com", h);
        if (ep_recorder_note(rec, "crash", line, EP_VERDICT_ALLOW) != 0)
            _exit(99);
        len = snprintf(line, sizeof line, "n %u\n", h);
        if (write(out, line, (size_t)len) != len)
            _exit(99);
        if (i % 97 == 96) {
            if (ep_recorder_flush(rec) != 0)
                _exit(99);
            if (write(out, "f\n", 2) != 2)
                _exit(99);
        }
    }
}

int main(void)
{
    const char *dir = store_dir("crash");
    static struct tally tally[MAX_HOSTS], at_flush[MAX_HOSTS];
    unsigned lines = 0, discovered = 0;
    struct ep_store *s;
    int fds[2], status;
    FILE *in;
    char line[64];
    pid_t pid;

    ep_store_close(store_open_dir(dir, 0));
    REQUIRE(pipe(fds) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(dir, fds[1]);
    }
    close(fds[1]);
    in = fdopen(fds[0], "r");
    REQUIRE(in != NULL);
    while (fgets(line, sizeof line, in)) {
        unsigned h;

        if (line[0] == 'f') {
            for (unsigned i = 0; i < MAX_HOSTS; i++)
                at_flush[i].flushed = tally[i].noted;
        } else if (sscanf(line, "n %u", &h) == 1 && h < MAX_HOSTS) {
            tally[h].noted++;
        } else {
            REQUIRE(!"unexpected line from the child");
        }
        if (++lines == KILL_AFTER)
            kill(pid, SIGKILL);
    }
    fclose(in);
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* The next opener clears the dead process's reader slot and sees all it committed. */
    s = store_open_dir(dir, 0);
    for (unsigned h = 0; h < MAX_HOSTS; h++) {
        char host[64];
        struct ep_seen seen;
        bool found;

        if (!tally[h].noted)
            continue;
        discovered++;
        snprintf(host, sizeof host, "h%u.example.com", h);
        found = seen_get(s, "crash", host, &seen);
        if (!found || seen.count < at_flush[h].flushed || seen.count > tally[h].noted + 1)
            fprintf(stderr, "%s: stored %llu, noted %u, flushed %u\n", host,
                    (unsigned long long)seen.count, tally[h].noted, at_flush[h].flushed);
        CHECK(found);
        CHECK(seen.count >= 1);
        CHECK(seen.count >= at_flush[h].flushed);
        CHECK(seen.count <= tally[h].noted + 1);
    }
    fprintf(stderr, "%u lines read, %u hosts discovered before the kill\n", lines, discovered);
    CHECK(discovered > 100);
    ep_store_close(s);
    return test_exit();
}
