/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "scratchd/log.h"
#include "scratchd/util.h"

static const char *program = "scratchd";
static int max_level = LOG_INFO;
static bool to_journal;

/* systemd sets JOURNAL_STREAM=DEV:INO when stderr is a journal stream; only then
 * is sending structured records the same destination as writing to stderr. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

void log_open(const char *name) {
        if (name)
                program = name;
        to_journal = stderr_is_journal();
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_internal(int level, int error, const char *fmt, ...) {
        int saved = errno;
        int e = error < 0 ? -error : error;

        if (level <= max_level) {
                char msg[2048];
                va_list ap;

                errno = e;
                va_start(ap, fmt);
                vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);

                if (to_journal)
                        sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", level,
                                        "SYSLOG_IDENTIFIER=%s", program,
                                        e ? "ERRNO=%i" : NULL, e, NULL);
                else
                        fprintf(stderr, "%s: %s\n", program, msg);
        }
        errno = saved;
        return -e;
}

void log_step(const char *volume, const char *step, const char *device, uint64_t usec, int result,
              const char *detail) {
        int level = result < 0 ? LOG_ERR : LOG_INFO;
        char dur[32];

        if (level > max_level)
                return;
        format_duration(dur, sizeof(dur), usec);

        char msg[1024];
        if (result < 0)
                snprintf(msg, sizeof(msg), "%s: %s %s failed after %s: %s%s%s", volume, step, device, dur,
                         strerror(-result), detail ? ": " : "", detail ?: "");
        else
                snprintf(msg, sizeof(msg), "%s: %s %s: %s%s%s", volume, step, device, dur,
                         detail ? " (" : "", detail ? detail : "");
        if (result >= 0 && detail)
                strncat(msg, ")", sizeof(msg) - strlen(msg) - 1);

        if (to_journal)
                sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", level, "SYSLOG_IDENTIFIER=%s", program,
                                "VOLUME=%s", volume, "STEP=%s", step, "DEVICE=%s", device,
                                "DURATION_USEC=%" PRIu64, usec, "RESULT=%s", result < 0 ? "failed" : "ok",
                                NULL);
        else
                fprintf(stderr, "%s: %s\n", program, msg);
}
