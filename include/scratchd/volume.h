/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "scratchd/auth.h"
#include "scratchd/config.h"
#include "scratchd/metrics.h"
#include "scratchd/operation.h"
#include "scratchd/progress.h"
#include "scratchd/record.h"
#include "scratchd/worker.h"

typedef struct Manager Manager;

/* Shared mode: a Prepare that waits for the spare to give its space up. */
typedef struct PendingPrepare {
        Operation *op;
        Caller caller;
        char job[65], user[65];
        uid_t uid;
        uint64_t size;
        /* Calls of the same job that came meanwhile, each a reference and a
         * count: retried Prepares, which get its answer, and Releases
         * (release_after_prepare), which erase its volume once made. */
        Operation **waiters;
        size_t n_waiters;
} PendingPrepare;

/* A spare job volume older than this is re-keyed: a key waits in the kernel
 * no longer than an hour for a job. */
#define SPARE_MAX_AGE_SEC 3600
#define POOL_RELEASED_MAX 64

/* One of the daemon's volumes at runtime: its record (the lifecycle state on
 * file), counters, the lock it holds for the daemon's life, the work its
 * worker thread does, the operations that wait for that work, and retries of
 * an adoption that found no disk. */
struct Volume {
        Manager *manager;
        size_t index;
        const ScratchConfig *sc;
        Record rec;
        VolumeCounters counters;
        int lock_fd;

        /* The work in flight, if any. The thread reads only `order` and writes
         * only `result`; the loop reads that after joining it. */
        WorkKind work;
        WorkOrder order;
        WorkResult result;
        pthread_t thread;
        uint64_t work_start;
        Caller work_caller;       /* uid (uid_t) -1: scratchd itself */
        Operation **waiters;
        size_t n_waiters;
        /* Work past WorkTimeoutSec= is overdue: who waited has been answered
         * VolumeFailed, the volume shows FAILED with `overdue_reason` (no job
         * gets it), the watchdog is held back; when the worker returns at
         * last, its result counts as usual. */
        Progress progress;
        sd_event_source *deadline_source;
        atomic_bool finished;     /* the worker has written its result (the deadline may not fire after) */
        bool overdue;
        bool settled;             /* its first adoption has ended (well or not) */
        bool release_when_done;   /* an overdue Prepare was answered failed: a late success is released */
        char overdue_reason[320];
        /* Erase records (erasures.c): the last one written, and why the
         * last one could not be (cleared by the next written). A pool's
         * hold its job volumes' too. */
        char last_record[128];
        char record_error[320];

        /* JobCheck= (stale.c): when the job holding it was first seen gone
         * after it was seen running (CLOCK_MONOTONIC and Unix time; 0:
         * running, or not known), and whether that has been logged. */
        uint64_t job_gone_usec;
        int64_t job_gone_since;
        char job_seen[65];        /* the job whose cgroup has been seen running while it held this; "" none */
        bool stale_logged;

        /* Adoption that found no usable disk is tried again, sooner at first:
         * disks appear late (drivers, udev), and an admin may fix the config
         * or the disk without restarting us. */
        sd_event_source *retry_source;
        uint64_t retry_usec;
        uint64_t disk_wait_until;  /* CLOCK_MONOTONIC; 0: not waiting (volume_waiting_for_disk()) */

        /* Shared mode (pool.c). A pool's job volumes, each a Volume of its
         * own (allocated apart, its record "<name>.<thin id>"); a job
         * volume's pool, NULL for the volumes the config names. */
        Volume *pool;
        Volume **jobs;             /* the spare among them, with no job */
        size_t n_jobs;
        PendingPrepare *pending;
        /* The jobs whose volumes were released last (a ring), so that a
         * retried epilog of any of them succeeds. */
        char released[POOL_RELEASED_MAX][65];
        size_t n_released;
        sd_event_source *spare_timer;
        bool spare_failed;         /* the last spare could not be made: none again before the next check */
};

extern const Caller volume_self_caller;

int volume_init(Volume *v, Manager *m, size_t index, const ScratchConfig *sc);
void volume_done(Volume *v);

/* The state clients see (status, errors, STATUS=, metrics): the one place
 * that computes it. A volume being wiped is WIPING whatever its record says;
 * while it is adopted or prepared it shows its record's state, and
 * volume_activity() says what runs. */
LifecycleState volume_visible_state(const Volume *v);
/* "adopting", "preparing", "wiping", or NULL when idle. */
const char *volume_activity(const Volume *v);
bool volume_idle(const Volume *v);
/* ABSENT, and within the first stretch of trying its disk again (a disk
 * late at boot): what clears by itself, so hooks wait and READY=1 too. */
