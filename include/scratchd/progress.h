/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

/* Where a worker thread is in its work: the last named point it reached
 * (each fault_point() is one) and since when. The thread writes, the event
 * loop reads: to name the step in which overdue work is stuck, and to hold
 * back the watchdog while it is. */
typedef struct Progress {
        _Atomic(const char *) step;  /* a string that lives for the process: the point's name */
        _Atomic uint64_t since;      /* CLOCK_MONOTONIC, usec */
} Progress;

/* This thread reports to `p` from now on (NULL: to nothing). */
void progress_attach(Progress *p);
/* Called at each named point of the work (by fault_point()). */
void progress_reached(const char *point);
