/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What several unit tests share: a fresh directory under /tmp for each test
 * that needs files (cmocka setup and teardown; *state is a TempDir), a
 * directory listing, and records compared field by field. Include after
 * <cmocka.h>. */
#pragma once

#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>

#include "scratchd/record.h"
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

/* The names in `dir`, sorted, joined by spaces; malloc'd. */
static inline char *list_dir(const char *dir) {
        struct dirent **list = NULL;
        int n = scandir(dir, &list, NULL, alphasort);
        assert_true(n >= 0);
        char **names = NULL;
        for (int i = 0; i < n; i++) {
                if (!streq(list[i]->d_name, ".") && !streq(list[i]->d_name, ".."))
                        assert_int_equal(strv_extend(&names, list[i]->d_name), 0);
                free(list[i]);
        }
        free(list);
        char *s = strv_join(names, " ");
        assert_non_null(s);
        strv_free(names);
        return s;
}

/* Field by field: the padding of Record is no one's business. */
static inline void assert_record_equal(const Record *a, const Record *b) {
        assert_int_equal(a->state, b->state);
        assert_int_equal(a->generation, b->generation);
        assert_int_equal(a->mapping_devnum, b->mapping_devnum);
        assert_string_equal(a->device, b->device);
        assert_int_equal(a->data_size, b->data_size);
        assert_int_equal(a->chunk_size, b->chunk_size);
        assert_string_equal(a->mount_point, b->mount_point);
        assert_string_equal(a->cipher, b->cipher);
        assert_int_equal(a->sector_size, b->sector_size);
        assert_int_equal(a->key_bits, b->key_bits);
        assert_int_equal(a->bypass_workqueues, b->bypass_workqueues);
        assert_int_equal(a->allow_discards, b->allow_discards);
        assert_string_equal(a->tuning, b->tuning);
        assert_string_equal(a->reason, b->reason);
        assert_string_equal(a->job, b->job);
        assert_string_equal(a->user, b->user);
        assert_int_equal(a->uid, b->uid);
        assert_string_equal(a->last_job, b->last_job);
        assert_int_equal(a->thin_id, b->thin_id);
        assert_int_equal(a->created, b->created);
        assert_int_equal(a->last_wipe, b->last_wipe);
        assert_int_equal(a->last_wipe_usec, b->last_wipe_usec);
}
