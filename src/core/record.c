/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "scratchd/record.h"
#include "scratchd/util.h"

#define STATE_MAGIC "scratchd-state-v1"

/* One line per field: a reason quoting some program's output must not
 * become two. */
static const char *one_line(const char *s, char *buf, size_t size) {
        size_t i = 0;
        for (; s[i] && i + 1 < size; i++)
                buf[i] = s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
        buf[i] = 0;
        return buf;
}

int record_format(const Record *rec, char *buf, size_t size) {
        char reason[sizeof(rec->reason)], device[sizeof(rec->device)], mount_point[sizeof(rec->mount_point)],
                tuning[sizeof(rec->tuning)];
        int k = snprintf(buf, size,
                         STATE_MAGIC "\n"
                         "state=%s\n"
                         "generation=%" PRIu64 "\n"
                         "mapping_dev=%u:%u\n"
                         "device=%s\n"
                         "data_size=%" PRIu64 "\n"
                         "chunk_size=%" PRIu64 "\n"
                         "mount_point=%s\n"
                         "cipher=%s\n"
                         "key_bits=%u\n"
                         "sector_size=%u\n"
                         "bypass_workqueues=%d\n"
                         "allow_discards=%d\n"
                         "tuning=%s\n"
                         "last_wipe=%lld\n"
                         "last_wipe_usec=%" PRIu64 "\n"
                         "reason=%s\n"
                         "job=%s\n"
                         "user=%s\n"
                         "uid=%" PRIu32 "\n"
                         "last_job=%s\n"
                         "thin_id=%" PRIu32 "\n"
                         "created=%lld\n",
                         lifecycle_state_to_string(rec->state), rec->generation, major(rec->mapping_devnum),
                         minor(rec->mapping_devnum), one_line(rec->device, device, sizeof(device)),
                         rec->data_size, rec->chunk_size,
                         one_line(rec->mount_point, mount_point, sizeof(mount_point)), rec->cipher,
                         rec->key_bits, rec->sector_size, rec->bypass_workqueues, rec->allow_discards,
                         one_line(rec->tuning, tuning, sizeof(tuning)), (long long) rec->last_wipe, rec->last_wipe_usec,
                         one_line(rec->reason, reason, sizeof(reason)), rec->job, rec->user, rec->uid,
                         rec->last_job, rec->thin_id, (long long) rec->created);
        if (k < 0 || (size_t) k >= size)
                return -ENOBUFS;
        return k;
}

static int copy_field(char *dst, size_t size, const char *v) {
        if (strlen(v) >= size)
                return -EBADMSG;
        strcpy(dst, v);
        return 0;
}

static int parse_u64(const char *v, uint64_t *ret) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        /* strtoull() would take blanks and a sign; a record has neither. */
        if (v[0] < '0' || v[0] > '9' || errno || *end)
                return -EBADMSG;
        *ret = x;
        return 0;
}

