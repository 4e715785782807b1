/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tuning_decide(): every combination of logical sector size, disk size,
 * SectorSize=, rotational, discard limit and Discard=, checked against tables
 * of what each input must decide. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratchd/tuning.h"
#include "scratchd/util.h"

#define DISK "/dev/nvme1n1"
#define TIB (UINT64_C(1) << 40)
#define GIB (UINT64_C(1) << 30)
#define KIB (UINT64_C(1) << 10)

/* A disk of 4 TiB (a multiple of 4096) or 4 TiB + 512 (a multiple of 512 only). */
static uint64_t disk_size(bool multiple_of_4096) {
        return multiple_of_4096 ? 4 * TIB : 4 * TIB + 512;
}

/* The sector size decision: expected sector, or 0 for -EINVAL. A disk whose
 * logical sector is 4096 always has a size that is a multiple of 4096 (the
 * kernel sizes block devices in logical blocks), so that pair only appears
 * with an explicit SectorSize=, where -EINVAL is the only possible answer. */
static const struct {
        unsigned logical;
        bool multiple_of_4096;
        unsigned config;
        unsigned expected;   /* 0: -EINVAL */
} sector_table[] = {
        { 512, true, 0, 4096 },
        { 512, true, 512, 512 },
        { 512, true, 4096, 4096 },
        { 512, false, 0, 512 },
        { 512, false, 512, 512 },
        { 512, false, 4096, 0 },
        { 4096, true, 0, 4096 },
        { 4096, true, 512, 0 },
        { 4096, true, 4096, 4096 },
        { 4096, false, 512, 0 },
        { 4096, false, 4096, 0 },
};

/* The discard decision on a 4 TiB disk. 32 KiB at a time is 134 million
 * requests (too many for auto), 2 GiB at a time is 2048. */
static const struct {
        uint64_t discard_max;
        DiscardMode mode;
        bool expected;
} discard_table[] = {
        { 0, DISCARD_AUTO, false },
        { 0, DISCARD_YES, false },
        { 0, DISCARD_NO, false },
        { 32 * KIB, DISCARD_AUTO, false },
        { 32 * KIB, DISCARD_YES, true },
        { 32 * KIB, DISCARD_NO, false },
        { 2 * GIB, DISCARD_AUTO, true },
        { 2 * GIB, DISCARD_YES, true },
        { 2 * GIB, DISCARD_NO, false },
};

static void test_all_combinations(void **state) {
        unsigned n_ok = 0, n_einval = 0;

        for (size_t s = 0; s < ELEMENTSOF(sector_table); s++)
                for (size_t d = 0; d < ELEMENTSOF(discard_table); d++)
                        for (int rotational = 0; rotational <= 1; rotational++) {
                                DiskFacts f = {
                                        .path = (char *) DISK,
                                        .size = disk_size(sector_table[s].multiple_of_4096),
                                        .logical_sector_size = sector_table[s].logical,
                                        .physical_sector_size = 4096,
                                        .rotational = rotational,
                                        .discard_max_bytes = discard_table[d].discard_max,
                                };
                                VolumeConfig v = {
                                        .sector_size = sector_table[s].config,
                                        .discard = discard_table[d].mode,
                                };
                                CryptTuning t;
                                char reason[256] = "";

                                memset(&t, 0xA5, sizeof(t));
                                CryptTuning untouched = t;

                                print_message("logical=%u size=%llu SectorSize=%u rotational=%d "
                                              "discard_max=%llu Discard=%s\n",
                                              sector_table[s].logical, (unsigned long long) f.size,
                                              sector_table[s].config, rotational,
                                              (unsigned long long) f.discard_max_bytes,
                                              discard_mode_to_string(v.discard));

                                int r = tuning_decide(&f, &v, &t, reason, sizeof(reason));

                                if (sector_table[s].expected == 0) {
                                        char want[32];
                                        assert_int_equal(r, -EINVAL);
                                        assert_true(startswith(reason, DISK ": "));
                                        snprintf(want, sizeof(want), "SectorSize=%u", sector_table[s].config);
                                        assert_non_null(strstr(reason, want));
                                        assert_null(strchr(reason, '\n'));
                                        /* Nothing half-decided is handed back. */
                                        assert_memory_equal(&t, &untouched, sizeof(t));
                                        n_einval++;
                                        continue;
                                }

                                assert_int_equal(r, 0);
                                assert_string_equal(t.cipher, "aes");
                                assert_string_equal(t.mode, "xts-plain64");
                                assert_int_equal(t.key_size, 64);
                                assert_true(t.allow_discards);
                                assert_int_equal(t.sector_size, sector_table[s].expected);
                                /* dm-crypt needs the device to be a whole number of crypto sectors. */
                                assert_int_equal(f.size % t.sector_size, 0);
                                assert_true(t.sector_size >= f.logical_sector_size);
                                assert_int_equal(t.bypass_workqueues, !rotational);
                                assert_int_equal(t.discard_on_wipe, discard_table[d].expected);
                                n_ok++;
                        }

        /* Both outcomes were exercised, over every combination. */
        assert_int_equal(n_ok + n_einval, ELEMENTSOF(sector_table) * ELEMENTSOF(discard_table) * 2);
        assert_int_equal(n_einval, 4 * ELEMENTSOF(discard_table) * 2);
}

