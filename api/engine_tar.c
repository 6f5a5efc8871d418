/*
 * A minimal ustar writer: 512-byte headers with octal fields, contents
 * padded to 512 bytes, two zero blocks at the end (POSIX.1-1988 ustar).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/engine_tar.h"
#include "policy/error.h"

#define TAR_BLOCK 512

/* The fields of a ustar header at their offsets; everything else stays zero. */
struct tar_header {
    char name[100];
    char mode[8];
    char uid[8];
    char gid[8];
    char size[12];
    char mtime[12];
    char chksum[8];
    char typeflag;
    char linkname[100];
    char magic[6];
    char version[2];
    char uname[32];
    char gname[32];
    char devmajor[8];
    char devminor[8];
    char prefix[155];
    char pad[12];
};

_Static_assert(sizeof(struct tar_header) == TAR_BLOCK, "ustar header is one block");

static size_t padded(size_t n)
{
    return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

/*
 * Write @p value as zero-padded octal in @p width - 1 digits and a NUL.
 * Returns -1 when it does not fit (a uid over 2097151, a file over 8 GiB).
 */
static int octal(char *field, size_t width, unsigned long long value)
{
    size_t i = width - 1;

    field[i] = '\0';
    while (i > 0) {
        field[--i] = (char)('0' + (value & 7));
        value >>= 3;
    }
    return value == 0 ? 0 : -1;
}

/*
 * Fill one header. The checksum is the byte sum of the header with the
 * checksum field taken as eight spaces, written as six octal digits, NUL,
 * space (the form every tar reader accepts).
 */
static int header_fill(struct tar_header *h, const struct engine_tar_entry *e, time_t now)
{
    const unsigned char *p = (const unsigned char *)h;
    unsigned sum = 0;
    size_t i, len = strlen(e->name);

    memset(h, 0, sizeof *h);
    memcpy(h->name, e->name, len);
    if (e->is_dir && e->name[len - 1] != '/')
        h->name[len] = '/';
    if (octal(h->mode, sizeof h->mode, e->mode & 07777) != 0 ||
        octal(h->uid, sizeof h->uid, e->uid) != 0 || octal(h->gid, sizeof h->gid, e->gid) != 0 ||
        octal(h->size, sizeof h->size, e->is_dir ? 0 : e->size) != 0 ||
        octal(h->mtime, sizeof h->mtime, (unsigned long long)now) != 0)
        return -1;
    h->typeflag = e->is_dir ? '5' : '0';
    memcpy(h->magic, "ustar", 6);
    memcpy(h->version, "00", 2);
    memset(h->chksum, ' ', sizeof h->chksum);
    for (i = 0; i < sizeof *h; i++)
        sum += p[i];
    octal(h->chksum, 7, sum);
    h->chksum[7] = ' ';
    return 0;
}

int engine_tar_build(const struct engine_tar_entry *entries, size_t n, char **out, size_t *out_size)
{
    time_t now = time(NULL);
    size_t total = 2 * TAR_BLOCK, off = 0, i, len;
    char *buf;

    for (i = 0; i < n; i++) {
        len = strlen(entries[i].name);
        /* A directory may gain a '/', so keep one byte spare for it. */
        if (len == 0 || len > 98)
            return EINVAL;
        total += TAR_BLOCK + (entries[i].is_dir ? 0 : padded(entries[i].size));
    }
    buf = ep_calloc(1, total);
    if (buf == NULL)
        return ENOMEM;
    for (i = 0; i < n; i++) {
        if (header_fill((struct tar_header *)(buf + off), &entries[i], now) != 0) {
            free(buf);
            return EINVAL;
        }
        off += TAR_BLOCK;
        if (!entries[i].is_dir && entries[i].size > 0) {
            memcpy(buf + off, entries[i].data, entries[i].size);
            off += padded(entries[i].size);
        }
    }
    *out = buf;
    *out_size = total;
    return 0;
}
