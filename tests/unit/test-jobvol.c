/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared mode's job volumes, the parts that need no kernel: their names,
 * the data path's settings read back from the pool's record
 * (jobvol_tuning()), and the job volumes' records found in a temporary
 * state directory (jobvol_list()). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>

#include "scratchd/jobvol.h"
#include "scratchd/log.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"

/* ---- names ---- */

static void test_mapping(void **state) {
        char buf[128];

        assert_string_equal(jobvol_mapping("scratch", 1, buf, sizeof(buf)), "scratchd-scratch-vol-1");
        assert_ptr_equal(jobvol_mapping("scratch", 1, buf, sizeof(buf)), buf);
        assert_string_equal(jobvol_mapping("scratch", 12, buf, sizeof(buf)), "scratchd-scratch-vol-12");
        assert_string_equal(jobvol_mapping("fast_2", THIN_ID_MAX, buf, sizeof(buf)), "scratchd-fast_2-vol-16777215");
        assert_string_equal(jobvol_mapping("a-b", 0, buf, sizeof(buf)), "scratchd-a-b-vol-0");

        /* Cut short, never past the buffer. */
        char small[12];
        memset(small, 'X', sizeof(small));
        assert_string_equal(jobvol_mapping("scratch", 7, small, sizeof(small)), "scratchd-sc");
}

static void test_record_name(void **state) {
        char buf[128];

        assert_string_equal(jobvol_record_name("scratch", 1, buf, sizeof(buf)), "scratch.1");
        assert_ptr_equal(jobvol_record_name("scratch", 1, buf, sizeof(buf)), buf);
        assert_string_equal(jobvol_record_name("scratch", 12, buf, sizeof(buf)), "scratch.12");
        assert_string_equal(jobvol_record_name("other", THIN_ID_MAX, buf, sizeof(buf)), "other.16777215");

        char small[6];
        assert_string_equal(jobvol_record_name("scratch", 3, small, sizeof(small)), "scrat");
}

/* ---- jobvol_tuning() ---- */

static Record pool_record(const char *cipher, unsigned key_bits, unsigned sector_size) {
        Record r = {
                .state = STATE_CLEAN,
                .key_bits = key_bits,
                .sector_size = sector_size,
                .bypass_workqueues = true,
                .allow_discards = false,
        };
        snprintf(r.cipher, sizeof(r.cipher), "%s", cipher);
        return r;
}

static void test_tuning_aes_xts(void **state) {
        Record pool = pool_record("aes-xts-plain64", 512, 4096);
        CryptTuningBuf b;

        memset(&b, 0x5A, sizeof(b));
        assert_int_equal(jobvol_tuning(&pool, &b), 0);
        assert_string_equal(b.t.cipher, "aes");
        assert_string_equal(b.t.mode, "xts-plain64");
        assert_string_equal(b.t.cipher_spec, "aes-xts-plain64");
        /* The strings are the buffer's own, not the record's. */
        assert_ptr_equal(b.t.cipher, b.cipher);
        assert_ptr_equal(b.t.mode, b.mode);
        assert_ptr_equal(b.t.cipher_spec, b.spec);
        assert_int_equal(b.t.key_size, 64);
        assert_int_equal(b.t.sector_size, 4096);
        assert_true(b.t.bypass_workqueues);
        assert_false(b.t.allow_discards);
        /* A job volume is never a raw disk to discard during a wipe. */
        assert_false(b.t.discard_on_wipe);
        assert_string_equal(b.t.why, "");
}

