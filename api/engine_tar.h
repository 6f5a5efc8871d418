/**
 * @file engine_tar.h
 * @brief A tiny in-memory ustar writer for the files egress-api puts into
 * workspace containers (the code-server auth override, the project
 * directory entry).
 *
 * The Docker Engine API takes files only as a tar archive
 * (PUT /containers/{id}/archive). What we upload is one or two small
 * entries, so a ustar header written here does the job without libarchive.
 *
 * Caveats:
 * - Names are at most 98 bytes (no prefix field, no PAX headers); longer
 *   names, and uids or sizes that do not fit ustar's octal fields, are
 *   refused with EINVAL.
 * - The archive is built in one malloc'd buffer; free it with free().
 */
#ifndef API_ENGINE_TAR_H
#define API_ENGINE_TAR_H

#include <stddef.h>

/** One entry: a regular file (@p data, @p size) or, with @p is_dir, a directory. */
struct engine_tar_entry {
    const char *name; /**< relative name inside the target directory, e.g. ".code-server-auth" */
    const void *data; /**< file contents (ignored for a directory) */
    size_t size;      /**< bytes of @p data */
    unsigned mode;    /**< permission bits, e.g. 0600 */
    unsigned uid;
    unsigned gid;
    int is_dir;
};

/**
 * Build a ustar archive of @p n entries and the two zero blocks that end it.
 * On success *out is a malloc'd buffer of *out_size bytes.
 * @return 0, EINVAL (a name empty or over 98 bytes, a uid, gid or size too
 * large for ustar) or ENOMEM.
 */
int engine_tar_build(const struct engine_tar_entry *entries, size_t n, char **out,
                     size_t *out_size);

#endif
