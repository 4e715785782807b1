/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <inttypes.h>
#include <sys/resource.h>

#include "scratchd/api.h"
#include "scratchd/fault.h"
#include "scratchd/holders.h"
#include "scratchd/lifecycle.h"
#include "scratchd/log.h"
#include "scratchd/manager.h"
#include "scratchd/util.h"
#include "scratchd/volume.h"

#define ADOPT_RETRY_FIRST_USEC (1 * USEC_PER_SEC)
/* How long, from the first try that found no disk, a volume is "waiting for
 * its disk": disks appear late (udev making a by-id link, a driver), so
 * READY=1 waits and a hook asks again meanwhile rather than drain the node.
 * Past it, a disk that has not come is an admin's to see (ABSENT). */
#define DISK_WAIT_USEC (120 * USEC_PER_SEC)
#define ADOPT_RETRY_MAX_USEC (60 * USEC_PER_SEC)

/* Wipes are background work: the loop must keep answering, so the worker and
 * what it runs (mkfs) yield the CPU to it. Linux's nice value is per thread. */
#define WORKER_NICE 10

const Caller volume_self_caller = { .uid = (uid_t) -1 };

static const char *const work_kind_table[_WORK_MAX] = {
        [WORK_NONE] = "none",
        [WORK_ADOPT] = "adopt",
        [WORK_PREPARE] = "prepare",
        [WORK_RELEASE] = "release",
        [WORK_WIPE] = "wipe",
        [WORK_JOB_CREATE] = "job-create",
        [WORK_JOB_RELEASE] = "job-release",
        [WORK_JOB_ASSIGN] = "job-assign",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(work_kind, WorkKind, _WORK_MAX);

int volume_init(Volume *v, Manager *m, size_t index, const ScratchConfig *sc) {
        *v = (Volume) { .manager = m, .index = index, .sc = sc, .lock_fd = -EBADF };
        /* Held for the daemon's life: `scratchd wipe` by hand would
         * otherwise change a volume under the daemon's feet. */
        v->lock_fd = engine_lock_volume(&m->engine, sc->name);
        if (v->lock_fd < 0)
                return v->lock_fd;
        if (record_load(m->state_dir, sc->name, &v->rec) < 0)
                v->rec = (Record) { .state = STATE_ABSENT };
        return 0;
}

bool volume_wait_work(Volume *v, uint64_t until) {
        if (v->work == WORK_NONE)
                return true;
        /* Overdue: not waited for, unless it has just ended. */
        if (v->overdue) {
                if (pthread_tryjoin_np(v->thread, NULL) != 0)
                        return false;
                v->work = WORK_NONE;
                return true;
        }
        uint64_t deadline = v->work_start + (uint64_t) v->manager->config->daemon.work_timeout_sec * USEC_PER_SEC;
        if (deadline < until)
                until = deadline;
        /* On the monotonic clock, as until is: pthread_timedjoin_np() counts
         * on CLOCK_REALTIME, which a time sync may step forward (an early
         * "not done") or back (a long wait past a stop's bound). */
        struct timespec ts = {
                .tv_sec = (time_t) (until / USEC_PER_SEC),
                .tv_nsec = (long) (until % USEC_PER_SEC) * 1000,
        };
        if (pthread_clockjoin_np(v->thread, NULL, CLOCK_MONOTONIC, &ts) != 0)
                return false;
        v->work = WORK_NONE;
        return true;
}

void volume_done(Volume *v) {
        /* A wipe in flight finishes: stopping halfway would leave it FAILED.
         * (Work that overran its deadline is abandoned before this: the
         * manager exits without freeing what it uses.) */
        if (v->work != WORK_NONE)
                pthread_join(v->thread, NULL);
        v->work = WORK_NONE;
        v->deadline_source = sd_event_source_disable_unref(v->deadline_source);
        free(v->result.jobs);
        v->result.jobs = NULL;
        free(v->result.erased);
        v->result.erased = NULL;
        /* A Prepare that waited for the spare, and those that waited with
         * it: answered by their calls' end. */
        pool_pending_free(v);
        if (!v->pool)
                pool_drop_jobs(v);
        for (size_t i = 0; i < v->n_waiters; i++)
                operation_unref(v->waiters[i]);
        free(v->waiters);
        v->waiters = NULL;
        v->n_waiters = 0;
        v->retry_source = sd_event_source_disable_unref(v->retry_source);
        v->spare_timer = sd_event_source_disable_unref(v->spare_timer);
        if (v->lock_fd >= 0)
                close(v->lock_fd);
        v->lock_fd = -EBADF;
}

LifecycleState volume_visible_state(const Volume *v) {
        if (v->overdue)
                return STATE_FAILED;
        return v->work == WORK_RELEASE || v->work == WORK_WIPE || v->work == WORK_JOB_RELEASE ? STATE_WIPING
                                                                                             : v->rec.state;
}

bool volume_waiting_for_disk(const Volume *v) {
        return volume_idle(v) && v->rec.state == STATE_ABSENT && v->disk_wait_until > 0 &&
               now_usec() < v->disk_wait_until;
}

const char *volume_activity(const Volume *v) {
        switch (v->work) {
        case WORK_ADOPT:
                return "adopting";
        case WORK_PREPARE:
        case WORK_JOB_CREATE:
        case WORK_JOB_ASSIGN:
                return "preparing";
        case WORK_RELEASE:
        case WORK_WIPE:
        case WORK_JOB_RELEASE:
                return "wiping";
        default:
                return volume_waiting_for_disk(v) ? "waiting for its disk" : NULL;
        }
}

bool volume_idle(const Volume *v) {
        return v->work == WORK_NONE;
}

const char *volume_reason(const Volume *v) {
        if (v->overdue)
                return v->overdue_reason;
        return v->rec.reason[0] ? v->rec.reason : "unknown";
}

static const char *work_description(WorkKind w) {
        switch (w) {
        case WORK_ADOPT:
                return "set-up";
        case WORK_PREPARE:
        case WORK_JOB_CREATE:
        case WORK_JOB_ASSIGN:
                return "prepare";
        case WORK_WIPE:
                return "wipe";
        default:
                return "release";
        }
}

/* The work has run past WorkTimeoutSec=: those who wait are answered now,
 * the volume is fenced in the meantime (no job gets it until the work
 * returns and says how it ended). The thread cannot be stopped: it may be
 * in the kernel, on a disk that no longer answers. */
static int on_work_deadline(sd_event_source *es, uint64_t usec, void *userdata) {
        Volume *v = userdata;
        /* Ended meanwhile: its wake-up is on its way. */
        if (volume_idle(v) || atomic_load(&v->finished))
                return 0;
        const char *step = atomic_load(&v->progress.step);
        uint64_t since = atomic_load(&v->progress.since), now = now_usec();
        char job[80] = "";
        if (v->order.job[0])
                snprintf(job, sizeof(job), " of job %s", v->order.job);
        v->overdue = true;
        snprintf(v->overdue_reason, sizeof(v->overdue_reason),
                 "the %s%s has not finished in WorkTimeoutSec=%u s (at step %s for %llu s); fenced until it ends; "
                 "if the disk has stopped answering, replace it",
                 work_description(v->work), job, v->manager->config->daemon.work_timeout_sec, step ?: "start",
                 (unsigned long long) ((since ? now - since : 0) / USEC_PER_SEC));
        log_error("%s%s%s: %s", v->sc->name, v->pool ? " " : "", v->pool ? v->order.job : "", v->overdue_reason);
        volume_audit(v, "overdue", &v->work_caller, v->order.job, v->rec.state, STATE_FAILED, now - v->work_start,
                     API_ERROR_VOLUME_FAILED, v->overdue_reason);
        /* A Prepare answered failed: the job will not run, so if it ends
         * well after all, the volume is erased at once, not kept for it. */
        v->release_when_done = v->work == WORK_PREPARE || v->work == WORK_JOB_CREATE || v->work == WORK_JOB_ASSIGN;
        /* An adoption stuck past its deadline has ended, as far as readiness
         * goes: the volume is FAILED for status to say, and systemd must
         * not kill us at TimeoutStartSec= for it. */
        if (v->work == WORK_ADOPT)
                v->settled = true;
        /* A Prepare that waits for the spare to give its space up. */
        if (v->pool && v->work == WORK_JOB_RELEASE && job_is_spare(v))
                pool_pending_abort(v->pool, v->overdue_reason);

        /* Answered as failed: VolumeFailed with the reason above. */
        Operation **waiters = v->waiters;
        size_t n = v->n_waiters;
        v->waiters = NULL;
        v->n_waiters = 0;
        for (size_t i = 0; i < n; i++) {
                waiters[i]->release_after_prepare = false;
                operation_volume_done(waiters[i], v, true);
                operation_unref(waiters[i]);
        }
        free(waiters);
        manager_volume_changed(v->manager, v);
        return 0;
}

void volume_audit(const Volume *v, const char *event, const Caller *c, const char *job, LifecycleState from,
                  LifecycleState to, uint64_t usec, const char *result, const char *detail) {
        AuditEvent e = {
                .event = event,
                .volume = v->sc->name,
                .job = job && *job ? job : NULL,
                /* The job's user, when the record is that job's. */
                .user = job && v->rec.user[0] && streq(job, v->rec.job) ? v->rec.user : NULL,
                .caller_uid = c->uid,
                .caller_pid = c->pid,
                .from = lifecycle_state_to_string(from),
                .to = lifecycle_state_to_string(to),
                .generation = v->rec.generation,
                .duration_usec = usec,
                .result = result,
                .detail = detail,
                /* Set between a work's end and its audit event (then cleared). */
                .killed = volume_idle(v) && v->result.killed[0] ? v->result.killed : NULL,
                /* Likewise: the erase's record, on the event of its end. */
                .record = volume_idle(v) && v->result.erasure.name[0] ? v->result.erasure.name : NULL,
                .erased_generation = v->result.erasure.key_generation,
                .erased_generation_unknown = v->result.erasure.key_generation_unknown,
                .record_error = volume_idle(v) && v->result.erasure.error < 0 ? strerror(-v->result.erasure.error) : NULL,
        };
        audit_log(v->manager->audit, &e);
}

static void *work_main(void *userdata) {
        Volume *v = userdata;
        Manager *m = v->manager;

        if (setpriority(PRIO_PROCESS, (id_t) gettid(), WORKER_NICE) < 0)
                log_debug("cannot lower the worker's priority: %m");
        /* The loop has no say in how long this takes: mkfs on a big disk,
         * libcryptsetup, udev, NSS. Only `result` is written. */
        holders_killed_reset();
        progress_attach(&v->progress);
        m->worker.run(m->worker.userdata, &v->order, &v->result);
        progress_attach(NULL);
        snprintf(v->result.killed, sizeof(v->result.killed), "%s", holders_killed());
        atomic_store(&v->finished, true);
        /* The volume itself: job volumes have no index. */
        uintptr_t which = (uintptr_t) v;
        while (write(m->wake[1], &which, sizeof(which)) < 0 && errno == EINTR)
                ;
        return NULL;
}

int volume_add_waiter(Volume *v, Operation *op) {
        Operation **n = realloc(v->waiters, sizeof(Operation *) * (v->n_waiters + 1));
        if (!n)
                return -ENOMEM;
        v->waiters = n;
        v->waiters[v->n_waiters++] = operation_ref(op);
        operation_add(op);
        return 0;
}

int volume_launch(Volume *v, const Caller *c, Operation *op) {
        int r;

        if (op) {
                r = volume_add_waiter(v, op);
                if (r < 0)
                        return r;
        }
        v->work = v->order.kind;
        v->work_start = now_usec();
        v->work_caller = *c;
        v->result = (WorkResult) {};
        v->overdue = false;
        v->release_when_done = false;
        atomic_store(&v->finished, false);
        atomic_store(&v->progress.step, "start");
        atomic_store(&v->progress.since, v->work_start);
        uint64_t timeout = (uint64_t) v->manager->config->daemon.work_timeout_sec * USEC_PER_SEC;
        if (!v->deadline_source)
                r = sd_event_add_time_relative(v->manager->event, &v->deadline_source, CLOCK_MONOTONIC, timeout,
                                               USEC_PER_SEC, on_work_deadline, v);
        else
                r = sd_event_source_set_time_relative(v->deadline_source, timeout);
        if (r >= 0)
                r = sd_event_source_set_enabled(v->deadline_source, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "%s: cannot arm the deadline of its work: %m", v->sc->name);
        r = -pthread_create(&v->thread, NULL, work_main, v);
        if (r < 0) {
                (void) sd_event_source_set_enabled(v->deadline_source, SD_EVENT_OFF);
                v->work = WORK_NONE;
                if (op) {
                        operation_unref(v->waiters[--v->n_waiters]);
                        op->n_pending--;
                }
                return log_error_errno(r, "%s: cannot start a worker: %m", v->sc->name);
        }
        if (v->work != WORK_ADOPT)
                manager_volume_changed(v->manager, v);
        return 0;
}

int volume_start(Volume *v, WorkKind kind, const Caller *c, const char *job, Operation *op) {
        assert(kind == WORK_ADOPT || kind == WORK_RELEASE || kind == WORK_WIPE);
        if (!volume_idle(v))
                return -EBUSY;

        if (kind == WORK_RELEASE) {
                Record next = v->rec;
                int r = lifecycle_apply(&next, EVENT_RELEASE, &(LifecycleArgs) { .job = job });
                if (r < 0)
                        return r;
                /* The worker starts from what is on file: save before it
                 * starts. If that fails the wipe goes on all the same: its
                 * first step records WIPING, or fences the volume. */
                r = record_save(v->manager->state_dir, v->sc->name, &next);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot record the release of job %s: %m; wiping all the same",
                                          v->sc->name, job);
                fault_point("release-saved");
                volume_audit(v, "release", c, job, v->rec.state, next.state, 0, "ok", NULL);
                v->rec = next;
        }

        v->order = (WorkOrder) { .kind = kind, .sc = v->sc };
        snprintf(v->order.job, sizeof(v->order.job), "%s", job ?: "");
        return volume_launch(v, c, op);
}