int record_parse(const char *text, Record *ret) {
        Record rec = { .state = _STATE_INVALID };
        _cleanup_free_ char *copy = strdup(text);
        char *save = NULL;
        bool magic = false;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        for (char *line = strtok_r(copy, "\n", &save); line && r >= 0; line = strtok_r(NULL, "\n", &save)) {
                if (!magic) {
                        if (!streq(line, STATE_MAGIC))
                                return -EBADMSG;
                        magic = true;
                        continue;
                }
                char *eq = strchr(line, '=');
                if (!eq)
                        return -EBADMSG;
                *eq = 0;
                const char *k = line, *v = eq + 1;
                uint64_t u = 0;

                if (streq(k, "state"))
                        r = (rec.state = lifecycle_state_from_string(v)) < 0 ? -EBADMSG : 0;
                else if (streq(k, "generation"))
                        r = parse_u64(v, &rec.generation);
                else if (streq(k, "mapping_dev"))
                        r = parse_dev(v, &rec.mapping_devnum) < 0 ? -EBADMSG : 0;
                else if (streq(k, "device"))
                        r = copy_field(rec.device, sizeof(rec.device), v);
                else if (streq(k, "data_size"))
                        r = parse_u64(v, &rec.data_size);
                else if (streq(k, "chunk_size"))
                        r = parse_u64(v, &rec.chunk_size);
                else if (streq(k, "mount_point"))
                        r = copy_field(rec.mount_point, sizeof(rec.mount_point), v);
                else if (streq(k, "cipher"))
                        r = copy_field(rec.cipher, sizeof(rec.cipher), v);
                else if (streq(k, "tuning"))
                        r = copy_field(rec.tuning, sizeof(rec.tuning), v);
                else if (streq(k, "key_bits")) {
                        r = parse_u64(v, &u);
                        if (r >= 0 && u > 4096)
                                r = -EBADMSG;
                        rec.key_bits = (unsigned) u;
                } else if (streq(k, "bypass_workqueues") || streq(k, "allow_discards")) {
                        r = parse_u64(v, &u);
                        if (r >= 0 && u > 1)
                                r = -EBADMSG;
                        *(streq(k, "allow_discards") ? &rec.allow_discards : &rec.bypass_workqueues) = u;
                } else if (streq(k, "sector_size")) {
                        r = parse_u64(v, &u);
                        if (r >= 0 && u > 65536)
                                r = -EBADMSG;
                        rec.sector_size = (unsigned) u;
                } else if (streq(k, "last_wipe")) {
                        r = parse_u64(v, &u);
                        if (r >= 0 && u > INT64_MAX)
                                r = -EBADMSG;
                        rec.last_wipe = (time_t) u;
                } else if (streq(k, "created")) {
                        r = parse_u64(v, &u);
                        if (r >= 0 && u > INT64_MAX)
                                r = -EBADMSG;
                        rec.created = (time_t) u;
                } else if (streq(k, "thin_id")) {
                        r = parse_u64(v, &u);
                        if (r >= 0 && u > UINT32_MAX)
                                r = -EBADMSG;
                        rec.thin_id = (uint32_t) u;
                } else if (streq(k, "last_wipe_usec"))
                        r = parse_u64(v, &rec.last_wipe_usec);
                else if (streq(k, "reason"))
                        r = copy_field(rec.reason, sizeof(rec.reason), v);
                else if (streq(k, "job"))
                        r = copy_field(rec.job, sizeof(rec.job), v);
                else if (streq(k, "user"))
                        r = copy_field(rec.user, sizeof(rec.user), v);
                else if (streq(k, "last_job"))
                        r = copy_field(rec.last_job, sizeof(rec.last_job), v);
                else if (streq(k, "uid")) {
                        r = parse_u64(v, &u);
                        if (r >= 0 && u > UINT32_MAX)
                                r = -EBADMSG;
                        rec.uid = (uint32_t) u;
                }
                /* Unknown keys come from a newer scratchd: keep going. */
        }
        if (r < 0 || !magic || rec.state < 0)
                return -EBADMSG;
        *ret = rec;
        return 0;
}

int record_save(const char *dir, const char *name, const Record *rec) {
        char buf[4096], file[PATH_MAX];
        int k = record_format(rec, buf, sizeof(buf));
        if (k < 0)
                return k;

        /* 0755: the daemon's socket lives here too; the records are 0600. */
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        snprintf(file, sizeof(file), "%s.state", name);
        return write_file_atomic(dir, file, buf, (size_t) k, 0600, true);
}

int record_load(const char *dir, const char *name, Record *ret) {
        char path[PATH_MAX], buf[4096];
        snprintf(path, sizeof(path), "%s/%s.state", dir, name);

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        /* Only a file root wrote and no one else can change is a proof of anything. */
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0022))
                return -EBADMSG;

        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        if ((size_t) n == sizeof(buf) - 1)
                return -EBADMSG;
        buf[n] = 0;
        return record_parse(buf, ret);
}
