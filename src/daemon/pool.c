/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared mode in the daemon: a pool's job volumes, each a Volume of its own
 * with its own worker, so that one job's release never waits for another's. */
#include <assert.h>
#include <inttypes.h>
#include <time.h>

#include "scratchd/api.h"
#include "scratchd/fault.h"
#include "scratchd/jobvol.h"
#include "scratchd/lifecycle.h"
#include "scratchd/log.h"
#include "scratchd/manager.h"
#include "scratchd/reserve.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"
#include "scratchd/volume.h"

/* How often the spare is checked: made where it is missing, re-keyed where it waited too long. */
#define SPARE_CHECK_USEC (300 * USEC_PER_SEC)

uint64_t pool_bytes(const Volume *pool) {
        ThinPlan plan;
        char why[256];
        if (pool->rec.state != STATE_CLEAN || pool->rec.data_size == 0 ||
            thin_plan(pool->rec.data_size, 0, &plan, why, sizeof(why)) < 0)
                return 0;
        return plan.data_size;
}

/* The spare: no job's yet. A fenced one is no spare: its space stays reserved. */
bool job_is_spare(const Volume *j) {
        return j->pool && !j->rec.job[0] && j->rec.state != STATE_FAILED;
}

bool job_being_made(const Volume *j) {
        return j->work == WORK_JOB_CREATE || j->work == WORK_JOB_ASSIGN;
}

Volume *pool_spare(const Volume *pool) {
        for (size_t i = 0; i < pool->n_jobs; i++)
                if (job_is_spare(pool->jobs[i]))
                        return pool->jobs[i];
        return NULL;
}

bool pool_spare_ready(const Volume *pool) {
        const Volume *s = pool_spare(pool);
        return s && volume_idle(s) && s->rec.state == STATE_CLEAN;
}

unsigned pool_n_jobs(const Volume *pool) {
        unsigned n = 0;
        for (size_t i = 0; i < pool->n_jobs; i++)
                n += !job_is_spare(pool->jobs[i]);
        return n;
}

/* The job volumes' sizes, fenced ones included; not the spare's, which
 * gives its space up to any job that needs it. */
uint64_t pool_reserved_bytes(const Volume *pool) {
        uint64_t sum = 0;
        for (size_t i = 0; i < pool->n_jobs; i++)
                if (!job_is_spare(pool->jobs[i]))
                        sum += pool->jobs[i]->rec.data_size;
        return sum;
}

static uint64_t spare_bytes(const Volume *pool) {
        const Volume *s = pool_spare(pool);
        return s ? s->rec.data_size : 0;
}

static uint64_t default_size(const Volume *pool, const ThinPlan *plan) {
        return job_size_resolve(&pool->sc->job_size, plan->data_size, pool->sc->max_jobs, plan->block_size);
}

uint64_t pool_default_job_size(const Volume *pool) {
        ThinPlan plan;
        char why[256];
        if (pool->rec.data_size == 0 || thin_plan(pool->rec.data_size, 0, &plan, why, sizeof(why)) < 0)
                return 0;
        return default_size(pool, &plan);
}

bool pool_released_recently(const Volume *pool, const char *job) {
        if (streq(pool->rec.last_job, job))
                return true;
        for (size_t i = 0; i < POOL_RELEASED_MAX && i < pool->n_released; i++)
                if (streq(pool->released[i], job))
                        return true;
        return false;
}

Volume *pool_find_job(Manager *m, const char *job) {
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *p = &m->volumes[i];
                for (size_t k = 0; k < p->n_jobs; k++)
                        if (streq(p->jobs[k]->rec.job, job))
                                return p->jobs[k];
        }
        return NULL;
}

static Volume *job_new(Volume *pool, const Record *rec) {
        Volume **l = realloc(pool->jobs, sizeof(Volume *) * (pool->n_jobs + 1));
        if (!l)
                return NULL;
        pool->jobs = l;
        Volume *j = calloc(1, sizeof(Volume));
        if (!j)
                return NULL;
        *j = (Volume) { .manager = pool->manager, .sc = pool->sc, .rec = *rec, .lock_fd = -EBADF, .pool = pool };
        pool->jobs[pool->n_jobs++] = j;
        return j;
}

