/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The io.scratchd methods over the daemon's volumes: what each call does,
 * and every JSON shape a client sees (status, metrics, replies, errors). */
#include <limits.h>
#include <sys/statvfs.h>

#include "scratchd/api.h"
#include "scratchd/lifecycle.h"
#include "scratchd/log.h"
#include "scratchd/manager.h"
#include "scratchd/metrics.h"
#include "scratchd/reserve.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"

/* ---- shapes ---- */

static bool volume_mounted_size(const Volume *v, uint64_t *ret_size, uint64_t *ret_used) {
        struct statvfs sv;
        LifecycleState st = volume_visible_state(v);
        if ((st != STATE_CLEAN && st != STATE_IN_USE) || v->sc->mode == SCRATCH_MODE_SHARED ||
            statvfs(v->sc->mount_point, &sv) < 0)
                return false;
        *ret_size = (uint64_t) sv.f_blocks * sv.f_frsize;
        *ret_used = *ret_size - (uint64_t) sv.f_bfree * sv.f_frsize;
        return true;
}

/* JobCheck=: whether the job holding `v` is gone, and since when. */
static void stale_json(const Volume *v, json_object *o) {
        if (v->manager->config->daemon.job_check == JOB_CHECK_NONE || volume_visible_state(v) != STATE_IN_USE)
                return;
        json_object_object_add(o, "stale", json_object_new_boolean(volume_stale(v)));
        if (v->job_gone_since)
                json_object_object_add(o, "job_gone_since", json_object_new_int64(v->job_gone_since));
}

static json_object *job_json(const Volume *j) {
        json_object *o = json_object_new_object();
        struct statvfs sv;
        LifecycleState state = volume_visible_state(j);
        json_object_object_add(o, "job", json_object_new_string(j->rec.job));
        json_object_object_add(o, "user", json_object_new_string(j->rec.user));
        json_object_object_add(o, "uid", json_object_new_int64(j->rec.uid));
        json_object_object_add(o, "state", json_object_new_string(lifecycle_state_to_string(state)));
        if (volume_activity(j))
                json_object_object_add(o, "activity", json_object_new_string(volume_activity(j)));
        json_object_object_add(o, "directory", json_object_new_string(j->rec.mount_point));
        json_object_object_add(o, "size_bytes", json_object_new_uint64(j->rec.data_size));
        if (state == STATE_IN_USE && statvfs(j->rec.mount_point, &sv) == 0)
                json_object_object_add(o, "used_bytes", json_object_new_uint64(
                        (uint64_t) (sv.f_blocks - sv.f_bfree) * sv.f_frsize));
        json_object_object_add(o, "key_generation", json_object_new_uint64(j->rec.generation));
        json_object_object_add(o, "thin_id", json_object_new_int64(j->rec.thin_id));
        if (j->rec.created)
                json_object_object_add(o, "created", json_object_new_int64(j->rec.created));
        stale_json(j, o);
        if (state == STATE_FAILED)
                json_object_object_add(o, "reason", json_object_new_string(volume_reason(j)));
        return o;
}

/* A pool's numbers: its size for job volumes, what they reserve, what the
 * thin pool has written, and each job volume. */
static void pool_json(const Volume *v, json_object *o) {
        json_object *p = json_object_new_object(), *jobs = json_object_new_array();
        uint64_t size = pool_bytes(v), reserved = pool_reserved_bytes(v);
        ThinPoolUsage u;
        json_object_object_add(p, "size_bytes", json_object_new_uint64(size));
        json_object_object_add(p, "reserved_bytes", json_object_new_uint64(reserved));
        json_object_object_add(p, "free_bytes", json_object_new_uint64(size > reserved ? size - reserved : 0));
        json_object_object_add(p, "jobs", json_object_new_int64(pool_n_jobs(v)));
        json_object_object_add(p, "max_jobs", json_object_new_int64(v->sc->max_jobs));
        json_object_object_add(p, "job_size_bytes", json_object_new_uint64(size ? pool_default_job_size(v) : 0));
        if (v->rec.state == STATE_CLEAN && thin_pool_usage(v->sc->name, &u) >= 0) {
                json_object_object_add(p, "written_bytes", json_object_new_uint64(u.data_used));
                json_object_object_add(p, "metadata_used_bytes", json_object_new_uint64(u.meta_used));
                json_object_object_add(p, "metadata_bytes", json_object_new_uint64(u.meta_total));
        }
        const Volume *spare = pool_spare(v);
        json_object_object_add(p, "spare_ready", json_object_new_boolean(pool_spare_ready(v)));
        if (spare) {
                json_object_object_add(p, "spare_bytes", json_object_new_uint64(spare->rec.data_size));
                if (spare->rec.created)
                        json_object_object_add(p, "spare_created", json_object_new_int64(spare->rec.created));
        }
        json_object_object_add(o, "pool", p);
        for (size_t i = 0; i < v->n_jobs; i++)
                if (!job_is_spare(v->jobs[i]))
                        json_object_array_add(jobs, job_json(v->jobs[i]));
        json_object_object_add(o, "jobs", jobs);
}

