/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libgen.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "scratchd/audit.h"
#include "scratchd/log.h"
#include "scratchd/rfc3339.h"
#include "scratchd/util.h"

struct Audit {
        int fd;
        char *path;
};

static int open_log(const char *path) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (fd < 0)
                return -errno;
        (void) fchmod(fd, 0640);   /* whatever the umask: adm may read it */
        return fd;
}

/* Rotated (logrotate renamed it, or removed it): the file at the path is
 * another than ours, or none; the next line goes to a new one there. */
static void reopen_if_rotated(Audit *a) {
        struct stat at, ours;
        if (stat(a->path, &at) == 0 && fstat(a->fd, &ours) == 0 && at.st_dev == ours.st_dev &&
            at.st_ino == ours.st_ino)
                return;
        int fd = open_log(a->path);
        if (fd < 0) {
                log_warning_errno(fd, "cannot open the audit log %s again after its rotation: %m", a->path);
                return;
        }
        close(a->fd);
        a->fd = fd;
}

int audit_open(const char *path, Audit **ret) {
        Audit *a = calloc(1, sizeof(Audit));
        if (!a)
                return -ENOMEM;
        a->fd = -EBADF;
        if (path) {
                _cleanup_free_ char *copy = strdup(path);
                if (!copy) {
                        free(a);
                        return -ENOMEM;
                }
                if (mkdir(dirname(copy), 0750) < 0 && errno != EEXIST) {
                        int e = -errno;
                        free(a);
                        return e;
                }
                a->fd = open_log(path);
                a->path = strdup(path);
                if (a->fd < 0 || !a->path) {
                        int e = a->fd < 0 ? a->fd : -ENOMEM;
                        if (a->fd >= 0)
                                close(a->fd);
                        free(a->path);
                        free(a);
                        return e;
                }
        }
        *ret = a;
        return 0;
}

Audit *audit_close(Audit *a) {
        if (a) {
                if (a->fd >= 0)
                        close(a->fd);
                free(a->path);
                free(a);
        }
        return NULL;
}

static void add_string(json_object *o, const char *key, const char *value) {
        if (value)
                json_object_object_add(o, key, json_object_new_string(value));
}

char *audit_format(const AuditEvent *e) {
        json_object *o = json_object_new_object();
        struct timespec ts;
        char when[RFC3339_MAX];

        if (!o)
                return NULL;
        clock_gettime(CLOCK_REALTIME, &ts);
        rfc3339_format_usec(when, sizeof(when), (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000);

        add_string(o, "time", when);
        add_string(o, "event", e->event);
        add_string(o, "volume", e->volume);
        add_string(o, "job", e->job);
        add_string(o, "user", e->user);
        if (e->caller_uid != (uid_t) -1) {
                json_object_object_add(o, "caller_uid", json_object_new_int64(e->caller_uid));
                json_object_object_add(o, "caller_pid", json_object_new_int64(e->caller_pid));
        }
        add_string(o, "from", e->from);
        add_string(o, "to", e->to);
        json_object_object_add(o, "key_generation", json_object_new_uint64(e->generation));
        json_object_object_add(o, "duration_usec", json_object_new_uint64(e->duration_usec));
        add_string(o, "result", e->result);
        add_string(o, "detail", e->detail);
        add_string(o, "killed", e->killed);
        add_string(o, "record_error", e->record_error);
        if (e->record) {
                add_string(o, "record", e->record);
                json_object_object_add(o, "erased_key_generation", e->erased_generation_unknown ? NULL
                                                                   : json_object_new_uint64(e->erased_generation));
        }

        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *out = s ? strdup(s) : NULL;
        json_object_put(o);
        return out;
}

void audit_log(Audit *a, const AuditEvent *e) {
        char uid[24] = "", pid[24] = "";
        if (e->caller_uid != (uid_t) -1) {
                snprintf(uid, sizeof(uid), "%u", (unsigned) e->caller_uid);
                snprintf(pid, sizeof(pid), "%d", (int) e->caller_pid);
        }

        /* Every record has every field, empty where it does not apply, so that
         * `journalctl SCRATCHD_EVENT=release JOB=1234` works the same for all. */
        sd_journal_send("MESSAGE=audit: %s %s%s%s%s%s -> %s", e->event, e->volume ?: "-", e->job ? " job " : "",
                        e->job ?: "", e->to ? " state " : "", e->to ?: "", e->result ?: "ok",
                        "PRIORITY=%i", LOG_NOTICE, "SYSLOG_IDENTIFIER=scratchd", "SCRATCHD_EVENT=%s", e->event,
                        "VOLUME=%s", e->volume ?: "", "JOB=%s", e->job ?: "", "JOB_USER=%s", e->user ?: "",
                        "CALLER_UID=%s", uid, "CALLER_PID=%s", pid, "FROM_STATE=%s", e->from ?: "",
                        "TO_STATE=%s", e->to ?: "", "KEY_GENERATION=%" PRIu64, e->generation,
                        "DURATION_USEC=%" PRIu64, e->duration_usec, "RESULT=%s", e->result ?: "ok",
                        "DETAIL=%s", e->detail ?: "", "KILLED=%s", e->killed ?: "", "ERASE_RECORD=%s",
                        e->record ?: "", NULL);

        if (!a || a->fd < 0)
                return;
        reopen_if_rotated(a);
        _cleanup_free_ char *line = audit_format(e);
        if (!line)
                return;
        size_t n = strlen(line);
        line[n] = '\n';   /* strdup'd with room: the NUL becomes the newline */
        if (write(a->fd, line, n + 1) != (ssize_t) (n + 1))
                log_warning_errno(errno, "cannot write the audit log: %m");
}
