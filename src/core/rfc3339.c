/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rfc3339.c: RFC 3339 date-times (rfc3339.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "scratchd/rfc3339.h"
#include "scratchd/util.h"

/* Exactly `n` digits at *p, as a number; *p moved past them. */
static bool digits(const char **p, size_t n, unsigned *ret) {
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if ((*p)[i] < '0' || (*p)[i] > '9')
                        return false;
                v = v * 10 + (unsigned) ((*p)[i] - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool expect(const char **p, const char *any) {
        if (**p == 0 || !strchr(any, **p))
                return false;
        (*p)++;
        return true;
}

static unsigned days_in_month(unsigned year, unsigned month) {
        static const unsigned days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        return month == 2 && leap ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian), without
 * timegm()'s normalization, which would take February 30 as March 2. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

int rfc3339_parse(const char *s, uint64_t *ret_usec) {
        unsigned year, month, day, hour, minute, second, oh = 0, om = 0;
        const char *p = s;

        if (!digits(&p, 4, &year) || !expect(&p, "-") || !digits(&p, 2, &month) || !expect(&p, "-") ||
            !digits(&p, 2, &day) || !expect(&p, "Tt") || !digits(&p, 2, &hour) || !expect(&p, ":") ||
            !digits(&p, 2, &minute) || !expect(&p, ":") || !digits(&p, 2, &second))
                return -EINVAL;
        /* 60: a leap second, as RFC 3339 allows; counted as the next minute's first. */
        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
            second > 60)
                return -EINVAL;

        uint64_t frac = 0;
        if (*p == '.') {
                p++;
                size_t n = 0;
                for (; *p >= '0' && *p <= '9'; p++, n++)
                        if (n < 6)
                                frac = frac * 10 + (uint64_t) (*p - '0');
                if (n == 0 || n > 9)
                        return -EINVAL;
                for (; n < 6; n++)
                        frac *= 10;
        }

        int sign = 0;
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                sign = *p == '+' ? 1 : -1;
                p++;
                if (!digits(&p, 2, &oh) || !expect(&p, ":") || !digits(&p, 2, &om) || oh > 23 || om > 59)
                        return -EINVAL;
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;

        /* A local time at +01:00 is an hour ahead of UTC: subtract. */
        int64_t t = days_from_civil(year, month, day) * 86400 + (int64_t) hour * 3600 + (int64_t) minute * 60 +
                    second - sign * ((int64_t) oh * 3600 + (int64_t) om * 60);
        if (t < 0)
                return -ERANGE;
        *ret_usec = (uint64_t) t * USEC_PER_SEC + frac;
        return 0;
}

static char *format(char *buf, size_t size, uint64_t usec, bool fraction) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        struct tm *g = gmtime_r(&t, &tm);
        size_t n = g ? strftime(buf, size, "%Y-%m-%dT%H:%M:%S", g) : 0;
        if (n == 0) {   /* past year 9999, or no such time: not a date-time */
                snprintf(buf, size, "0000-00-00T00:00:00Z");
                return buf;
        }
        if (fraction)
                snprintf(buf + n, size - n, ".%06" PRIu64 "Z", usec % USEC_PER_SEC);
        else
                snprintf(buf + n, size - n, "Z");
        return buf;
}

char *rfc3339_format(char *buf, size_t size, uint64_t usec) {
        return format(buf, size, usec, usec % USEC_PER_SEC != 0);
}

char *rfc3339_format_usec(char *buf, size_t size, uint64_t usec) {
        return format(buf, size, usec, true);
}
