/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared mode's pool: its plan (thin_plan(): the metadata's share, its floor
 * and the kernel's ceiling, every refusal with its one-line reason), its dm
 * table lines, its names and the names that do not fit, and the reading of
 * its status line. Pure, or refused before any libdevmapper call: no root,
 * no devices. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/sysmacros.h>

#include "scratchd/thin.h"
#include "scratchd/util.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)
#define PiB (UINT64_C(1) << 50)

/* What dm-thin uses of a metadata device at most: 255 x 16320 blocks of 4 KiB. */
#define META_MAX (UINT64_C(255) * 16320 * 4096)

/* One line, not empty. */
static void assert_reason(const char *why) {
        assert_true(why[0] != '\0');
        assert_null(strchr(why, '\n'));
}

static void assert_plan(uint64_t device, uint64_t block, uint64_t meta, uint64_t data, uint64_t want_block) {
        ThinPlan p;
        char why[256] = "";

        assert_int_equal(thin_plan(device, block, &p, why, sizeof(why)), 0);
        assert_string_equal(why, "");
        assert_int_equal(p.block_size, want_block);
        assert_int_equal(p.meta_size, meta);
        assert_int_equal(p.data_size, data);
        /* Whole blocks, both, within the device, with less than a block left over. */
        assert_int_equal(p.meta_size % p.block_size, 0);
        assert_int_equal(p.data_size % p.block_size, 0);
        assert_true(p.meta_size + p.data_size <= device);
        assert_true(device - p.meta_size - p.data_size < p.block_size);
}

static void test_plan_sizes(void **state) {
        /* 4096 blocks of 256 KiB want 384 KiB of metadata: the 4 MiB floor. */
        assert_plan(1 * GiB, 0, 4 * MiB, 1020 * MiB, THIN_BLOCK_DEFAULT);
        assert_plan(1 * GiB, 256 * KiB, 4 * MiB, 1020 * MiB, 256 * KiB);

        /* 409600 blocks x 96 bytes: 37.5 MiB, 150 blocks exactly. */
        assert_plan(100 * GiB, 0, 39321600, 100 * GiB - 39321600, 256 * KiB);

        /* An odd size: the data rounded down to whole blocks. */
        assert_plan(1 * GiB + 100 * KiB + 512, 0, 4 * MiB, 1020 * MiB, 256 * KiB);

        /* The smallest device that holds the floor and one block. */
        assert_plan(4 * MiB + 256 * KiB, 0, 4 * MiB, 256 * KiB, 256 * KiB);
}

static void test_plan_metadata_cap(void **state) {
        /* 60 TiB of 256 KiB blocks would want 22.5 GiB of metadata: capped
         * at what dm-thin uses, 65025 blocks of 256 KiB exactly. */
        assert_int_equal(META_MAX % (256 * KiB), 0);
        assert_plan(60 * TiB, 0, META_MAX, 60 * TiB - META_MAX, 256 * KiB);
        assert_true(META_MAX < 16 * GiB);

        /* With 1 GiB blocks the cap is whole blocks, rounded down: 15 GiB
         * (256 PiB would want 24 GiB). */
        assert_plan(256 * PiB, 1 * GiB, 15 * GiB, 256 * PiB - 15 * GiB, 1 * GiB);
        /* With 64 KiB blocks, the cap as it is: 260100 blocks. */
        assert_plan(60 * TiB, 64 * KiB, META_MAX, 60 * TiB - META_MAX, 64 * KiB);
        /* Below the cap: 40 TiB of 256 KiB blocks want 15 GiB. */
        ThinPlan p;
        assert_int_equal(thin_plan(40 * TiB, 0, &p, NULL, 0), 0);
        assert_int_equal(p.meta_size, 40 * TiB / (256 * KiB) * 96);   /* 15 GiB, below the cap */
        assert_true(p.meta_size < META_MAX);
}

