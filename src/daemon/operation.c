/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "scratchd/operation.h"
#include "scratchd/util.h"

Operation *operation_new(Call *call, OperationDoneFn done, void *userdata) {
        Operation *op = calloc(1, sizeof(Operation));
        if (!op)
                return NULL;
        *op = (Operation) { .n_ref = 1, .call = call_ref(call), .done = done, .userdata = userdata };
        return op;
}

Operation *operation_ref(Operation *op) {
        if (op)
                op->n_ref++;
        return op;
}

Operation *operation_unref(Operation *op) {
        if (op && --op->n_ref == 0) {
                call_unref(op->call);
                free(op);
        }
        return NULL;
}

void operation_add(Operation *op) {
        op->n_pending++;
}

void operation_volume_done(Operation *op, Volume *v, bool failed) {
        op->volume = v;
        if (failed && !op->failed)
                op->failed = v;
        if (op->n_pending > 0 && --op->n_pending > 0)
                return;
        if (op->done)
                op->done(op);
}