static json_object *volume_json(const Volume *v) {
        const Record *r = &v->rec;
        json_object *o = json_object_new_object(), *devs = json_object_new_array();
        LifecycleState state = volume_visible_state(v);
        uint64_t size, used;

        json_object_object_add(o, "name", json_object_new_string(v->sc->name));
        json_object_object_add(o, "mode", json_object_new_string(scratch_mode_to_string(v->sc->mode)));
        for (char **d = v->sc->devices; d && *d; d++)
                json_object_array_add(devs, json_object_new_string(*d));
        json_object_object_add(o, "devices", devs);
        if (r->device[0])
                json_object_object_add(o, "device", json_object_new_string(r->device));
        /* The layout under dm-crypt: one disk (dm-linear) or a stripe. */
        if (r->data_size > 0) {
                json_object *g = json_object_new_object(), *disks = json_object_new_array();
                _cleanup_free_ char *copy = strdup(r->device);
                char *save = NULL;
                for (char *d = copy ? strtok_r(copy, " ", &save) : NULL; d; d = strtok_r(NULL, " ", &save))
                        json_object_array_add(disks, json_object_new_string(d));
                json_object_object_add(g, "disks", disks);
                json_object_object_add(g, "chunk_bytes", json_object_new_uint64(r->chunk_size));
                json_object_object_add(g, "data_bytes", json_object_new_uint64(r->data_size));
                json_object_object_add(o, "layout", g);
        }
        json_object_object_add(o, "state", json_object_new_string(lifecycle_state_to_string(state)));
        /* Being adopted: shown in its recorded state, but not to be had yet. */
        if (v->work == WORK_ADOPT)
                json_object_object_add(o, "adopting", json_object_new_boolean(true));
        if (volume_activity(v))
                json_object_object_add(o, "activity", json_object_new_string(volume_activity(v)));
        if (r->job[0] && state == STATE_IN_USE) {
                json_object_object_add(o, "job", json_object_new_string(r->job));
                json_object_object_add(o, "user", json_object_new_string(r->user));
                json_object_object_add(o, "uid", json_object_new_int64(r->uid));
        }
        json_object_object_add(o, "key_generation", json_object_new_uint64(r->generation));
        if (r->cipher[0]) {
                json_object_object_add(o, "cipher", json_object_new_string(r->cipher));
                json_object_object_add(o, "sector_size", json_object_new_int64(r->sector_size));
        }
        /* Only a record that kept the data-path settings can tell them. */
        if (r->cipher[0] && r->tuning[0]) {
                json_object_object_add(o, "key_bits", json_object_new_int64(r->key_bits));
                json_object_object_add(o, "bypass_workqueues", json_object_new_boolean(r->bypass_workqueues));
                json_object_object_add(o, "allow_discards", json_object_new_boolean(r->allow_discards));
                json_object_object_add(o, "tuning", json_object_new_string(r->tuning));
        }
        json_object_object_add(o, "mount_point", json_object_new_string(v->sc->mount_point));
        if (volume_mounted_size(v, &size, &used)) {
                json_object_object_add(o, "size_bytes", json_object_new_uint64(size));
                json_object_object_add(o, "used_bytes", json_object_new_uint64(used));
        }
        if (r->last_wipe) {
                json_object_object_add(o, "last_wipe", json_object_new_int64(r->last_wipe));
                json_object_object_add(o, "last_wipe_usec", json_object_new_uint64(r->last_wipe_usec));
        }
        stale_json(v, o);
        /* Erase records: the last one written, and a failure to write one. */
        if (v->last_record[0])
                json_object_object_add(o, "last_erase_record", json_object_new_string(v->last_record));
        if (v->record_error[0])
                json_object_object_add(o, "erase_record_error", json_object_new_string(v->record_error));
        if (v->manager->config->daemon.job_check != JOB_CHECK_NONE && v->manager->job_check_blind[0])
                json_object_object_add(o, "job_check", json_object_new_string(v->manager->job_check_blind));
        if (state == STATE_FAILED)
                json_object_object_add(o, "reason", json_object_new_string(volume_reason(v)));
        else if (state == STATE_ABSENT && r->reason[0])
                json_object_object_add(o, "reason", json_object_new_string(r->reason));
        if (v->sc->mode == SCRATCH_MODE_SHARED)
                pool_json(v, o);
        return o;
}

static json_object *status_json(Manager *m) {
        json_object *p = json_object_new_object(), *a = json_object_new_array();
        for (size_t i = 0; i < m->n_volumes; i++)
                json_object_array_add(a, volume_json(&m->volumes[i]));
        json_object_object_add(p, "volumes", a);
        return p;
}

