/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* main.c's one call to scratchd: 0 and the reply's parameters in
 * *ret_params, or the exit status with the reason said on stderr. Takes
 * `params`. */
int scratchctl_call(const char *method, json_object *params, int default_timeout, json_object **ret_params);

/* --since TIME: RFC 3339 (2026-12-03T12:00:00Z, +01:00 and fractions too), a
 * date or a date and time without a zone (2026-12-03, 2026-12-03T12:00 or
 * "2026-12-03 12:00:00", UTC, as the records are), or an age before `now`
 * (90s, 30m, 24h, 7d). 0 and microseconds since the epoch, or -EINVAL. */
int records_parse_since(const char *s, uint64_t now, uint64_t *ret_usec);

/* scratchctl records [--job ID] [--since TIME] [--json]: every matching
 * record, asked for page by page (GetRecords), oldest first, as a table or
 * as a JSON array of the records as stored. 1 when a file could not be read
 * as a record (the rest still shown). */
int cmd_records(const char *job, const char *since, bool json);

/* scratchctl pubkey [--raw]: the node key's public half, PEM or base64 of
 * the raw key; what verify --pubkey takes. */
int cmd_pubkey(bool raw);
