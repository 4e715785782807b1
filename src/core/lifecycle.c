/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>

#include "scratchd/lifecycle.h"
#include "scratchd/util.h"

static const char *const volume_event_table[_EVENT_MAX] = {
        [EVENT_PREPARE] = "prepare",
        [EVENT_RELEASE] = "release",
        [EVENT_WIPE_START] = "wipe",
        [EVENT_WIPE_OK] = "wipe-ok",
        [EVENT_WIPE_FAILED] = "wipe-failed",
};

const char *volume_event_to_string(VolumeEvent e) {
        return e >= 0 && e < _EVENT_MAX ? volume_event_table[e] : NULL;
}

int lifecycle_next(VolumeState from, VolumeEvent e, VolumeState *ret) {
        VolumeState to;

        if (from < 0 || from >= _VOLUME_STATE_MAX)
                return -EINVAL;
        switch (e) {
        case EVENT_PREPARE:
                switch (from) {
                case VOLUME_CLEAN:
                        to = VOLUME_IN_USE;
                        break;
                case VOLUME_IN_USE:
                case VOLUME_WIPING:
                case VOLUME_DIRTY:
                        return -EBUSY;
                case VOLUME_FAILED:
                        return -EIO;
                case VOLUME_ABSENT:
                        return -ENODEV;
                default:
                        return -EINVAL;
                }
                break;
        case EVENT_RELEASE:
                if (from != VOLUME_IN_USE)
                        return -ENOENT;
                to = VOLUME_DIRTY;
                break;
        case EVENT_WIPE_START:
                if (from == VOLUME_WIPING)
                        return -EBUSY;
                if (from < 0 || from >= _VOLUME_STATE_MAX)
                        return -EINVAL;
                to = VOLUME_WIPING;
                break;
        case EVENT_WIPE_OK:
        case EVENT_WIPE_FAILED:
                if (from != VOLUME_WIPING)
                        return -EINVAL;
                to = e == EVENT_WIPE_OK ? VOLUME_CLEAN : VOLUME_FAILED;
                break;
        default:
                return -EINVAL;
        }
        *ret = to;
        return 0;
}

AdoptDecision lifecycle_adopt(bool have_record, const VolumeRecord *rec, bool live) {
        if (!have_record || !live)
                return ADOPT_WIPE;
        if (rec->state == VOLUME_CLEAN)
                return ADOPT_KEEP;
        /* A job's volume stays the job's: its data is the job's, not stale. */
        if (rec->state == VOLUME_IN_USE && job_id_valid(rec->job))
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
