/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>

#include "scratchd/lifecycle.h"
#include "scratchd/record.h"
#include "scratchd/util.h"

static const char *const lifecycle_state_table[_STATE_MAX] = {
        [STATE_ABSENT] = "ABSENT",
        [STATE_WIPING] = "WIPING",
        [STATE_CLEAN] = "CLEAN",
        [STATE_IN_USE] = "IN_USE",
        [STATE_DIRTY] = "DIRTY",
        [STATE_FAILED] = "FAILED",
};

DEFINE_STRING_TABLE_LOOKUP(lifecycle_state, LifecycleState, _STATE_MAX);

static const char *const lifecycle_event_table[_EVENT_MAX] = {
        [EVENT_PREPARE] = "prepare",
        [EVENT_RELEASE] = "release",
        [EVENT_WIPE_START] = "wipe",
        [EVENT_WIPE_OK] = "wipe-ok",
        [EVENT_WIPE_FAILED] = "wipe-failed",
        [EVENT_DISK_LOST] = "disk-lost",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(lifecycle_event, LifecycleEvent, _EVENT_MAX);

int lifecycle_next(LifecycleState from, LifecycleEvent e, LifecycleState *ret) {
        LifecycleState to;

        if (from < 0 || from >= _STATE_MAX)
                return -EINVAL;
        switch (e) {
        case EVENT_PREPARE:
                switch (from) {
                case STATE_CLEAN:
                        to = STATE_IN_USE;
                        break;
                case STATE_IN_USE:
                case STATE_WIPING:
                case STATE_DIRTY:
                        return -EBUSY;
                case STATE_FAILED:
                        return -EIO;
                case STATE_ABSENT:
                        return -ENODEV;
                default:
                        return -EINVAL;
                }
                break;
        case EVENT_RELEASE:
                if (from != STATE_IN_USE)
                        return -ENOENT;
                to = STATE_DIRTY;
                break;
        case EVENT_WIPE_START:
                /* From WIPING too: a wipe that a crash cut short starts over.
                 * The daemon refuses a second wipe of a volume it is wiping
                 * by its worker, not by this table. */
                to = STATE_WIPING;
                break;
        case EVENT_WIPE_OK:
        case EVENT_WIPE_FAILED:
                if (from != STATE_WIPING)
                        return -EINVAL;
                to = e == EVENT_WIPE_OK ? STATE_CLEAN : STATE_FAILED;
                break;
        case EVENT_DISK_LOST:
                to = STATE_ABSENT;
                break;
        default:
                return -EINVAL;
        }
        *ret = to;
        return 0;
}

int lifecycle_apply(Record *rec, LifecycleEvent e, const LifecycleArgs *a) {
        static const LifecycleArgs none = {};
        LifecycleState to;
        int r;

        a = a ?: &none;
        r = lifecycle_next(rec->state, e, &to);
        if (r < 0)
                return r;
        switch (e) {
        case EVENT_PREPARE:
                snprintf(rec->job, sizeof(rec->job), "%s", a->job ?: "");
                snprintf(rec->user, sizeof(rec->user), "%s", a->user ?: "");
                rec->uid = a->uid;
                break;
        case EVENT_RELEASE:
                snprintf(rec->last_job, sizeof(rec->last_job), "%s", a->job ?: rec->job);
                break;
        case EVENT_WIPE_START:
                /* A wiped volume belongs to no job, and its old mapping is going. */
                rec->job[0] = rec->user[0] = 0;
                rec->uid = 0;
                rec->mapping_devnum = 0;
                rec->reason[0] = 0;
                break;
        case EVENT_WIPE_FAILED:
                snprintf(rec->reason, sizeof(rec->reason), "%s", a->reason ?: "unknown");
                rec->mapping_devnum = 0;
                break;
        case EVENT_DISK_LOST:
                /* Why the disk cannot be taken (it cannot be read, it is
                 * refused...), for status: the journal is not the only place. */
                snprintf(rec->reason, sizeof(rec->reason), "%s", a && a->reason ? a->reason : "");
                rec->mapping_devnum = 0;
                break;
        default:
                break;
        }
        rec->state = to;
        return 0;
}

AdoptDecision lifecycle_adopt(bool have_record, const Record *rec, bool live) {
        if (!have_record || !live)
                return ADOPT_WIPE;
        if (rec->state == STATE_CLEAN)
                return ADOPT_KEEP;
        /* A job's volume stays the job's: its data is the job's, not stale. */
        if (rec->state == STATE_IN_USE && job_id_valid(rec->job))
                return ADOPT_KEEP;
        return ADOPT_WIPE;
}

bool job_id_valid(const char *job) {
        size_t n = strlen(job);
        if (n == 0 || n > 64 || job[0] == '.' || job[0] == '-')
                return false;
        for (const char *c = job; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("._-", *c))
                        return false;
        return true;
}
