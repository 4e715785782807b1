/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The state record: record_format()/record_parse(), and record_save()/record_load()
 * in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "scratchd/record.h"
#include "scratchd/util.h"


static void sample_record(Record *r) {
        *r = (Record) {
                .state = STATE_FAILED,
                .generation = UINT64_C(18446744073709551615),
                .mapping_devnum = makedev(253, 1048575),   /* a minor beyond 8 and 16 bits */
                .device = "/dev/disk/by-id/nvme-SAMSUNG_MZQL23T8HCLS-00A07_S64HNE0T123456",
                .mount_point = "/local/scratch",
                .cipher = "aes-xts-plain64",
                .key_bits = 512,
                .sector_size = 4096,
                .bypass_workqueues = true,
                .allow_discards = false,
                .tuning = "cipher: Cipher=auto, AES instructions (xts-aes-aesni); sectors: physical block 4096",
                .reason = "mkfs failed: mkfs.xfs: a=b c:d, 50% done; \"quoted\" #not-a-comment",
                .last_wipe = 1718000000,
                .last_wipe_usec = UINT64_C(1234567),
                .thin_id = 16777215,
                .created = 1718000456,
        };
}

/* ---- format and parse ---- */

static void test_round_trip(void **state) {
        Record in, out;
        char buf[4096];

        sample_record(&in);
        int k = record_format(&in, buf, sizeof(buf));
        assert_true(k > 0);
        assert_int_equal((size_t) k, strlen(buf));
        assert_true(startswith(buf, "scratchd-state-v1\n"));
        assert_non_null(strstr(buf, "\nstate=FAILED\n"));
        assert_non_null(strstr(buf, "\ngeneration=18446744073709551615\n"));
        assert_non_null(strstr(buf, "\nmapping_dev=253:1048575\n"));
        assert_non_null(strstr(buf, "\nsector_size=4096\n"));
        assert_non_null(strstr(buf, "\nkey_bits=512\n"));
        assert_non_null(strstr(buf, "\nbypass_workqueues=1\n"));
        assert_non_null(strstr(buf, "\nallow_discards=0\n"));
        assert_non_null(strstr(buf, "\nthin_id=16777215\n"));
        assert_non_null(strstr(buf, "\ncreated=1718000456\n"));

        memset(&out, 0x5A, sizeof(out));
        assert_int_equal(record_parse(buf, &out), 0);
        assert_record_equal(&out, &in);
}

static void test_round_trip_each_field(void **state) {
        /* Each field alone differs from an all-default record, so a field that
         * were not written or not read back would show. */
        for (int field = 0; field < 22; field++) {
                Record in = { .state = STATE_CLEAN }, out;
                char buf[4096];

                switch (field) {
                case 0: in.state = STATE_IN_USE; break;
                case 1: in.generation = 7; break;
                case 2: in.mapping_devnum = makedev(8, 16); break;
                case 3: snprintf(in.device, sizeof(in.device), "/dev/sdb"); break;
                case 4: snprintf(in.mount_point, sizeof(in.mount_point), "/scratch"); break;
                case 5: snprintf(in.cipher, sizeof(in.cipher), "aes-xts-plain64"); break;
                case 6: in.sector_size = 512; break;
                case 7: snprintf(in.reason, sizeof(in.reason), "why"); break;
                case 8: in.last_wipe = 86400; break;
                case 9: in.last_wipe_usec = 42; break;
                case 10: in.key_bits = 256; break;
                case 11: in.bypass_workqueues = true; break;
                case 12: in.allow_discards = true; break;
                case 13: snprintf(in.tuning, sizeof(in.tuning), "cipher: default"); break;
                case 14: in.thin_id = 3; break;
                case 15: in.created = 1718000000; break;
                case 16: in.data_size = UINT64_C(10) << 30; break;
                case 17: in.chunk_size = 256 << 10; break;
                case 18: snprintf(in.job, sizeof(in.job), "1234"); break;
                case 19: snprintf(in.user, sizeof(in.user), "alice"); break;
                case 20: in.uid = 1000; break;
                case 21: snprintf(in.last_job, sizeof(in.last_job), "1233"); break;
                }
                assert_true(record_format(&in, buf, sizeof(buf)) > 0);
                memset(&out, 0x5A, sizeof(out));
                assert_int_equal(record_parse(buf, &out), 0);
                assert_record_equal(&out, &in);
        }
}

