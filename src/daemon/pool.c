/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared mode in the daemon: a pool's job volumes, each a Volume of its own
 * with its own worker, so that one job's release never waits for another's. */
#include <assert.h>
#include <inttypes.h>

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

uint64_t pool_bytes(const Volume *pool) {
        ThinPlan plan;
        char why[256];
        if (pool->rec.state != STATE_CLEAN || pool->rec.data_size == 0 ||
            thin_plan(pool->rec.data_size, 0, &plan, why, sizeof(why)) < 0)
                return 0;
        return plan.data_size;
}

uint64_t pool_reserved_bytes(const Volume *pool) {
        uint64_t sum = 0;
        for (size_t i = 0; i < pool->n_jobs; i++)
                sum += pool->jobs[i]->rec.data_size;
        return sum;
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
                .n_jobs = (unsigned) pool->n_jobs,
                .max_jobs = sc->max_jobs,
        };
        r = reserve_check(&res, size, why, why_size);
        if (r < 0)
                return r;

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
        snprintf(rec.job, sizeof(rec.job), "%s", job);
        snprintf(rec.user, sizeof(rec.user), "%s", user ?: "");
        rec.uid = (uint32_t) uid;
        Volume *j = job_new(pool, &rec);
        if (!j)
                return -ENOMEM;
        j->order = (WorkOrder) { .kind = WORK_JOB_CREATE, .sc = sc, .uid = uid, .size = size, .thin_id = id,
                                 .generation = generation, .pool = pool->rec };
        snprintf(j->order.job, sizeof(j->order.job), "%s", job);
        snprintf(j->order.user, sizeof(j->order.user), "%s", user ?: "");
        r = volume_launch(j, c, op);
        if (r < 0)
                job_free(j);
        return r;
}

int job_start_release(Volume *j, const Caller *c, Operation *op) {
        if (!volume_idle(j))
                return -EBUSY;
        volume_audit(j, "job-release-requested", c, j->rec.job, j->rec.state, STATE_WIPING, 0, "ok", NULL);
        j->order = (WorkOrder) { .kind = WORK_JOB_RELEASE, .sc = j->sc, .job_rec = j->rec };
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
                for (size_t i = 0; i < n_release; i++)
                        j->waiters[j->n_waiters++] = waiters[i];
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

        pthread_join(j->thread, NULL);
        j->work = WORK_NONE;
        bool failed = j->result.r < 0;
        j->rec = j->result.rec;

        if (w == WORK_JOB_CREATE) {
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
                if (failed) {
                        pool->counters.release_failures++;
                        pool->counters.wipe_failures++;
                } else {
                        pool->counters.releases++;
                        pool->counters.wipes++;
                        /* A retried epilog of this job is answered from here. */
                        snprintf(pool->rec.last_job, sizeof(pool->rec.last_job), "%s", j->rec.job);
                        (void) record_save(m->state_dir, pool->sc->name, &pool->rec);
                }
                volume_audit(j, "job-release", &j->work_caller, j->rec.job, from,
                             failed ? STATE_FAILED : STATE_ABSENT, usec, failed ? API_ERROR_VOLUME_FAILED : "ok",
                             failed ? j->rec.reason : NULL);
        }

        answer_waiters(j, failed, w == WORK_JOB_CREATE);
        /* Gone (erased, or undone): its space is free again. Fenced: it
         * stays, reserved, until the pool is wiped. */
        if (j->rec.state == STATE_ABSENT && volume_idle(j))
                job_free(j);
        manager_volume_changed(m, pool);
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
}