char *backend_metrics_text(Manager *m) {
        MetricsVolume mv[m->n_volumes ?: 1];
        MetricsPool mp[m->n_volumes ?: 1];
        Record recs[m->n_volumes ?: 1];
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                /* The state status shows (FAILED while work is overdue, a
                 * disk that stopped answering), not the record's. */
                recs[i] = v->rec;
                recs[i].state = volume_visible_state(v);
                mv[i] = (MetricsVolume) { .name = v->sc->name, .rec = &recs[i], .counters = &v->counters };
                (void) volume_mounted_size(v, &mv[i].size_bytes, &mv[i].used_bytes);
                mv[i].job_check = m->config->daemon.job_check != JOB_CHECK_NONE;
                mv[i].job_check_blind = m->job_check_blind[0] != 0;
                mv[i].stale = volume_stale(v);
                for (size_t k = 0; k < v->n_jobs; k++)
                        mv[i].stale += volume_stale(v->jobs[k]);
                if (v->sc->mode != SCRATCH_MODE_SHARED)
                        continue;
                ThinPoolUsage u = {};
                mp[i] = (MetricsPool) { .size_bytes = pool_bytes(v), .reserved_bytes = pool_reserved_bytes(v),
                                        .jobs = pool_n_jobs(v), .max_jobs = v->sc->max_jobs,
                                        .spare_ready = pool_spare_ready(v) };
                if (v->rec.state == STATE_CLEAN && thin_pool_usage(v->sc->name, &u) >= 0)
                        mp[i].written_bytes = u.data_used;
                for (size_t k = 0; k < v->n_jobs; k++)
                        mp[i].jobs_failed += v->jobs[k]->rec.state == STATE_FAILED;
                mv[i].pool = &mp[i];
        }
        return metrics_format(mv, m->n_volumes);
}

/* Why a volume cannot be had, as VolumeBusy, VolumeFailed and NoCleanVolume tell it. */
static json_object *volume_brief(const Volume *v) {
        json_object *p = json_object_new_object();
        LifecycleState st = volume_visible_state(v);
        json_object_object_add(p, "volume", json_object_new_string(v->sc->name));
        json_object_object_add(p, "state", json_object_new_string(lifecycle_state_to_string(st)));
        if (volume_activity(v))
                json_object_object_add(p, "activity", json_object_new_string(volume_activity(v)));
        if (st == STATE_IN_USE)
                json_object_object_add(p, "job", json_object_new_string(v->rec.job));
        if (st == STATE_FAILED)
                json_object_object_add(p, "reason", json_object_new_string(volume_reason(v)));
        else if (st == STATE_ABSENT) {
                char why[sizeof(v->rec.reason) + 64];
                if (v->rec.reason[0])
                        snprintf(why, sizeof(why), "not set up: scratchd could not take its disk: %s", v->rec.reason);
                else
                        snprintf(why, sizeof(why), "not set up: scratchd could not take its disk (the journal says why)");
                json_object_object_add(p, "reason", json_object_new_string(why));
        }
        return p;
}

static json_object *failed_params(const Volume *v) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "volume", json_object_new_string(v->sc->name));
        json_object_object_add(p, "reason", json_object_new_string(volume_reason(v)));
        return p;
}

/* The error for a volume that cannot be had, by the lifecycle's answer. */
static void unavailable_error(ApiResult *r, const Volume *v, int k) {
        if (k == -EIO || k == -ENODEV || v->overdue) {
                json_object *p = volume_brief(v);
                json_object_object_del(p, "state");
                json_object_object_del(p, "activity");
                api_result_error(r, API_ERROR_VOLUME_FAILED, p);
        } else
                api_result_error(r, API_ERROR_VOLUME_BUSY, volume_brief(v));
}

static json_object *prepare_params(const Volume *v) {
        char dir[PATH_MAX];
        json_object *p = json_object_new_object();
        /* A job volume is mounted at the job's directory itself. */
        if (v->pool)
                snprintf(dir, sizeof(dir), "%s", v->rec.mount_point);
        else
                snprintf(dir, sizeof(dir), "%s/%s", v->sc->mount_point, v->rec.job);
        json_object_object_add(p, "volume", json_object_new_string(v->sc->name));
        json_object_object_add(p, "directory", json_object_new_string(dir));
        json_object_object_add(p, "key_generation", json_object_new_uint64(v->rec.generation));
        if (v->pool)
                json_object_object_add(p, "size_bytes", json_object_new_uint64(v->rec.data_size));
        return p;
}

static json_object *release_params(const Volume *v) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "volume", json_object_new_string(v->sc->name));
        json_object_object_add(p, "key_generation", json_object_new_uint64(v->rec.generation));
        return p;
}

static void send_result(Call *call, ApiResult *r) {
        if (r->error)
                call_error(call, r->error, r->parameters);
        else
                call_reply(call, r->parameters);
}