static void test_longest_fields(void **state) {
        Record in = { .state = STATE_FAILED }, out;
        char buf[4096];

        memset(in.device, 'd', sizeof(in.device) - 1);
        memset(in.mount_point, 'm', sizeof(in.mount_point) - 1);
        memset(in.cipher, 'c', sizeof(in.cipher) - 1);
        memset(in.reason, 'r', sizeof(in.reason) - 1);
        memset(in.tuning, 't', sizeof(in.tuning) - 1);
        assert_true(record_format(&in, buf, sizeof(buf)) > 0);
        assert_int_equal(record_parse(buf, &out), 0);
        assert_record_equal(&out, &in);
        assert_int_equal(strlen(out.device), sizeof(out.device) - 1);
}

static void test_format_small_buffer(void **state) {
        Record in;
        char buf[64];

        sample_record(&in);
        assert_int_equal(record_format(&in, buf, sizeof(buf)), -ENOBUFS);
}

static void test_state_strings(void **state) {
        static const struct {
                LifecycleState s;
                const char *name;
        } table[] = {
                { STATE_ABSENT, "ABSENT" }, { STATE_WIPING, "WIPING" }, { STATE_CLEAN, "CLEAN" },
                { STATE_IN_USE, "IN_USE" }, { STATE_DIRTY, "DIRTY" },   { STATE_FAILED, "FAILED" },
        };
        assert_int_equal(ELEMENTSOF(table), _STATE_MAX);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                assert_string_equal(lifecycle_state_to_string(table[i].s), table[i].name);
                assert_int_equal(lifecycle_state_from_string(table[i].name), table[i].s);

                /* And through a whole record. */
                Record in = { .state = table[i].s }, out;
                char buf[4096], line[32];
                assert_true(record_format(&in, buf, sizeof(buf)) > 0);
                snprintf(line, sizeof(line), "\nstate=%s\n", table[i].name);
                assert_non_null(strstr(buf, line));
                assert_int_equal(record_parse(buf, &out), 0);
                assert_int_equal(out.state, table[i].s);
        }
        assert_null(lifecycle_state_to_string(_STATE_MAX));
        assert_null(lifecycle_state_to_string(_STATE_INVALID));
        assert_int_equal(lifecycle_state_from_string("clean"), _STATE_INVALID);
        assert_int_equal(lifecycle_state_from_string("READY"), _STATE_INVALID);
        assert_int_equal(lifecycle_state_from_string(""), _STATE_INVALID);
}

#define MAGIC "scratchd-state-v1\n"

static void assert_parse_fails(const char *text) {
        Record out = { .state = STATE_CLEAN, .generation = 99 };
        print_message("parsing: %s\n", text);
        assert_int_equal(record_parse(text, &out), -EBADMSG);
        /* Nothing is handed back from a record that did not parse. */
        assert_int_equal(out.state, STATE_CLEAN);
        assert_int_equal(out.generation, 99);
}

static void test_parse_minimal(void **state) {
        Record out;
        memset(&out, 0x5A, sizeof(out));
        assert_int_equal(record_parse(MAGIC "state=DIRTY\n", &out), 0);
        assert_int_equal(out.state, STATE_DIRTY);
        /* What is not in the file is zero. */
        assert_int_equal(out.generation, 0);
        assert_int_equal(out.mapping_devnum, 0);
        assert_string_equal(out.device, "");
        assert_string_equal(out.reason, "");
        /* A record from before shared mode: no thin id, no creation time. */
        assert_int_equal(out.thin_id, 0);
        assert_int_equal(out.created, 0);
        /* No trailing newline, and blank lines, are fine. */
        assert_int_equal(record_parse(MAGIC "\nstate=CLEAN\n\ngeneration=3", &out), 0);
        assert_int_equal(out.state, STATE_CLEAN);
        assert_int_equal(out.generation, 3);
}

