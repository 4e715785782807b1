/* SPDX-License-Identifier: GPL-2.0-or-later */
/* erasure-store.c: erase records' files: one per erase, never replaced,
 * named so that `ls` lists them by time; and their retention. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "scratchd/erasure.h"
#include "scratchd/rfc3339.h"
#include "scratchd/util.h"

#define TIME_FORMAT "%Y%m%dT%H%M%SZ"
#define TIME_LEN 16   /* 20261203T120102Z */
#define NAME_TRIES 1000

static inline void json_putp(json_object **p) {
        json_object_put(*p);
}

/* Volume names are [A-Za-z0-9_-], job volumes' "<pool>.<thin id>" (jobvol.h);
 * anything else would make a path of a name. */
static bool volume_name_ok(const char *v) {
        size_t n = strlen(v);
        return n > 0 && n <= 128 && v[0] != '.' &&
               strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int write_temp(int dfd, const char *tmp, const char *text) {
        (void) unlinkat(dfd, tmp, 0);   /* a stale one, from a crash mid-way */
        _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        int r = fchmod(fd, 0600) < 0 ? -errno : write_all(fd, text, strlen(text));
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        return r;
}

/* Links the temporary file at the first free name: STEM.json, STEM.1.json, ... */
static int link_free_name(int dfd, const char *tmp, const char *stem, char **ret_name) {
        for (unsigned i = 0; i < NAME_TRIES; i++) {
                char name[256];
                if (i == 0)
                        snprintf(name, sizeof(name), "%s.json", stem);
                else
                        snprintf(name, sizeof(name), "%s.%u.json", stem, i);
                if (linkat(dfd, tmp, dfd, name, 0) < 0) {
                        if (errno == EEXIST)
                                continue;
                        return -errno;
                }
                *ret_name = strdup(name);
                return *ret_name ? 0 : -ENOMEM;
        }
        return -EEXIST;
}

/* A record's file: pretty, for the auditor who reads it (the signature is
 * over the canonical form, whatever the layout), with a final newline. */
static char *file_text(json_object *o) {
        const char *json = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                     JSON_C_TO_STRING_NOSLASHESCAPE);
        char *text = NULL;
        if (!json || asprintf(&text, "%s\n", json) < 0)
                return NULL;
        return text;
}

int erasure_write(const char *dir, const ErasureRecord *r, EVP_PKEY *key, char **ret_name) {
        _cleanup_(json_putp) json_object *o = NULL;
        if (!r->volume || !volume_name_ok(r->volume))
                return -EINVAL;
        int e = erasure_build(r, &o);
        if (e < 0)
                return e;
        /* Without a key (the initramfs): signed by the daemon at its start. */
        e = key ? erasure_sign(o, key) : 0;
        if (e < 0)
                return e;
        _cleanup_free_ char *text = file_text(o);
        if (!text)
                return -ENOMEM;

        char stem[200], when[32], tmp[256];
        time_t t = (time_t) (r->end_usec / USEC_PER_SEC);
        struct tm tm;
        strftime(when, sizeof(when), TIME_FORMAT, gmtime_r(&t, &tm));
        snprintf(stem, sizeof(stem), "%s-%s-%" PRIu64, when, r->volume, r->key_generation);
        snprintf(tmp, sizeof(tmp), ".%s.tmp", stem);

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        _cleanup_free_ char *name = NULL;
        e = write_temp(dfd, tmp, text);
        if (e >= 0)
                e = link_free_name(dfd, tmp, stem, &name);
        (void) unlinkat(dfd, tmp, 0);
        if (e < 0)
                return e;
        if (fsync(dfd) < 0)
                return -errno;
        if (ret_name)
                *ret_name = TAKE_PTR(name);
        return 0;
}

static int is_record(const struct dirent *d);

/* Writes `text` as DIR/NAME: a temporary file, fsync'd, linked (never
 * replacing one), the directory fsync'd. */
static int write_named(const char *dir, const char *name, const char *text) {
        char tmp[300];
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
        int e = write_temp(dfd, tmp, text);
        if (e >= 0 && linkat(dfd, tmp, dfd, name, 0) < 0)
                e = -errno;
        (void) unlinkat(dfd, tmp, 0);
        if (e >= 0 && fsync(dfd) < 0)
                e = -errno;
        return e;
}

#define PENDING_MAX ((off_t) 64 * 1024)

static int read_pending(int pfd, const char *name, char **ret) {
        /* Not a link, not a FIFO (O_NONBLOCK: never waits), a file of ours
         * with one name, small. */
        _cleanup_close_ int fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ELOOP ? -EBADMSG : -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1 || st.st_size > PENDING_MAX)
                return -EBADMSG;
        char *text = malloc((size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        ssize_t n = read(fd, text, (size_t) st.st_size + 1);
        if (n < 0 || n != st.st_size || memchr(text, 0, (size_t) n)) {
                free(text);
                return n < 0 ? -errno : -EBADMSG;
        }
        text[n] = 0;
        *ret = text;
        return 0;
}

static const char *get_string(json_object *o, const char *name) {
        json_object *v;
        return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v) : NULL;
}