static void test_tuning_adiantum(void **state) {
        Record pool = pool_record("xchacha12,aes-adiantum-plain64", 256, 512);
        CryptTuningBuf b;

        pool.bypass_workqueues = false;
        pool.allow_discards = true;
        assert_int_equal(jobvol_tuning(&pool, &b), 0);
        /* Only the first dash splits: the cipher may hold a comma, the mode dashes. */
        assert_string_equal(b.t.cipher, "xchacha12,aes");
        assert_string_equal(b.t.mode, "adiantum-plain64");
        assert_string_equal(b.t.cipher_spec, "xchacha12,aes-adiantum-plain64");
        assert_int_equal(b.t.key_size, 32);
        assert_int_equal(b.t.sector_size, 512);
        assert_false(b.t.bypass_workqueues);
        assert_true(b.t.allow_discards);
}

static void test_tuning_key_sizes(void **state) {
        static const struct {
                unsigned bits, bytes;
        } table[] = {
                { 8, 1 }, { 128, 16 }, { 256, 32 }, { 512, 64 }, { 4096, 512 },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Record pool = pool_record("aes-cbc-essiv:sha256", table[i].bits, 1024);
                CryptTuningBuf b;
                assert_int_equal(jobvol_tuning(&pool, &b), 0);
                assert_int_equal(b.t.key_size, table[i].bytes);
                assert_int_equal(b.t.sector_size, 1024);
                assert_string_equal(b.t.cipher, "aes");
                assert_string_equal(b.t.mode, "cbc-essiv:sha256");
        }
}

static void assert_tuning_refused(const char *cipher, unsigned key_bits, unsigned sector_size) {
        Record pool = pool_record(cipher, key_bits, sector_size);
        CryptTuningBuf b;

        print_message("refused: cipher '%s', key_bits %u, sector_size %u\n", cipher, key_bits, sector_size);
        memset(&b, 0x5A, sizeof(b));
        assert_int_equal(jobvol_tuning(&pool, &b), -EINVAL);
        /* Nothing half-filled to use by mistake. */
        assert_null(b.t.cipher);
        assert_null(b.t.mode);
        assert_null(b.t.cipher_spec);
        assert_int_equal(b.t.key_size, 0);
        assert_int_equal(b.t.sector_size, 0);
}

static void test_tuning_refused(void **state) {
        /* A record without the data path's settings: one written before
         * they were kept, or a pool that never became CLEAN. */
        assert_tuning_refused("", 0, 0);
        assert_tuning_refused("", 512, 4096);
        /* No dash: no mode. */
        assert_tuning_refused("aes", 512, 4096);
        assert_tuning_refused("aesxtsplain64", 512, 4096);
        /* A leading dash: no cipher. */
        assert_tuning_refused("-xts-plain64", 512, 4096);
        assert_tuning_refused("-", 512, 4096);
        /* No key, or not whole bytes. */
        assert_tuning_refused("aes-xts-plain64", 0, 4096);
        assert_tuning_refused("aes-xts-plain64", 1, 4096);
        assert_tuning_refused("aes-xts-plain64", 511, 4096);
        assert_tuning_refused("aes-xts-plain64", 513, 4096);
        assert_tuning_refused("aes-xts-plain64", 4, 4096);
        /* No sector size. */
        assert_tuning_refused("aes-xts-plain64", 512, 0);

        /* And the same record with each fixed is taken. */
        Record pool = pool_record("aes-xts-plain64", 512, 4096);
        CryptTuningBuf b;
        assert_int_equal(jobvol_tuning(&pool, &b), 0);
}

/* ---- jobvol_list() ---- */

static void save_job(const char *dir, const char *name, uint32_t id, LifecycleState st, const char *job) {
        Record r = {
                .state = st,
                .generation = 100 + id,
                .mapping_devnum = makedev(253, 20 + id),
                .data_size = (uint64_t) id << 30,
                .thin_id = id,
                .created = 1718000000 + id,
                .uid = 1000 + id,
        };
        snprintf(r.job, sizeof(r.job), "%s", job);
        snprintf(r.user, sizeof(r.user), "%s", *job ? "alice" : "");
        snprintf(r.device, sizeof(r.device), "/dev/mapper/scratchd-scratch-thin-%" PRIu32, id);
        if (st == STATE_IN_USE)
                snprintf(r.mount_point, sizeof(r.mount_point), "/scratch/%s", job);
        snprintf(r.cipher, sizeof(r.cipher), "aes-xts-plain64");
        assert_int_equal(record_save(dir, name, &r), 0);
}

