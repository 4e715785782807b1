/* SPDX-License-Identifier: GPL-2.0-or-later */
/* metrics_format(): the exact Prometheus text for two volumes, its shape
 * line by line, and (where promtool is installed) promtool's verdict;
 * metrics_write_textfile() in a temporary directory. */
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
#include <regex.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "config.h"
#include "scratchd/metrics.h"
#include "scratchd/util.h"

/* ---- two volumes ---- */

typedef struct Sample {
        Record rec_a, rec_b;
        VolumeCounters counters_a, counters_b;
        MetricsVolume v[2];
} Sample;

static void sample_init(Sample *s) {
        *s = (Sample) {
                .rec_a = {
                        .state = STATE_CLEAN,
                        .generation = 3,
                        .device = "/dev/nvme1n1 /dev/nvme2n1 /dev/nvme3n1",
                        .data_size = 3840755982336,
                        .last_wipe = 1718000000,
                        .last_wipe_usec = 1234567,
                },
                .rec_b = {
                        .state = STATE_IN_USE,
                        .generation = UINT64_MAX,
                        .job = "1234",
                        .last_wipe = 1718000123,
                        .last_wipe_usec = 5,
                },
                .counters_a = {
                        .prepares = 1,
                        .prepare_failures = 2,
                        .releases = 3,
                        .release_failures = 4,
                        .wipes = 5,
                        .wipe_failures = 6,
                        .erase_records = 8,
                        .erase_record_failures = 9,
                },
                .counters_b = {
                        .prepares = 1000000,
                        .wipes = 7,
                },
        };
        s->v[0] = (MetricsVolume) {
                .name = "a",
                .rec = &s->rec_a,
                .counters = &s->counters_a,
                .size_bytes = UINT64_C(3840755982336),
                .used_bytes = UINT64_C(27262976),
        };
        s->v[1] = (MetricsVolume) {
                .name = "fast-scratch_2",
                .rec = &s->rec_b,
                .counters = &s->counters_b,
                .size_bytes = 0,   /* not mounted */
                .used_bytes = 0,
        };
        /* Some durations, so that the histograms have something to say. */
        duration_observe(&s->counters_a.wipe_seconds, 3000000);
        duration_observe(&s->counters_a.wipe_seconds, 250000000);
        duration_observe(&s->counters_a.release_seconds, 8000000);
}

static char *format_sample(void) {
        Sample s;
        sample_init(&s);
        char *text = metrics_format(s.v, 2);
        assert_non_null(text);
        return text;
}

/* Splits `text` into lines (without their newlines); the caller frees both. */
static char **split_lines(const char *text, size_t *ret_n) {
        char *copy = strdup(text);
        assert_non_null(copy);
        char **lines = NULL;
        size_t n = 0;
        for (char *p = copy; *p;) {
                char *nl = strchr(p, '\n');
                assert_non_null(nl);   /* every line ends with a newline */
                *nl = 0;
                lines = realloc(lines, sizeof(char *) * (n + 2));
                assert_non_null(lines);
                lines[n++] = p;
                p = nl + 1;
        }
        if (!lines) {
                lines = calloc(2, sizeof(char *));
                assert_non_null(lines);
        }
        lines[n] = copy;   /* kept for freeing */
        *ret_n = n;
        return lines;
}

static void free_lines(char **lines, size_t n) {
        free(lines[n]);
        free(lines);
}

static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);
        for (const char *p = text; (p = strstr(p, line)); p++)
                if ((p == text || p[-1] == '\n') && p[n] == '\n')
                        return true;
        return false;
}

static void assert_line(const char *text, const char *line) {
        if (!has_line(text, line))
                print_error("no line \"%s\" in:\n%s", line, text);
        assert_true(has_line(text, line));
}

static size_t count_prefix(char **lines, size_t n, const char *prefix) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (startswith(lines[i], prefix))
                        k++;
        return k;
}

/* The metric name of a sample line, into buf. */
/* The family a sample line is of: its name, less a histogram's _bucket,
 * _sum or _count. */