/* ---- answers that come later ---- */

static void answer_prepare(Operation *op) {
        Volume *v = op->volume;
        ApiResult r = {};
        if (!op->failed)
                r.parameters = prepare_params(v);
        else if (op->failed->overdue)   /* its worker still runs: its result is not to be read */
                api_result_error(&r, API_ERROR_VOLUME_FAILED, failed_params(op->failed));
        else if (streq_ptr(v->result.error, API_ERROR_NO_SUCH_USER)) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "user", json_object_new_string(v->result.reason));
                api_result_error(&r, API_ERROR_NO_SUCH_USER, p);
        } else {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "reason", json_object_new_string(v->result.reason));
                api_result_error(&r, v->result.error ?: API_ERROR_INTERNAL, p);
        }
        send_result(op->call, &r);
}

static void answer_release(Operation *op) {
        if (op->failed)
                call_error(op->call, API_ERROR_VOLUME_FAILED, failed_params(op->failed));
        else
                call_reply(op->call, release_params(op->volume));
}

static void answer_wipe(Operation *op) {
        Manager *m = op->userdata;
        if (op->failed)
                call_error(op->call, API_ERROR_VOLUME_FAILED, failed_params(op->failed));
        else
                call_reply(op->call, status_json(m));
}

/* ---- the methods ---- */

static void backend_get_status(void *userdata, ApiResult *r) {
        r->parameters = status_json(userdata);
}

static void backend_get_metrics(void *userdata, ApiResult *r) {
        _cleanup_free_ char *text = backend_metrics_text(userdata);
        if (!text) {
                api_result_error(r, API_ERROR_INTERNAL, NULL);
                return;
        }
        r->parameters = json_object_new_object();
        json_object_object_add(r->parameters, "text", json_object_new_string(text));
}

/* Drops the subscribers whose clients are gone: at each change, and before
 * each new one, so that clients that come and go cannot pile them up. */
static void subscribers_prune(Manager *m) {
        size_t k = 0;
        for (size_t i = 0; i < m->n_subscribers; i++)
                if (call_connected(m->subscribers[i]))
                        m->subscribers[k++] = m->subscribers[i];
                else
                        call_unref(m->subscribers[i]);
        m->n_subscribers = k;
}

static void backend_subscribe(void *userdata, Call *call, ApiResult *r) {
        Manager *m = userdata;
        subscribers_prune(m);
        Call **n = realloc(m->subscribers, sizeof(Call *) * (m->n_subscribers + 1));
        if (!n) {
                api_result_error(r, API_ERROR_INTERNAL, NULL);
                return;
        }
        m->subscribers = n;
        m->subscribers[m->n_subscribers++] = call_ref(call);
        r->parameters = status_json(m);
        r->subscribe = true;
}

void backend_notify(Manager *m, const Volume *v) {
        subscribers_prune(m);
        for (size_t i = 0; i < m->n_subscribers; i++) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "volume", volume_json(v));
                call_notify(m->subscribers[i], p);
        }
}

/* The call waits for the work that `k` says was started (0), or gets
 * InternalError saying why it could not be. */
static void defer_on(ApiResult *r, int k) {
        if (k < 0) {
                json_object *p = json_object_new_object();
                char why[128];
                snprintf(why, sizeof(why), "cannot start the work: %s; the journal says more", strerror(-k));
                json_object_object_add(p, "reason", json_object_new_string(why));
                api_result_error(r, API_ERROR_INTERNAL, p);
                return;
        }
        r->deferred = true;
}

/* The call waits for the work in flight on `v`; or, where that has overrun
 * WorkTimeoutSec=, is answered now, as that work's own callers were. */
static void wait_on(ApiResult *r, Volume *v, Operation *op) {
        if (op && v->overdue) {
                api_result_error(r, API_ERROR_VOLUME_FAILED, failed_params(v));
                return;
        }
        defer_on(r, op ? volume_add_waiter(v, op) : -ENOMEM);
}

/* NoSpace, TooManyJobs or InvalidParameter, for a job volume that does not fit. */
static void no_fit_error(ApiResult *r, const Volume *pool, int k, uint64_t size, const char *why) {
        json_object *p = json_object_new_object();
        uint64_t total = pool_bytes(pool), reserved = pool_reserved_bytes(pool);
        json_object_object_add(p, "volume", json_object_new_string(pool->sc->name));
        if (k == -EUSERS) {
                json_object_object_add(p, "max_jobs", json_object_new_int64(pool->sc->max_jobs));
                json_object_object_add(p, "reason", json_object_new_string(why));
                api_result_error(r, API_ERROR_TOO_MANY_JOBS, p);
                return;
        }
        if (k == -EINVAL && size > 0 && size < JOB_SIZE_MIN) {
                json_object_put(p);
                api_result_invalid_parameter(r, "size");
                return;
        }
        /* A Prepare that named no size asked for JobSize=, as pool_start_job() resolves it. */
        if (size == 0)
                size = job_size_resolve(&pool->sc->job_size, total, pool->sc->max_jobs, THIN_BLOCK_DEFAULT);
        json_object_object_add(p, "requested_bytes", json_object_new_uint64(size));
        json_object_object_add(p, "free_bytes", json_object_new_uint64(total > reserved ? total - reserved : 0));
        json_object_object_add(p, "reason", json_object_new_string(why));
        api_result_error(r, API_ERROR_NO_SPACE, p);
}

