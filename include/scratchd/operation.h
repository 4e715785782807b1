/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "scratchd/transport.h"

typedef struct Volume Volume;
typedef struct Operation Operation;

/* Answers the operation's call once no volume is left to wait for. */
typedef void (*OperationDoneFn)(Operation *op);

/* One caller's request, from its call to its answer, across every volume it
 * waits for (a Wipe of all volumes waits for each). Reference-counted: each
 * volume that works for it holds one. */
struct Operation {
        unsigned n_ref;
        Call *call;               /* the call to answer (its own reference) */
        OperationDoneFn done;
        void *userdata;           /* the backend's */
        unsigned n_pending;       /* volumes still working for it */
        Volume *volume;           /* the last volume that finished */
        Volume *failed;           /* the first volume that failed, or NULL */
        /* A Release that came while its job's Prepare was in the worker:
         * once the Prepare is done, the volume is released for it. */
        bool release_after_prepare;
};

Operation *operation_new(Call *call, OperationDoneFn done, void *userdata);
Operation *operation_ref(Operation *op);
Operation *operation_unref(Operation *op);
static inline void operation_unrefp(Operation **op) {
        operation_unref(*op);
}

/* A volume works for it now. */
void operation_add(Operation *op);
/* That volume is done; the last one done answers the call. */
void operation_volume_done(Operation *op, Volume *v, bool failed);