static void test_plan_blocks(void **state) {
        /* 64 KiB: 16384 blocks want 1.5 MiB, the floor. */
        assert_plan(1 * GiB, 64 * KiB, 4 * MiB, 1020 * MiB, 64 * KiB);
        /* 1 MiB: 102400 blocks want 9.375 MiB, rounded up to 10 blocks. */
        assert_plan(100 * GiB, 1 * MiB, 10 * MiB, 100 * GiB - 10 * MiB, 1 * MiB);
        /* 1 GiB: the 4 MiB floor is a whole block. */
        assert_plan(100 * GiB, 1 * GiB, 1 * GiB, 99 * GiB, 1 * GiB);
        /* 192 KiB: a multiple of 64 KiB, not a power of two. */
        assert_plan(1 * GiB, 192 * KiB, 4 * MiB + 128 * KiB, (1 * GiB - 4 * MiB - 128 * KiB) / (192 * KiB) * (192 * KiB),
                    192 * KiB);

        static const uint64_t invalid[] = { 96 * KiB, 32 * KiB, 2 * GiB, 1 * GiB + 64 * KiB, 512, 64 * KiB + 512 };
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
                ThinPlan p = { .meta_size = 1 };
                char why[256] = "";
                assert_int_equal(thin_plan(100 * GiB, invalid[i], &p, why, sizeof(why)), -EINVAL);
                assert_reason(why);
                assert_non_null(strstr(why, "64 KiB"));
                assert_int_equal(p.meta_size, 1);   /* untouched */
                /* Without a buffer for the reason, the same answer. */
                assert_int_equal(thin_plan(100 * GiB, invalid[i], &p, NULL, 0), -EINVAL);
        }
}

static void test_plan_too_small(void **state) {
        static const uint64_t tiny[] = { 0, 512, 4 * MiB, 4 * MiB + 256 * KiB - 512 };
        for (size_t i = 0; i < ELEMENTSOF(tiny); i++) {
                ThinPlan p;
                char why[256] = "";
                assert_int_equal(thin_plan(tiny[i], 0, &p, why, sizeof(why)), -EINVAL);
                assert_reason(why);
                /* It names the metadata's size and the block's. */
                assert_non_null(strstr(why, "4.0 MiB of metadata"));
                assert_non_null(strstr(why, "256.0 KiB block"));
        }
        ThinPlan p;
        char why[256] = "";
        assert_int_equal(thin_plan(3 * MiB, 0, &p, why, sizeof(why)), -EINVAL);
        assert_string_equal(why, "the data device is 3.0 MiB, less than the pool's 4.0 MiB of metadata and one 256.0 KiB block; use a larger disk");
        /* 1 GiB blocks: the floor is a block, so two are needed. */
        assert_int_equal(thin_plan(2 * GiB - 512, 1 * GiB, &p, why, sizeof(why)), -EINVAL);
        assert_int_equal(thin_plan(2 * GiB, 1 * GiB, &p, why, sizeof(why)), 0);
}

