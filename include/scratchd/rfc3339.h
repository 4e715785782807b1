/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* RFC 3339 date-times, as erase records write them ("end") and
 * io.scratchd.GetRecords takes them ("since"): one form on both sides, so
 * that a record's own time can be given back as it is.
 *
 * Parsing takes YYYY-MM-DDTHH:MM:SS, an optional fraction of 1 to 9 digits
 * (past microseconds it is cut off), and a zone: Z or +HH:MM / -HH:MM. 't'
 * and 'z' are taken for 'T' and 'Z' (RFC 3339, 5.6). Nothing else: no zone
 * is not UTC by default (a local time would differ from node to node), and
 * no blank, no trailing text. Returns 0 and microseconds since the epoch in
 * *ret_usec; -EINVAL when it is not that form or a field is out of range
 * (month 13, February 30); -ERANGE before 1970. */
int rfc3339_parse(const char *s, uint64_t *ret_usec);

/* "2026-12-03T12:01:02Z", or "2026-12-03T12:01:02.123456Z" when `usec` is
 * not a whole second: what rfc3339_parse() gives back unchanged. */
#define RFC3339_MAX sizeof("2026-12-03T12:01:02.123456Z")
char *rfc3339_format(char *buf, size_t size, uint64_t usec);
/* Always with microseconds, "2026-12-03T12:01:02.000000Z": the form of
 * erase records' times and of the audit log's, one width whatever the time. */
char *rfc3339_format_usec(char *buf, size_t size, uint64_t usec);