static void job_free(Volume *j) {
        Volume *pool = j->pool;
        for (size_t i = 0; i < pool->n_jobs; i++)
                if (pool->jobs[i] == j) {
                        memmove(pool->jobs + i, pool->jobs + i + 1, sizeof(Volume *) * (pool->n_jobs - i - 1));
                        pool->n_jobs--;
                        break;
                }
        volume_done(j);
        free(j);
}

void pool_drop_jobs(Volume *pool) {
        while (pool->n_jobs > 0)
                job_free(pool->jobs[pool->n_jobs - 1]);
        free(pool->jobs);
        pool->jobs = NULL;
}

/* The next thin id no job volume of the pool holds. */
static uint32_t next_thin_id(Volume *pool) {
        for (;;) {
                uint32_t id = pool->rec.thin_id;
                if (id == 0 || id > THIN_ID_MAX)
                        id = 1;
                pool->rec.thin_id = id + 1;
                bool taken = false;
                for (size_t i = 0; i < pool->n_jobs && !taken; i++)
                        taken = pool->jobs[i]->rec.thin_id == id;
                if (!taken)
                        return id;
        }
}

/* Makes a volume for `job` (NULL: the spare). */
static int start_create(Volume *pool, const Caller *c, const char *job, const char *user, uid_t uid, uint64_t size,
                        Operation *op, char *why, size_t why_size);

int pool_start_job(Volume *pool, const Caller *c, const char *job, const char *user, uid_t uid, uint64_t size,
                   Operation *op, char *why, size_t why_size) {
        const ScratchConfig *sc = pool->sc;
        ThinPlan plan;
        LifecycleState next;
        int r;

        /* Job volumes are made while the pool is CLEAN and nothing else
         * works on the pool itself (its adoption, a wipe). */
        if (!volume_idle(pool))
                return -EBUSY;
        r = lifecycle_next(pool->rec.state, EVENT_PREPARE, &next);
        if (r < 0)
                return r;
        r = thin_plan(pool->rec.data_size, 0, &plan, why, why_size);
        if (r < 0)
                return -EIO;

        if (size == 0)
                size = job_size_resolve(&sc->job_size, plan.data_size, sc->max_jobs, plan.block_size);
        else    /* the pool hands out whole blocks */
                size = (size + plan.block_size - 1) / plan.block_size * plan.block_size;
        Reservations res = {
                .pool_bytes = plan.data_size,
                .reserved_bytes = pool_reserved_bytes(pool),
                .n_jobs = pool_n_jobs(pool),
                .max_jobs = sc->max_jobs,
        };
        r = reserve_check(&res, size, why, why_size);
        if (r < 0)
                return r;

        /* The spare, if it is of this size: only mounted for the job. */
        Volume *spare = pool_spare(pool);
        if (spare && pool_spare_ready(pool) && spare->rec.data_size == size) {
                spare->order = (WorkOrder) { .kind = WORK_JOB_ASSIGN, .sc = sc, .uid = uid, .job_rec = spare->rec };
                snprintf(spare->order.job, sizeof(spare->order.job), "%s", job);
                snprintf(spare->order.user, sizeof(spare->order.user), "%s", user ?: "");
                /* The job's from now: found by its job id, counted as a job. */
                snprintf(spare->rec.job, sizeof(spare->rec.job), "%s", job);
                snprintf(spare->rec.user, sizeof(spare->rec.user), "%s", user ?: "");
                r = volume_launch(spare, c, op);
                if (r < 0)
                        spare->rec.job[0] = spare->rec.user[0] = 0;
                return r;
        }
        /* Room only where the spare stands: it goes first, then this job's
         * volume is made (answered by pool_pending_start()). */
        if (spare && res.reserved_bytes + spare_bytes(pool) + size > plan.data_size) {
                /* ...unless the spare's own work has overrun its deadline. */
                if (spare->overdue) {
                        snprintf(why, why_size, "%s", spare->overdue_reason);
                        return -EIO;
                }
                if (pool->pending)
                        return -EBUSY;
                PendingPrepare *p = calloc(1, sizeof(PendingPrepare));
                if (!p)
                        return -ENOMEM;
                *p = (PendingPrepare) { .op = operation_ref(op), .caller = *c, .uid = uid, .size = size };
                snprintf(p->job, sizeof(p->job), "%s", job);
                snprintf(p->user, sizeof(p->user), "%s", user ?: "");
                operation_add(op);
                pool->pending = p;
                if (volume_idle(spare))
                        (void) job_start_release(spare, &volume_self_caller, NULL);
                log_info("%s: the spare gives its space up to job %s's volume of %" PRIu64 " bytes", sc->name, job,
                         size);
                return 0;
        }

        return start_create(pool, c, job, user, uid, size, op, why, why_size);
}

