/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <signal.h>
#include <time.h>

#include "scratchd/fault.h"
#include "scratchd/log.h"
#include "scratchd/util.h"

/* SCRATCHD_FAULT as the process started, else the first line of the file
 * SCRATCHD_FAULT_FILE names, read at each point: a test arms the next fault
 * in a running daemon instead of starting one anew for it. */
static const char *fault_armed(char *buf, size_t size) {
        const char *f = getenv("SCRATCHD_FAULT");
        if (f)
                return f;
        const char *path = getenv("SCRATCHD_FAULT_FILE");
        if (!path)
                return NULL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return NULL;
        ssize_t n = read(fd, buf, size - 1);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return buf;
}

void fault_point(const char *point) {
        progress_reached(point);
        char buf[128];
        const char *f = fault_armed(buf, sizeof(buf));
        if (!f)
                return;
        const char *colon = strchr(f, ':');
        if (!colon || !streq(colon + 1, point))
                return;
        if (startswith(f, "crash:")) {
                log_notice("fault point %s: crashing (SCRATCHD_FAULT)", point);
                raise(SIGKILL);
        } else if (startswith(f, "hold:")) {
                /* Until the file says something else (or 120 s): the test
                 * changes the world meanwhile, then lets the work go on. */
                char held[128];
                snprintf(held, sizeof(held), "%s", f);
                log_notice("fault point %s: held until SCRATCHD_FAULT_FILE changes", point);
                for (int i = 0; i < 2400; i++) {
                        (void) nanosleep(&(struct timespec) { .tv_nsec = 50000000 }, NULL);
                        f = fault_armed(buf, sizeof(buf));
                        if (!f || !streq(f, held))
                                break;
                }
        } else if (startswith(f, "pause:")) {
                log_notice("fault point %s: pausing 60 s (SCRATCHD_FAULT)", point);
                sleep(60);
        }
}