/* A file as root writes records (0600), with any content. */
static void write_raw(const char *dir, const char *name, const char *content) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        assert_int_equal(close(fd), 0);
}

static void test_list(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        _cleanup_free_ Record *list = NULL;
        size_t n = 99;

        /* Job volumes 1, 12 and 3 (written in that order: the list is sorted
         * by thin id, not by name or by the directory's order). */
        save_job(dir, "scratch.1", 1, STATE_IN_USE, "1001");
        save_job(dir, "scratch.12", 12, STATE_CLEAN, "");
        save_job(dir, "scratch.3", 3, STATE_WIPING, "1003");

        /* Not job volumes of "scratch": the pool's own record, thin id 0
         * (never handed out), no number, another pool's, a temporary file,
         * a thin id beyond dm-thin's 24 bits, a number with more after it. */
        Record pool = { .state = STATE_CLEAN, .generation = 7, .thin_id = 13 };
        assert_int_equal(record_save(dir, "scratch", &pool), 0);
        save_job(dir, "scratch.0", 0, STATE_IN_USE, "1000");
        save_job(dir, "scratch.x", 4, STATE_IN_USE, "1004");
        save_job(dir, "other.2", 2, STATE_IN_USE, "2002");
        Record tmp = { .state = STATE_IN_USE, .thin_id = 2, .job = "1002" };
        char text[4096];
        assert_true(record_format(&tmp, text, sizeof(text)) > 0);
        write_raw(dir, "scratch.2.state.tmp", text);
        save_job(dir, "scratch.16777216", 6, STATE_IN_USE, "1006");
        save_job(dir, "scratch.7x", 7, STATE_IN_USE, "1007");
        write_raw(dir, "scratch.8", "not even a record\n");   /* no .state */
        write_raw(dir, "scratchy.9.state", "scratchd-state-v1\nstate=IN_USE\n");

        /* A record no one can trust: its thin id still goes with the pool,
         * as FAILED (its volume is erased, or its space stays reserved). */
        write_raw(dir, "scratch.5.state", "scratchd-state-v1\nstate=BOGUS\njob=1005\n");

        _cleanup_free_ char *names = list_dir(dir);
        print_message("%s\n", names);

        assert_int_equal(jobvol_list(dir, "scratch", &list, &n), 0);
        assert_non_null(list);
        assert_int_equal(n, 4);

        assert_int_equal(list[0].thin_id, 1);
        assert_int_equal(list[0].state, STATE_IN_USE);
        assert_string_equal(list[0].job, "1001");
        assert_string_equal(list[0].user, "alice");
        assert_int_equal(list[0].uid, 1001);
        assert_string_equal(list[0].mount_point, "/scratch/1001");
        assert_int_equal(list[0].generation, 101);
        assert_int_equal(list[0].mapping_devnum, makedev(253, 21));
        assert_int_equal(list[0].data_size, UINT64_C(1) << 30);
        assert_int_equal(list[0].created, 1718000001);
        assert_string_equal(list[0].device, "/dev/mapper/scratchd-scratch-thin-1");

        assert_int_equal(list[1].thin_id, 3);
        assert_int_equal(list[1].state, STATE_WIPING);
        assert_string_equal(list[1].job, "1003");
        assert_int_equal(list[1].generation, 103);

        assert_int_equal(list[2].thin_id, 5);
        assert_int_equal(list[2].state, STATE_FAILED);
        assert_string_equal(list[2].job, "");   /* nothing of it is taken as true */
        assert_int_equal(list[2].generation, 0);
        assert_int_equal(list[2].data_size, 0);

        assert_int_equal(list[3].thin_id, 12);
        assert_int_equal(list[3].state, STATE_CLEAN);
        assert_string_equal(list[3].job, "");   /* the spare */
        assert_int_equal(list[3].data_size, UINT64_C(12) << 30);

        /* Read only: every file is still there. */
        _cleanup_free_ char *after = list_dir(dir);
        assert_string_equal(after, names);
}