/* Prepare in a shared pool: a job volume of the job's own. */
static void prepare_in_pool(Manager *m, Call *call, Volume *pool, const Caller *c, const char *job, const char *user,
                            int64_t uid, uint64_t size, ApiResult *r) {
        char why[512] = "";
        _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_prepare, m);
        int k = op ? pool_start_job(pool, c, job, user, uid == UID_NONE ? 0 : (uid_t) uid, size, op, why,
                                    sizeof(why))
                   : -ENOMEM;
        if (k == -EIO && why[0]) {   /* the spare, whose space it needs, is stuck */
                json_object *p = json_object_new_object();
                json_object_object_add(p, "volume", json_object_new_string(pool->sc->name));
                json_object_object_add(p, "reason", json_object_new_string(why));
                api_result_error(r, API_ERROR_VOLUME_FAILED, p);
        } else if (k == -EBUSY || k == -EIO || k == -ENODEV)
                unavailable_error(r, pool, k);
        else if (k == -ENOSPC || k == -EUSERS || k == -EINVAL)
                no_fit_error(r, pool, k, size, why);
        else {
                defer_on(r, k);
                return;
        }
        if (k == -EBUSY && !volume_idle(pool))
                return;   /* the pool's own work in flight: clears by itself */
        pool->counters.prepare_failures++;
        volume_audit(pool, "job-prepare", c, job, pool->rec.state, pool->rec.state, 0, r->error, why[0] ? why : NULL);
}

/* A retried Prepare of a job that holds `v` already gets the same answer,
 * but only for the same user: another is refused (the job id is reused, or
 * a hook is wrong), and the directory stays its owner's. */
static bool refuse_other_user(const Volume *v, const char *why, ApiResult *r) {
        json_object *p = volume_brief(v);
        json_object_object_add(p, "reason", json_object_new_string(why));
        api_result_error(r, API_ERROR_VOLUME_BUSY, p);
        return false;
}

static bool same_user(const Volume *v, const char *user, int64_t uid, ApiResult *r) {
        if (user ? streq(user, v->rec.user) : uid == (int64_t) v->rec.uid)
                return true;
        char why[256];
        snprintf(why, sizeof(why), "job %s holds it already, for user %s (uid %u); release that job first",
                 v->rec.job, v->rec.user, (unsigned) v->rec.uid);
        return refuse_other_user(v, why, r);
}

/* The same, for a Prepare still in the worker: asked for by name or by uid
 * (the name not looked up yet), each compared as asked. */
static bool same_order_user(const Volume *v, const char *user, int64_t uid, ApiResult *r) {
        const WorkOrder *o = &v->order;
        if (o->user[0] ? user && streq(user, o->user) : !user && uid == (int64_t) o->uid)
                return true;
        char why[256];
        snprintf(why, sizeof(why), "job %s is being handed it already, for another user; release that job first",
                 o->job);
        return refuse_other_user(v, why, r);
}