static int start_create(Volume *pool, const Caller *c, const char *job, const char *user, uid_t uid, uint64_t size,
                        Operation *op, char *why, size_t why_size) {
        const ScratchConfig *sc = pool->sc;
        int r;

        /* The thin id and key generation are on file before they are used:
         * a crash never lets either be handed out twice. */
        Record saved = pool->rec;
        uint32_t id = next_thin_id(pool);
        uint64_t generation = ++pool->rec.generation;
        r = record_save(pool->manager->state_dir, sc->name, &pool->rec);
        if (r < 0) {
                pool->rec = saved;
                snprintf(why, why_size, "cannot record the pool's state: %s", strerror(-r));
                return log_error_errno(r, "%s: %s", sc->name, why);
        }

        Record rec = { .state = STATE_WIPING, .generation = generation, .data_size = size, .thin_id = id };
        snprintf(rec.job, sizeof(rec.job), "%s", job ?: "");
        snprintf(rec.user, sizeof(rec.user), "%s", user ?: "");
        rec.uid = (uint32_t) uid;
        Volume *j = job_new(pool, &rec);
        if (!j)
                return -ENOMEM;
        j->order = (WorkOrder) { .kind = WORK_JOB_CREATE, .sc = sc, .uid = uid, .size = size, .thin_id = id,
                                 .generation = generation, .pool = pool->rec };
        snprintf(j->order.job, sizeof(j->order.job), "%s", job ?: "");
        snprintf(j->order.user, sizeof(j->order.user), "%s", user ?: "");
        r = volume_launch(j, c, op);
        if (r < 0)
                job_free(j);
        return r;
}

void pool_spare_ensure(Volume *pool) {
        ThinPlan plan;
        char why[256];

        if (pool->sc->mode != SCRATCH_MODE_SHARED || !volume_idle(pool) || pool->rec.state != STATE_CLEAN ||
            pool->pending || thin_plan(pool->rec.data_size, 0, &plan, why, sizeof(why)) < 0)
                return;
        Volume *spare = pool_spare(pool);
        if (spare) {
                /* Its key has waited long enough in the kernel: a new one. */
                if (volume_idle(spare) && spare->rec.state == STATE_CLEAN && spare->rec.created > 0 &&
                    time(NULL) - spare->rec.created > SPARE_MAX_AGE_SEC) {
                        log_info("%s: the spare waited more than %d s; re-keying it", pool->sc->name,
                                 SPARE_MAX_AGE_SEC);
                        (void) job_start_release(spare, &volume_self_caller, NULL);
                }
                return;
        }
        /* Not again at once after a failure: each try uses a thin id and a
         * key generation up, and a fenced one keeps its space. */
        if (pool->spare_failed)
                return;
        uint64_t size = default_size(pool, &plan);
        Reservations res = {
                .pool_bytes = plan.data_size,
                .reserved_bytes = pool_reserved_bytes(pool),
                .n_jobs = 0,
                .max_jobs = 1,
        };
        /* Only where it fits beside the jobs: it never stands in their way. */
        if (reserve_check(&res, size, why, sizeof(why)) < 0)
                return;
        if (start_create(pool, &volume_self_caller, NULL, NULL, 0, size, NULL, why, sizeof(why)) < 0)
                log_warning("%s: cannot make a spare job volume: %s", pool->sc->name, why);
}

Volume *pool_find_pending(Manager *m, const char *job) {
        for (size_t i = 0; i < m->n_volumes; i++)
                if (m->volumes[i].pending && streq(m->volumes[i].pending->job, job))
                        return &m->volumes[i];
        return NULL;
}

int pool_pending_add_waiter(Volume *pool, Operation *op) {
        PendingPrepare *p = pool->pending;
        Operation **n = realloc(p->waiters, sizeof(Operation *) * (p->n_waiters + 1));
        if (!n)
                return -ENOMEM;
        p->waiters = n;
        p->waiters[p->n_waiters++] = operation_ref(op);
        operation_add(op);
        return 0;
}