int volume_start_prepare(Volume *v, const Caller *c, const char *job, const char *user, uid_t uid, Operation *op) {
        LifecycleState next;
        int r;

        if (!volume_idle(v))
                return -EBUSY;
        r = lifecycle_next(v->rec.state, EVENT_PREPARE, &next);
        if (r < 0)
                return r;

        v->order = (WorkOrder) { .kind = WORK_PREPARE, .sc = v->sc, .uid = uid };
        snprintf(v->order.job, sizeof(v->order.job), "%s", job);
        snprintf(v->order.user, sizeof(v->order.user), "%s", user ?: "");
        return volume_launch(v, c, op);
}

static int on_adopt_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        Volume *v = userdata;
        if (volume_idle(v) && v->rec.state == STATE_ABSENT)
                (void) volume_start(v, WORK_ADOPT, &volume_self_caller, NULL, NULL);
        return 0;
}

static void schedule_adopt_retry(Volume *v) {
        if (!v->retry_usec)
                v->disk_wait_until = now_usec() + DISK_WAIT_USEC;
        v->retry_usec = v->retry_usec ? v->retry_usec * 2 : ADOPT_RETRY_FIRST_USEC;
        if (v->retry_usec > ADOPT_RETRY_MAX_USEC)
                v->retry_usec = ADOPT_RETRY_MAX_USEC;
        if (!v->retry_source) {
                if (sd_event_add_time_relative(v->manager->event, &v->retry_source, CLOCK_MONOTONIC, v->retry_usec,
                                               100 * USEC_PER_MSEC, on_adopt_retry, v) < 0)
                        return;
        } else
                sd_event_source_set_time_relative(v->retry_source, v->retry_usec);
        sd_event_source_set_enabled(v->retry_source, SD_EVENT_ONESHOT);
        log_info("%s: trying again in %llu s", v->sc->name, (unsigned long long) (v->retry_usec / USEC_PER_SEC));
}