static const char *sample_name(const char *line, char *buf, size_t size) {
        size_t k = strcspn(line, "{ ");
        assert_true(k < size);
        memcpy(buf, line, k);
        buf[k] = 0;
        static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (strstr(buf, "_duration_seconds") && k > strlen(suffixes[i]) &&
                    streq(buf + k - strlen(suffixes[i]), suffixes[i]))
                        buf[k - strlen(suffixes[i])] = 0;
        return buf;
}

/* Samples in the two-volume sample, all families together. */
static size_t sample_lines(void);

/* ---- metrics_format() ---- */

/* Each family, and how many samples the two-volume sample has of it (0:
 * one a volume). */
static const struct {
        const char *name, *type;
        size_t samples;
} families[] = {
        { "scratchd_build_info", "gauge", 1 },
        { "scratchd_volume_state", "gauge", 2 * _STATE_MAX },
        { "scratchd_key_generation", "gauge" },
        { "scratchd_prepares_total", "counter" },
        { "scratchd_prepare_failures_total", "counter" },
        { "scratchd_releases_total", "counter" },
        { "scratchd_release_failures_total", "counter" },
        { "scratchd_wipes_total", "counter" },
        { "scratchd_wipe_failures_total", "counter" },
        { "scratchd_erase_records_total", "counter" },
        { "scratchd_erase_record_failures_total", "counter" },
        /* Each bucket, +Inf, _sum and _count, for each volume. */
        { "scratchd_wipe_duration_seconds", "histogram", 2 * (DURATION_BUCKETS + 3) },
        { "scratchd_release_duration_seconds", "histogram", 2 * (DURATION_BUCKETS + 3) },
        { "scratchd_last_wipe_duration_seconds", "gauge" },
        { "scratchd_last_wipe_timestamp_seconds", "gauge" },
        { "scratchd_volume_size_bytes", "gauge" },
        { "scratchd_volume_used_bytes", "gauge" },
        { "scratchd_volume_disks", "gauge" },
        { "scratchd_volume_data_bytes", "gauge" },
};

static void test_format_state_lines(void **state) {
        _cleanup_free_ char *text = format_sample();
        static const char *const states[] = { "ABSENT", "WIPING", "CLEAN", "IN_USE", "DIRTY", "FAILED" };

        for (size_t i = 0; i < ELEMENTSOF(states); i++) {
                char line[256];
                snprintf(line, sizeof(line), "scratchd_volume_state{volume=\"a\",state=\"%s\"} %d", states[i],
                         streq(states[i], "CLEAN"));
                assert_line(text, line);
                snprintf(line, sizeof(line), "scratchd_volume_state{volume=\"fast-scratch_2\",state=\"%s\"} %d",
                         states[i], streq(states[i], "IN_USE"));
                assert_line(text, line);
        }
        assert_line(text, "scratchd_volume_state{volume=\"a\",state=\"CLEAN\"} 1");
        assert_line(text, "scratchd_volume_state{volume=\"a\",state=\"WIPING\"} 0");

        /* Exactly one state is 1 per volume. */
        size_t n;
        char **lines = split_lines(text, &n);
        size_t ones = 0, all = 0;
        for (size_t i = 0; i < n; i++)
                if (startswith(lines[i], "scratchd_volume_state{")) {
                        all++;
                        if (strlen(lines[i]) > 2 && streq(lines[i] + strlen(lines[i]) - 2, " 1"))
                                ones++;
                }
        assert_int_equal(all, 2 * _STATE_MAX);
        assert_int_equal(ones, 2);
        free_lines(lines, n);
}

static void test_format_every_state(void **state) {
        /* Each state, as the one that is 1. */
        for (LifecycleState s = 0; s < _STATE_MAX; s++) {
                Record rec = { .state = s };
                VolumeCounters c = {};
                MetricsVolume v = { .name = "v", .rec = &rec, .counters = &c };
                _cleanup_free_ char *text = metrics_format(&v, 1);
                assert_non_null(text);
                for (LifecycleState t = 0; t < _STATE_MAX; t++) {
                        char line[128];
                        snprintf(line, sizeof(line), "scratchd_volume_state{volume=\"v\",state=\"%s\"} %d",
                                 lifecycle_state_to_string(t), s == t);
                        assert_line(text, line);
                }
        }
}