/* Answers a Prepare that waited, and was not started after all. */
static void pending_error(Volume *pool, Operation *op, int r, const char *why) {
        json_object *params = json_object_new_object();
        json_object_object_add(params, "volume", json_object_new_string(pool->sc->name));
        json_object_object_add(params, "reason", json_object_new_string(
                why[0] ? why : "the spare could not give its space up; the journal says why"));
        call_error(op->call, r == -ENOSPC   ? API_ERROR_NO_SPACE
                             : r == -EUSERS ? API_ERROR_TOO_MANY_JOBS
                             : r == -EBUSY  ? API_ERROR_VOLUME_BUSY
                                            : API_ERROR_INTERNAL,
                   params);
        /* Answered here: nothing answers again when its count drops. */
        op->done = NULL;
}

/* Those that waited with a Prepare go on with it: to its next wait, or to
 * the job volume now being made for it. Where there is none (it failed),
 * a retried Prepare gets the same error, and a Release is a success that
 * erases nothing. Each keeps the reference and the count it holds. */
static void pending_pass_waiters(Volume *pool, PendingPrepare *p, int r, const char *why) {
        Operation ***to = NULL;
        size_t *n_to = NULL;

        if (r >= 0 && pool->pending) {
                to = &pool->pending->waiters;
                n_to = &pool->pending->n_waiters;
        } else if (r >= 0)
                for (size_t i = 0; i < pool->n_jobs && !to; i++)
                        if (streq(pool->jobs[i]->rec.job, p->job) && job_being_made(pool->jobs[i])) {
                                to = &pool->jobs[i]->waiters;
                                n_to = &pool->jobs[i]->n_waiters;
                        }
        Operation **moved = NULL;
        if (to && p->n_waiters > 0 && (moved = realloc(*to, sizeof(Operation *) * (*n_to + p->n_waiters))))
                *to = moved;
        for (size_t i = 0; i < p->n_waiters; i++) {
                Operation *op = p->waiters[i];
                if (moved) {
                        moved[(*n_to)++] = op;
                        continue;
                }
                if (!op->release_after_prepare)
                        pending_error(pool, op, r < 0 ? r : -ENOMEM, why);
                operation_volume_done(op, pool, !op->release_after_prepare || r >= 0);
                operation_unref(op);
        }
        free(p->waiters);
        p->waiters = NULL;
        p->n_waiters = 0;
}

/* A Prepare that waited for the spare to give its space up. */
static void pending_start(Volume *pool) {
        PendingPrepare *p = pool->pending;
        char why[512] = "";
        if (!p)
                return;
        pool->pending = NULL;
        int r = pool_start_job(pool, &p->caller, p->job, p->user, p->uid, p->size, p->op, why, sizeof(why));
        if (r < 0) {
                pending_error(pool, p->op, r, why);
                pool->counters.prepare_failures++;
        }
        pending_pass_waiters(pool, p, r, why);
        /* Drops the count taken when it began waiting. Started, the job
         * volume holds a count of its own and answers; not started, it was
         * answered above, so nothing answers again. */
        operation_volume_done(p->op, pool, r < 0);
        operation_unref(p->op);
        free(p);
}

void pool_pending_abort(Volume *pool, const char *why) {
        PendingPrepare *p = pool->pending;
        if (!p)
                return;
        pool->pending = NULL;
        pending_error(pool, p->op, -EIO, why);
        pool->counters.prepare_failures++;
        pending_pass_waiters(pool, p, -EIO, why);
        operation_volume_done(p->op, pool, true);
        operation_unref(p->op);
        free(p);
}

void pool_pending_free(Volume *pool) {
        PendingPrepare *p = pool->pending;
        if (!p)
                return;
        pool->pending = NULL;
        for (size_t i = 0; i < p->n_waiters; i++)
                operation_unref(p->waiters[i]);
        free(p->waiters);
        operation_unref(p->op);
        free(p);
}

