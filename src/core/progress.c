/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "scratchd/progress.h"
#include "scratchd/util.h"

static _Thread_local Progress *current;

void progress_attach(Progress *p) {
        current = p;
        if (p) {
                atomic_store(&p->step, "start");
                atomic_store(&p->since, now_usec());
        }
}

void progress_reached(const char *point) {
        if (!current)
                return;
        atomic_store(&current->step, point);
        atomic_store(&current->since, now_usec());
}
