/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared mode's space accounting (reserve.h): sizes as JobSize= and
 * `scratchctl prepare --size` take them, and each refusal's one line; their
 * formatting; a job's size from JobSize= or the pool and MaxJobs=; and
 * whether a job volume fits the pool now. */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratchd/reserve.h"
#include "scratchd/util.h"

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)
#define TiB (GiB * 1024)
#define PiB (TiB * 1024)

static void assert_contains(const char *s, const char *needle) {
        if (!strstr(s, needle))
                print_error("\"%s\" does not contain \"%s\"\n", s, needle);
        assert_non_null(strstr(s, needle));
}

static void assert_one_line(const char *s) {
        assert_true(strlen(s) > 0);
        assert_null(strchr(s, '\n'));
}

/* ---- job_size_parse ---- */

static void test_parse_bytes(void **state) {
        static const struct {
                const char *s;
                uint64_t bytes;
        } table[] = {
                { "1", 1 },
                { "314572800", 300 * MiB },
                { "0100", 100 },   /* decimal, whatever the zeros */
                { "1K", KiB },
                { "4K", 4 * KiB },
                { "300M", 300 * MiB },
                { "100G", 100 * GiB },
                { "1536G", 1536 * GiB },
                { "2T", 2 * TiB },
                { "1P", PiB },
                { "16383P", 16383 * PiB },
                { "18446744073709551615", UINT64_MAX },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char why[256] = "untouched";
                JobSize js = { .bytes = 7, .percent = 7 };
                print_message("%s\n", table[i].s);
                assert_int_equal(job_size_parse(table[i].s, false, &js, why, sizeof(why)), 0);
                assert_true(js.bytes == table[i].bytes);
                assert_int_equal(js.percent, 0);
                /* Percent allowed or not, bytes are bytes. */
                js = (JobSize) {};
                assert_int_equal(job_size_parse(table[i].s, true, &js, why, sizeof(why)), 0);
                assert_true(js.bytes == table[i].bytes);
                assert_int_equal(js.percent, 0);
                assert_string_equal(why, "untouched");
        }
}

static void test_parse_percent(void **state) {
        static const struct {
                const char *s;
                unsigned percent;
        } table[] = {
                { "1%", 1 }, { "25%", 25 }, { "33%", 33 }, { "100%", 100 }, { "007%", 7 },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char why[256];
                JobSize js = { .bytes = 7 };
                print_message("%s\n", table[i].s);
                assert_int_equal(job_size_parse(table[i].s, true, &js, why, sizeof(why)), 0);
                assert_int_equal(js.percent, table[i].percent);
                assert_true(js.bytes == 0);
        }
}

typedef struct Refusal {
        const char *s;
        bool allow_percent;
        int error;
        const char *why;   /* a part of the one line */
} Refusal;