int job_start_release(Volume *j, const Caller *c, Operation *op) {
        if (!volume_idle(j))
                return -EBUSY;
        volume_audit(j, "job-release-requested", c, j->rec.job, j->rec.state, STATE_WIPING, 0, "ok", NULL);
        /* The pool's record: its disks, for the erase record. */
        j->order = (WorkOrder) { .kind = WORK_JOB_RELEASE, .sc = j->sc, .job_rec = j->rec, .pool = j->pool->rec };
        snprintf(j->order.job, sizeof(j->order.job), "%s", j->rec.job);
        return volume_launch(j, c, op);
}

/* Answers who waited on `j`, as volume_work_done() does; Releases that came
 * during a successful creation are started on it. */
static void answer_waiters(Volume *j, bool failed, bool created) {
        Operation **waiters = j->waiters;
        size_t n = j->n_waiters, n_release = 0;
        j->waiters = NULL;
        j->n_waiters = 0;
        for (size_t i = 0; i < n; i++) {
                if (created && !failed && waiters[i]->release_after_prepare) {
                        waiters[n_release++] = waiters[i];
                        continue;
                }
                /* A Release whose job's volume was never made: nothing to erase. */
                operation_volume_done(waiters[i], j, failed && !waiters[i]->release_after_prepare);
                operation_unref(waiters[i]);
        }
        /* They keep the reference and the count they hold on this volume. */
        Operation **moved = NULL;
        if (n_release > 0 && job_start_release(j, &waiters[0]->call->caller, NULL) >= 0 &&
            (moved = realloc(j->waiters, sizeof(Operation *) * (j->n_waiters + n_release)))) {
                j->waiters = moved;
                /* From now on they wait for the erase itself: its failure
                 * is theirs. */
                for (size_t i = 0; i < n_release; i++) {
                        waiters[i]->release_after_prepare = false;
                        j->waiters[j->n_waiters++] = waiters[i];
                }
        } else
                for (size_t i = 0; i < n_release; i++) {
                        operation_volume_done(waiters[i], j, true);
                        operation_unref(waiters[i]);
                }
        free(waiters);
}

void job_work_done(Volume *j) {
        Volume *pool = j->pool;
        Manager *m = j->manager;
        WorkKind w = j->work;
        uint64_t usec = now_usec() - j->work_start;
        LifecycleState from = j->rec.state;
        /* Whose it was: an erase's record keeps the job only as last_job. */
        char job[sizeof(j->rec.job)];
        snprintf(job, sizeof(job), "%s", j->rec.job);

        pthread_join(j->thread, NULL);
        volume_work_joined(j, w);
        j->work = WORK_NONE;
        bool failed = j->result.r < 0;
        j->rec = j->result.rec;

        /* The spare's by its order: a fenced one has no job either, but is no spare. */
        if (w == WORK_JOB_CREATE && !j->order.job[0]) {
                if (failed) {
                        log_warning("%s: the spare job volume failed: %s; trying again in %llu s", pool->sc->name,
                                    j->result.reason, (unsigned long long) (SPARE_CHECK_USEC / USEC_PER_SEC));
                        pool->spare_failed = true;
                }
        } else if (w == WORK_JOB_CREATE || w == WORK_JOB_ASSIGN) {
                if (failed)
                        pool->counters.prepare_failures++;
                else {
                        pool->counters.prepares++;
                        log_info("%s: job %s (user %s) has its own volume at %s, %" PRIu64 " bytes, key generation "
                                 "%" PRIu64, pool->sc->name, j->rec.job, j->rec.user, j->rec.mount_point,
                                 j->rec.data_size, j->rec.generation);
                }
                volume_audit(j, "job-prepare", &j->work_caller, j->rec.job, from, j->rec.state, usec,
                             failed ? (j->result.error ?: API_ERROR_INTERNAL) : "ok",
                             failed ? j->result.reason : NULL);
        } else {
                duration_observe(&pool->counters.wipe_seconds, usec);
                duration_observe(&pool->counters.release_seconds, usec);
                if (failed) {
                        pool->counters.release_failures++;
                        pool->counters.wipe_failures++;
                } else {
                        pool->counters.releases++;
                        pool->counters.wipes++;
                        /* A retried epilog of this job is answered from here. */
                        if (job[0]) {
                                snprintf(pool->rec.last_job, sizeof(pool->rec.last_job), "%s", job);
                                (void) record_save(m->state_dir, pool->sc->name, &pool->rec);
                                snprintf(pool->released[pool->n_released++ % POOL_RELEASED_MAX],
                                         sizeof(pool->released[0]), "%s", job);
                        }
                }
                volume_erasure_done(pool, j, &j->result);
                volume_audit(j, job[0] ? "job-release" : "spare-release", &j->work_caller, job, from,
                             failed ? STATE_FAILED : STATE_ABSENT, usec, failed ? API_ERROR_VOLUME_FAILED : "ok",
                             failed ? j->rec.reason : NULL);
                j->result.erasure = (ErasureOutcome) {};
                j->result.killed[0] = 0;
        }

        answer_waiters(j, failed, w == WORK_JOB_CREATE || w == WORK_JOB_ASSIGN);
        /* Its Prepare was answered failed at its deadline, and it ended well
         * after all: the job will not run, so its volume goes at once. */
        if ((w == WORK_JOB_CREATE || w == WORK_JOB_ASSIGN) && !failed && j->release_when_done && j->rec.job[0] &&
            volume_idle(j)) {
                log_notice("%s: job %s's volume was made after its Prepare was answered failed; releasing it",
                           pool->sc->name, j->rec.job);
                (void) job_start_release(j, &volume_self_caller, NULL);
        }
        j->release_when_done = false;
        /* Gone (erased, or undone): its space is free again. Fenced: it
         * stays, reserved, until the pool is wiped. */
        if (j->rec.state == STATE_ABSENT && volume_idle(j))
                job_free(j);
        pending_start(pool);
        pool_spare_ensure(pool);
        manager_volume_changed(m, pool);
}