static void test_format_values(void **state) {
        _cleanup_free_ char *text = format_sample();

        assert_line(text, "scratchd_key_generation{volume=\"a\"} 3");
        assert_line(text, "scratchd_key_generation{volume=\"fast-scratch_2\"} 18446744073709551615");

        assert_line(text, "scratchd_prepares_total{volume=\"a\"} 1");
        assert_line(text, "scratchd_prepare_failures_total{volume=\"a\"} 2");
        assert_line(text, "scratchd_releases_total{volume=\"a\"} 3");
        assert_line(text, "scratchd_release_failures_total{volume=\"a\"} 4");
        assert_line(text, "scratchd_wipes_total{volume=\"a\"} 5");
        assert_line(text, "scratchd_wipe_failures_total{volume=\"a\"} 6");
        assert_line(text, "scratchd_erase_records_total{volume=\"a\"} 8");
        assert_line(text, "scratchd_erase_record_failures_total{volume=\"a\"} 9");
        assert_line(text, "scratchd_prepares_total{volume=\"fast-scratch_2\"} 1000000");
        assert_line(text, "scratchd_prepare_failures_total{volume=\"fast-scratch_2\"} 0");
        assert_line(text, "scratchd_wipes_total{volume=\"fast-scratch_2\"} 7");

        /* Seconds, with six decimals: microseconds exactly. */
        assert_line(text, "scratchd_last_wipe_duration_seconds{volume=\"a\"} 1.234567");
        assert_line(text, "scratchd_last_wipe_duration_seconds{volume=\"fast-scratch_2\"} 0.000005");
        assert_line(text, "scratchd_last_wipe_timestamp_seconds{volume=\"a\"} 1718000000");
        assert_line(text, "scratchd_last_wipe_timestamp_seconds{volume=\"fast-scratch_2\"} 1718000123");

        assert_line(text, "scratchd_volume_size_bytes{volume=\"a\"} 3840755982336");
        assert_line(text, "scratchd_volume_used_bytes{volume=\"a\"} 27262976");
        assert_line(text, "scratchd_volume_size_bytes{volume=\"fast-scratch_2\"} 0");
        assert_line(text, "scratchd_volume_used_bytes{volume=\"fast-scratch_2\"} 0");

        assert_line(text, "scratchd_volume_disks{volume=\"a\"} 3");
        assert_line(text, "scratchd_volume_data_bytes{volume=\"a\"} 3840755982336");
        assert_line(text, "scratchd_volume_disks{volume=\"fast-scratch_2\"} 0");
        assert_line(text, "scratchd_volume_data_bytes{volume=\"fast-scratch_2\"} 0");
}

static void test_format_durations(void **state) {
        static const struct {
                uint64_t usec;
                const char *text;
        } table[] = {
                { 0, "0.000000" },
                { 1, "0.000001" },
                { 999999, "0.999999" },
                { 1000000, "1.000000" },
                { 2500000, "2.500000" },
                { 61000001, "61.000001" },
                { UINT64_C(86400000000), "86400.000000" },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Record rec = { .state = STATE_CLEAN, .last_wipe_usec = table[i].usec };
                VolumeCounters c = {};
                MetricsVolume v = { .name = "x", .rec = &rec, .counters = &c };
                _cleanup_free_ char *text = metrics_format(&v, 1);
                char line[128];
                snprintf(line, sizeof(line), "scratchd_last_wipe_duration_seconds{volume=\"x\"} %s", table[i].text);
                assert_line(text, line);
        }
}

/* Durations into buckets: cumulative as Prometheus has them, +Inf the
 * count, the sum in seconds; a duration on a bound is in that bucket. */
