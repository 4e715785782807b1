/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stale volumes (JobCheck=): a volume, or a job volume, whose job no longer
 * runs on the node, its epilog never come (the job was killed with slurmd,
 * the node's epilog timed out, an admin cancelled it by hand). Shown in
 * status and the metrics once the job has been gone for StaleAfterSec=,
 * and released by the daemon itself with ReleaseStale=yes. */
#include <inttypes.h>
#include <time.h>

#include "scratchd/jobcheck.h"
#include "scratchd/log.h"
#include "scratchd/manager.h"
#include "scratchd/util.h"

/* Often enough that StaleAfterSec='s minimum (30 s) means something; a
 * look is a stat() or two per job. */
#define STALE_CHECK_USEC (30 * USEC_PER_SEC)

/* The job holding `v` now, or NULL: an idle volume IN_USE (a job volume
 * the same; the spare holds none). Work in flight (a release running) is
 * left to end. */
static const char *held_by(const Volume *v) {
        if (!volume_idle(v) || (v->pool && job_is_spare(v)) || v->rec.state != STATE_IN_USE || !v->rec.job[0])
                return NULL;
        return v->rec.job;
}

bool volume_stale(const Volume *v) {
        const DaemonConfig *d = &v->manager->config->daemon;
        return d->job_check != JOB_CHECK_NONE && v->job_gone_usec > 0 && held_by(v) &&
               now_usec() - v->job_gone_usec >= (uint64_t) d->stale_after_sec * USEC_PER_SEC;
}

static void forget(Volume *v) {
        v->job_gone_usec = 0;
        v->job_gone_since = 0;
        v->stale_logged = false;
}

/* Not held any more (released): the next job is seen afresh. */
static void forget_job(Volume *v) {
        forget(v);
        v->job_seen[0] = 0;
}

static void release_stale(Manager *m, Volume *v) {
        char job[sizeof(v->rec.job)];
        snprintf(job, sizeof(job), "%s", v->rec.job);
        int r = v->pool ? job_start_release(v, &volume_self_caller, NULL)
                        : volume_start(v, WORK_RELEASE, &volume_self_caller, job, NULL);
        if (r < 0) {
                log_error_errno(r, "%s: cannot start the release of stale job %s: %m; trying again in 30 s, or "
                                "release it by hand ('scratchctl release --job %s')", v->sc->name, job, job);
                (v->pool ?: v)->counters.release_failures++;
                return;   /* the next look tries again (the stale event is not written twice) */
        }
        forget_job(v);
        manager_volume_changed(m, v);
}

static void check_volume(Manager *m, Volume *v) {
        const DaemonConfig *d = &m->config->daemon;
        const char *job = held_by(v);
        if (!job) {
                if (volume_idle(v))
                        forget_job(v);
                return;
        }

        char why[sizeof(m->job_check_blind)];
        int r = jobcheck_slurm(m->cgroup_root, job, v->rec.uid, why, sizeof(why));
        if (r < 0 && r != -EINVAL) {
                /* Cannot see: nothing is called gone (a check that cannot
                 * see is no proof); status and the metrics say so. */
                snprintf(m->job_check_blind, sizeof(m->job_check_blind), "%s", why);
                forget(v);
                return;
        }
        if (r != 0) {   /* running, or not a job Slurm knows by id (a job prepared by hand) */
                if (r > 0)
                        snprintf(v->job_seen, sizeof(v->job_seen), "%s", job);
                forget(v);
                return;
        }
        /* Gone, but never seen running: the window between the prolog and
         * the job's first cgroup (the extern step starts once every prolog
         * has ended), or a job that ended while the daemon was down. Not
         * proof enough to erase anything. */
        if (!streq(v->job_seen, job))
                return;
        if (v->job_gone_usec == 0) {
                v->job_gone_usec = now_usec();
                v->job_gone_since = (int64_t) time(NULL);
                log_info("%s: %s; stale in %u s unless it comes back or its epilog releases it", v->sc->name, why,
                         d->stale_after_sec);
        }
        if (!volume_stale(v))
                return;

        /* Said once; released whenever ReleaseStale= is (or, by a reload,
         * becomes) yes. */
        if (!v->stale_logged) {
                v->stale_logged = true;
                char detail[sizeof(why) + 96];
                snprintf(detail, sizeof(detail), "%s (for %u s or more); %s", why, d->stale_after_sec,
                         d->release_stale ? "released (ReleaseStale=yes)"
                                          : "kept until its epilog or an admin releases it");
                log_warning("%s: job %s is stale: %s", v->sc->name, job, detail);
                volume_audit(v, "stale", &volume_self_caller, job, v->rec.state, v->rec.state, 0, "ok", detail);
                if (!d->release_stale)
                        manager_volume_changed(m, v);
        }
        if (d->release_stale)
                release_stale(m, v);
}

void stale_check(Manager *m) {
        char blind_before[sizeof(m->job_check_blind)];
        snprintf(blind_before, sizeof(blind_before), "%s", m->job_check_blind);
        /* Whether the check can see at all, job or no job (so that a node
         * that cannot is told between jobs too): the positive control. */
        if (jobcheck_slurm_visible(m->cgroup_root, m->job_check_blind, sizeof(m->job_check_blind)) >= 0)
                m->job_check_blind[0] = 0;
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                check_volume(m, v);
                /* A release may add or drop job volumes: by index, again. */
                for (size_t k = 0; k < v->n_jobs; k++)
                        check_volume(m, v->jobs[k]);
        }
        /* Said once, when it changes. */
        if (m->job_check_blind[0] && !streq(m->job_check_blind, blind_before))
                log_warning("JobCheck=slurm cannot see: %s; no volume is found stale meanwhile", m->job_check_blind);
        else if (blind_before[0] && !m->job_check_blind[0])
                log_info("JobCheck=slurm sees the jobs again");
}

static int on_stale_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (m->config->daemon.job_check != JOB_CHECK_NONE)
                stale_check(m);
        else {
                m->job_check_blind[0] = 0;
                for (size_t i = 0; i < m->n_volumes; i++) {
                        forget(&m->volumes[i]);
                        for (size_t k = 0; k < m->volumes[i].n_jobs; k++)
                                forget(m->volumes[i].jobs[k]);
                }
        }
        (void) sd_event_source_set_time_relative(es, STALE_CHECK_USEC);
        return sd_event_source_set_enabled(es, SD_EVENT_ON);
}

int stale_start(Manager *m) {
        if (!m->cgroup_root)
                m->cgroup_root = CGROUP_ROOT;
        /* Always armed: a reload may turn JobCheck= on. */
        return sd_event_add_time_relative(m->event, &m->stale_timer, CLOCK_MONOTONIC, STALE_CHECK_USEC,
                                          USEC_PER_SEC, on_stale_timer, m);
}