static void test_discard_auto_boundary(void **state) {
        static const struct {
                uint64_t size, discard_max;
                bool expected;
        } table[] = {
                /* exactly the limit of requests */
                { (uint64_t) DISCARD_AUTO_MAX_REQUESTS * 1 * 1024 * 1024, 1024 * 1024, true },
                /* one byte more: one request more */
                { (uint64_t) DISCARD_AUTO_MAX_REQUESTS * 1024 * 1024 + 512, 1024 * 1024, false },
                /* one request is enough */
                { 4096, 4 * GIB, true },
                /* rounding up: 2.5 requests are 3 */
                { 5 * GIB / 2, 1 * GIB, true },
                /* a huge disk with a huge limit: no overflow in the arithmetic */
                { UINT64_C(1) << 62, UINT64_C(1) << 62, true },
                { (UINT64_C(1) << 62) + 4096, UINT64_C(1) << 46, false },   /* 65537 requests */
                { (UINT64_C(1) << 62) + 4096, UINT64_C(1) << 47, true },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                DiskFacts f = {
                        .path = (char *) DISK,
                        .size = table[i].size,
                        .logical_sector_size = 512,
                        .discard_max_bytes = table[i].discard_max,
                };
                VolumeConfig v = { .discard = DISCARD_AUTO };
                CryptTuning t;
                char reason[256];

                print_message("size=%llu discard_max=%llu\n", (unsigned long long) table[i].size,
                              (unsigned long long) table[i].discard_max);
                assert_int_equal(tuning_decide(&f, &v, &t, reason, sizeof(reason)), 0);
                assert_int_equal(t.discard_on_wipe, table[i].expected);
        }
}

static void test_reason_names_device_and_sizes(void **state) {
        DiskFacts f = {
                .path = (char *) "/dev/disk/by-id/nvme-X",
                .size = 4 * TIB,
                .logical_sector_size = 4096,
        };
        VolumeConfig v = { .sector_size = 512 };
        CryptTuning t;
        char reason[256];

        assert_int_equal(tuning_decide(&f, &v, &t, reason, sizeof(reason)), -EINVAL);
        assert_true(startswith(reason, "/dev/disk/by-id/nvme-X: SectorSize=512 "));
        assert_non_null(strstr(reason, "4096-byte logical"));
        assert_non_null(strstr(reason, "4398046511104 bytes"));
        assert_non_null(strstr(reason, "SectorSize=auto"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_all_combinations),
                cmocka_unit_test(test_discard_auto_boundary),
                cmocka_unit_test(test_reason_names_device_and_sizes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