static void test_format_histogram(void **state) {
        Record rec = { .state = STATE_CLEAN };
        VolumeCounters c = {};
        duration_observe(&c.wipe_seconds, 500000);         /* 0.5 s */
        duration_observe(&c.wipe_seconds, 2000000);        /* 2 s: on the bound */
        duration_observe(&c.wipe_seconds, 2000001);        /* just past it */
        duration_observe(&c.wipe_seconds, 700000000);      /* 700 s: past the last */
        duration_observe(&c.release_seconds, 45000000);    /* 45 s */
        MetricsVolume v = { .name = "x", .rec = &rec, .counters = &c };
        _cleanup_free_ char *text = metrics_format(&v, 1);
        static const char *const want[] = {
                "scratchd_wipe_duration_seconds_bucket{volume=\"x\",le=\"1\"} 1",
                "scratchd_wipe_duration_seconds_bucket{volume=\"x\",le=\"2\"} 2",
                "scratchd_wipe_duration_seconds_bucket{volume=\"x\",le=\"5\"} 3",
                "scratchd_wipe_duration_seconds_bucket{volume=\"x\",le=\"600\"} 3",
                "scratchd_wipe_duration_seconds_bucket{volume=\"x\",le=\"+Inf\"} 4",
                "scratchd_wipe_duration_seconds_sum{volume=\"x\"} 704.500001",
                "scratchd_wipe_duration_seconds_count{volume=\"x\"} 4",
                "scratchd_release_duration_seconds_bucket{volume=\"x\",le=\"30\"} 0",
                "scratchd_release_duration_seconds_bucket{volume=\"x\",le=\"60\"} 1",
                "scratchd_release_duration_seconds_count{volume=\"x\"} 1",
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_line(text, want[i]);
        char build[128];
        snprintf(build, sizeof(build), "scratchd_build_info{version=\"%s\"} 1", PACKAGE_VERSION);
        assert_line(text, build);
}

static void test_format_help_and_type(void **state) {
        _cleanup_free_ char *text = format_sample();
        size_t n;
        char **lines = split_lines(text, &n);

        for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                char help[128], type[128];
                snprintf(help, sizeof(help), "# HELP %s ", families[f].name);
                snprintf(type, sizeof(type), "# TYPE %s %s", families[f].name, families[f].type);

                /* Exactly once each, HELP then TYPE, then the family's samples,
                 * all together. */
                assert_int_equal(count_prefix(lines, n, help), 1);
                size_t k = 0;
                for (size_t i = 0; i < n; i++) {
                        char t[128];
                        snprintf(t, sizeof(t), "# TYPE %s ", families[f].name);
                        if (startswith(lines[i], t))
                                k++;
                }
                assert_int_equal(k, 1);

                size_t h = 0;
                while (h < n && !startswith(lines[h], help))
                        h++;
                assert_true(h + 1 < n);
                assert_true(strlen(lines[h]) > strlen(help));   /* some help text */
                assert_string_equal(lines[h + 1], type);

                size_t first = h + 2, last = first;
                char name[128];
                while (last < n && lines[last][0] != '#' && streq(sample_name(lines[last], name, sizeof(name)),
                                                                  families[f].name))
                        last++;
                size_t expected = families[f].samples ?: 2;
                assert_int_equal(last - first, expected);
                /* And no sample of it anywhere else. */
                size_t total = 0;
                for (size_t i = 0; i < n; i++)
                        if (lines[i][0] != '#' && streq(sample_name(lines[i], name, sizeof(name)), families[f].name))
                                total++;
                assert_int_equal(total, expected);

                /* Counters end in _total, and only they do. */
                bool counter = streq(families[f].type, "counter");
                size_t len = strlen(families[f].name);
                assert_int_equal(counter, len > 6 && streq(families[f].name + len - 6, "_total"));
        }

        /* Nothing but these families. */
        assert_int_equal(count_prefix(lines, n, "# HELP "), ELEMENTSOF(families));
        assert_int_equal(count_prefix(lines, n, "# TYPE "), ELEMENTSOF(families));
        assert_int_equal(count_prefix(lines, n, "#"), 2 * ELEMENTSOF(families));
        assert_int_equal(n, 2 * ELEMENTSOF(families) + sample_lines());
        free_lines(lines, n);
}

static size_t sample_lines(void) {
        size_t k = 0;
        for (size_t f = 0; f < ELEMENTSOF(families); f++)
                k += families[f].samples ?: 2;
        return k;
}