/* Prepare's result: the job holds the volume once that is on file. */
static bool prepare_done(Volume *v) {
        const WorkResult *res = &v->result;
        const char *job = v->order.job;
        LifecycleState from = v->rec.state;
        uint64_t usec = now_usec() - v->work_start;

        if (res->r >= 0) {
                Record next = v->rec;
                int r = lifecycle_apply(&next, EVENT_PREPARE,
                                        &(LifecycleArgs) { .job = job, .user = res->user, .uid = res->uid });
                if (r >= 0)
                        r = record_save(v->manager->state_dir, v->sc->name, &next);
                fault_point("prepare-saved");
                if (r >= 0) {
                        v->rec = next;
                        v->counters.prepares++;
                        log_info("%s: handed to job %s (user %s), key generation %" PRIu64, v->sc->name, job,
                                 v->rec.user, v->rec.generation);
                        volume_audit(v, "prepare", &v->work_caller, job, from, v->rec.state, usec, "ok", NULL);
                        return true;
                }
                /* Unchanged but for an empty directory, which the next wipe takes. */
                log_error_errno(r, "%s: cannot record the new state: %m", v->sc->name);
                v->result.error = API_ERROR_INTERNAL;
                snprintf(v->result.reason, sizeof(v->result.reason), "cannot record the new state");
        } else if (streq_ptr(res->error, API_ERROR_INTERNAL))
                log_error("%s: prepare of job %s failed: %s", v->sc->name, job, res->reason);
        v->counters.prepare_failures++;
        volume_audit(v, "prepare", &v->work_caller, job, from, v->rec.state, usec, v->result.error, NULL);
        return false;
}

