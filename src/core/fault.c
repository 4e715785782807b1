/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <signal.h>

#include "scratchd/fault.h"
#include "scratchd/log.h"
#include "scratchd/util.h"

void fault_point(const char *point) {
        const char *f = getenv("SCRATCHD_FAULT");
        if (!f)
                return;
        const char *colon = strchr(f, ':');
        if (!colon || !streq(colon + 1, point))
                return;
        if (startswith(f, "crash:")) {
                log_notice("fault point %s: crashing (SCRATCHD_FAULT)", point);
                raise(SIGKILL);
        } else if (startswith(f, "pause:")) {
                log_notice("fault point %s: pausing 60 s (SCRATCHD_FAULT)", point);
                sleep(60);
        }
}