static void backend_prepare(void *userdata, Call *call, const Caller *c, const char *job, const char *user,
                            int64_t uid, const char *volume, uint64_t size, ApiResult *r) {
        Manager *m = userdata;
        Volume *v = NULL;
        (void) size;

        /* The job has a volume of its own already (a retried prolog). */
        Volume *j = pool_find_job(m, job);
        if (j && (!volume || streq(volume, j->sc->name))) {
                if (job_being_made(j)) {
                        if (!same_order_user(j, user, uid, r))
                                return;
                        _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_prepare, m);
                        wait_on(r, j, op);
                } else if (volume_idle(j) && j->rec.state == STATE_IN_USE) {
                        if (same_user(j, user, uid, r))
                                r->parameters = prepare_params(j);
                }
                else if (j->rec.state == STATE_FAILED)
                        api_result_error(r, API_ERROR_VOLUME_FAILED, failed_params(j));
                else
                        unavailable_error(r, j, -EBUSY);
                return;
        }
        /* ...or waits for the spare to give its space up: so does the retry. */
        Volume *pool = pool_find_pending(m, job);
        if (pool && (!volume || streq(volume, pool->sc->name))) {
                _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_prepare, m);
                defer_on(r, op ? pool_pending_add_waiter(pool, op) : -ENOMEM);
                return;
        }

        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *x = &m->volumes[i];
                if (volume && !streq(volume, x->sc->name))
                        continue;
                /* The same job asking again (a retried prolog) gets the same answer... */
                if (volume_idle(x) && x->rec.state == STATE_IN_USE && streq(x->rec.job, job)) {
                        if (same_user(x, user, uid, r))
                                r->parameters = prepare_params(x);
                        return;
                }
                /* ...or waits for the same Prepare. */
                if (x->work == WORK_PREPARE && streq(x->order.job, job)) {
                        if (!same_order_user(x, user, uid, r))
                                return;
                        _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_prepare, m);
                        wait_on(r, x, op);
                        return;
                }
        }

        if (volume) {
                v = manager_find_volume(m, volume);
                if (!v) {
                        json_object *p = json_object_new_object();
                        json_object_object_add(p, "volume", json_object_new_string(volume));
                        api_result_error(r, API_ERROR_NO_SUCH_VOLUME, p);
                        return;
                }
        } else {
                for (size_t i = 0; i < m->n_volumes && !v; i++)
                        if (volume_idle(&m->volumes[i]) && m->volumes[i].rec.state == STATE_CLEAN)
                                v = &m->volumes[i];
                if (!v) {
                        /* None to be had: say why for each. */
                        json_object *p = json_object_new_object(), *a = json_object_new_array();
                        for (size_t i = 0; i < m->n_volumes; i++) {
                                Volume *x = &m->volumes[i];
                                json_object_array_add(a, volume_brief(x));
                                /* Work in flight (an adoption, a wipe) clears
                                 * by itself, and scratchctl asks again: not a
                                 * failure to count, nor one to audit each time. */
                                if (!volume_idle(x) || volume_waiting_for_disk(x))
                                        continue;
                                x->counters.prepare_failures++;
                                volume_audit(x, "prepare", c, job, x->rec.state, x->rec.state, 0,
                                             API_ERROR_NO_CLEAN_VOLUME, NULL);
                        }
                        json_object_object_add(p, "volumes", a);
                        api_result_error(r, API_ERROR_NO_CLEAN_VOLUME, p);
                        return;
                }
        }

        if (v->sc->mode == SCRATCH_MODE_SHARED) {
                prepare_in_pool(m, call, v, c, job, user, uid, size, r);
                return;
        }
        /* Exclusive: the job gets the whole volume, whatever size it asked for. */
        _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_prepare, m);
        int k = op ? volume_start_prepare(v, c, job, user, uid == UID_NONE ? 0 : (uid_t) uid, op) : -ENOMEM;
        if (k == -EBUSY || k == -EIO || k == -ENODEV) {
                unavailable_error(r, v, k);
                if (volume_idle(v)) {   /* as above: work in flight is no failure */
                        v->counters.prepare_failures++;
                        volume_audit(v, "prepare", c, job, v->rec.state, v->rec.state, 0, r->error, NULL);
                }
                return;
        }
        defer_on(r, k);
}

/* Release of a job that has a volume of its own in a pool. */
static void release_job_volume(Manager *m, Call *call, Volume *j, const Caller *c, ApiResult *r) {
        if (j->rec.state == STATE_FAILED && volume_idle(j)) {
                api_result_error(r, API_ERROR_VOLUME_FAILED, failed_params(j));
                return;
        }
        _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_release, m);
        if (!op) {
                defer_on(r, -ENOMEM);
                return;
        }
        /* Its volume is still being made (the prolog gave up, the job
         * ended): erased as soon as it is made. */
        if (job_being_made(j))
                op->release_after_prepare = true;
        /* Already being erased: the same erase answers. */
        if (!volume_idle(j) && j->overdue) {
                api_result_error(r, API_ERROR_VOLUME_FAILED, failed_params(j));
                return;
        }
        int k = volume_idle(j) ? job_start_release(j, c, op) : volume_add_waiter(j, op);
        if (k < 0 && volume_idle(j))
                j->pool->counters.release_failures++;
        defer_on(r, k);
}