static void test_parse_refusals(void **state) {
        static const Refusal table[] = {
                /* negative */
                { "-1", false, -ERANGE, "'-1' is negative; write bytes" },
                { "-100G", true, -ERANGE, "'-100G' is negative" },
                /* fractions: the same size in the next unit down where it is whole */
                { "1.5T", false, -EINVAL, "'1.5T' is not a whole number; write 1536G" },
                { "0.5G", false, -EINVAL, "write 512M" },
                { "1.25K", false, -EINVAL, "write 1280" },
                { "1.1G", false, -EINVAL, "'1.1G' is not a whole number; write bytes, or a whole number" },
                { "1.5", false, -EINVAL, "'1.5' is not a whole number; write bytes" },
                { "12.5%", true, -EINVAL, "'12.5%' is not a whole number" },
                /* overflow */
                { "18446744073709551616", false, -ERANGE, "'18446744073709551616' is too large (16 EiB or more)" },
                { "99999999999999999999999999", false, -ERANGE, "is too large" },
                { "16384P", false, -ERANGE, "'16384P' is too large" },
                { "17179869184T", false, -ERANGE, "is too large" },
                { "18014398509481984K", false, -ERANGE, "is too large" },
                { "99999999999999999999%", true, -ERANGE, "is not a share from 1% to 100%" },
                /* zero */
                { "0", false, -ERANGE, "'0' is zero" },
                { "0G", false, -ERANGE, "'0G' is zero" },
                { "000", true, -ERANGE, "is zero" },
                /* shares out of range */
                { "101%", true, -ERANGE, "'101%' is not a share from 1% to 100%" },
                { "0%", true, -ERANGE, "'0%' is not a share from 1% to 100%" },
                { "1000%", true, -ERANGE, "is not a share" },
                /* a share where only bytes are taken */
                { "25%", false, -EINVAL, "'25%': a share of the pool is not taken here; write bytes, or a whole "
                                         "number with K, M, G, T or P (such as 100G)" },
                { "101%", false, -EINVAL, "a share of the pool is not taken here" },
                /* junk */
                { "", false, -EINVAL, "'' is not a size" },
                { "12X", false, -EINVAL, "'12X' is not a size; write bytes, or a whole number with K, M, G, T or P "
                                         "(such as 100G)" },
                { "12X", true, -EINVAL, "or a share of the pool from 1% to 100%" },
                { "G", false, -EINVAL, "'G' is not a size" },
                { "100g", false, -EINVAL, "'100g' is not a size" },
                { "100GB", false, -EINVAL, "is not a size" },
                { "100GiB", false, -EINVAL, "is not a size" },
                { "100 G", false, -EINVAL, "is not a size" },
                { " 100G", false, -EINVAL, "is not a size" },
                { "100G ", false, -EINVAL, "is not a size" },
                { "+100G", false, -EINVAL, "is not a size" },
                { "--1", false, -EINVAL, "is not a size" },
                { "-", false, -EINVAL, "is not a size" },
                { "0x10", false, -EINVAL, "is not a size" },
                { "1e9", false, -EINVAL, "is not a size" },
                { "1.", false, -EINVAL, "is not a size" },
                { ".5G", false, -EINVAL, "is not a size" },
                { "%", true, -EINVAL, "is not a size" },
                { "25%%", true, -EINVAL, "is not a size" },
                { "25%G", true, -EINVAL, "is not a size" },
                { "10E", false, -EINVAL, "is not a size" },
                { "auto", true, -EINVAL, "'auto' is not a size" },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const Refusal *t = &table[i];
                char why[256] = "";
                JobSize js = { .bytes = 42, .percent = 42 };
                print_message("'%s'%s\n", t->s, t->allow_percent ? " (percent allowed)" : "");
                int r = job_size_parse(t->s, t->allow_percent, &js, why, sizeof(why));
                if (r != t->error)
                        print_error("'%s': got %d, want %d (%s)\n", t->s, r, t->error, why);
                assert_int_equal(r, t->error);
                assert_one_line(why);
                assert_contains(why, t->why);
                /* Untouched on failure. */
                assert_true(js.bytes == 42);
                assert_int_equal(js.percent, 42);
        }
}

static void test_parse_why_optional(void **state) {
        JobSize js;
        char tiny[8];
        assert_int_equal(job_size_parse("junk", false, &js, NULL, 0), -EINVAL);
        assert_int_equal(job_size_parse(NULL, false, &js, NULL, 0), -EINVAL);
        /* Cut, but a string. */
        assert_int_equal(job_size_parse("12X", false, &js, tiny, sizeof(tiny)), -EINVAL);
        assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* ---- job_size_format ---- */

static void test_format(void **state) {
        static const struct {
                JobSize js;
                const char *text;
        } table[] = {
                { { .bytes = 100 * GiB }, "100 GiB" },
                { { .bytes = 1536 * GiB }, "1536 GiB" },
                { { .bytes = 2 * TiB }, "2 TiB" },
                { { .bytes = 300 * MiB }, "300 MiB" },
                { { .bytes = 4 * KiB }, "4 KiB" },
                { { .bytes = 3 * PiB }, "3 PiB" },
                { { .bytes = 2048 * PiB }, "2048 PiB" },
                { { .bytes = 12345 }, "12345 bytes" },
                { { .bytes = 1 }, "1 bytes" },
                { { .percent = 25 }, "25%" },
                { { .percent = 100 }, "100%" },
                { {}, "not set" },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char buf[64];
                assert_ptr_equal(job_size_format(&table[i].js, buf, sizeof(buf)), buf);
                assert_string_equal(buf, table[i].text);
        }

        /* What it writes, parsed again (without the blank), is the same size. */
        static const char *const sizes[] = { "100G", "1536G", "300M", "7T", "25%" };
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                JobSize a, b;
                char buf[64], again[64];
                assert_int_equal(job_size_parse(sizes[i], true, &a, NULL, 0), 0);
                job_size_format(&a, buf, sizeof(buf));
                /* "100 GiB" -> "100G" */
                char *blank = strchr(buf, ' ');
                if (blank)
                        snprintf(again, sizeof(again), "%.*s%c", (int) (blank - buf), buf, blank[1]);
                else
                        snprintf(again, sizeof(again), "%s", buf);
                assert_int_equal(job_size_parse(again, true, &b, NULL, 0), 0);
                assert_true(a.bytes == b.bytes);
                assert_int_equal(a.percent, b.percent);
        }
}

