/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}

static inline bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static inline bool endswith(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);
        return n >= k && strcmp(s + n - k, suffix) == 0;
}

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Hand ownership of a pointer out of a _cleanup_ variable. */
#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) _p_ = (p);         \
                (p) = NULL;                      \
                _p_;                             \
        })

#define TAKE_FD(fd)                              \
        ({                                       \
                int _fd_ = (fd);                 \
                (fd) = -EBADF;                   \
                _fd_;                            \
        })

/* Enum <-> string through one table (systemd's string-table.h): the table is
 * the only place that spells a value's name.
 *   DEFINE_STRING_TABLE_LOOKUP(file_system, FileSystem, _FILE_SYSTEM_MAX)
 * defines file_system_to_string() (NULL for a value out of range) and
 * file_system_from_string() (-EINVAL, the enum's _INVALID, for an unknown
 * or NULL string) over `static const char *const file_system_table[]`. */
ssize_t string_table_lookup(const char *const *table, size_t len, const char *key);

#define DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, max)             \
        const char *name##_to_string(type i) {                          \
                return (int) i >= 0 && (int) i < (int) (max) ? name##_table[i] : NULL; \
        }
#define DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type, max)           \
        type name##_from_string(const char *s) {                        \
                return (type) string_table_lookup(name##_table, (max), s); \
        }
#define DEFINE_STRING_TABLE_LOOKUP(name, type, max)                      \
        DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, max)             \
        DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type, max)

/* NULL-terminated string vectors. */
void strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
int strv_push(char ***l, char *value);          /* takes ownership of value */
int strv_extend(char ***l, const char *value);  /* copies value */
bool strv_contains(char *const *l, const char *value);
char *strv_join(char *const *l, const char *sep);

uint64_t now_usec(void);
/* "1.234 s" or "12.3 ms", into buf. */
const char *format_duration(char *buf, size_t size, uint64_t usec);
/* "4.0 TiB" into buf. */
const char *format_bytes(char *buf, size_t size, uint64_t bytes);

/* Read a whole small file (sysfs attribute, /proc entry), trailing newline stripped. */
int read_one_line(const char *path, char **ret);
int read_u64_file(const char *path, uint64_t *ret);
/* Read a whole text file (a /proc table), NUL-terminated. */
int read_full_file(const char *path, char **ret);

/* write(2) until all of buf is written. */
int write_all(int fd, const void *buf, size_t n);

/* Replaces DIR/NAME with `data` atomically: a temporary DIR/.NAME.tmp, then
 * rename(). `durable`: fsync the file before and the directory after. */
int write_file_atomic(const char *dir, const char *name, const void *data, size_t n, mode_t mode, bool durable);

int parse_boolean(const char *v);   /* 1, 0 or -EINVAL */
int parse_dev(const char *s, dev_t *ret);  /* "253:0" */

/* Sets *ret_error to a formatted one-line message (NULL if out of memory) and
 * returns `error`, a negative errno: `return errorf(ret_error, -EINVAL, ...)`. */
int errorf(char **ret_error, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