static void backend_release(void *userdata, Call *call, const Caller *c, const char *job, ApiResult *r) {
        Manager *m = userdata;

        Volume *j = pool_find_job(m, job);
        if (j) {
                release_job_volume(m, call, j, c, r);
                return;
        }
        /* Its Prepare waits for the spare to give its space up (the prolog
         * gave up on it, the job ended): its volume is erased once made. */
        Volume *pool = pool_find_pending(m, job);
        if (pool) {
                _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_release, m);
                if (op)
                        op->release_after_prepare = true;
                defer_on(r, op ? pool_pending_add_waiter(pool, op) : -ENOMEM);
                return;
        }

        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                /* Its Prepare is still in the worker (the prolog gave up on
                 * it, the job ended): released as soon as it is done. */
                if (v->work == WORK_PREPARE && streq(v->order.job, job)) {
                        _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_release, m);
                        if (op)
                                op->release_after_prepare = true;
                        wait_on(r, v, op);
                        return;
                }
                bool again = v->work == WORK_RELEASE && streq(v->order.job, job);
                if (!again && (!volume_idle(v) || v->rec.state != STATE_IN_USE || !streq(v->rec.job, job)))
                        continue;

                /* Already being released for this job: wait for the same wipe. */
                if (again && v->overdue) {
                        api_result_error(r, API_ERROR_VOLUME_FAILED, failed_params(v));
                        return;
                }
                _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_release, m);
                int k = !op ? -ENOMEM : again ? volume_add_waiter(v, op) : volume_start(v, WORK_RELEASE, c, job, op);
                if (k < 0 && !again)
                        v->counters.release_failures++;
                defer_on(r, k);
                return;
        }

        /* Released before (a retried epilog): done, if the volume is CLEAN since. */
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                /* A pool: its job volume was erased, and is gone. */
                if (v->sc->mode == SCRATCH_MODE_SHARED && pool_released_recently(v, job)) {
                        r->parameters = release_params(v);
                        return;
                }
                if (!volume_idle(v) || !streq(v->rec.last_job, job))
                        continue;
                if (v->rec.state == STATE_CLEAN) {
                        r->parameters = release_params(v);
                        return;
                }
                if (v->rec.state == STATE_FAILED) {
                        api_result_error(r, API_ERROR_VOLUME_FAILED, failed_params(v));
                        return;
                }
        }

        /* A volume being adopted (a restart, a boot) may turn out to be
         * the job's: not known yet, so not answered yet (scratchctl asks
         * again while VolumeBusy says "adopting"). */
        for (size_t i = 0; i < m->n_volumes; i++)
                if (m->volumes[i].work == WORK_ADOPT) {
                        api_result_error(r, API_ERROR_VOLUME_BUSY, volume_brief(&m->volumes[i]));
                        return;
                }

        /* A volume whose record still names the job, in a state none of the
         * above took (ABSENT: its disk not there at adoption, the mapping
         * perhaps live; an idle DIRTY or WIPING): its erase is owed, so this
         * is no "unknown" job. Work in flight on it (a forced wipe): asked
         * again once it ends. Otherwise it needs an admin. */
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                bool names = streq(v->rec.job, job) || streq(v->rec.last_job, job) ||
                             (!volume_idle(v) && streq(v->order.job, job));
                if (!names || (v->rec.state == STATE_CLEAN && volume_idle(v)))
                        continue;
                /* Work in flight, or its disk not there yet at boot: asked again. */
                if (!volume_idle(v) || volume_waiting_for_disk(v)) {
                        api_result_error(r, API_ERROR_VOLUME_BUSY, volume_brief(v));
                        return;
                }
                char why[sizeof(v->rec.reason) + 256];
                snprintf(why, sizeof(why), "volume %s is %s and its record still names job %s, whose erase is owed%s%s; "
                         "fix the disk, then run 'scratchctl wipe'", v->sc->name,
                         lifecycle_state_to_string(v->rec.state), job, v->rec.reason[0] ? ": " : "", v->rec.reason);
                json_object *p = json_object_new_object();
                json_object_object_add(p, "volume", json_object_new_string(v->sc->name));
                json_object_object_add(p, "reason", json_object_new_string(why));
                api_result_error(r, API_ERROR_VOLUME_FAILED, p);
                return;
        }

        /* No volume holds it, or did since we started: its prolog failed,
         * or it ran before a reboot (whose wipe at boot erased everything).
         * Nothing to erase, and the epilog must not drain the node for it. */
        json_object *p = json_object_new_object();
        json_object_object_add(p, "volume", json_object_new_string(""));
        json_object_object_add(p, "key_generation", json_object_new_int64(0));
        json_object_object_add(p, "unknown", json_object_new_boolean(true));
        r->parameters = p;
        log_info("release of job %s: no volume holds it, nor did since scratchd started; nothing to erase", job);
        AuditEvent e = { .event = "release-unknown", .job = job, .caller_uid = c->uid, .caller_pid = c->pid,
                         .result = "ok" };
        audit_log(m->audit, &e);
}