/* ---- job_size_resolve ---- */

#define GRANULE (UINT64_C(256) * KiB)

static void test_resolve_bytes(void **state) {
        JobSize js = { .bytes = 100 * GiB };
        assert_true(job_size_resolve(&js, 2 * TiB, 8, GRANULE) == 100 * GiB);
        /* Not bounded by the pool: reserve_check() says it cannot fit. */
        assert_true(job_size_resolve(&js, 10 * GiB, 8, GRANULE) == 100 * GiB);
        /* MaxJobs= plays no part. */
        assert_true(job_size_resolve(&js, 2 * TiB, 1, GRANULE) == 100 * GiB);
        /* Rounded down to whole blocks. */
        js.bytes = 100 * GiB + GRANULE - 1;
        assert_true(job_size_resolve(&js, 2 * TiB, 8, GRANULE) == 100 * GiB);
        js.bytes = 100 * GiB + GRANULE;
        assert_true(job_size_resolve(&js, 2 * TiB, 8, GRANULE) == 100 * GiB + GRANULE);
        /* Below one block: nothing (reserve_check() refuses it). */
        js.bytes = GRANULE - 1;
        assert_true(job_size_resolve(&js, 2 * TiB, 8, GRANULE) == 0);
        /* Granule 0: as asked. */
        js.bytes = 12345;
        assert_true(job_size_resolve(&js, 2 * TiB, 8, 0) == 12345);
}

static void test_resolve_percent(void **state) {
        JobSize js = { .percent = 25 };
        assert_true(job_size_resolve(&js, 4 * TiB, 8, GRANULE) == 1 * TiB);
        js.percent = 100;
        assert_true(job_size_resolve(&js, 4 * TiB, 8, GRANULE) == 4 * TiB);
        js.percent = 1;
        assert_true(job_size_resolve(&js, 100 * GiB, 8, 0) == 1 * GiB);
        /* A third of a pool that is no multiple of 100 bytes: floor, then blocks. */
        js.percent = 33;
        uint64_t pool = 1000 * GiB + 12345;
        uint64_t exact = (uint64_t) ((unsigned __int128) pool * 33 / 100);
        assert_true(job_size_resolve(&js, pool, 8, 0) == exact);
        assert_true(job_size_resolve(&js, pool, 8, GRANULE) == exact - exact % GRANULE);
        /* The largest pool does not overflow. */
        js.percent = 100;
        assert_true(job_size_resolve(&js, UINT64_MAX, 8, 0) == UINT64_MAX);
        js.percent = 50;
        assert_true(job_size_resolve(&js, UINT64_MAX, 8, 0) == UINT64_MAX / 2);
}

static void test_resolve_default(void **state) {
        JobSize unset = {};
        /* The pool divided by MaxJobs=. */
        assert_true(job_size_resolve(&unset, 8 * TiB, 8, GRANULE) == 1 * TiB);
        assert_true(job_size_resolve(&unset, 8 * TiB, 1, GRANULE) == 8 * TiB);
        assert_true(job_size_resolve(&unset, 8 * TiB, MAX_JOBS_MAX, GRANULE) == 32 * GiB);
        /* NULL is not set; MaxJobs 0 is the default. */
        assert_true(job_size_resolve(NULL, 8 * TiB, 4, GRANULE) == 2 * TiB);
        assert_true(job_size_resolve(&unset, 8 * TiB, 0, GRANULE) == 8 * TiB / MAX_JOBS_DEFAULT);
        /* Rounded down to blocks: 1 TiB + 3 blocks + 5 bytes over 3 jobs. */
        uint64_t pool = 1 * TiB + 3 * GRANULE + 5;
        uint64_t share = pool / 3;
        assert_true(share % GRANULE != 0);
        uint64_t got = job_size_resolve(&unset, pool, 3, GRANULE);
        assert_true(got == share - share % GRANULE);
        assert_true(got % GRANULE == 0);
        assert_true(got * 3 <= pool);
}

