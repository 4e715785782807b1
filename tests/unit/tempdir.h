/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A fresh directory under /tmp for each test that needs files: cmocka
 * setup and teardown functions; *state is a TempDir. */
#pragma once

#include <ftw.h>
#include <stdlib.h>
#include <string.h>

#include "scratchd/util.h"

#define TEMPDIR_PREFIX "/tmp/scratchd-test."

typedef struct TempDir {
        char path[64];
} TempDir;

static inline int tempdir_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static inline int setup_tempdir(void **state) {
        TempDir *t = calloc(1, sizeof(TempDir));
        if (!t)
                return -1;
        snprintf(t->path, sizeof(t->path), TEMPDIR_PREFIX "XXXXXX");
        if (!mkdtemp(t->path)) {
                free(t);
                return -1;
        }
        *state = t;
        return 0;
}

static inline int teardown_tempdir(void **state) {
        TempDir *t = *state;
        /* Only ever a mkdtemp() result of ours. */
        int r = startswith(t->path, TEMPDIR_PREFIX) ? nftw(t->path, tempdir_remove_one, 16, FTW_DEPTH | FTW_PHYS) : -1;
        free(t);
        return r;
}
