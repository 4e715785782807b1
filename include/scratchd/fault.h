/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Fault points for crash and pause injection, compiled only into test builds
 * (meson -Dtest_hooks=true); in a release build they only report progress.
 *
 * SCRATCHD_FAULT=crash:POINT kills the process dead (SIGKILL) when it reaches
 * POINT; SCRATCHD_FAULT=pause:POINT stops it there for 60 s, so that a test can
 * kill it from outside in the middle of something; hold:POINT, written to the
 * file SCRATCHD_FAULT_FILE names, stops it there until the file says
 * something else (at most 120 s). POINT is a wipe step name
 * ("before-rekey", "mkfs"...) as logged. In every build each point is also
 * where the worker reports its progress (progress.h). */
#include "scratchd/progress.h"

#ifdef SCRATCHD_TEST_HOOKS
void fault_point(const char *point);
#else
static inline void fault_point(const char *point) {
        progress_reached(point);
}
#endif