/* ---- reserve_check ---- */

static Reservations pool_2t(uint64_t reserved, unsigned n_jobs) {
        return (Reservations) { .pool_bytes = 2 * TiB, .reserved_bytes = reserved, .n_jobs = n_jobs, .max_jobs = 8 };
}

static void check(const Reservations *r, uint64_t want, int error, const char *why_part) {
        char why[256] = "";
        int k = reserve_check(r, want, why, sizeof(why));
        if (k != error)
                print_error("want %" PRIu64 ": got %d, expected %d (%s)\n", want, k, error, why);
        assert_int_equal(k, error);
        if (error == 0)
                return;
        assert_one_line(why);
        if (why_part)
                assert_contains(why, why_part);
}

static void test_check_fits(void **state) {
        Reservations r = pool_2t(0, 0);
        check(&r, 100 * GiB, 0, NULL);
        check(&r, JOB_SIZE_MIN, 0, NULL);
        check(&r, 2 * TiB, 0, NULL);   /* the whole pool, empty */
        r = pool_2t(1 * TiB, 3);
        check(&r, 512 * GiB, 0, NULL);
        assert_true(reserve_free(&r) == 1 * TiB);
}

static void test_check_exactly_full(void **state) {
        /* Exactly what is free fits; one byte more does not. */
        Reservations r = pool_2t(2 * TiB - 100 * GiB, 7);
        assert_true(reserve_free(&r) == 100 * GiB);
        check(&r, 100 * GiB, 0, NULL);
        check(&r, 100 * GiB + 1, -ENOSPC, "100.0 GiB free of 2.0 TiB (7 job volumes live); ask for 100G or less, "
                                          "or wait for a job to end");
}

static void test_check_no_space(void **state) {
        Reservations r = pool_2t(2 * TiB - 40 * GiB, 3);
        check(&r, 100 * GiB, -ENOSPC, NULL);
        char why[256];
        assert_int_equal(reserve_check(&r, 100 * GiB, why, sizeof(why)), -ENOSPC);
        assert_string_equal(why, "40.0 GiB free of 2.0 TiB (3 job volumes live); ask for 40G or less, or wait for "
                                 "a job to end");

        /* One job: no plural. */
        r = pool_2t(2 * TiB - 40 * GiB, 1);
        check(&r, 100 * GiB, -ENOSPC, "(1 job volume live)");

        /* Less free than the smallest job volume: asking for less is no use. */
        r = pool_2t(2 * TiB - 100 * MiB, 5);
        assert_int_equal(reserve_check(&r, JOB_SIZE_MIN, why, sizeof(why)), -ENOSPC);
        assert_string_equal(why, "100.0 MiB free of 2.0 TiB (5 job volumes live); wait for a job to end");

        /* Fully reserved, and over (the spare counted in): nothing free. */
        r = pool_2t(2 * TiB, 2);
        assert_true(reserve_free(&r) == 0);
        check(&r, JOB_SIZE_MIN, -ENOSPC, "0 B free of 2.0 TiB");
        r = pool_2t(3 * TiB, 2);
        assert_true(reserve_free(&r) == 0);
        check(&r, JOB_SIZE_MIN, -ENOSPC, "0 B free");

        /* The suggestion, rounded down, does fit. */
        r = pool_2t(2 * TiB - (40 * GiB + 700 * MiB), 3);
        assert_int_equal(reserve_check(&r, 100 * GiB, why, sizeof(why)), -ENOSPC);
        assert_contains(why, "ask for 40G or less");
        check(&r, 40 * GiB, 0, NULL);
        r = pool_2t(2 * TiB - 9 * GiB, 3);
        check(&r, 10 * GiB, -ENOSPC, "ask for 9216M or less");
        check(&r, 9216 * MiB, 0, NULL);
}