static void test_parse_rejects_missing_magic(void **state) {
        assert_parse_fails("");
        assert_parse_fails("state=CLEAN\ngeneration=1\n");
        assert_parse_fails("scratchd-state-v2\nstate=CLEAN\n");
        assert_parse_fails("state=CLEAN\n" MAGIC);
        assert_parse_fails(MAGIC);   /* magic but no state */
}

static void test_parse_rejects_unknown_state(void **state) {
        assert_parse_fails(MAGIC "state=READY\n");
        assert_parse_fails(MAGIC "state=clean\n");
        assert_parse_fails(MAGIC "state=\n");
        /* A later bad state is not hidden by an earlier good one, nor the other way. */
        assert_parse_fails(MAGIC "state=CLEAN\nstate=BOGUS\n");
        assert_parse_fails(MAGIC "state=BOGUS\nstate=CLEAN\n");
}

static void test_parse_rejects_bad_generation(void **state) {
        assert_parse_fails(MAGIC "state=CLEAN\ngeneration=-1\n");
        assert_parse_fails(MAGIC "state=CLEAN\ngeneration=abc\n");
        assert_parse_fails(MAGIC "state=CLEAN\ngeneration=12abc\n");
        assert_parse_fails(MAGIC "state=CLEAN\ngeneration=\n");
        assert_parse_fails(MAGIC "state=CLEAN\ngeneration=18446744073709551616\n");
        assert_parse_fails(MAGIC "state=CLEAN\ngeneration=0x10\n");
        assert_parse_fails(MAGIC "state=CLEAN\nsector_size=-4096\n");
        assert_parse_fails(MAGIC "state=CLEAN\nkey_bits=8192\n");
        assert_parse_fails(MAGIC "state=CLEAN\nbypass_workqueues=2\n");
        assert_parse_fails(MAGIC "state=CLEAN\nallow_discards=yes\n");
        assert_parse_fails(MAGIC "state=CLEAN\nlast_wipe_usec=1.5\n");
        assert_parse_fails(MAGIC "state=CLEAN\nmapping_dev=253\n");
        assert_parse_fails(MAGIC "state=CLEAN\nmapping_dev=253:0x\n");
}

/* Shared mode's fields: a thin id is 32 bits (dm-thin takes 24; the pool's
 * next one may be one more), a creation time is a time_t, never negative. */
static void test_thin_id_and_created_range(void **state) {
        Record in = { .state = STATE_IN_USE, .thin_id = UINT32_MAX, .created = (time_t) INT64_MAX }, out;
        char buf[4096];

        assert_int_equal(sizeof(time_t), 8);
        assert_true(record_format(&in, buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "\nthin_id=4294967295\n"));
        assert_non_null(strstr(buf, "\ncreated=9223372036854775807\n"));
        memset(&out, 0x5A, sizeof(out));
        assert_int_equal(record_parse(buf, &out), 0);
        assert_record_equal(&out, &in);
        assert_int_equal(out.thin_id, UINT32_MAX);
        assert_int_equal(out.created, INT64_MAX);

        /* The smallest too. */
        assert_int_equal(record_parse(MAGIC "state=CLEAN\nthin_id=0\ncreated=0\n", &out), 0);
        assert_int_equal(out.thin_id, 0);
        assert_int_equal(out.created, 0);
        assert_int_equal(record_parse(MAGIC "state=CLEAN\nthin_id=1\ncreated=1\n", &out), 0);
        assert_int_equal(out.thin_id, 1);
        assert_int_equal(out.created, 1);

        /* Out of range, or not a number. */
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id=4294967296\n");
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id=18446744073709551615\n");
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id=18446744073709551616\n");
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id=-1\n");
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id= 1\n");
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id=1x\n");
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id=0x10\n");
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id=\n");
        assert_parse_fails(MAGIC "state=CLEAN\ncreated=9223372036854775808\n");
        assert_parse_fails(MAGIC "state=CLEAN\ncreated=18446744073709551615\n");
        assert_parse_fails(MAGIC "state=CLEAN\ncreated=-1\n");
        assert_parse_fails(MAGIC "state=CLEAN\ncreated=1718000000.5\n");
        assert_parse_fails(MAGIC "state=CLEAN\ncreated=\n");
        /* A good value does not hide a bad one after it. */
        assert_parse_fails(MAGIC "state=CLEAN\nthin_id=3\nthin_id=4294967296\n");
        assert_parse_fails(MAGIC "state=CLEAN\ncreated=5\ncreated=-5\n");
}