/* The job's epilog came while its prolog's Prepare was in the worker: the
 * job is over, so its volume is released now, for those calls. They keep the
 * reference and the count they hold on this volume. */
static void release_after_prepare(Volume *v, Operation **ops, size_t n) {
        int r = volume_start(v, WORK_RELEASE, &ops[0]->call->caller, v->rec.job, NULL);
        Operation **w = r < 0 ? NULL : realloc(v->waiters, sizeof(Operation *) * (v->n_waiters + n));
        if (!w) {
                /* Not started: answer as a failure, the volume stays the job's. */
                for (size_t i = 0; i < n; i++) {
                        operation_volume_done(ops[i], v, true);
                        operation_unref(ops[i]);
                }
                return;
        }
        v->waiters = w;
        /* From now on they wait for the release itself: a failed Prepare
         * was nothing to erase, a failed release is a failure of theirs. */
        for (size_t i = 0; i < n; i++) {
                ops[i]->release_after_prepare = false;
                v->waiters[v->n_waiters++] = ops[i];
        }
}

void volume_work_joined(Volume *v, WorkKind w) {
        (void) sd_event_source_set_enabled(v->deadline_source, SD_EVENT_OFF);
        if (v->overdue)
                log_notice("%s%s%s: the overdue %s ended after %llu s (%s)", v->sc->name, v->pool ? " " : "",
                           v->pool ? v->order.job : "", work_description(w),
                           (unsigned long long) ((now_usec() - v->work_start) / USEC_PER_SEC),
                           v->result.r < 0 ? "failed" : "done");
        v->overdue = false;
}

