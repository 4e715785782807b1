/* SPDX-License-Identifier: GPL-2.0-or-later */
/* audit.c: the JSON lines of the audit log file, and its rotation: a log
 * that logrotate renamed or removed is followed by a new one at the path,
 * at the next event, without a signal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "scratchd/audit.h"
#include "scratchd/util.h"

static void event(Audit *a, const char *job) {
        AuditEvent e = { .event = "release", .volume = "scratch", .job = job, .caller_uid = 0, .caller_pid = 1,
                         .result = "ok" };
        audit_log(a, &e);
}

/* The jobs named in the file at `path`, in order, "," between; "" if none. */
static void jobs_in(const char *path, char *buf, size_t size) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        buf[0] = 0;
        char line[1024];
        while (f && fgets(line, sizeof(line), f)) {
                const char *j = strstr(line, "\"job\":\"");
                assert_non_null(j);
                j += 7;
                size_t n = strcspn(j, "\"");
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%.*s", buf[0] ? "," : "", (int) n, j);
        }
}

static void test_rotation(void **state) {
        TempDir *t = *state;
        char path[PATH_MAX], rotated[PATH_MAX + 8], got[256];
        snprintf(path, sizeof(path), "%s/log/audit.log", t->path);
        snprintf(rotated, sizeof(rotated), "%s.1", path);

        Audit *a = NULL;
        assert_int_equal(audit_open(path, &a), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        event(a, "1");
        event(a, "2");
        jobs_in(path, got, sizeof(got));
        assert_string_equal(got, "1,2");   /* the control: no rotation, one file */

        /* Renamed, as logrotate's "create" does: the next event starts a new file. */
        assert_int_equal(rename(path, rotated), 0);
        event(a, "3");
        jobs_in(rotated, got, sizeof(got));
        assert_string_equal(got, "1,2");
        jobs_in(path, got, sizeof(got));
        assert_string_equal(got, "3");
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);

        /* Removed: made again. */
        assert_int_equal(unlink(path), 0);
        event(a, "4");
        jobs_in(path, got, sizeof(got));
        assert_string_equal(got, "4");

        /* Truncated in place (copytruncate): appends at its new end. */
        assert_int_equal(truncate(path, 0), 0);
        event(a, "5");
        jobs_in(path, got, sizeof(got));
        assert_string_equal(got, "5");
        audit_close(a);
        unlink(path);
        unlink(rotated);
        char dir[PATH_MAX + 8];
        snprintf(dir, sizeof(dir), "%s/log", t->path);
        rmdir(dir);
}

static void test_format(void **state) {
        AuditEvent e = { .event = "wipe", .volume = "scratch", .job = "7", .caller_uid = (uid_t) -1,
                         .from = "IN_USE", .to = "CLEAN", .generation = 9, .result = "ok" };
        _cleanup_free_ char *line = audit_format(&e);
        assert_non_null(strstr(line, "\"event\":\"wipe\",\"volume\":\"scratch\",\"job\":\"7\",\"from\":\"IN_USE\","
                                     "\"to\":\"CLEAN\",\"key_generation\":9"));
        assert_null(strstr(line, "caller_uid"));   /* scratchd itself */
        assert_null(strchr(line, '\n'));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_rotation, setup_tempdir, teardown_tempdir),
                cmocka_unit_test(test_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
