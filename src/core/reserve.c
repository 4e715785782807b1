/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdarg.h>

#include "scratchd/reserve.h"
#include "scratchd/util.h"

/* The suffixes, each 1024 times the one before. */
static const char size_suffixes[] = "KMGTP";

static int size_fail(char *why, size_t why_size, int error, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int size_fail(char *why, size_t why_size, int error, const char *fmt, ...) {
        if (why && why_size > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(why, why_size, fmt, ap);
                va_end(ap);
        }
        return error;
}

/* What a size may look like, for the end of a refusal. */
static const char *size_hint(bool allow_percent) {
        return allow_percent ? "write bytes, a whole number with K, M, G, T or P (such as 100G), "
                               "or a share of the pool from 1% to 100%"
                             : "write bytes, or a whole number with K, M, G, T or P (such as 100G)";
}

/* "1.5T" in whole units of the next suffix down ("1536G"), where it comes out
 * whole; else "". */
static const char *whole_in_smaller_unit(uint64_t whole, const char *frac, size_t n_frac, size_t unit, char *buf,
                                         size_t size) {
        uint64_t f = 0, scale = 1;

        buf[0] = 0;
        if (unit == 0 || n_frac > 6)
                return buf;
        for (size_t i = 0; i < n_frac; i++) {
                f = f * 10 + (uint64_t) (frac[i] - '0');
                scale *= 10;
        }
        if (whole > (UINT64_MAX >> 10) - 1 || (f * 1024) % scale != 0)
                return buf;
        if (unit == 1)
                snprintf(buf, size, "%" PRIu64, whole * 1024 + f * 1024 / scale);
        else
                snprintf(buf, size, "%" PRIu64 "%c", whole * 1024 + f * 1024 / scale, size_suffixes[unit - 2]);
        return buf;
}

int job_size_parse(const char *s, bool allow_percent, JobSize *ret, char *why, size_t why_size) {
        const char *p = s ?: "";
        uint64_t v = 0;
        bool negative = false, overflow = false;

        if (*p == '-' && p[1] >= '0' && p[1] <= '9') {
                negative = true;
                p++;
        }
        const char *digits = p;
        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        overflow = true;
                else
                        v = v * 10 + d;
        }
        if (p == digits)
                return size_fail(why, why_size, -EINVAL, "'%s' is not a size; %s", s ?: "", size_hint(allow_percent));

        const char *frac = NULL;
        size_t n_frac = 0;
        if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
                frac = ++p;
                while (*p >= '0' && *p <= '9')
                        p++;
                n_frac = (size_t) (p - frac);
        }

        bool percent = false;
        size_t unit = 0;   /* 0: bytes; 1: K ... 5: P */
        if (*p == '%') {
                percent = true;
                p++;
        } else if (*p) {
                const char *u = strchr(size_suffixes, *p);
                if (u) {
                        unit = (size_t) (u - size_suffixes) + 1;
                        p++;
                }
        }
        if (*p)
                return size_fail(why, why_size, -EINVAL, "'%s' is not a size; %s", s, size_hint(allow_percent));

        if (percent && !allow_percent)
                return size_fail(why, why_size, -EINVAL, "'%s': a share of the pool is not taken here; %s", s,
                                 size_hint(false));
        if (negative)
                return size_fail(why, why_size, -ERANGE, "'%s' is negative; %s", s, size_hint(allow_percent));
        if (frac) {
                char smaller[32];
                whole_in_smaller_unit(v, frac, n_frac, percent ? 0 : unit, smaller, sizeof(smaller));
                if (smaller[0])
                        return size_fail(why, why_size, -EINVAL, "'%s' is not a whole number; write %s", s, smaller);
                return size_fail(why, why_size, -EINVAL, "'%s' is not a whole number; %s", s,
                                 size_hint(allow_percent));
        }
        if (percent) {
                if (overflow || v < 1 || v > 100)
                        return size_fail(why, why_size, -ERANGE, "'%s' is not a share from 1%% to 100%%", s);
                *ret = (JobSize) { .percent = (unsigned) v };
                return 0;
        }
        if (overflow || v > (UINT64_MAX >> (10 * unit)))
                return size_fail(why, why_size, -ERANGE, "'%s' is too large (16 EiB or more)", s);
        if (v == 0)
                return size_fail(why, why_size, -ERANGE, "'%s' is zero; %s", s, size_hint(allow_percent));
        *ret = (JobSize) { .bytes = v << (10 * unit) };
        return 0;
}

