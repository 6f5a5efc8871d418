#!/bin/sh
# Fails when a C source or header differs from what .clang-format makes of it.
# Skips (77) only where clang-format is not installed.
command -v clang-format >/dev/null 2>&1 || { echo "clang-format not installed"; exit 77; }
cd "${top_srcdir:-.}" || exit 99
# tests/packages holds no C, but an in-tree build caches a whole Debian root there.
files=$(find policy icap api acl cluster node dns tests -path tests/packages -prune -o -name '*.[ch]' -print | sort)
[ -n "$files" ] || exit 99
# shellcheck disable=SC2086
clang-format --dry-run -Werror $files