static void test_format_line_syntax(void **state) {
        _cleanup_free_ char *text = format_sample();
        regex_t re;
        assert_int_equal(regcomp(&re,
                                 "^([a-z_]+\\{volume=\"[a-z0-9_-]+\"(,state=\"[A-Z_]+\"|,le=\"([0-9.]+|\\+Inf)\")?\\}"
                                 "|scratchd_build_info\\{version=\"[0-9][0-9a-z.~+-]*\"\\}) [0-9.]+$",
                                 REG_EXTENDED | REG_NOSUB),
                         0);

        /* The text ends with a newline, and has no empty line. */
        assert_true(strlen(text) > 0);
        assert_int_equal(text[strlen(text) - 1], '\n');
        assert_null(strstr(text, "\n\n"));

        size_t n, samples = 0;
        char **lines = split_lines(text, &n);
        for (size_t i = 0; i < n; i++) {
                if (lines[i][0] == '#') {
                        assert_true(startswith(lines[i], "# HELP ") || startswith(lines[i], "# TYPE "));
                        continue;
                }
                samples++;
                if (regexec(&re, lines[i], 0, NULL, 0) != 0)
                        print_error("line %zu does not match: \"%s\"\n", i + 1, lines[i]);
                assert_int_equal(regexec(&re, lines[i], 0, NULL, 0), 0);
        }
        assert_int_equal(samples, sample_lines());
        free_lines(lines, n);
        regfree(&re);
}

static void test_format_no_volumes(void **state) {
        _cleanup_free_ char *text = metrics_format(NULL, 0);
        assert_non_null(text);
        size_t n;
        char **lines = split_lines(text, &n);
        /* Only the HELP and TYPE lines, and build_info's one sample. */
        assert_int_equal(n, 2 * ELEMENTSOF(families) + 1);
        for (size_t i = 0; i < n; i++)
                assert_true(lines[i][0] == '#' || startswith(lines[i], "scratchd_build_info{version=\""));
        free_lines(lines, n);
}

/* ---- shared mode's pool ---- */

static const char *const pool_families[] = {
        "scratchd_pool_size_bytes",
        "scratchd_pool_reserved_bytes",
        "scratchd_pool_written_bytes",
        "scratchd_pool_jobs",
        "scratchd_pool_jobs_failed",
        "scratchd_pool_max_jobs",
        "scratchd_pool_spare_ready",
};

/* The sample's second volume as a pool; the first stays exclusive. */
static const MetricsPool sample_pool = {
        .size_bytes = UINT64_C(5497558138880),       /* 5 TiB: past 32 bits */
        .reserved_bytes = UINT64_C(3298534883329),
        .written_bytes = UINT64_C(123456789012),
        .jobs = 3,
        .jobs_failed = 1,
        .max_jobs = 256,
        .spare_ready = 1,
};