static void test_tables(void **state) {
        ThinPlan p;
        char meta[128], data[128], pool[256];

        assert_int_equal(thin_plan(1 * GiB, 0, &p, NULL, 0), 0);
        assert_int_equal(thin_part_tables(&p, makedev(253, 0), meta, sizeof(meta), data, sizeof(data)), 0);
        assert_string_equal(meta, "0 8192 linear 253:0 0");
        assert_string_equal(data, "0 2088960 linear 253:0 8192");
        assert_int_equal(thin_pool_table(&p, makedev(253, 1), makedev(253, 2), pool, sizeof(pool)), 0);
        assert_string_equal(pool, "0 2088960 thin-pool 253:1 253:2 512 0 1 skip_block_zeroing");

        /* 60 TiB, the largest numbers. */
        assert_int_equal(thin_plan(60 * TiB, 1 * MiB, &p, NULL, 0), 0);
        assert_int_equal(thin_part_tables(&p, makedev(4095, 1048575), meta, sizeof(meta), data, sizeof(data)), 0);
        /* 62914560 blocks of 1 MiB want 5760 MiB of metadata. */
        assert_string_equal(meta, "0 11796480 linear 4095:1048575 0");
        assert_string_equal(data, "0 128837222400 linear 4095:1048575 11796480");
        assert_int_equal(thin_pool_table(&p, makedev(254, 7), makedev(254, 8), pool, sizeof(pool)), 0);
        assert_string_equal(pool, "0 128837222400 thin-pool 254:7 254:8 2048 0 1 skip_block_zeroing");

        /* Too small a buffer: -ENOBUFS, never a cut line. */
        assert_int_equal(thin_pool_table(&p, makedev(254, 7), makedev(254, 8), pool, 20), -ENOBUFS);
        assert_int_equal(thin_part_tables(&p, makedev(253, 0), meta, 10, data, sizeof(data)), -ENOBUFS);

        /* A plan that is not one. */
        const ThinPlan bad[] = {
                { .meta_size = 4 * MiB, .data_size = 1 * GiB, .block_size = 96 * KiB },
                { .meta_size = 4 * MiB, .data_size = 0, .block_size = 256 * KiB },
                { .meta_size = 4 * MiB, .data_size = 1 * GiB + 64 * KiB, .block_size = 256 * KiB },
                { .meta_size = 1 * MiB, .data_size = 1 * GiB, .block_size = 256 * KiB },
                { .meta_size = 16 * GiB, .data_size = 1 * GiB, .block_size = 256 * KiB },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(thin_part_tables(&bad[i], makedev(253, 0), meta, sizeof(meta), data, sizeof(data)), -EINVAL);
                assert_int_equal(thin_pool_table(&bad[i], makedev(253, 1), makedev(253, 2), pool, sizeof(pool)), -EINVAL);
        }
}

static void test_names(void **state) {
        char buf[128];

        assert_string_equal(thin_pool_name("scratch", buf, sizeof(buf)), "scratchd-scratch-pool");
        assert_ptr_equal(thin_pool_name("t", buf, sizeof(buf)), buf);
        assert_string_equal(thin_name("scratch", 0, buf, sizeof(buf)), "scratchd-scratch-thin-0");
        assert_string_equal(thin_name("scratch", 7, buf, sizeof(buf)), "scratchd-scratch-thin-7");
        assert_string_equal(thin_name("t", THIN_ID_MAX, buf, sizeof(buf)), "scratchd-t-thin-16777215");
        assert_ptr_equal(thin_name("t", 1, buf, sizeof(buf)), buf);
}

static void test_names_too_long(void **state) {
        /* "scratchd-" V "-thin-16777215": 23 bytes besides V, and the NUL,
         * within DM_NAME_LEN (128): 104 at most. The uuid
         * ("SCRATCHD-THIN-" V "-16777215", within 129) would take 105. */
        char fits[105], over[106];
        memset(fits, 'v', sizeof(fits) - 1);
        fits[sizeof(fits) - 1] = '\0';
        memset(over, 'v', sizeof(over) - 1);
        over[sizeof(over) - 1] = '\0';

        assert_int_equal(thin_names_check("scratch"), 0);
        assert_int_equal(thin_names_check(fits), 0);
        assert_int_equal(thin_names_check(over), -ENAMETOOLONG);
        assert_int_equal(thin_names_check(""), -EINVAL);
        assert_int_equal(thin_names_check(NULL), -EINVAL);

        /* Each function refuses such a volume before it looks for any
         * device: even with id 1, whose own name would fit. */
        ThinPlan p;
        ThinPoolUsage u;
        dev_t d;
        uint64_t size;
        assert_int_equal(thin_plan(1 * GiB, 0, &p, NULL, 0), 0);
        assert_int_equal(thin_pool_create(over, makedev(253, 0), &p, &d), -ENAMETOOLONG);
        assert_int_equal(thin_pool_remove(over), -ENAMETOOLONG);
        assert_int_equal(thin_pool_live(over, &d), -ENAMETOOLONG);
        assert_int_equal(thin_pool_usage(over, &u), -ENAMETOOLONG);
        assert_int_equal(thin_create(over, 1, 1 * GiB, &d), -ENAMETOOLONG);
        assert_int_equal(thin_live(over, 1, &d, &size), -ENAMETOOLONG);
        assert_int_equal(thin_remove(over, 1), -ENAMETOOLONG);

        /* And ids past dm-thin's 24 bits, sizes not in whole sectors. */
        assert_int_equal(thin_create("scratch", THIN_ID_MAX + 1, 1 * GiB, &d), -EINVAL);
        assert_int_equal(thin_remove("scratch", THIN_ID_MAX + 1), -EINVAL);
        assert_int_equal(thin_create("scratch", 1, 1 * GiB + 1, &d), -EINVAL);
        assert_int_equal(thin_create("scratch", 1, 0, &d), -EINVAL);
}