void volume_work_done(Volume *v) {
        pthread_join(v->thread, NULL);
        volume_work_joined(v, v->work);

        WorkKind w = v->work;
        bool failed;
        v->work = WORK_NONE;

        if (w == WORK_PREPARE)
                failed = !prepare_done(v);
        else {
                LifecycleState from = v->rec.state;
                uint64_t gen_before = v->rec.generation;
                uint64_t usec = now_usec() - v->work_start;

                /* What the engine recorded (through the lifecycle) is the volume's now. */
                v->rec = v->result.rec;
                failed = v->result.r < 0;
                bool wiped = v->rec.generation != gen_before || w != WORK_ADOPT;
                if (wiped)
                        duration_observe(&v->counters.wipe_seconds, usec);
                if (w == WORK_RELEASE)
                        duration_observe(&v->counters.release_seconds, usec);
                if (wiped) {
                        if (failed)
                                v->counters.wipe_failures++;
                        else
                                v->counters.wipes++;
                }
                if (w == WORK_RELEASE) {
                        if (failed)
                                v->counters.release_failures++;
                        else
                                v->counters.releases++;
                }
                volume_erasure_done(v, v, &v->result);
                volume_audit(v, w == WORK_ADOPT ? "adopt" : "wipe", &v->work_caller, v->order.job, from, v->rec.state,
                             usec, failed ? API_ERROR_VOLUME_FAILED : "ok", failed ? v->rec.reason : NULL);
                v->result.erasure = (ErasureOutcome) {};

                /* No disk to take (not there yet, refused, busy): try again
                 * later, after an adoption or after a wipe that found none
                 * (ABSENT: nothing was written, nothing is held). A volume
                 * a wipe left FAILED waits for an operator instead. */
                if (failed && ((w == WORK_ADOPT && !wiped) || v->rec.state == STATE_ABSENT))
                        schedule_adopt_retry(v);
                else if (w == WORK_ADOPT || !failed)
                        v->retry_usec = v->disk_wait_until = 0;
                if (w == WORK_ADOPT)
                        v->settled = true;
                v->result.killed[0] = 0;
                if (v->sc->mode == SCRATCH_MODE_SHARED)
                        pool_work_done(v, w);
        }

        /* Answers go out from the loop (the transport defers), so that no
         * waiter's next call runs in the middle of this. */
        Operation **waiters = v->waiters;
        size_t n = v->n_waiters, n_release = 0;
        v->waiters = NULL;
        v->n_waiters = 0;
        for (size_t i = 0; i < n; i++) {
                /* Releases of a job whose Prepare just succeeded wait on. */
                if (w == WORK_PREPARE && !failed && waiters[i]->release_after_prepare) {
                        waiters[n_release++] = waiters[i];
                        continue;
                }
                /* A Release whose job's Prepare failed: the job never had
                 * the volume, nothing to erase; a success. */
                operation_volume_done(waiters[i], v, failed && !waiters[i]->release_after_prepare);
                operation_unref(waiters[i]);
        }
        if (n_release > 0)
                release_after_prepare(v, waiters, n_release);
        free(waiters);
        /* A Prepare answered failed at its deadline ended well after all:
         * its job will not run, so the volume is erased for the next. */
        if (w == WORK_PREPARE && !failed && v->release_when_done && volume_idle(v)) {
                log_notice("%s: job %s's Prepare ended after it was answered failed; releasing", v->sc->name,
                           v->rec.job);
                (void) volume_start(v, WORK_RELEASE, &volume_self_caller, v->rec.job, NULL);
        }
        v->release_when_done = false;

        manager_volume_changed(v->manager, v);
}