static void test_format_pool(void **state) {
        Sample s;
        sample_init(&s);
        s.v[1].pool = &sample_pool;
        _cleanup_free_ char *text = metrics_format(s.v, 2);
        assert_non_null(text);

        assert_line(text, "scratchd_pool_size_bytes{volume=\"fast-scratch_2\"} 5497558138880");
        assert_line(text, "scratchd_pool_reserved_bytes{volume=\"fast-scratch_2\"} 3298534883329");
        assert_line(text, "scratchd_pool_written_bytes{volume=\"fast-scratch_2\"} 123456789012");
        assert_line(text, "scratchd_pool_jobs{volume=\"fast-scratch_2\"} 3");
        assert_line(text, "scratchd_pool_jobs_failed{volume=\"fast-scratch_2\"} 1");
        assert_line(text, "scratchd_pool_max_jobs{volume=\"fast-scratch_2\"} 256");
        assert_line(text, "scratchd_pool_spare_ready{volume=\"fast-scratch_2\"} 1");
        /* Nothing of the exclusive volume. */
        assert_null(strstr(text, "scratchd_pool_size_bytes{volume=\"a\"}"));
        assert_null(strstr(text, "_pool_jobs{volume=\"a\"}"));

        size_t n;
        char **lines = split_lines(text, &n);
        for (size_t k = 0; k < ELEMENTSOF(pool_families); k++) {
                char help[128], type[128], name[128];
                snprintf(help, sizeof(help), "# HELP %s ", pool_families[k]);
                snprintf(type, sizeof(type), "# TYPE %s gauge", pool_families[k]);
                assert_int_equal(count_prefix(lines, n, help), 1);
                /* HELP, TYPE, then its one sample, the pool volume's. */
                size_t h = 0;
                while (h < n && !startswith(lines[h], help))
                        h++;
                assert_true(h + 2 < n);
                assert_string_equal(lines[h + 1], type);
                assert_string_equal(sample_name(lines[h + 2], name, sizeof(name)), pool_families[k]);
                assert_true(startswith(lines[h + 2] + strlen(pool_families[k]), "{volume=\"fast-scratch_2\"} "));
                size_t samples = 0;
                for (size_t i = 0; i < n; i++)
                        if (lines[i][0] != '#' && streq(sample_name(lines[i], name, sizeof(name)), pool_families[k]))
                                samples++;
                assert_int_equal(samples, 1);
        }
        /* The rest as without a pool: the families, and one line per pool family more. */
        assert_int_equal(count_prefix(lines, n, "scratchd_pool_"), ELEMENTSOF(pool_families));
        assert_int_equal(count_prefix(lines, n, "# HELP "), ELEMENTSOF(families) + ELEMENTSOF(pool_families));
        assert_int_equal(n, 2 * (ELEMENTSOF(families) + ELEMENTSOF(pool_families)) + sample_lines() +
                                    ELEMENTSOF(pool_families));
        free_lines(lines, n);

        /* Every value the type holds, and zeros. */
        MetricsPool big = {
                .size_bytes = UINT64_MAX, .reserved_bytes = UINT64_MAX - 1, .written_bytes = 0,
                .jobs = UINT_MAX, .jobs_failed = 0, .max_jobs = 1, .spare_ready = 0,
        };
        s.v[1].pool = NULL;
        s.v[0].pool = &big;
        _cleanup_free_ char *t2 = metrics_format(s.v, 2);
        assert_non_null(t2);
        assert_line(t2, "scratchd_pool_size_bytes{volume=\"a\"} 18446744073709551615");
        assert_line(t2, "scratchd_pool_reserved_bytes{volume=\"a\"} 18446744073709551614");
        assert_line(t2, "scratchd_pool_written_bytes{volume=\"a\"} 0");
        assert_line(t2, "scratchd_pool_jobs{volume=\"a\"} 4294967295");
        assert_line(t2, "scratchd_pool_jobs_failed{volume=\"a\"} 0");
        assert_line(t2, "scratchd_pool_max_jobs{volume=\"a\"} 1");
        assert_line(t2, "scratchd_pool_spare_ready{volume=\"a\"} 0");
        assert_null(strstr(t2, "scratchd_pool_size_bytes{volume=\"fast-scratch_2\"}"));
}

/* Two pools: one sample each, in the volumes' order, under one HELP. */
static void test_format_two_pools(void **state) {
        Sample s;
        MetricsPool other = { .size_bytes = 1000, .reserved_bytes = 300, .jobs = 1, .max_jobs = 8 };
        sample_init(&s);
        s.v[0].pool = &other;
        s.v[1].pool = &sample_pool;
        _cleanup_free_ char *text = metrics_format(s.v, 2);
        assert_non_null(text);
        assert_line(text, "# TYPE scratchd_pool_reserved_bytes gauge\n"
                          "scratchd_pool_reserved_bytes{volume=\"a\"} 300\n"
                          "scratchd_pool_reserved_bytes{volume=\"fast-scratch_2\"} 3298534883329");
        assert_line(text, "scratchd_pool_max_jobs{volume=\"a\"} 8");
        size_t n;
        char **lines = split_lines(text, &n);
        assert_int_equal(count_prefix(lines, n, "scratchd_pool_"), 2 * ELEMENTSOF(pool_families));
        assert_int_equal(count_prefix(lines, n, "# HELP scratchd_pool_"), ELEMENTSOF(pool_families));
        free_lines(lines, n);
}

