/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Record Record;

/* The life of a volume (docs/design.md, "The lifecycle"). */
typedef enum LifecycleState {
        STATE_ABSENT,
        STATE_WIPING,
        STATE_CLEAN,
        STATE_IN_USE,
        STATE_DIRTY,
        STATE_FAILED,
        _STATE_MAX,
        _STATE_INVALID = -EINVAL,
} LifecycleState;

const char *lifecycle_state_to_string(LifecycleState s);
LifecycleState lifecycle_state_from_string(const char *s);

/* The lifecycle (docs/design.md, "The lifecycle") as a table: which event
 * may happen in which state, and where it leads.
 *
 *   ABSENT --disk found--> WIPING --ok--> CLEAN --prepare(job)--> IN_USE(job)
 *                             ^                                      |
 *                             +------------ DIRTY <--release(job)----+
 *   WIPING --error--> FAILED (fenced) --wipe ok--> CLEAN
 *   any --disk lost (cannot be taken)--> ABSENT
 *
 * lifecycle_apply() is the only code that changes a record's state. */
typedef enum LifecycleEvent {
        EVENT_PREPARE,
        EVENT_RELEASE,
        EVENT_WIPE_START,
        EVENT_WIPE_OK,
        EVENT_WIPE_FAILED,
        EVENT_DISK_LOST,
        _EVENT_MAX,
} LifecycleEvent;

const char *lifecycle_event_to_string(LifecycleEvent e);

/* 0 and the next state, or: -EBUSY (being wiped, or held by a job), -EIO
 * (FAILED: fenced), -ENOENT (release of a volume no job holds), -ENODEV
 * (ABSENT), -EINVAL (an event that cannot happen in that state). */
int lifecycle_next(LifecycleState from, LifecycleEvent e, LifecycleState *ret);

/* What an event carries into the record. */
typedef struct LifecycleArgs {
        const char *job;      /* EVENT_PREPARE, EVENT_RELEASE */
        const char *user;     /* EVENT_PREPARE: the job's user, by name */
        uint32_t uid;         /* EVENT_PREPARE */
        const char *reason;   /* EVENT_WIPE_FAILED: one line */
} LifecycleArgs;

/* Moves `rec` by event `e` when lifecycle_next() allows it, with what goes
 * with the state: a job and its user on Prepare, the last job on Release, no
 * job and no mapping from a wipe's start, the reason on failure. Returns
 * lifecycle_next()'s error, leaving `rec` as it was. */
int lifecycle_apply(Record *rec, LifecycleEvent e, const LifecycleArgs *a);

typedef enum AdoptDecision {
        ADOPT_KEEP,   /* our record is trustworthy and the kernel agrees: keep as is */
        ADOPT_WIPE,   /* anything else: wipe before any job gets it */
} AdoptDecision;

/* What a starting scratchd does with a volume it finds. `have_record`: our
 * state file was there and parsed; `live`: the mapping the record names is the
 * one active on the record's disk (same device number), mounted where
 * configured. Only CLEAN and IN_USE(job) are kept, and only when live. */
AdoptDecision lifecycle_adopt(bool have_record, const Record *rec, bool live);

/* A job id as schedulers make them: 1-64 of [A-Za-z0-9._-], not starting with
 * '.' or '-' (Slurm "1234", "1234_7"; PBS "1234.server"). It names a
 * directory, so nothing else. */
bool job_id_valid(const char *job);