bool volume_waiting_for_disk(const Volume *v);
/* Why the volume is FAILED, as clients are told. */
const char *volume_reason(const Volume *v);

/* At stop: waits for the work in flight until `until` (CLOCK_MONOTONIC usec)
 * or its own deadline, whichever is first; overdue work is not waited for.
 * False if it is still running: the thread then still uses `v`. */
bool volume_wait_work(Volume *v, uint64_t until);

/* Starts `kind` in a worker thread. `op`, if given, waits for it. A Release
 * records DIRTY (and the job as the last one) before the worker starts. */
int volume_start(Volume *v, WorkKind kind, const Caller *c, const char *job, Operation *op);
/* Prepare: CLEAN and idle, or the lifecycle's error (-EBUSY, -EIO, -ENODEV). */
int volume_start_prepare(Volume *v, const Caller *c, const char *job, const char *user, uid_t uid, Operation *op);
/* Starts v->order in a worker thread; `op`, if given, waits for it. */
int volume_launch(Volume *v, const Caller *c, Operation *op);
/* `op` waits for the work in flight too (a retried call). */
int volume_add_waiter(Volume *v, Operation *op);

/* The loop's side of a finished worker: joins it, takes its result through
 * the lifecycle, counts, audits, answers who waited, schedules a retry. */
void volume_work_done(Volume *v);
/* Right after the join, for volumes and job volumes: the deadline is
 * disarmed, an overdue end is logged. */
void volume_work_joined(Volume *v, WorkKind w);

/* ---- shared mode (pool.c) ---- */

/* The pool's size for job volumes (its thin pool's data), bytes; 0 if not built. */
uint64_t pool_bytes(const Volume *pool);
uint64_t pool_reserved_bytes(const Volume *pool);
/* A job volume's size when its Prepare names none (JobSize=), bytes. */
uint64_t pool_default_job_size(const Volume *pool);
/* Job volumes, the spare not counted; the spare, if any; whether it is ready. */
unsigned pool_n_jobs(const Volume *pool);
Volume *pool_spare(const Volume *pool);
bool pool_spare_ready(const Volume *pool);
bool job_is_spare(const Volume *j);
/* Its volume is being made, or the spare mounted for it. */
bool job_being_made(const Volume *j);
/* Makes a spare if there is none and it fits, unless the last one could not
 * be made; re-keys one that waited too long. */
void pool_spare_ensure(Volume *pool);
/* The check every SPARE_CHECK_USEC: tries a spare again after a failed one. */
void pool_spare_check(Volume *pool);
/* Whether the pool released `job`'s volume lately (the last 64 jobs). */
bool pool_released_recently(const Volume *pool, const char *job);
/* The job volume of `job` in any pool, or NULL. */
Volume *pool_find_job(Manager *m, const char *job);
/* Starts making job `job`'s volume of `size` bytes (0: JobSize=) in the pool.
 * 0 if started (`op` waits for it); -EBUSY/-EIO/-ENODEV as Prepare on a
 * volume; -ENOSPC, -EUSERS, -EINVAL as reserve_check() says, with `why`. */
int pool_start_job(Volume *pool, const Caller *c, const char *job, const char *user, uid_t uid, uint64_t size,
                   Operation *op, char *why, size_t why_size);
/* The pool whose Prepare of `job` waits for the spare, or NULL. */
Volume *pool_find_pending(Manager *m, const char *job);
/* `op` (a retried Prepare of the job, or its Release) waits with that Prepare. */
int pool_pending_add_waiter(Volume *pool, Operation *op);
/* Answers the waiting Prepare, and what waits with it, as failed: the spare
 * it waits for is overdue. */
void pool_pending_abort(Volume *pool, const char *why);
/* Drops the waiting Prepare and what waits with it, unanswered (at exit). */
void pool_pending_free(Volume *pool);
/* Starts erasing a job volume (IN_USE, or FAILED by an admin's wipe). */
int job_start_release(Volume *j, const Caller *c, Operation *op);
/* The loop's side of a job volume's finished work; may free it. */
void job_work_done(Volume *j);
/* The loop's side of a pool's adoption or wipe: its job volumes as the worker found them. */
void pool_work_done(Volume *pool, WorkKind w);
/* Frees every job volume of the pool (after a wipe of the pool, at exit). */
void pool_drop_jobs(Volume *pool);

/* Audits one event of this volume. */
/* After a work's end (erasures.c): its erase records counted in `owner`
 * (the volume, or a job volume's pool), a record not written shown there
 * (status, metrics; the journal has it already). */
void volume_erasure_done(Volume *owner, const Volume *v, const WorkResult *r);

void volume_audit(const Volume *v, const char *event, const Caller *c, const char *job, LifecycleState from,
                  LifecycleState to, uint64_t usec, const char *result, const char *detail);