const char *job_size_format(const JobSize *js, char *buf, size_t size) {
        static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB" };

        if (js->percent > 0) {
                snprintf(buf, size, "%u%%", js->percent);
                return buf;
        }
        if (js->bytes == 0) {
                snprintf(buf, size, "not set");
                return buf;
        }
        /* Exact: the largest unit that divides it, as it was written. */
        size_t u = 0;
        uint64_t v = js->bytes;
        while (u + 1 < ELEMENTSOF(units) && v % 1024 == 0) {
                v /= 1024;
                u++;
        }
        snprintf(buf, size, "%" PRIu64 " %s", v, units[u]);
        return buf;
}

uint64_t job_size_resolve(const JobSize *js, uint64_t pool_bytes, unsigned max_jobs, uint64_t granule) {
        uint64_t v;

        if (js && js->percent > 0)
                /* pool * percent / 100, without the product overflowing */
                v = pool_bytes / 100 * js->percent + pool_bytes % 100 * js->percent / 100;
        else if (js && js->bytes > 0)
                v = js->bytes;
        else
                v = pool_bytes / (max_jobs > 0 ? max_jobs : MAX_JOBS_DEFAULT);
        if (granule > 0)
                v -= v % granule;
        return v;
}

uint64_t reserve_free(const Reservations *r) {
        return r->pool_bytes > r->reserved_bytes ? r->pool_bytes - r->reserved_bytes : 0;
}

/* A size as `scratchctl prepare --size` takes it, rounded down, in the
 * largest unit that still leaves ten or more of them: "40G", "500M". */
static const char *format_size_arg(uint64_t bytes, char *buf, size_t size) {
        size_t unit = strlen(size_suffixes);
        while (unit > 0 && bytes >> (10 * unit) < 10)
                unit--;
        if (unit == 0)
                snprintf(buf, size, "%" PRIu64, bytes);
        else
                snprintf(buf, size, "%" PRIu64 "%c", bytes >> (10 * unit), size_suffixes[unit - 1]);
        return buf;
}

/* Two sizes for one message, in bytes where rounding would make them read
 * the same (as fs.c does). */
static void format_two(uint64_t x, uint64_t y, char *a, char *b, size_t size) {
        if (streq(format_bytes(a, size, x), format_bytes(b, size, y))) {
                snprintf(a, size, "%" PRIu64 " bytes", x);
                snprintf(b, size, "%" PRIu64 " bytes", y);
        }
}

int reserve_check(const Reservations *r, uint64_t want, char *why, size_t why_size) {
        char a[32], b[32], c[32];
        uint64_t free_bytes = reserve_free(r);

        if (want < JOB_SIZE_MIN) {
                format_two(want, JOB_SIZE_MIN, a, b, sizeof(a));
                return size_fail(why, why_size, -EINVAL, "%s is below the smallest job volume, %s; ask for %s or more",
                                 a, b, format_size_arg(JOB_SIZE_MIN, c, sizeof(c)));
        }
        if (want > r->pool_bytes) {
                format_two(want, r->pool_bytes, a, b, sizeof(a));
                return size_fail(why, why_size, -EINVAL, "%s is more than the whole pool, %s; ask for %s or less", a,
                                 b, format_size_arg(r->pool_bytes, c, sizeof(c)));
        }
        if (r->n_jobs >= r->max_jobs)
                return size_fail(why, why_size, -EUSERS,
                                 "%u job volume%s live, MaxJobs=%u; wait for a job to end, or raise MaxJobs= in "
                                 "scratchd.conf", r->n_jobs, r->n_jobs == 1 ? " is" : "s are", r->max_jobs);
        if (want > free_bytes) {
                bool some = free_bytes >= JOB_SIZE_MIN;
                return size_fail(why, why_size, -ENOSPC, "%s free of %s (%u job volume%s live); %s%s%swait for a job "
                                 "to end", format_bytes(a, sizeof(a), free_bytes),
                                 format_bytes(b, sizeof(b), r->pool_bytes), r->n_jobs, r->n_jobs == 1 ? "" : "s",
                                 some ? "ask for " : "", some ? format_size_arg(free_bytes, c, sizeof(c)) : "",
                                 some ? " or less, or " : "");
        }
        return 0;
}