static void test_parse_rejects_signed_generation_with_blank(void **state) {
        /* strtoull() skips blanks and accepts a sign: " -1" must not become 2^64-1. */
        assert_parse_fails(MAGIC "state=CLEAN\ngeneration= -1\n");
}

static void test_parse_rejects_line_without_equals(void **state) {
        assert_parse_fails(MAGIC "state=CLEAN\ngeneration 5\n");
        assert_parse_fails(MAGIC "garbage\nstate=CLEAN\n");
}

static void test_parse_rejects_too_long(void **state) {
        char text[2048];
        char device[1100];

        memset(device, 'x', 1024);
        device[1024] = 0;
        snprintf(text, sizeof(text), MAGIC "state=CLEAN\ndevice=/%s\n", device);
        assert_parse_fails(text);

        /* 1023 characters is the longest that fits. */
        device[1022] = 0;
        snprintf(text, sizeof(text), MAGIC "state=CLEAN\ndevice=/%s\n", device);
        Record out;
        assert_int_equal(record_parse(text, &out), 0);
        assert_int_equal(strlen(out.device), 1023);

        char cipher[80];
        memset(cipher, 'c', 64);
        cipher[64] = 0;
        snprintf(text, sizeof(text), MAGIC "state=CLEAN\ncipher=%s\n", cipher);
        assert_parse_fails(text);
}

static void test_parse_ignores_unknown_keys(void **state) {
        Record out;
        assert_int_equal(record_parse(MAGIC "state=IN_USE\nfuture_key=whatever\ngeneration=5\nx=\n", &out), 0);
        assert_int_equal(out.state, STATE_IN_USE);
        assert_int_equal(out.generation, 5);
}

/* ---- save and load ---- */

static void state_path(const char *dir, const char *name, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s.state", dir, name);
}

static void test_save_load_round_trip(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        Record in, out;

        sample_record(&in);
        assert_int_equal(record_save(dir, "scratch", &in), 0);
        memset(&out, 0, sizeof(out));
        assert_int_equal(record_load(dir, "scratch", &out), 0);
        assert_record_equal(&out, &in);

        /* Saving again replaces the record. */
        in.state = STATE_CLEAN;
        in.generation = 1;
        in.reason[0] = 0;
        assert_int_equal(record_save(dir, "scratch", &in), 0);
        assert_int_equal(record_load(dir, "scratch", &out), 0);
        assert_record_equal(&out, &in);

        /* Records of other volumes are apart. */
        assert_int_equal(record_load(dir, "other", &out), -ENOENT);
}

static void test_save_mode_and_no_temporary(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        Record in;
        char path[PATH_MAX];
        struct stat st;

        sample_record(&in);
        mode_t old = umask(0);   /* the mode must not depend on the umask */
        int r = record_save(dir, "scratch", &in);
        umask(old);
        assert_int_equal(r, 0);

        state_path(dir, "scratch", path, sizeof(path));
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);

        char *names = list_dir(dir);
        assert_string_equal(names, "scratch.state");
        free(names);

        /* The file holds exactly what record_format() makes. */
        char expected[4096], got[4096];
        int k = record_format(&in, expected, sizeof(expected));
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        size_t n = fread(got, 1, sizeof(got) - 1, f);
        fclose(f);
        assert_int_equal(n, (size_t) k);
        got[n] = 0;
        assert_string_equal(got, expected);
}