/* A record root did not write (group- or world-writable) is not trusted
 * either: FAILED. */
static void test_list_untrusted(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        _cleanup_free_ Record *list = NULL;
        size_t n;
        char path[PATH_MAX];

        save_job(dir, "scratch.4", 4, STATE_IN_USE, "1004");
        snprintf(path, sizeof(path), "%s/scratch.4.state", dir);
        assert_int_equal(chmod(path, 0666), 0);
        save_job(dir, "scratch.2", 2, STATE_IN_USE, "1002");

        assert_int_equal(jobvol_list(dir, "scratch", &list, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(list[0].thin_id, 2);
        assert_int_equal(list[0].state, STATE_IN_USE);
        assert_string_equal(list[0].job, "1002");
        assert_int_equal(list[1].thin_id, 4);
        assert_int_equal(list[1].state, STATE_FAILED);
        assert_string_equal(list[1].job, "");
}

/* The other pool sees only its own. */
static void test_list_by_volume(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        _cleanup_free_ Record *a = NULL, *b = NULL;
        size_t n_a, n_b;

        save_job(dir, "scratch.1", 1, STATE_IN_USE, "1001");
        save_job(dir, "other.2", 2, STATE_IN_USE, "2002");
        save_job(dir, "other.1", 1, STATE_CLEAN, "");

        assert_int_equal(jobvol_list(dir, "other", &b, &n_b), 0);
        assert_int_equal(n_b, 2);
        assert_int_equal(b[0].thin_id, 1);
        assert_string_equal(b[0].job, "");
        assert_int_equal(b[1].thin_id, 2);
        assert_string_equal(b[1].job, "2002");

        assert_int_equal(jobvol_list(dir, "scratch", &a, &n_a), 0);
        assert_int_equal(n_a, 1);
        assert_string_equal(a[0].job, "1001");
}

static void test_list_empty_and_missing(void **state) {
        const char *dir = ((TempDir *) *state)->path;
        Record *list = (Record *) 1;
        size_t n = 99;
        char missing[PATH_MAX];

        /* No records yet. */
        assert_int_equal(jobvol_list(dir, "scratch", &list, &n), 0);
        assert_null(list);
        assert_int_equal(n, 0);

        /* No state directory yet (nothing was ever saved): none either. */
        snprintf(missing, sizeof(missing), "%s/does-not-exist", dir);
        list = (Record *) 1;
        n = 99;
        assert_int_equal(jobvol_list(missing, "scratch", &list, &n), 0);
        assert_null(list);
        assert_int_equal(n, 0);

        /* Not a directory: an error, not an empty pool. */
        char file[PATH_MAX];
        snprintf(file, sizeof(file), "%s/plain", dir);
        write_raw(dir, "plain", "x");
        assert_int_equal(jobvol_list(file, "scratch", &list, &n), -ENOTDIR);
        assert_null(list);
        assert_int_equal(n, 0);
}

static int setup_quiet(void **state) {
        /* jobvol_list() warns of the records it cannot read. */
        log_set_max_level(LOG_CRIT);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mapping),
                cmocka_unit_test(test_record_name),
                cmocka_unit_test(test_tuning_aes_xts),
                cmocka_unit_test(test_tuning_adiantum),
                cmocka_unit_test(test_tuning_key_sizes),
                cmocka_unit_test(test_tuning_refused),
                cmocka_unit_test_setup_teardown(test_list, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_list_untrusted, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_list_by_volume, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_list_empty_and_missing, setup_tempdir, teardown_tempdir),
        };
        return cmocka_run_group_tests(tests, setup_quiet, NULL);
}