static void backend_wipe(void *userdata, Call *call, const Caller *c, const char *volume, bool force, ApiResult *r) {
        Manager *m = userdata;

        if (volume && !manager_find_volume(m, volume)) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "volume", json_object_new_string(volume));
                api_result_error(r, API_ERROR_NO_SUCH_VOLUME, p);
                return;
        }
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                if ((!volume || streq(volume, v->sc->name)) && !volume_idle(v)) {
                        api_result_error(r, API_ERROR_VOLUME_BUSY, volume_brief(v));
                        return;
                }
                /* A job's scratch taken from under it: only when asked for. */
                if ((!volume || streq(volume, v->sc->name)) && v->rec.state == STATE_IN_USE && !force) {
                        char why[512];
                        json_object *p = volume_brief(v);
                        snprintf(why, sizeof(why), "job %s (user %s) uses it; release it when the job ends, or "
                                 "'scratchctl wipe --force' to erase it under the job", v->rec.job, v->rec.user);
                        json_object_object_add(p, "reason", json_object_new_string(why));
                        api_result_error(r, API_ERROR_VOLUME_BUSY, p);
                        return;
                }
                /* A pool is wiped under no running job: only fenced job
                 * volumes go with it. */
                for (size_t k = 0; (!volume || streq(volume, v->sc->name)) && k < v->n_jobs; k++) {
                        Volume *j = v->jobs[k];
                        if (!volume_idle(j) || (j->rec.state != STATE_FAILED && !job_is_spare(j))) {
                                json_object *p = volume_brief(v);
                                json_object_object_add(p, "job", json_object_new_string(j->rec.job));
                                json_object_object_add(p, "reason", json_object_new_string(
                                        "the pool has running jobs; release them first"));
                                api_result_error(r, API_ERROR_VOLUME_BUSY, p);
                                return;
                        }
                }
        }

        _cleanup_(operation_unrefp) Operation *op = operation_new(call, answer_wipe, m);
        if (!op) {
                api_result_error(r, API_ERROR_INTERNAL, NULL);
                return;
        }
        /* Held until every volume has started, so that a worker that ends
         * at once cannot answer before the others have begun. */
        operation_add(op);
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                if (volume && !streq(volume, v->sc->name))
                        continue;
                volume_audit(v, "wipe-requested", c, v->rec.job, v->rec.state, STATE_WIPING, 0, "ok", NULL);
                if (volume_start(v, WORK_WIPE, c, v->rec.job, op) < 0 && !op->failed)
                        op->failed = v;
        }
        r->deferred = true;
        operation_volume_done(op, NULL, false);
}

static void backend_get_job(void *userdata, const Caller *c, const char *job, ApiResult *r) {
        Manager *m = userdata;
        const char *volume = NULL, *user = NULL;
        char directory[PATH_MAX];
        uid_t uid = (uid_t) -1;

        Volume *j = pool_find_job(m, job);
        if (j && volume_visible_state(j) == STATE_IN_USE) {
                volume = j->pool->sc->name;
                user = j->rec.user;
                uid = j->rec.uid;
                snprintf(directory, sizeof(directory), "%s", j->rec.mount_point);
        }
        for (size_t i = 0; !volume && i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                if (v->sc->mode == SCRATCH_MODE_SHARED || volume_visible_state(v) != STATE_IN_USE ||
                    !streq(v->rec.job, job))
                        continue;
                volume = v->sc->name;
                user = v->rec.user;
                uid = v->rec.uid;
                snprintf(directory, sizeof(directory), "%s/%s", v->sc->mount_point, job);
        }
        /* The job's own user, or whoever may read status: the same answer
         * for a job that is someone else's as for one that is not there. */
        if (!volume || (c->uid != uid && !auth_allowed_now(ACCESS_READ, c, m->api.read_gid, m->api.operator_gid,
                                                           m->api.group_lists ?: auth_group_lists_cached))) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "job", json_object_new_string(job));
                api_result_error(r, API_ERROR_NO_SUCH_JOB, p);
                return;
        }
        json_object *p = json_object_new_object();
        json_object_object_add(p, "volume", json_object_new_string(volume));
        json_object_object_add(p, "directory", json_object_new_string(directory));
        json_object_object_add(p, "user", json_object_new_string(user));
        r->parameters = p;
}

static void backend_reload(void *userdata, const Caller *c, ApiResult *r) {
        Manager *m = userdata;
        char changed[512];
        _cleanup_free_ char *error = NULL;
        log_info("reload asked for by uid %u (pid %d)", (unsigned) c->uid, (int) c->pid);
        json_object *p = json_object_new_object();
        if (manager_reload(m, c, changed, sizeof(changed), &error) < 0) {
                log_error("reload refused: %s", error ?: "out of memory");
                json_object_object_add(p, "reason", json_object_new_string(error ?: "out of memory"));
                api_result_error(r, API_ERROR_CONFIG_REFUSED, p);
                return;
        }
        json_object_object_add(p, "changed", json_object_new_string(changed));
        r->parameters = p;
}

void backend_init(Manager *m, ApiBackend *ret) {
        *ret = (ApiBackend) {
                .get_status = backend_get_status,
                .prepare = backend_prepare,
                .release = backend_release,
                .wipe = backend_wipe,
                .subscribe = backend_subscribe,
                .get_metrics = backend_get_metrics,
                .get_job = backend_get_job,
                .reload = backend_reload,
                .get_records = backend_get_records,
                .get_node_key = backend_get_node_key,
                .userdata = m,
        };
}
