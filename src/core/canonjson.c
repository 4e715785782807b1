/* SPDX-License-Identifier: GPL-2.0-or-later */
/* canonjson.c: the canonical serialization that signatures are over; the
 * rules are in canonjson.h. json-c's own writer is not used for it: its
 * member order is insertion order, and its escaping is its own. */
#include <inttypes.h>
#include <stdio.h>

#include "scratchd/canonjson.h"
#include "scratchd/util.h"

#define CANONJSON_MAX_DEPTH 64

bool utf8_is_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *end = p + n;
        while (p < end) {
                unsigned c = *p;
                size_t len;
                uint32_t cp, min;
                if (c < 0x80) {
                        p++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0)
                        len = 2, cp = c & 0x1f, min = 0x80;
                else if ((c & 0xf0) == 0xe0)
                        len = 3, cp = c & 0x0f, min = 0x800;
                else if ((c & 0xf8) == 0xf0)
                        len = 4, cp = c & 0x07, min = 0x10000;
                else
                        return false;
                if ((size_t) (end - p) < len)
                        return false;
                for (size_t i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += len;
        }
        return true;
}

static int write_string(FILE *f, const char *s, size_t n) {
        if (!utf8_is_valid(s, n))
                return -EINVAL;
        fputc('"', f);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                switch (c) {
                case '"':  fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\b': fputs("\\b", f); break;
                case '\t': fputs("\\t", f); break;
                case '\n': fputs("\\n", f); break;
                case '\f': fputs("\\f", f); break;
                case '\r': fputs("\\r", f); break;
                default:
                        if (c < 0x20)
                                fprintf(f, "\\u%04x", c);
                        else
                                fputc(c, f);
                }
        }
        fputc('"', f);
        return 0;
}

static int compare_names(const void *a, const void *b) {
        /* strcmp compares as unsigned char: UTF-8 byte order, code point order. */
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int write_value(FILE *f, json_object *v, unsigned depth);

static int write_object(FILE *f, json_object *v, unsigned depth) {
        size_t n = (size_t) json_object_object_length(v), i = 0;
        _cleanup_free_ const char **names = calloc(n ? n : 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        json_object_object_foreach(v, name, member) {
                (void) member;
                names[i++] = name;
        }
        qsort(names, n, sizeof(char *), compare_names);
        fputc('{', f);
        for (i = 0; i < n; i++) {
                if (i > 0)
                        fputc(',', f);
                int r = write_string(f, names[i], strlen(names[i]));
                if (r < 0)
                        return r;
                fputc(':', f);
                r = write_value(f, json_object_object_get(v, names[i]), depth + 1);
                if (r < 0)
                        return r;
        }
        fputc('}', f);
        return 0;
}

static int write_value(FILE *f, json_object *v, unsigned depth) {
        if (depth > CANONJSON_MAX_DEPTH)
                return -EINVAL;
        switch (json_object_get_type(v)) {
        case json_type_null:
                fputs("null", f);
                return 0;
        case json_type_boolean:
                fputs(json_object_get_boolean(v) ? "true" : "false", f);
                return 0;
        case json_type_int: {
                /* json-c keeps an int64 or a uint64: a negative value is the
                 * former; a value above INT64_MAX only the latter can give. */
                int64_t i = json_object_get_int64(v);
                if (i < 0)
                        fprintf(f, "%" PRId64, i);
                else
                        fprintf(f, "%" PRIu64, json_object_get_uint64(v));
                return 0;
        }
        case json_type_double:
                return -EINVAL;   /* no floats: their text is not canonical */
        case json_type_string:
                return write_string(f, json_object_get_string(v), (size_t) json_object_get_string_len(v));
        case json_type_array:
                fputc('[', f);
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        if (i > 0)
                                fputc(',', f);
                        int r = write_value(f, json_object_array_get_idx(v, i), depth + 1);
                        if (r < 0)
                                return r;
                }
                fputc(']', f);
                return 0;
        case json_type_object:
                return write_object(f, v, depth);
        }
        return -EINVAL;
}

int canonjson_serialize(json_object *v, char **ret, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        int r = write_value(f, v, 0);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}
