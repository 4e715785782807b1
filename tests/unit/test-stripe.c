/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The data device's plan (stripe_plan(): what each disk contributes, and
 * every refusal with its one-line reason), its dm table line and its name.
 * Pure functions: no devices, no libdevmapper calls. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/sysmacros.h>

#include "scratchd/label.h"
#include "scratchd/stripe.h"
#include "scratchd/util.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* One line, not empty. */
static void assert_reason(const char *why) {
        assert_true(why[0] != '\0');
        assert_null(strchr(why, '\n'));
}

static void test_equal_disks(void **state) {
        uint64_t sizes[8];
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
                sizes[i] = 100 * GiB;

        for (size_t n = 1; n <= ELEMENTSOF(sizes); n++) {
                StripeGeometry g;
                char why[256] = "";
                assert_int_equal(stripe_plan(sizes, n, STRIPE_CHUNK_DEFAULT, &g, why, sizeof(why)), 0);
                assert_string_equal(why, "");
                assert_int_equal(g.n_disks, n);
                assert_int_equal(g.data_offset, LABEL_AREA);
                if (n == 1) {
                        /* dm-linear: the whole data area, no chunk. */
                        assert_int_equal(g.chunk, 0);
                        assert_int_equal(g.leg_size, 100 * GiB - LABEL_AREA);
                } else {
                        /* 100 GiB - 1 MiB is 409596 chunks of 256 KiB exactly. */
                        assert_int_equal(g.chunk, STRIPE_CHUNK_DEFAULT);
                        assert_int_equal(g.leg_size, 100 * GiB - LABEL_AREA);
                        assert_int_equal(g.leg_size % g.chunk, 0);
                }
                assert_int_equal(g.size, n * g.leg_size);
        }
}

static void test_unequal_disks(void **state) {
        /* The smallest is the third; it is not a whole number of chunks. */
        const uint64_t sizes[] = { 4 * GiB, 3 * GiB, 2 * GiB + 300 * KiB + 512, 5 * GiB };
        StripeGeometry g;
        char why[256] = "";

        assert_int_equal(stripe_plan(sizes, ELEMENTSOF(sizes), STRIPE_CHUNK_DEFAULT, &g, why, sizeof(why)), 0);
        assert_int_equal(g.n_disks, 4);
        assert_int_equal(g.chunk, 256 * KiB);
        /* 2 GiB + 300.5 KiB - 1 MiB, down to whole 256 KiB chunks. */
        assert_int_equal(g.leg_size, 2 * GiB - 1 * MiB + 256 * KiB);
        assert_int_equal(g.leg_size % g.chunk, 0);
        assert_true(g.leg_size <= sizes[2] - LABEL_AREA);
        assert_true(sizes[2] - LABEL_AREA - g.leg_size < g.chunk);
        assert_int_equal(g.size, 4 * g.leg_size);

        /* Order does not matter: the smallest first or last gives the same. */
        const uint64_t first[] = { 2 * GiB + 300 * KiB + 512, 4 * GiB, 3 * GiB, 5 * GiB };
        const uint64_t last[] = { 4 * GiB, 3 * GiB, 5 * GiB, 2 * GiB + 300 * KiB + 512 };
        StripeGeometry g1, g2;
        assert_int_equal(stripe_plan(first, 4, STRIPE_CHUNK_DEFAULT, &g1, why, sizeof(why)), 0);
        assert_int_equal(stripe_plan(last, 4, STRIPE_CHUNK_DEFAULT, &g2, why, sizeof(why)), 0);
        assert_memory_equal(&g, &g1, sizeof(g));
        assert_memory_equal(&g, &g2, sizeof(g));
}