/* Exclusive mode only: no pool family at all, not even its HELP. */
static void test_format_no_pool(void **state) {
        _cleanup_free_ char *text = format_sample();
        assert_null(strstr(text, "scratchd_pool_"));
        _cleanup_free_ char *none = metrics_format(NULL, 0);
        assert_non_null(none);
        assert_null(strstr(none, "scratchd_pool_"));
}

/* ---- promtool ---- */

static bool find_in_path(const char *program, char *buf, size_t size) {
        const char *path = getenv("PATH");
        if (!path)
                return false;
        _cleanup_free_ char *copy = strdup(path);
        assert_non_null(copy);
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                snprintf(buf, size, "%s/%s", *d ? d : ".", program);
                if (access(buf, X_OK) == 0)
                        return true;
        }
        return false;
}

static int promtool_check(const char *promtool, const char *text) {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof(cmd), "'%s' check metrics", promtool);
        FILE *p = popen(cmd, "w");
        assert_non_null(p);
        assert_int_equal(fputs(text, p) >= 0, 1);
        int status = pclose(p);
        assert_true(status != -1);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_promtool(void **state) {
        char promtool[PATH_MAX];
        if (!find_in_path("promtool", promtool, sizeof(promtool))) {
                print_message("promtool is not on PATH; skipping 'promtool check metrics'\n");
                skip();
                return;
        }
        print_message("checking with %s\n", promtool);

        _cleanup_free_ char *text = format_sample();
        assert_int_equal(promtool_check(promtool, text), 0);

        /* One volume per state, and none. */
        for (LifecycleState s = 0; s < _STATE_MAX; s++) {
                Record rec = { .state = s, .generation = s };
                VolumeCounters c = { .wipes = s };
                MetricsVolume v = { .name = "scratch", .rec = &rec, .counters = &c };
                _cleanup_free_ char *t = metrics_format(&v, 1);
                assert_int_equal(promtool_check(promtool, t), 0);
        }
        _cleanup_free_ char *none = metrics_format(NULL, 0);
        assert_int_equal(promtool_check(promtool, none), 0);

        /* With a pool. */
        Sample s;
        sample_init(&s);
        s.v[1].pool = &sample_pool;
        _cleanup_free_ char *pool = metrics_format(s.v, 2);
        assert_int_equal(promtool_check(promtool, pool), 0);

        /* promtool does find problems: a broken line is refused. */
        assert_int_not_equal(promtool_check(promtool, "# TYPE x counter\nx{volume=\"a\" 1\n"), 0);
}

/* ---- metrics_write_textfile() ---- */

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);
        assert_non_null(m);
        char chunk[4096];
        size_t k;
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
                assert_int_equal(fwrite(chunk, 1, k, m), k);
        fclose(f);
        assert_int_equal(fclose(m), 0);
        return buf;
}

static void test_write_textfile(void **state) {
        TempDir *t = *state;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/scratchd.prom", t->path);

        _cleanup_free_ char *text = format_sample();
        assert_int_equal(metrics_write_textfile(t->path, text), 0);
        _cleanup_free_ char *got = read_file(path);
        assert_string_equal(got, text);
        _cleanup_free_ char *names = list_dir(t->path);
        assert_string_equal(names, "scratchd.prom");   /* no temporary file left */

        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        /* 0644 (as the umask lets it): node_exporter, another user, reads it. */
        mode_t mask = umask(0);
        umask(mask);
        assert_int_equal(st.st_mode & 07777, 0644 & ~mask);

        /* A second write replaces the first, whole. */
        assert_int_equal(metrics_write_textfile(t->path, "# short\n"), 0);
        _cleanup_free_ char *got2 = read_file(path);
        assert_string_equal(got2, "# short\n");
        _cleanup_free_ char *names2 = list_dir(t->path);
        assert_string_equal(names2, "scratchd.prom");

        /* An empty text makes an empty file. */
        assert_int_equal(metrics_write_textfile(t->path, ""), 0);
        _cleanup_free_ char *got3 = read_file(path);
        assert_string_equal(got3, "");
}