static void test_save_creates_directory(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        char sub[PATH_MAX];
        struct stat st;
        Record in, out;

        snprintf(sub, sizeof(sub), "%s/run-scratchd", dir);
        sample_record(&in);
        assert_int_equal(record_save(sub, "scratch", &in), 0);
        assert_int_equal(stat(sub, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* 0755 since the daemon: its socket lives in the state directory too,
         * so others must be able to reach it; the records themselves are 0600,
         * and no one but the owner may write to the directory. */
        mode_t mask = umask(0);
        umask(mask);
        assert_int_equal(st.st_mode & 07777, 0755 & ~mask);
        assert_int_equal(st.st_mode & 0022, 0);
        assert_int_equal(record_load(sub, "scratch", &out), 0);
        assert_record_equal(&out, &in);
}

static void test_load_rejects_writable(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        Record in, out;
        char path[PATH_MAX];

        sample_record(&in);
        assert_int_equal(record_save(dir, "scratch", &in), 0);
        state_path(dir, "scratch", path, sizeof(path));

        static const mode_t bad[] = { 0666, 0620, 0602, 0622 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(chmod(path, bad[i]), 0);
                out.state = STATE_ABSENT;
                assert_int_equal(record_load(dir, "scratch", &out), -EBADMSG);
                assert_int_equal(out.state, STATE_ABSENT);
        }
        /* Readable by others is fine; only writable is not. */
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(record_load(dir, "scratch", &out), 0);
        assert_record_equal(&out, &in);
}

static void test_load_missing(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        Record out;
        char sub[PATH_MAX];

        assert_int_equal(record_load(dir, "scratch", &out), -ENOENT);
        snprintf(sub, sizeof(sub), "%s/nonexistent-dir", dir);
        assert_int_equal(record_load(sub, "scratch", &out), -ENOENT);
}

static void test_load_rejects_garbage_and_links(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        Record in, out;
        char path[PATH_MAX], target[PATH_MAX];

        state_path(dir, "garbage", path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "hello\n", 6), 6);
        close(fd);
        assert_int_equal(record_load(dir, "garbage", &out), -EBADMSG);

        /* A symlink in place of the record is not followed. */
        sample_record(&in);
        assert_int_equal(record_save(dir, "real", &in), 0);
        state_path(dir, "real", target, sizeof(target));
        state_path(dir, "link", path, sizeof(path));
        assert_int_equal(symlink(target, path), 0);
        assert_int_equal(record_load(dir, "link", &out), -ELOOP);

        /* A file too big to be one of ours. */
        state_path(dir, "big", path, sizeof(path));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        char buf[8192];
        int k = record_format(&in, buf, sizeof(buf));
        assert_true(k > 0);
        memset(buf + k, '\n', sizeof(buf) - (size_t) k);
        assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t) sizeof(buf));
        close(fd);
        assert_int_equal(record_load(dir, "big", &out), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_round_trip_each_field),
                cmocka_unit_test(test_longest_fields),
                cmocka_unit_test(test_format_small_buffer),
                cmocka_unit_test(test_state_strings),
                cmocka_unit_test(test_parse_minimal),
                cmocka_unit_test(test_parse_rejects_missing_magic),
                cmocka_unit_test(test_parse_rejects_unknown_state),
                cmocka_unit_test(test_parse_rejects_bad_generation),
                cmocka_unit_test(test_thin_id_and_created_range),
                cmocka_unit_test(test_parse_rejects_signed_generation_with_blank),
                cmocka_unit_test(test_parse_rejects_line_without_equals),
                cmocka_unit_test(test_parse_rejects_too_long),
                cmocka_unit_test(test_parse_ignores_unknown_keys),
                cmocka_unit_test_setup_teardown(test_save_load_round_trip, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_save_mode_and_no_temporary, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_save_creates_directory, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_load_rejects_writable, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_load_missing, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_load_rejects_garbage_and_links, setup_tempdir,
                                                teardown_tempdir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