static void test_chunk_rounding(void **state) {
        static const struct {
                uint64_t chunk;
                uint64_t leg;
        } cases[] = {
                /* Data areas of 10 MiB + 100 KiB + 4 KiB and 20 MiB. */
                { 4 * KiB, 10 * MiB + 104 * KiB },
                { 64 * KiB, 10 * MiB + 64 * KiB },
                { 256 * KiB, 10 * MiB },
                { 1 * MiB, 10 * MiB },
                { 4 * MiB, 8 * MiB },
                { 8 * MiB, 8 * MiB },
        };
        const uint64_t sizes[] = { LABEL_AREA + 10 * MiB + 104 * KiB, LABEL_AREA + 20 * MiB };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                StripeGeometry g;
                char why[256] = "";
                assert_int_equal(stripe_plan(sizes, 2, cases[i].chunk, &g, why, sizeof(why)), 0);
                assert_int_equal(g.chunk, cases[i].chunk);
                assert_int_equal(g.leg_size, cases[i].leg);
                assert_int_equal(g.leg_size % g.chunk, 0);
                assert_int_equal(g.size, 2 * cases[i].leg);
        }
}

static void test_one_disk_odd_size(void **state) {
        /* Not a multiple of 4096, nor of 512: rounded down to 512 only. */
        const uint64_t size = 10 * GiB + 3 * 512 + 100;
        StripeGeometry g;
        char why[256] = "";

        /* One disk: no chunk, whatever is asked for (even a bad one). */
        assert_int_equal(stripe_plan(&size, 1, 3000, &g, why, sizeof(why)), 0);
        assert_int_equal(g.n_disks, 1);
        assert_int_equal(g.chunk, 0);
        assert_int_equal(g.data_offset, LABEL_AREA);
        assert_int_equal(g.leg_size, 10 * GiB - LABEL_AREA + 3 * 512);
        assert_int_equal(g.size, g.leg_size);
        assert_true(g.leg_size % 4096 != 0);

        /* Just enough: 1 MiB of data (and a few bytes that round away). */
        const uint64_t small = LABEL_AREA + 1 * MiB + 511;
        assert_int_equal(stripe_plan(&small, 1, STRIPE_CHUNK_DEFAULT, &g, why, sizeof(why)), 0);
        assert_int_equal(g.size, 1 * MiB);
}