static void test_status(void **state) {
        ThinPoolUsage u;

        /* As Linux 6.1 wrote it for a fresh pool of 1256 blocks of 256 KiB
         * (test-thin.sh, in UML). */
        assert_int_equal(thin_pool_status_parse("0 111/1024 0/1256 - rw no_discard_passdown queue_if_no_space - 256",
                                                256 * KiB, &u), 0);
        assert_int_equal(u.data_used, 0);
        assert_int_equal(u.data_total, 1256 * (256 * KiB));
        assert_int_equal(u.meta_used, 111 * (4 * KiB));
        assert_int_equal(u.meta_total, 4 * MiB);
        assert_false(u.read_only);

        /* In use, with a held root; an older kernel's shorter line. */
        assert_int_equal(thin_pool_status_parse("3 120/1024 128/4080 17 rw no_discard_passdown error_if_no_space needs_check 1024",
                                                256 * KiB, &u), 0);
        assert_int_equal(u.data_used, 128 * (256 * KiB));
        assert_int_equal(u.meta_used, 120 * (4 * KiB));
        assert_false(u.read_only);
        assert_int_equal(thin_pool_status_parse("1 12/1024 5/100 - rw discard_passdown", 1 * MiB, &u), 0);
        assert_int_equal(u.data_used, 5 * MiB);

        /* Read-only, and out of data space, both read_only. */
        assert_int_equal(thin_pool_status_parse("3 120/1024 4080/4080 - out_of_data_space discard_passdown queue_if_no_space - 1024",
                                                256 * KiB, &u), 0);
        assert_true(u.read_only);
        assert_int_equal(u.data_used, u.data_total);
        assert_int_equal(thin_pool_status_parse("3 120/1024 12/4080 - ro discard_passdown queue_if_no_space needs_check 1024",
                                                256 * KiB, &u), 0);
        assert_true(u.read_only);

        /* Failed: read_only, and nothing else known. */
        memset(&u, 0xff, sizeof(u));
        assert_int_equal(thin_pool_status_parse("Fail", 256 * KiB, &u), 0);
        assert_true(u.read_only);
        assert_int_equal(u.data_used, 0);
        assert_int_equal(u.data_total, 0);
        assert_int_equal(u.meta_used, 0);
        assert_int_equal(u.meta_total, 0);

        assert_int_equal(thin_pool_status_parse("Error", 256 * KiB, &u), -EIO);

        static const char *const bad[] = {
                "",
                "0",
                "0 10/1024 0/4080",
                "0 10 0/4080 - rw discard_passdown",
                "0 2000/1024 0/4080 - rw discard_passdown",              /* more used than there is */
                "0 10/1024 4081/4080 - rw discard_passdown",
                "0 10/1024 0/4080 - sideways discard_passdown",
                "x 10/1024 0/4080 - rw discard_passdown",
                "0 10/1024 0/18446744073709551615 - rw discard_passdown", /* bytes past 2^64 */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(thin_pool_status_parse(bad[i], 256 * KiB, &u), -EBADMSG);

        assert_int_equal(thin_pool_status_parse("0 10/1024 0/4080 - rw", 96 * KiB, &u), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_sizes),
                cmocka_unit_test(test_plan_metadata_cap),
                cmocka_unit_test(test_plan_blocks),
                cmocka_unit_test(test_plan_too_small),
                cmocka_unit_test(test_tables),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_names_too_long),
                cmocka_unit_test(test_status),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
