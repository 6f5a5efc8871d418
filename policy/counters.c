/*
 * The shared counters file of counters.h: a header and EP_COUNTERS_SLOTS
 * 64-bit slots, mapped shared by every process; an increment is one
 * atomic add. Making, checking and replacing the file happen under an
 * exclusive flock on it, so concurrent first openers agree on one file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/counters.h"

#define COUNTERS_MAGIC "EPCOUNT\n"

struct counters_header {
    char magic[8];
    uint32_t layout;
    uint32_t slots;
    char reserved[48];
};

struct counters_file {
    struct counters_header header;
    _Atomic uint64_t slot[EP_COUNTERS_SLOTS];
};

_Static_assert(sizeof(struct counters_header) == 64, "the header is 64 bytes");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "a slot is 8 bytes");

struct ep_counters {
    struct counters_file *map;
    bool read_only;
};

const uint64_t ep_counters_lag_bounds_us[EP_COUNTERS_LAG_BUCKETS] = {
    1000,   5000,    10000,   50000,   100000,   250000,
    500000, 1000000, 2500000, 5000000, 10000000, UINT64_MAX,
};

/* Whether the file behind @p fd has this program's layout (size and header). */
static bool layout_ok(int fd)
{
    struct counters_header h;
    struct stat st;

    if (fstat(fd, &st) != 0 || st.st_size != (off_t)sizeof(struct counters_file))
        return false;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return false;
    return memcmp(h.magic, COUNTERS_MAGIC, sizeof h.magic) == 0 && h.layout == EP_COUNTERS_LAYOUT &&
           h.slots == EP_COUNTERS_SLOTS;
}

/*
 * Give the new file @p fd the access of the store's data file in @p dir
 * (its mode, and its owner and group when this process may set them):
 * every program that opens the store can then add to the counters,
 * whichever of them made the file. Without a data file: 0664 less the
 * umask, as LMDB makes its own files.
 */
static void match_store_access(int fd, const char *dir)
{
    char path[PATH_MAX];
    struct stat st;

    if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path || stat(path, &st) != 0)
        return;
    if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) != 0)
        return;
    (void)fchmod(fd, st.st_mode & 0666);
}

/* Fill the new file @p fd: zeroed slots, then the header, with the store's access. */
static int file_init(int fd, const char *dir)
{
    struct counters_header h;

    memset(&h, 0, sizeof h);
    memcpy(h.magic, COUNTERS_MAGIC, sizeof h.magic);
    h.layout = EP_COUNTERS_LAYOUT;
    h.slots = EP_COUNTERS_SLOTS;
    if (ftruncate(fd, sizeof(struct counters_file)) != 0)
        return errno;
    if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return errno ? errno : EIO;
    match_store_access(fd, dir);
    return 0;
}

/*
 * Replace the file at @p path (of another layout) with a new one of
 * ours: made beside it under a name of this process, renamed over it.
 */
static int file_replace(const char *dir, const char *path)
{
    char tmp[PATH_MAX];
    int fd, rc;

    if (snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return ENAMETOOLONG;
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0664);
    if (fd < 0)
        return errno;
    rc = file_init(fd, dir);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc != 0)
        unlink(tmp);
    close(fd);
    return rc;
}

/*
 * Open @p path for writing, made or replaced so it has our layout. Under
 * the lock the descriptor must still name the path's file: another
 * process may have replaced it while this one waited.
 */
static int open_writable(const char *dir, const char *path, int *out)
{
    struct stat held, named;
    int fd = -1, rc = 0;

    for (int tries = 0; tries < 8; tries++) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
        if (fd < 0)
            return errno;
        if (flock(fd, LOCK_EX) != 0) {
            rc = errno;
            goto fail;
        }
        if (fstat(fd, &held) != 0 || stat(path, &named) != 0) {
            rc = errno;
            goto fail;
        }
        if (held.st_ino != named.st_ino || held.st_dev != named.st_dev) {
            close(fd); /* replaced meanwhile: open the new one */
            continue;
        }
        if (held.st_size == 0)
            rc = file_init(fd, dir);
        else if (!layout_ok(fd))
            rc = file_replace(dir, path);
        else {
            flock(fd, LOCK_UN);
            *out = fd;
            return 0;
        }
        if (rc != 0)
            goto fail;
        close(fd); /* made or replaced: check it again as it is now */
    }
    return EAGAIN;
fail:
    close(fd);
    return rc;
}

int ep_counters_open(const char *dir, bool read_only, struct ep_counters **out)
{
    char path[PATH_MAX];
    struct ep_counters *c = NULL;
    void *map;
    int fd = -1, rc;

    *out = NULL;
    if (snprintf(path, sizeof path, "%s/%s", dir, EP_COUNTERS_FILE) >= (int)sizeof path)
        return ENAMETOOLONG;
    if (read_only) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? errno : layout_ok(fd) ? 0 : EP_E_SCHEMA;
    } else {
        rc = open_writable(dir, path, &fd);
    }
    if (rc != 0)
        goto out;
    c = ep_calloc(1, sizeof *c);
    if (c == NULL) {
        rc = EP_E_NOMEM;
        goto out;
    }
    map = mmap(NULL, sizeof(struct counters_file), read_only ? PROT_READ : PROT_READ | PROT_WRITE,
               MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        rc = errno;
        goto out;
    }
    c->map = map;
    c->read_only = read_only;
    *out = c;
    c = NULL;
out:
    ep_free(c);
    if (fd >= 0)
        close(fd);
    return rc;
}

void ep_counters_close(struct ep_counters *c)
{
    if (c == NULL)
        return;
    munmap(c->map, sizeof *c->map);
    ep_free(c);
}

void ep_counters_add(struct ep_counters *c, unsigned slot, uint64_t n)
{
    if (c == NULL || c->read_only || slot >= EP_COUNTERS_SLOTS)
        return;
    atomic_fetch_add_explicit(&c->map->slot[slot], n, memory_order_relaxed);
}

void ep_counters_add_lag(struct ep_counters *c, uint64_t lag_us)
{
    unsigned b = 0;

    while (b + 1 < EP_COUNTERS_LAG_BUCKETS && lag_us > ep_counters_lag_bounds_us[b])
        b++;
    ep_counters_add(c, EP_COUNTER_RECORDER_LAG_BUCKET + b, 1);
    ep_counters_add(c, EP_COUNTER_RECORDER_LAG_SUM_US, lag_us);
}

void ep_counters_snapshot(struct ep_counters *c, uint64_t out[EP_COUNTERS_SLOTS])
{
    for (unsigned i = 0; i < EP_COUNTERS_SLOTS; i++)
        out[i] = atomic_load_explicit(&c->map->slot[i], memory_order_relaxed);
}