static void test_refusals(void **state) {
        uint64_t many[STRIPE_DISKS_MAX + 1];
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = 10 * GiB;
        const uint64_t label_only[] = { 10 * GiB, LABEL_AREA, 10 * GiB };
        const uint64_t half_label[] = { 10 * GiB, 10 * GiB, 512 * KiB };
        const uint64_t one_label = LABEL_AREA;
        const uint64_t one_short = LABEL_AREA + 1 * MiB - 512;
        const uint64_t below_chunk[] = { 10 * GiB, LABEL_AREA + 255 * KiB };

        static const char *const untouched = "untouched";
        const struct {
                const uint64_t *sizes;
                size_t n;
                uint64_t chunk;
                const char *why;   /* NULL: any one line */
        } cases[] = {
                { many, 0, STRIPE_CHUNK_DEFAULT, "no disk given; list at least one in Devices=" },
                { many, STRIPE_DISKS_MAX + 1, STRIPE_CHUNK_DEFAULT,
                  "33 disks given, more than the 32 a stripe can hold; list fewer in Devices=" },
                { label_only, 3, STRIPE_CHUNK_DEFAULT,
                  "disk 2 of 3 is 1.0 MiB, no larger than the 1.0 MiB label area; use a larger disk" },
                { half_label, 3, STRIPE_CHUNK_DEFAULT,
                  "disk 3 of 3 is 512.0 KiB, no larger than the 1.0 MiB label area; use a larger disk" },
                { &one_label, 1, STRIPE_CHUNK_DEFAULT,
                  "disk 1 of 1 is 1.0 MiB, no larger than the 1.0 MiB label area; use a larger disk" },
                { &one_short, 1, STRIPE_CHUNK_DEFAULT,
                  "the disk is 2096640 bytes, leaving 1048064 after its label area, less than 1 MiB; use a larger disk" },
                { below_chunk, 2, STRIPE_CHUNK_DEFAULT,
                  "disk 2 of 2 leaves 255.0 KiB after its label area, less than one 256.0 KiB stripe chunk; "
                  "use a larger disk or a smaller chunk" },
                { many, 2, 3 * 4096,
                  "stripe chunk of 12288 bytes is not a power of two from 4096 to 1 TiB; use the default of 256 KiB" },
                { many, 2, 2048, NULL },
                { many, 2, 0, NULL },
                { many, 2, UINT64_C(1) << 41, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                StripeGeometry g = {};
                char why[256];
                strcpy(why, untouched);
                assert_int_equal(stripe_plan(cases[i].sizes, cases[i].n, cases[i].chunk, &g, why, sizeof(why)), -EINVAL);
                assert_reason(why);
                assert_string_not_equal(why, untouched);
                if (cases[i].why)
                        assert_string_equal(why, cases[i].why);
                /* Nothing half-planned. */
                assert_int_equal(g.size, 0);
        }

        /* The reason is optional. */
        assert_int_equal(stripe_plan(many, 0, STRIPE_CHUNK_DEFAULT, &(StripeGeometry) {}, NULL, 0), -EINVAL);
}

static void test_table(void **state) {
        const dev_t disks[] = { makedev(259, 0), makedev(259, 1), makedev(8, 16) };
        char buf[512];
        StripeGeometry g;

        const uint64_t one = 10 * GiB + 512;
        assert_int_equal(stripe_plan(&one, 1, STRIPE_CHUNK_DEFAULT, &g, NULL, 0), 0);
        assert_int_equal(stripe_table(&g, disks, buf, sizeof(buf)), 0);
        /* (10 GiB + 512 - 1 MiB) / 512 = 20969473 sectors, from sector 2048. */
        assert_string_equal(buf, "0 20969473 linear 259:0 2048");

        const uint64_t three[] = { 10 * GiB, 20 * GiB, 10 * GiB + 100 * KiB };
        assert_int_equal(stripe_plan(three, 3, STRIPE_CHUNK_DEFAULT, &g, NULL, 0), 0);
        assert_int_equal(stripe_table(&g, disks, buf, sizeof(buf)), 0);
        /* 3 legs of 10 GiB - 1 MiB: 3 * 20969472 sectors; chunks of 512. */
        assert_string_equal(buf, "0 62908416 striped 3 512 259:0 2048 259:1 2048 8:16 2048");

        /* Exactly the size it needs, with its NUL; one byte less fails. */
        size_t need = strlen("0 62908416 striped 3 512 259:0 2048 259:1 2048 8:16 2048") + 1;
        assert_int_equal(stripe_table(&g, disks, buf, need), 0);
        assert_int_equal(stripe_table(&g, disks, buf, need - 1), -ENOBUFS);
        assert_int_equal(stripe_table(&g, disks, buf, 8), -ENOBUFS);

        /* A geometry stripe_plan() would not make. */
        StripeGeometry bad = g;
        bad.n_disks = 0;
        assert_int_equal(stripe_table(&bad, disks, buf, sizeof(buf)), -EINVAL);
}

static void test_table_32_disks(void **state) {
        uint64_t sizes[STRIPE_DISKS_MAX];
        dev_t disks[STRIPE_DISKS_MAX];
        for (size_t i = 0; i < STRIPE_DISKS_MAX; i++) {
                sizes[i] = 16 * (UINT64_C(1) << 40);
                disks[i] = makedev(4095, 1048575);
        }
        StripeGeometry g;
        char buf[4096];
        assert_int_equal(stripe_plan(sizes, STRIPE_DISKS_MAX, 1 * GiB, &g, NULL, 0), 0);
        assert_int_equal(stripe_table(&g, disks, buf, sizeof(buf)), 0);
        assert_true(startswith(buf, "0 "));
        assert_non_null(strstr(buf, " striped 32 2097152 4095:1048575 2048 "));
}

static void test_name(void **state) {
        char buf[64];
        assert_string_equal(stripe_name("scratch", buf, sizeof(buf)), "scratchd-scratch-data");
        assert_string_equal(stripe_name("t", buf, sizeof(buf)), "scratchd-t-data");
        assert_ptr_equal(stripe_name("t", buf, sizeof(buf)), buf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_equal_disks),
                cmocka_unit_test(test_unequal_disks),
                cmocka_unit_test(test_chunk_rounding),
                cmocka_unit_test(test_one_disk_odd_size),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_table_32_disks),
                cmocka_unit_test(test_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
