/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* The canonical serialization of a JSON value: the bytes an erase record's
 * signature is over (erasure.h). Two values that are equal as JSON (same
 * members, whatever order they were added or parsed in) give the same bytes,
 * on every run and every build. The rules:
 *
 *   - no whitespace anywhere outside strings;
 *   - an object's members sorted by their names' bytes (UTF-8, which is code
 *     point order), at every level; arrays keep their order;
 *   - strings must be valid UTF-8 and are written as they are, except that
 *     `"` and `\` are escaped as \" and \\, the controls U+0008, U+0009,
 *     U+000A, U+000C, U+000D as \b \t \n \f \r, and the other controls below
 *     U+0020 as \u00xx (lowercase hex); nothing else is escaped (not `/`,
 *     not U+007F, not non-ASCII);
 *   - numbers are integers only, in decimal, no sign unless negative, no
 *     leading zeros, no exponent: a float (json-c's double) is refused;
 *   - true, false, null as such.
 *
 * This is exactly what Python writes with
 *   json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
 * and, for objects whose member names are ASCII (as every record's are) and
 * integers below 2^53 (JCS reads numbers as doubles), RFC 8785 (JCS) too; an
 * independent verifier can use either within those bounds.
 *
 * Returns 0 and a malloc'd, NUL-terminated string in *ret (its length in
 * *ret_len if not NULL; a string may hold U+0000, written \u0000, so the
 * result itself never holds a NUL); -EINVAL for a float, a string or member
 * name that is not valid UTF-8, or nesting deeper than 64; -ENOMEM. */
int canonjson_serialize(json_object *v, char **ret, size_t *ret_len);

/* Whether the n bytes at s are valid UTF-8 (no overlongs, no surrogates,
 * nothing past U+10FFFF). */
bool utf8_is_valid(const char *s, size_t n);