static int sign_one(int pfd, const char *name, const char *dir, EVP_PKEY *key, const ErasureNode *now) {
        _cleanup_free_ char *text = NULL;
        int e = read_pending(pfd, name, &text);
        if (e < 0)
                return e;
        _cleanup_(json_putp) json_object *o = NULL;
        const char *why;
        if (erasure_parse_strict(text, &o, &why) < 0)
                return -EBADMSG;
        /* Ours, unsigned, of this boot: the format, no signature (one with
         * a signature is not the initramfs's), not marked already, and the
         * boot id the kernel has now. */
        json_object *later = NULL;
        if (!streq_ptr(get_string(o, "format"), ERASURE_FORMAT) || json_object_object_get_ex(o, "signature", NULL) ||
            !json_object_object_get_ex(o, "signed_later", &later) || later ||
            !now->boot_id[0] || !streq_ptr(get_string(o, "boot_id"), now->boot_id))
                return -EBADMSG;

        char when[RFC3339_MAX];
        rfc3339_format_usec(when, sizeof(when), erasure_now_usec());
        json_object *mark = json_object_new_object();
        if (!mark || json_object_object_add(o, "signed_later", mark) < 0) {
                json_object_put(mark);
                return -ENOMEM;
        }
        json_object_object_add(mark, "at", json_object_new_string(when));
        json_object_object_add(mark, "by", json_object_new_string(
                "scratchd at its start: the erase was done by the initramfs, which has no node key"));
        const char *h = get_string(o, "host");
        if (now->host[0] && (!h || !*h || streq(h, "(none)") || streq(h, "localhost")))
                json_object_object_add(o, "host", json_object_new_string(now->host));
        /* This boot's record (its boot id), so this machine's: whatever the
         * initramfs had (none, or the id of the host that built it) is not. */
        if (now->machine_id[0])
                json_object_object_add(o, "machine_id", json_object_new_string(now->machine_id));

        e = erasure_sign(o, key);
        if (e < 0)
                return e;
        _cleanup_free_ char *signed_text = file_text(o);
        if (!signed_text)
                return -ENOMEM;
        e = write_named(dir, name, signed_text);
        if (e < 0 && e != -EEXIST)
                return e;
        return unlinkat(pfd, name, 0) < 0 ? -errno : 0;
}

int erasure_sign_pending(const char *pending_dir, const char *dir, EVP_PKEY *key, const ErasureNode *now) {
        _cleanup_close_ int pfd = open(pending_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return errno == ENOENT ? 0 : -errno;
        /* Whoever can write there would have the node sign what they like. */
        struct stat st;
        if (fstat(pfd, &st) < 0)
                return -errno;
        if (st.st_uid != geteuid() || (st.st_mode & 022))
                return -EPERM;
        struct dirent **list = NULL;
        int n = scandirat(pfd, ".", &list, is_record, alphasort);
        if (n < 0)
                return -errno;
        int moved = 0, r = 0;
        for (int i = 0; i < n; i++) {
                int e = sign_one(pfd, list[i]->d_name, dir, key, now);
                if (e < 0 && r == 0)
                        r = e;
                else if (e >= 0)
                        moved++;
                free(list[i]);
        }
        free(list);
        return r < 0 ? r : moved;
}

/* When the record's erase ended, from its name; -1 if not a record's name. */
static time_t record_time(const char *name) {
        size_t n = strlen(name);
        if (n < TIME_LEN + 2 + 5 || name[TIME_LEN] != '-' || !streq(name + n - 5, ".json"))
                return -1;
        struct tm tm = {};
        const char *end = strptime(name, TIME_FORMAT, &tm);
        if (end != name + TIME_LEN)
                return -1;
        return timegm(&tm);
}

static int is_record(const struct dirent *d) {
        return record_time(d->d_name) >= 0;
}

int erasure_prune(const char *dir, unsigned max_days, unsigned max_count, time_t now) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : -errno;
        struct dirent **list = NULL;
        /* The names sort as the times do: oldest first. */
        int n = scandirat(dfd, ".", &list, is_record, alphasort);
        if (n < 0)
                return -errno;

        int removed = 0, r = 0;
        size_t left = (size_t) n;
        time_t cutoff = now - (time_t) max_days * 24 * 3600;
        for (int i = 0; i < n; i++) {
                bool old = max_days > 0 && record_time(list[i]->d_name) < cutoff;
                bool surplus = max_count > 0 && left > max_count;
                if (old || surplus) {
                        if (unlinkat(dfd, list[i]->d_name, 0) < 0 && errno != ENOENT) {
                                if (r == 0)
                                        r = -errno;
                        } else {
                                removed++;
                                left--;
                        }
                }
                free(list[i]);
        }
        free(list);
        return r < 0 ? r : removed;
}
