/* SPDX-License-Identifier: GPL-2.0-or-later */
/* process_reason_line() on what mkfs.xfs 6.1.0 and mke2fs 1.47.0 (Debian 12)
 * really printed when they failed, captured under LC_ALL=C with the options
 * fs_make() gives them (data/mkfs/, one file per failure), and process_run()
 * on a real mkfs.xfs that refuses a disk too small for it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratchd/process.h"
#include "scratchd/util.h"
#include "helpers.h"

static char *read_output(const char *name) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/mkfs/%s", getenv("SCRATCHD_TEST_DATA") ?: "data", name);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        assert_non_null(f);
        char *buf = calloc(1, 65536);
        assert_non_null(buf);
        size_t n = fread(buf, 1, 65535, f);
        assert_true(n > 0);
        return buf;
}

static void test_captured(void **state) {
        static const struct {
                const char *file, *reason;
        } cases[] = {
                /* The case that made this: the last line was the usage's. */
                { "xfs-256m.out", "Filesystem must be larger than 300MB." },
                { "xfs-256m-log-64m.out", "internal log size 16384 too large, must be less than 16373" },
                { "xfs-no-device.out", "Error accessing specified device /dev/nonexistent: No such file or directory" },
                { "xfs-no-device-argument.out", "No device name specified" },
                { "ext4-16k.out", "e16.img: Not enough space to build proposed filesystem while setting up superblock" },
                /* A blank line, the warning that says why, then the error. */
                { "ext4-64k.out", "Filesystem too small for a journal" },
                /* A blank line, the reason, then a help text. */
                { "ext4-bad-extended-option.out", "Bad option(s) specified: bogus" },
                { "ext4-no-device.out", "The file /dev/nonexistent does not exist and no size was specified." },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *output = read_output(cases[i].file);
                _cleanup_free_ char *reason = process_reason_line(output);
                assert_non_null(reason);
                if (!streq(reason, cases[i].reason))
                        fail_msg("%s: got \"%s\", want \"%s\"", cases[i].file, reason, cases[i].reason);
        }
}

static void test_blank(void **state) {
        static const char *const outputs[] = { "", "\n", " \t\n\n  \n" };
        for (size_t i = 0; i < ELEMENTSOF(outputs); i++) {
                _cleanup_free_ char *reason = process_reason_line(outputs[i]);
                assert_string_equal(reason, "");
        }
        _cleanup_free_ char *reason = process_reason_line("  no newline at the end \t");
        assert_string_equal(reason, "no newline at the end");
}

/* The whole path: mkfs.xfs's output of about 1.2 KiB through the pipe. */
static void test_run_mkfs_xfs(void **state) {
        TempDir *t = *state;
        char img[128];
        snprintf(img, sizeof(img), "%s/disk.img", t->path);
        int fd = open(img, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, INT64_C(256) << 20), 0);
        close(fd);

        char *argv[] = { "mkfs.xfs", "-f", "-q", "-K", "-L", "scratch", img, NULL };
        _cleanup_free_ char *reason = NULL;
        int r = process_run(argv, &reason);
        if (r == -ENOENT)
                skip();
        assert_int_equal(r, -EPROTO);
        assert_string_equal(reason, "Filesystem must be larger than 300MB.");
}

/* An output longer than what is kept: the head is kept, the program is not
 * left blocked on a full pipe. */
static void test_run_long_output(void **state) {
        char *argv[] = { "sh", "-c", "echo 'first: why'; seq 1 100000; exit 3", NULL };
        _cleanup_free_ char *reason = NULL;
        assert_int_equal(process_run(argv, &reason), -EPROTO);
        assert_string_equal(reason, "first: why");

        char *ok[] = { "true", NULL };
        assert_int_equal(process_run(ok, NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_captured),
                cmocka_unit_test(test_blank),
                cmocka_unit_test_setup_teardown(test_run_mkfs_xfs, setup_tempdir, teardown_tempdir),
                cmocka_unit_test(test_run_long_output),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
