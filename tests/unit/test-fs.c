/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fs_check_size(): which disks are too small for the configured file system,
 * and the line that says so; and, where mkfs.xfs and mkfs.ext4 are installed,
 * that the minimums are those of the real programs run by fs_make() on
 * sparse files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "scratchd/fs.h"
#include "scratchd/pid1.h"
#include "scratchd/util.h"
#include "helpers.h"

#define MiB (UINT64_C(1) << 20)

static void test_check_size(void **state) {
        static const struct {
                FileSystem fs;
                uint64_t size;
                const char *reason;   /* NULL: fits */
        } cases[] = {
                { FILE_SYSTEM_XFS, 256 * MiB,
                  "/dev/ubda is 256.0 MiB, below the 300.0 MiB that FileSystem=xfs needs; "
                  "use FileSystem=ext4 or a larger disk" },
                { FILE_SYSTEM_XFS, 300 * MiB - 4096,
                  /* Rounded, both would read "300.0 MiB". */
                  "/dev/ubda is 314568704 bytes, below the 314572800 bytes that FileSystem=xfs needs; "
                  "use FileSystem=ext4 or a larger disk" },
                { FILE_SYSTEM_XFS, 300 * MiB, NULL },
                { FILE_SYSTEM_XFS, UINT64_C(4) << 40, NULL },
                /* Nothing fits: only a larger disk helps. */
                { FILE_SYSTEM_XFS, 1 * MiB,
                  "/dev/ubda is 1.0 MiB, below the 300.0 MiB that FileSystem=xfs needs; use a larger disk" },
                { FILE_SYSTEM_EXT4, 1 * MiB,
                  "/dev/ubda is 1.0 MiB, below the 2.0 MiB that FileSystem=ext4 needs; use a larger disk" },
                { FILE_SYSTEM_EXT4, 0,
                  "/dev/ubda is 0 B, below the 2.0 MiB that FileSystem=ext4 needs; use a larger disk" },
                { FILE_SYSTEM_EXT4, 2 * MiB, NULL },
                { FILE_SYSTEM_EXT4, 256 * MiB, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char reason[256] = "untouched";
                int r = fs_check_size(cases[i].fs, "/dev/ubda", cases[i].size, reason, sizeof(reason));
                if (!cases[i].reason) {
                        assert_int_equal(r, 0);
                        assert_string_equal(reason, "untouched");
                        continue;
                }
                assert_int_equal(r, -ENOSPC);
                assert_string_equal(reason, cases[i].reason);
        }
}

/* Every file system has its minimum in the table. */
static void test_every_file_system_has_a_minimum(void **state) {
        for (FileSystem f = 0; f < _FILE_SYSTEM_MAX; f++)
                assert_true(file_system_min_size(f) > 0);
        assert_int_equal(file_system_min_size(_FILE_SYSTEM_INVALID), 0);
}

static int make_on_file(const char *dir, FileSystem fs, uint64_t size, char **ret_output) {
        char img[128];
        snprintf(img, sizeof(img), "%s/%s.img", dir, file_system_to_string(fs));
        (void) unlink(img);
        int fd = open(img, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        close(fd);
        int r = fs_make(fs, img, size, ret_output);
        (void) unlink(img);
        return r;
}

/* The table against the programs: each makes its file system on a disk of
 * the minimum; mkfs.xfs refuses one 4 KiB smaller. (mke2fs makes an ext4
 * without a journal below its minimum, and says so only as a warning.) */
static void test_minimums_are_real(void **state) {
        TempDir *t = *state;
        for (FileSystem f = 0; f < _FILE_SYSTEM_MAX; f++) {
                _cleanup_free_ char *out = NULL;
                int r = make_on_file(t->path, f, file_system_min_size(f), &out);
                if (r == -ENOENT)
                        skip();
                if (r < 0)
                        fail_msg("mkfs.%s on %" PRIu64 " bytes: %s", file_system_to_string(f),
                                 file_system_min_size(f), out ?: strerror(-r));
        }

        _cleanup_free_ char *out = NULL;
        assert_int_equal(make_on_file(t->path, FILE_SYSTEM_XFS, 300 * MiB - 4096, &out), -EPROTO);
        assert_string_equal(out, "Filesystem must be larger than 300MB.");
}

/* As systemd-escape -p --suffix=mount spells them (systemd 252). */
static void test_pid1_unit_name(void **state) {
        static const char *const cases[][2] = {
                { "/scratch", "scratch.mount" },
                { "/scratch/job 1", "scratch-job\\x201.mount" },
                { "/scratch/a-b", "scratch-a\\x2db.mount" },
                { "/.x/.y", "\\x2ex-.y.mount" },
                { "/", "-.mount" },
                { "/scratch//j/", "scratch-j.mount" },
                { "/a/\xc3\xbc", "a-\\xc3\\xbc.mount" },
        };
        char buf[64];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(pid1_unit_name(cases[i][0], buf, sizeof(buf)), 0);
                assert_string_equal(buf, cases[i][1]);
        }
        assert_int_equal(pid1_unit_name("/scratch/long", buf, 12), -ENAMETOOLONG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pid1_unit_name),
                cmocka_unit_test(test_check_size),
                cmocka_unit_test(test_every_file_system_has_a_minimum),
                cmocka_unit_test_setup_teardown(test_minimums_are_real, setup_tempdir, teardown_tempdir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