static void test_check_max_jobs(void **state) {
        Reservations r = pool_2t(8 * 100 * GiB, 8);
        check(&r, 100 * GiB, -EUSERS, "8 job volumes are live, MaxJobs=8; wait for a job to end, or raise MaxJobs= "
                                      "in scratchd.conf");
        r.n_jobs = 7;
        check(&r, 100 * GiB, 0, NULL);
        /* More live than MaxJobs= (lowered, then reloaded): still refused. */
        r.n_jobs = 9;
        check(&r, 100 * GiB, -EUSERS, NULL);
        r = (Reservations) { .pool_bytes = 2 * TiB, .n_jobs = 1, .max_jobs = 1 };
        check(&r, 100 * GiB, -EUSERS, "1 job volume is live, MaxJobs=1");
        /* MaxJobs= before space: both short, the count is said. */
        r = pool_2t(2 * TiB, 8);
        check(&r, 100 * GiB, -EUSERS, NULL);
}

static void test_check_never_fits(void **state) {
        Reservations r = pool_2t(0, 0);
        /* Below the smallest job volume. */
        /* In bytes where rounded they would read the same. */
        check(&r, JOB_SIZE_MIN - 1, -EINVAL, "314572799 bytes is below the smallest job volume, 314572800 bytes; "
                                             "ask for 300M or more");
        check(&r, 100 * MiB, -EINVAL, "100.0 MiB is below the smallest job volume");
        check(&r, 0, -EINVAL, "0 B is below");
        /* Above the whole pool, even empty. */
        check(&r, 3 * TiB, -EINVAL, "3.0 TiB is more than the whole pool, 2.0 TiB; ask for 2048G or less");
        check(&r, 2 * TiB + 1, -EINVAL, "2199023255553 bytes is more than the whole pool, 2199023255552 bytes");
        check(&r, UINT64_MAX, -EINVAL, "more than the whole pool");
        /* Before MaxJobs= and space: waiting would not help. */
        r = pool_2t(2 * TiB, 8);
        check(&r, 3 * TiB, -EINVAL, "more than the whole pool");
        check(&r, 1 * MiB, -EINVAL, "below the smallest job volume");
        /* A pool smaller than the smallest job volume takes nothing. */
        r = (Reservations) { .pool_bytes = 200 * MiB, .max_jobs = 8 };
        check(&r, 200 * MiB, -EINVAL, "below the smallest job volume");
        check(&r, JOB_SIZE_MIN, -EINVAL, "more than the whole pool, 200.0 MiB");
}

static void test_check_why_optional(void **state) {
        Reservations r = pool_2t(2 * TiB, 8);
        assert_int_equal(reserve_check(&r, 100 * GiB, NULL, 0), -EUSERS);
        r.n_jobs = 1;
        assert_int_equal(reserve_check(&r, 100 * GiB, NULL, 0), -ENOSPC);
        char tiny[10];
        assert_int_equal(reserve_check(&r, 100 * GiB, tiny, sizeof(tiny)), -ENOSPC);
        assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* The default share of a pool fits MaxJobs= times over, and no more. */
static void test_default_shares_fill_the_pool(void **state) {
        static const unsigned max_jobs[] = { 1, 3, MAX_JOBS_DEFAULT, 7, MAX_JOBS_MAX };
        for (size_t i = 0; i < ELEMENTSOF(max_jobs); i++) {
                Reservations r = { .pool_bytes = 1800 * GiB + 12345, .max_jobs = max_jobs[i] };
                uint64_t share = job_size_resolve(NULL, r.pool_bytes, r.max_jobs, GRANULE);
                for (unsigned k = 0; k < max_jobs[i]; k++) {
                        assert_int_equal(reserve_check(&r, share, NULL, 0), 0);
                        r.reserved_bytes += share;
                        r.n_jobs++;
                }
                assert_int_equal(reserve_check(&r, share, NULL, 0), -EUSERS);
                r.max_jobs++;
                assert_int_equal(reserve_check(&r, share, NULL, 0), -ENOSPC);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_bytes),
                cmocka_unit_test(test_parse_percent),
                cmocka_unit_test(test_parse_refusals),
                cmocka_unit_test(test_parse_why_optional),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_resolve_bytes),
                cmocka_unit_test(test_resolve_percent),
                cmocka_unit_test(test_resolve_default),
                cmocka_unit_test(test_check_fits),
                cmocka_unit_test(test_check_exactly_full),
                cmocka_unit_test(test_check_no_space),
                cmocka_unit_test(test_check_max_jobs),
                cmocka_unit_test(test_check_never_fits),
                cmocka_unit_test(test_check_why_optional),
                cmocka_unit_test(test_default_shares_fill_the_pool),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