static void test_write_textfile_stale_temporary(void **state) {
        /* A temporary file left by a crash is overwritten, and gone after. */
        TempDir *t = *state;
        char tmp[PATH_MAX], path[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s/.scratchd.prom.tmp", t->path);
        snprintf(path, sizeof(path), "%s/scratchd.prom", t->path);
        FILE *f = fopen(tmp, "we");
        assert_non_null(f);
        fputs("stale stale stale stale stale stale stale\n", f);
        assert_int_equal(fclose(f), 0);

        assert_int_equal(metrics_write_textfile(t->path, "# new\n"), 0);
        _cleanup_free_ char *got = read_file(path);
        assert_string_equal(got, "# new\n");
        _cleanup_free_ char *names = list_dir(t->path);
        assert_string_equal(names, "scratchd.prom");
}

static void test_write_textfile_symlink_not_followed(void **state) {
        /* A symlink where the temporary file goes is not written through. */
        TempDir *t = *state;
        char tmp[PATH_MAX], victim[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s/.scratchd.prom.tmp", t->path);
        snprintf(victim, sizeof(victim), "%s/victim", t->path);
        FILE *f = fopen(victim, "we");
        assert_non_null(f);
        fputs("precious\n", f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(symlink(victim, tmp), 0);

        int r = metrics_write_textfile(t->path, "# evil\n");
        assert_true(r < 0);
        assert_int_equal(r, -ELOOP);
        _cleanup_free_ char *got = read_file(victim);
        assert_string_equal(got, "precious\n");
}

static void test_write_textfile_failures(void **state) {
        TempDir *t = *state;
        char dir[PATH_MAX];

        /* A directory that does not exist. */
        snprintf(dir, sizeof(dir), "%s/does-not-exist", t->path);
        int r = metrics_write_textfile(dir, "# x\n");
        assert_true(r < 0);
        assert_int_equal(r, -ENOENT);
        r = metrics_write_textfile("/nonexistent-scratchd-test-dir/sub", "# x\n");
        assert_int_equal(r, -ENOENT);

        /* Not a directory. */
        char file[PATH_MAX];
        snprintf(file, sizeof(file), "%s/plain", t->path);
        FILE *f = fopen(file, "we");
        assert_non_null(f);
        assert_int_equal(fclose(f), 0);
        r = metrics_write_textfile(file, "# x\n");
        assert_int_equal(r, -ENOTDIR);

        /* The rename fails (scratchd.prom is a non-empty directory): an
         * error, and no temporary file left behind. */
        char sub[PATH_MAX], inner[PATH_MAX + 16];
        snprintf(sub, sizeof(sub), "%s/d", t->path);
        assert_int_equal(mkdir(sub, 0755), 0);
        snprintf(dir, sizeof(dir), "%s/scratchd.prom", sub);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(inner, sizeof(inner), "%s/keep", dir);
        f = fopen(inner, "we");
        assert_non_null(f);
        assert_int_equal(fclose(f), 0);
        r = metrics_write_textfile(sub, "# x\n");
        assert_true(r < 0);
        _cleanup_free_ char *names = list_dir(sub);
        assert_string_equal(names, "scratchd.prom");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_state_lines),
                cmocka_unit_test(test_format_every_state),
                cmocka_unit_test(test_format_values),
                cmocka_unit_test(test_format_durations),
                cmocka_unit_test(test_format_help_and_type),
                cmocka_unit_test(test_format_histogram),
                cmocka_unit_test(test_format_line_syntax),
                cmocka_unit_test(test_format_no_volumes),
                cmocka_unit_test(test_format_pool),
                cmocka_unit_test(test_format_two_pools),
                cmocka_unit_test(test_format_no_pool),
                cmocka_unit_test(test_promtool),
                cmocka_unit_test_setup_teardown(test_write_textfile, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_write_textfile_stale_temporary, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_write_textfile_symlink_not_followed, setup_tempdir,
                                                teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_write_textfile_failures, setup_tempdir, teardown_tempdir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