void pool_spare_check(Volume *pool) {
        pool->spare_failed = false;
        pool_spare_ensure(pool);
}

static int on_spare_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Volume *pool = userdata;
        pool_spare_check(pool);
        (void) sd_event_source_set_time_relative(es, SPARE_CHECK_USEC);
        (void) sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
        return 0;
}

void pool_work_done(Volume *pool, WorkKind w) {
        WorkResult *res = &pool->result;
        /* The worker saw the pool's job volumes as they are now: those kept
         * (live, or fenced) replace what we knew. */
        pool_drop_jobs(pool);
        for (size_t i = 0; i < res->n_jobs; i++) {
                Volume *j = job_new(pool, &res->jobs[i]);
                if (!j)
                        log_error("%s: out of memory keeping job %s's volume", pool->sc->name, res->jobs[i].job);
                else if (w == WORK_ADOPT)
                        volume_audit(j, "job-adopt", &volume_self_caller, j->rec.job, j->rec.state, j->rec.state, 0,
                                     j->rec.state == STATE_FAILED ? API_ERROR_VOLUME_FAILED : "ok", NULL);
        }
        free(res->jobs);
        res->jobs = NULL;
        res->n_jobs = 0;
        /* Job volumes its adoption could not vouch for, and erased. */
        for (size_t i = 0; i < res->n_erased; i++) {
                const struct ErasedJob *e = &res->erased[i];
                AuditEvent a = {
                        .event = "job-erase",
                        .volume = pool->sc->name,
                        .job = e->job[0] ? e->job : NULL,
                        .user = e->job[0] && e->user[0] ? e->user : NULL,
                        .caller_uid = (uid_t) -1,
                        .generation = e->erasure.key_generation,
                        .result = e->r < 0 ? API_ERROR_VOLUME_FAILED : "ok",
                        .record_error = e->erasure.error < 0 ? strerror(-e->erasure.error) : NULL,
                        .record = e->erasure.name[0] ? e->erasure.name : NULL,
                        .erased_generation = e->erasure.key_generation,
                };
                audit_log(pool->manager->audit, &a);
        }
        free(res->erased);
        res->erased = NULL;
        res->n_erased = 0;

        /* The spare is checked now and then: made where it is missing and
         * fits, re-keyed where it waited too long. A pool made anew tries
         * at once. */
        pool->spare_failed = false;
        if (!pool->spare_timer)
                (void) sd_event_add_time_relative(pool->manager->event, &pool->spare_timer, CLOCK_MONOTONIC,
                                                  SPARE_CHECK_USEC, USEC_PER_SEC, on_spare_timer, pool);
        pool_spare_ensure(pool);
}
