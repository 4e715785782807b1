/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon layer (src/daemon: manager, volumes, operations, backend, and
 * shared mode's pool) on a real sd-event loop, with a fake worker body
 * (records saved, job volumes as jobvol.c leaves them, no disks) and
 * a fake transport (calls whose answers are recorded, clients that go away).
 * Prepare's user lookup and job directory run for real, in the worker, with
 * getpwnam_r() wrapped so that NSS can be made slow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/stat.h>

#include "scratchd/api.h"
#include "scratchd/config.h"
#include "scratchd/lifecycle.h"
#include "scratchd/manager.h"
#include "scratchd/progress.h"
#include "scratchd/record.h"
#include "scratchd/reserve.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"

/* ---- a slow NSS: getpwnam_r() as the worker calls it ---- */

static unsigned nss_delay_ms;

int __real_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t size, struct passwd **ret);
int __wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t size, struct passwd **ret);
int __wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t size, struct passwd **ret) {
        if (nss_delay_ms)
                usleep(nss_delay_ms * 1000);
        return __real_getpwnam_r(name, pw, buf, size, ret);
}

/* ---- the fake worker ---- */

typedef struct FakeWorker {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool gate_closed;          /* wipes wait here until it opens */
        const char *fail;          /* the volume whose wipes fail, or NULL */
        bool absent;               /* adoption finds no disk (ABSENT), as before udev makes its link */
        const char *state_dir;
        /* Shared mode. */
        const char *fail_job;      /* the job whose volume's release fails, or NULL */
        bool fail_create;          /* job volumes cannot be made (undone: ABSENT) */
        unsigned n_creates, n_assigns, n_releases;   /* job volume work done */
        unsigned n_spare_creates, n_spare_releases;  /* of those, the spare's */
} FakeWorker;

static FakeWorker fw = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void gate(bool closed) {
        pthread_mutex_lock(&fw.lock);
        fw.gate_closed = closed;
        pthread_cond_broadcast(&fw.cond);
        pthread_mutex_unlock(&fw.lock);
}

/* The pool's data device in shared mode: 10 GiB. */
#define POOL_DEVICE_SIZE (UINT64_C(10) << 30)

/* Shared mode's job volumes as jobvol.c ends them up, without a kernel:
 * made (a job's, IN_USE at MountPoint/JOB; or the spare, CLEAN), the spare
 * given to a job, erased (ABSENT) or fenced (FAILED). */
static void fake_job(const WorkOrder *o, WorkResult *ret, bool fail) {
        Record rec;

        switch (o->kind) {
        case WORK_JOB_CREATE:
                if (fw.fail_create) {
                        ret->rec = (Record) { .state = STATE_ABSENT, .thin_id = o->thin_id };
                        snprintf(ret->reason, sizeof(ret->reason), "%s's volume: mkfs failed: fake",
                                 o->job[0] ? o->job : "the spare");
                        ret->error = API_ERROR_INTERNAL;
                        ret->r = -EIO;
                        return;
                }
                rec = (Record) { .state = STATE_CLEAN, .generation = o->generation, .data_size = o->size,
                                 .thin_id = o->thin_id, .created = time(NULL) };
                break;
        case WORK_JOB_ASSIGN:
                rec = o->job_rec;
                assert_int_equal(rec.state, STATE_CLEAN);
                assert_string_equal(rec.job, "");   /* the spare, as it was */
                break;
        case WORK_JOB_RELEASE:
                rec = o->job_rec;
                assert_string_equal(rec.job, o->job);
                /* WIPING, and still the job's, as jobvol_erase() has it: a
                 * fenced one is found by its job. */
                rec.state = STATE_WIPING;
                rec.reason[0] = 0;
                if (fail) {
                        assert_int_equal(lifecycle_apply(&rec, EVENT_WIPE_FAILED, &(LifecycleArgs) {
                                                 .reason = "cannot delete thin volume: fake" }),
                                         0);
                        snprintf(ret->reason, sizeof(ret->reason), "job %s's volume: fake", rec.job);
                        ret->r = -EIO;
                } else {
                        rec.state = STATE_ABSENT;
                        ret->r = 0;
                }
                ret->rec = rec;
                return;
        default:
                fail_msg("unexpected work %s", work_kind_to_string(o->kind));
                return;
        }
        if (o->job[0]) {
                rec.state = STATE_IN_USE;
                snprintf(rec.job, sizeof(rec.job), "%s", o->job);
                snprintf(rec.user, sizeof(rec.user), "%s", o->user);
                rec.uid = (uint32_t) o->uid;
                snprintf(rec.mount_point, sizeof(rec.mount_point), "%s/%s", o->sc->mount_point, o->job);
        }
        ret->rec = rec;
        ret->r = 0;
}

/* A wipe as the engine records it (through the lifecycle), without a disk. */
static void fake_run(void *userdata, const WorkOrder *o, WorkResult *ret) {
        if (o->kind == WORK_PREPARE) {
                worker_prepare(o, ret);
                return;
        }
        progress_reached("fake-gate");
        pthread_mutex_lock(&fw.lock);
        while (fw.gate_closed)
                pthread_cond_wait(&fw.cond, &fw.lock);
        bool fail = fw.fail && streq(fw.fail, o->sc->name);
        bool fail_job = fw.fail_job && streq(fw.fail_job, o->job);
        bool spare = !o->job[0];
        fw.n_creates += o->kind == WORK_JOB_CREATE;
        fw.n_assigns += o->kind == WORK_JOB_ASSIGN;
        fw.n_releases += o->kind == WORK_JOB_RELEASE;
        fw.n_spare_creates += o->kind == WORK_JOB_CREATE && spare;
        fw.n_spare_releases += o->kind == WORK_JOB_RELEASE && spare;
        pthread_mutex_unlock(&fw.lock);

        if (o->kind == WORK_JOB_CREATE || o->kind == WORK_JOB_ASSIGN || o->kind == WORK_JOB_RELEASE) {
                fake_job(o, ret, fail_job);
                return;
        }

        Record rec;
        if (fw.absent && o->kind == WORK_ADOPT) {
                ret->rec = (Record) { .state = STATE_ABSENT };
                snprintf(ret->rec.reason, sizeof(ret->rec.reason), "Devices=/dev/disk/by-id/x: no such disk");
                ret->r = -ENODEV;
                return;
        }
        if (record_load(fw.state_dir, o->sc->name, &rec) < 0)
                rec = (Record) { .state = STATE_ABSENT };
        assert_int_equal(lifecycle_apply(&rec, EVENT_WIPE_START, NULL), 0);
        rec.generation++;
        /* A pool built anew: its data device's size, thin ids from 1, no job volumes. */
        if (o->sc->mode == SCRATCH_MODE_SHARED) {
                rec.data_size = POOL_DEVICE_SIZE;
                rec.thin_id = 1;
        }
        if (fail) {
                assert_int_equal(lifecycle_apply(&rec, EVENT_WIPE_FAILED, &(LifecycleArgs) { .reason = "mkfs failed: fake" }),
                                 0);
                ret->r = -EIO;
        } else {
                assert_int_equal(lifecycle_apply(&rec, EVENT_WIPE_OK, NULL), 0);
                ret->r = 0;
        }
        assert_int_equal(record_save(fw.state_dir, o->sc->name, &rec), 0);
        ret->rec = rec;
}

/* ---- the fake transport ---- */

typedef struct Answer {
        unsigned n;                /* answers seen */
        char error[128];           /* "" for a reply */
        json_object *parameters;   /* of the last one */
        bool continues;
} Answer;

static void fake_send(Call *call, void *sink, const char *error, json_object *parameters, bool continues) {
        Answer *a = sink;
        a->n++;
        snprintf(a->error, sizeof(a->error), "%s", error ?: "");
        json_object_put(a->parameters);
        a->parameters = parameters;
        a->continues = continues;
}

static void answer_done(Answer *a) {
        json_object_put(a->parameters);
        *a = (Answer) {};
}

/* A client's call as the transport hands it over. Returns the Call, which the
 * test holds as the transport would while the client is connected. */
/* The caller of the next invoke(): root unless a test says otherwise. */
static Caller next_caller = { .uid = 0 };

static Call *invoke_more(Manager *m, Answer *a, const char *method, const char *params, bool more) {
        Caller caller = next_caller;
        caller.pid = getpid();
        next_caller = (Caller) { .uid = 0 };
        Call *call = call_new(&caller, false, more, fake_send, a);
        assert_non_null(call);
        VarlinkCall vc = { .method = strdup(method), .parameters = json_tokener_parse(params ?: "{}"), .more = more };
        assert_non_null(vc.parameters);
        manager_handle_call(m, call, &vc);
        varlink_call_done(&vc);
        return call;
}

static Call *invoke(Manager *m, Answer *a, const char *method, const char *params) {
        return invoke_more(m, a, method, params, false);
}

static const char *str(json_object *p, const char *key) {
        json_object *v;
        if (!p || !json_object_object_get_ex(p, key, &v))
                return NULL;
        return json_object_get_string(v);
}

static int64_t num(json_object *p, const char *key) {
        json_object *v;
        assert_true(p && json_object_object_get_ex(p, key, &v));
        return json_object_get_int64(v);
}

/* ---- the daemon under test ---- */

typedef struct Fixture {
        TempDir dir;
        char state_dir[128], mounts[2][128];
        Config *config;
        Manager *m;
        char user[65];
} Fixture;

/* Runs the loop until `done(m)` or 10 s (far above the milliseconds it takes). */
static bool run_until(Manager *m, bool (*done)(Manager *m, void *arg), void *arg) {
        uint64_t deadline = now_usec() + 10 * USEC_PER_SEC;
        while (!done(m, arg)) {
                if (now_usec() > deadline)
                        return false;
                assert_true(sd_event_run(m->event, 50 * USEC_PER_MSEC) >= 0);
        }
        return true;
}

static bool all_idle(Manager *m, void *arg) {
        for (size_t i = 0; i < m->n_volumes; i++)
                if (!volume_idle(&m->volumes[i]))
                        return false;
        return true;
}

static bool answered(Manager *m, void *arg) {
        return ((Answer *) arg)->n > 0;
}

/* n_volumes volumes, "scratch" and (second) "other", each on its own mount
 * directory, with `extra` lines in [Scratch]; adopted (wiped by the fake)
 * to CLEAN. */
/* Set by a test: its fixture's adoption is held at the gate, not waited for. */
static bool hold_adoption;

static Fixture *fixture_new_with(void **state, size_t n_volumes, const char *fail, const char *extra) {
        Fixture *f = calloc(1, sizeof(Fixture));
        _cleanup_free_ char *text = NULL, *error = NULL;
        void *t = NULL;

        assert_non_null(f);
        assert_int_equal(setup_tempdir(&t), 0);
        f->dir = *(TempDir *) t;
        free(t);
        snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir.path);
        for (size_t i = 0; i < 2; i++) {
                snprintf(f->mounts[i], sizeof(f->mounts[i]), "%s/mnt%zu", f->dir.path, i);
                assert_int_equal(mkdir(f->mounts[i], 0755), 0);
        }
        struct passwd *pw = getpwuid(getuid());
        assert_non_null(pw);
        snprintf(f->user, sizeof(f->user), "%s", pw->pw_name);

        assert_true(asprintf(&text, "[Scratch]\nDevices=/dev/null\nMountPoint=%s\n%s[Daemon]\nAuditLog=\n",
                             f->mounts[0], extra ?: "") > 0);
        assert_int_equal(config_load_string("test.conf", text, &f->config, &error), 0);
        if (n_volumes == 2) {
                /* A second volume, as the config will one day allow. */
                ScratchConfig *s = realloc(f->config->scratch, 2 * sizeof(ScratchConfig));
                assert_non_null(s);
                f->config->scratch = s;
                s[1] = s[0];
                s[1].name = strdup("other");
                s[1].mount_point = strdup(f->mounts[1]);
                s[1].devices = NULL;
                assert_int_equal(strv_extend(&s[1].devices, "/dev/zero"), 0);
                f->config->n_scratch = 2;
        }

        fw.fail = fail;
        fw.absent = false;
        fw.fail_job = NULL;
        fw.fail_create = false;
        fw.n_creates = fw.n_assigns = fw.n_releases = fw.n_spare_creates = fw.n_spare_releases = 0;
        fw.state_dir = f->state_dir;
        gate(false);
        nss_delay_ms = 0;
        VolumeWorker worker = { .run = fake_run };
        assert_int_equal(manager_new(f->config, f->state_dir, &worker, &f->m), 0);
        if (hold_adoption)
                gate(true);
        manager_startup(f->m);
        if (!hold_adoption)
                assert_true(run_until(f->m, all_idle, NULL));
        *state = f;
        return f;
}

static Fixture *fixture_new(void **state, size_t n_volumes, const char *fail) {
        return fixture_new_with(state, n_volumes, fail, NULL);
}

static int fixture_free(void **state) {
        Fixture *f = *state;
        gate(false);
        manager_free(f->m);
        config_free(f->config);
        TempDir *t = malloc(sizeof(TempDir));
        *t = f->dir;
        void *p = t;
        free(f);
        return teardown_tempdir(&p);
}

static LifecycleState state_of(Fixture *f, size_t i) {
        return volume_visible_state(&f->m->volumes[i]);
}

/* Prepare of `job` by the test's own user; returns the call (held). */
static Call *prepare(Fixture *f, Answer *a, const char *job) {
        char params[256];
        snprintf(params, sizeof(params), "{\"job\":\"%s\",\"user\":\"%s\"}", job, f->user);
        return invoke(f->m, a, "io.scratchd.Prepare", params);
}

/* ---- the tests ---- */

static void test_adopted_clean(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(f->m->volumes[0].rec.generation, 1);
}

static void test_prepare_retried_same_directory(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer a = {}, b = {}, c = {};
        char expect[256];
        snprintf(expect, sizeof(expect), "%s/42", f->mounts[0]);

        /* A retry that comes while the first is still in the worker waits for it. */
        nss_delay_ms = 200;
        Call *ca = prepare(f, &a, "42");
        Call *cb = prepare(f, &b, "42");
        assert_int_equal(a.n + b.n, 0);
        assert_true(run_until(f->m, answered, &b));
        assert_true(run_until(f->m, answered, &a));
        assert_string_equal(a.error, "");
        assert_string_equal(b.error, "");
        assert_string_equal(str(a.parameters, "directory"), expect);
        assert_string_equal(str(b.parameters, "directory"), expect);

        /* A retry after it is done gets the same answer at once. */
        Call *cc = prepare(f, &c, "42");
        assert_int_equal(c.n, 1);
        assert_string_equal(str(c.parameters, "directory"), expect);
        assert_int_equal(num(c.parameters, "key_generation"), num(a.parameters, "key_generation"));

        struct stat st;
        assert_int_equal(stat(expect, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(st.st_uid, getuid());
        assert_int_equal(state_of(f, 0), STATE_IN_USE);
        assert_string_equal(f->m->volumes[0].rec.job, "42");
        Record on_file;
        assert_int_equal(record_load(f->state_dir, "scratch", &on_file), 0);
        assert_int_equal(on_file.state, STATE_IN_USE);
        assert_string_equal(on_file.job, "42");

        /* The same job for another user: refused, the directory stays its owner's. */
        Answer d = {};
        char params[128];
        snprintf(params, sizeof(params), "{\"job\":\"42\",\"uid\":%u}", (unsigned) getuid() + 1);
        Call *cd = invoke(f->m, &d, "io.scratchd.Prepare", params);
        assert_int_equal(d.n, 1);
        assert_string_equal(d.error, API_ERROR_VOLUME_BUSY);
        assert_non_null(strstr(str(d.parameters, "reason"), "job 42 holds it already, for user"));
        assert_int_equal(stat(expect, &st), 0);
        assert_int_equal(st.st_uid, getuid());
        call_unref(cd);
        answer_done(&d);

        call_unref(ca);
        call_unref(cb);
        call_unref(cc);
        answer_done(&a);
        answer_done(&b);
        answer_done(&c);
}

static void test_prepare_by_uid(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer a = {};
        char params[128];
        snprintf(params, sizeof(params), "{\"job\":\"7\",\"uid\":%u}", (unsigned) getuid());
        Call *call = invoke(f->m, &a, "io.scratchd.Prepare", params);
        assert_true(run_until(f->m, answered, &a));
        assert_string_equal(a.error, "");
        assert_string_equal(f->m->volumes[0].rec.user, f->user);
        call_unref(call);
        answer_done(&a);
}

static void test_release_retried(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer a = {}, r1 = {}, r2 = {}, r3 = {};
        Call *calls[4];

        calls[0] = prepare(f, &a, "9");
        assert_true(run_until(f->m, answered, &a));
        uint64_t gen = f->m->volumes[0].rec.generation;

        /* A retry while the wipe runs waits for the same wipe. */
        gate(true);
        calls[1] = invoke(f->m, &r1, "io.scratchd.Release", "{\"job\":\"9\"}");
        calls[2] = invoke(f->m, &r2, "io.scratchd.Release", "{\"job\":\"9\"}");
        assert_int_equal(state_of(f, 0), STATE_WIPING);
        assert_int_equal(r1.n + r2.n, 0);
        gate(false);
        assert_true(run_until(f->m, answered, &r1));
        assert_true(run_until(f->m, answered, &r2));
        assert_string_equal(r1.error, "");
        assert_string_equal(r2.error, "");
        assert_int_equal(num(r1.parameters, "key_generation"), gen + 1);
        assert_int_equal(num(r2.parameters, "key_generation"), gen + 1);

        /* A retry afterwards succeeds at once, and wipes nothing more. */
        calls[3] = invoke(f->m, &r3, "io.scratchd.Release", "{\"job\":\"9\"}");
        assert_int_equal(r3.n, 1);
        assert_string_equal(r3.error, "");
        assert_int_equal(num(r3.parameters, "key_generation"), gen + 1);
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(f->m->volumes[0].counters.releases, 1);
        assert_int_equal(f->m->volumes[0].counters.wipes, 2);   /* adoption, release */

        for (size_t i = 0; i < ELEMENTSOF(calls); i++)
                call_unref(calls[i]);
        answer_done(&a);
        answer_done(&r1);
        answer_done(&r2);
        answer_done(&r3);
}

/* A Release while the volume is being adopted (a restart): not known yet,
 * so VolumeBusy, "adopting" (scratchctl asks again); once adopted, a job no
 * volume holds is released at once, "unknown", nothing erased. */
static void test_release_during_adoption(void **state) {
        hold_adoption = true;
        Fixture *f = fixture_new(state, 1, NULL);
        hold_adoption = false;
        Answer a = {}, b = {};
        Call *ca = invoke(f->m, &a, "io.scratchd.Release", "{\"job\":\"5\"}");
        assert_int_equal(a.n, 1);
        assert_string_equal(a.error, API_ERROR_VOLUME_BUSY);
        assert_string_equal(str(a.parameters, "activity"), "adopting");
        gate(false);
        assert_true(run_until(f->m, all_idle, NULL));
        uint64_t gen = f->m->volumes[0].rec.generation;
        Call *cb = invoke(f->m, &b, "io.scratchd.Release", "{\"job\":\"5\"}");
        assert_int_equal(b.n, 1);
        assert_string_equal(b.error, "");
        assert_true(json_object_get_boolean(json_object_object_get(b.parameters, "unknown")));
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(f->m->volumes[0].rec.generation, gen);   /* nothing erased */
        call_unref(ca);
        call_unref(cb);
        answer_done(&a);
        answer_done(&b);
}

/* A volume whose record still names the job, ABSENT (its disk was not
 * there at the adoption after a restart: the mapping may be live): the
 * release is no "unknown job" success, but VolumeFailed, saying the erase
 * is owed. The control: a job nothing names is unknown. */
static void test_release_owed_not_unknown(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer a = {}, r = {}, u = {};
        Call *cp = prepare(f, &a, "71");
        assert_true(run_until(f->m, answered, &a));
        f->m->volumes[0].rec.state = STATE_ABSENT;   /* as DISK_LOST leaves it, job kept */
        Call *cr = invoke(f->m, &r, "io.scratchd.Release", "{\"job\":\"71\"}");
        assert_int_equal(r.n, 1);
        assert_string_equal(r.error, API_ERROR_VOLUME_FAILED);
        assert_non_null(strstr(str(r.parameters, "reason"), "still names job 71, whose erase is owed"));
        Call *cu = invoke(f->m, &u, "io.scratchd.Release", "{\"job\":\"72\"}");
        assert_string_equal(u.error, "");
        assert_true(json_object_get_boolean(json_object_object_get(u.parameters, "unknown")));
        f->m->volumes[0].rec.state = STATE_IN_USE;
        call_unref(cp);
        call_unref(cr);
        call_unref(cu);
        answer_done(&a);
        answer_done(&r);
        answer_done(&u);
}

/* GetJob, for a task prolog: the job's directory for the job's own user
 * (and root); anyone else, like a job no volume holds, gets NoSuchJob. */
static void test_get_job(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        if (geteuid() != 0)
                skip();   /* the job is nobody's: its directory is chowned */
        Answer a = {}, own = {}, other = {}, none = {}, byroot = {};
        Call *cp = invoke(f->m, &a, "io.scratchd.Prepare", "{\"job\":\"61\",\"uid\":65534}");
        assert_true(run_until(f->m, answered, &a));
        assert_string_equal(a.error, "");
        char want[256];
        snprintf(want, sizeof(want), "%s/61", f->mounts[0]);

        next_caller = (Caller) { .uid = 65534, .gid = 65534 };
        Call *c1 = invoke(f->m, &own, "io.scratchd.GetJob", "{\"job\":\"61\"}");
        assert_string_equal(own.error, "");
        assert_string_equal(str(own.parameters, "directory"), want);
        assert_string_equal(str(own.parameters, "user"), f->m->volumes[0].rec.user);

        /* Another uid, in no group of scratchd's: as if there were no job. */
        next_caller = (Caller) { .uid = 4242, .gid = 4242 };
        Call *c2 = invoke(f->m, &other, "io.scratchd.GetJob", "{\"job\":\"61\"}");
        assert_string_equal(other.error, API_ERROR_NO_SUCH_JOB);
        assert_null(str(other.parameters, "directory"));
        Call *c3 = invoke(f->m, &none, "io.scratchd.GetJob", "{\"job\":\"62\"}");
        assert_string_equal(none.error, API_ERROR_NO_SUCH_JOB);
        Call *c4 = invoke(f->m, &byroot, "io.scratchd.GetJob", "{\"job\":\"61\"}");
        assert_string_equal(str(byroot.parameters, "directory"), want);
        call_unref(cp);
        call_unref(c1);
        call_unref(c2);
        call_unref(c3);
        call_unref(c4);
        answer_done(&a);
        answer_done(&own);
        answer_done(&other);
        answer_done(&none);
        answer_done(&byroot);
}

/* READY=1 (systemd starts slurmd after it) only once every volume's first
 * adoption has ended: not while one runs. */
static void test_ready_after_adoption(void **state) {
        hold_adoption = true;
        Fixture *f = fixture_new(state, 2, NULL);
        hold_adoption = false;
        f->m->running = true;   /* as manager_run() has it */
        manager_check_ready(f->m);
        assert_false(f->m->ready);
        gate(false);
        assert_true(run_until(f->m, all_idle, NULL));
        assert_true(f->m->volumes[0].settled && f->m->volumes[1].settled);
        assert_true(f->m->ready);
}

/* A wipe of a volume a job holds: refused, naming the job and --force;
 * with force, it is wiped (and the job has lost its scratch). */
static void test_wipe_in_use_needs_force(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer a = {}, w = {}, wf = {};
        Call *cp = prepare(f, &a, "51");
        assert_true(run_until(f->m, answered, &a));
        assert_int_equal(state_of(f, 0), STATE_IN_USE);
        uint64_t gen = f->m->volumes[0].rec.generation;

        Call *cw = invoke(f->m, &w, "io.scratchd.Wipe", "{\"volume\":\"scratch\"}");
        assert_int_equal(w.n, 1);
        assert_string_equal(w.error, API_ERROR_VOLUME_BUSY);
        assert_string_equal(str(w.parameters, "job"), "51");
        assert_non_null(strstr(str(w.parameters, "reason"), "job 51 (user "));
        assert_non_null(strstr(str(w.parameters, "reason"), "--force"));
        assert_int_equal(state_of(f, 0), STATE_IN_USE);   /* untouched */
        assert_int_equal(f->m->volumes[0].rec.generation, gen);

        Call *cf = invoke(f->m, &wf, "io.scratchd.Wipe", "{\"volume\":\"scratch\",\"force\":true}");
        assert_true(run_until(f->m, answered, &wf));
        assert_string_equal(wf.error, "");
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(f->m->volumes[0].rec.generation, gen + 1);
        call_unref(cp);
        call_unref(cw);
        call_unref(cf);
        answer_done(&a);
        answer_done(&w);
        answer_done(&wf);
}

static void test_prepare_while_wiping(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer w = {}, p = {}, s = {};

        gate(true);
        Call *cw = invoke(f->m, &w, "io.scratchd.Wipe", NULL);
        Call *cp = prepare(f, &p, "77");
        /* Refused at once, saying why: the one volume is being wiped. */
        assert_int_equal(p.n, 1);
        assert_string_equal(p.error, API_ERROR_NO_CLEAN_VOLUME);
        json_object *vols, *v0;
        assert_true(json_object_object_get_ex(p.parameters, "volumes", &vols));
        assert_int_equal(json_object_array_length(vols), 1);
        v0 = json_object_array_get_idx(vols, 0);
        assert_string_equal(str(v0, "volume"), "scratch");
        assert_string_equal(str(v0, "state"), "WIPING");
        assert_string_equal(str(v0, "activity"), "wiping");

        /* Status says the same, meanwhile. */
        Call *cs = invoke(f->m, &s, "io.scratchd.GetStatus", NULL);
        assert_int_equal(s.n, 1);
        assert_true(json_object_object_get_ex(s.parameters, "volumes", &vols));
        assert_string_equal(str(json_object_array_get_idx(vols, 0), "state"), "WIPING");
        assert_int_equal(w.n, 0);

        gate(false);
        assert_true(run_until(f->m, answered, &w));
        assert_string_equal(w.error, "");
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        /* Not counted as a failure: a wipe clears by itself, and scratchctl
         * asks again (ScratchdFailures must not fire at every boot). */
        assert_int_equal(f->m->volumes[0].counters.prepare_failures, 0);
        assert_string_equal(f->m->volumes[0].rec.job, "");

        call_unref(cw);
        call_unref(cp);
        call_unref(cs);
        answer_done(&w);
        answer_done(&p);
        answer_done(&s);

        /* The control: a volume another job holds is counted. */
        Answer a = {}, b = {};
        Call *ca = prepare(f, &a, "78");
        assert_true(run_until(f->m, answered, &a));
        assert_string_equal(a.error, "");
        Call *cb = prepare(f, &b, "79");
        assert_int_equal(b.n, 1);
        assert_string_equal(b.error, API_ERROR_NO_CLEAN_VOLUME);
        assert_int_equal(f->m->volumes[0].counters.prepare_failures, 1);
        call_unref(ca);
        call_unref(cb);
        answer_done(&a);
        answer_done(&b);
}

/* A wipe stuck past WorkTimeoutSec=: answered VolumeFailed with where it is
 * stuck, the volume FAILED for clients while it runs (no job gets it), not
 * waited for at stop; once it returns, its result counts. */
static void test_wipe_overdue(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Volume *v = &f->m->volumes[0];
        Answer w = {}, p = {}, s = {};
        f->config->daemon.work_timeout_sec = 1;

        gate(true);
        Call *cw = invoke(f->m, &w, "io.scratchd.Wipe", NULL);
        assert_int_equal(w.n, 0);
        assert_true(run_until(f->m, answered, &w));
        assert_string_equal(w.error, API_ERROR_VOLUME_FAILED);
        assert_non_null(strstr(str(w.parameters, "reason"), "the wipe has not finished in WorkTimeoutSec=1 s (at "
                                                            "step fake-gate for "));
        assert_int_equal(state_of(f, 0), STATE_FAILED);
        assert_false(volume_idle(v));

        /* Meanwhile status says so, and no job gets the volume. */
        Call *cs = invoke(f->m, &s, "io.scratchd.GetStatus", NULL);
        json_object *vols;
        assert_true(json_object_object_get_ex(s.parameters, "volumes", &vols));
        assert_string_equal(str(json_object_array_get_idx(vols, 0), "state"), "FAILED");
        assert_non_null(strstr(str(json_object_array_get_idx(vols, 0), "reason"), "WorkTimeoutSec=1 s"));
        Call *cp = prepare(f, &p, "78");
        assert_int_equal(p.n, 1);
        assert_string_equal(p.error, API_ERROR_NO_CLEAN_VOLUME);
        /* At stop it is not waited for. */
        assert_false(volume_wait_work(v, now_usec() + 10 * USEC_PER_SEC));

        gate(false);
        assert_true(run_until(f->m, all_idle, NULL));
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_false(v->overdue);
        assert_int_equal(w.n, 1);   /* answered once */

        call_unref(cw);
        call_unref(cp);
        call_unref(cs);
        answer_done(&w);
        answer_done(&p);
        answer_done(&s);
}

/* A Prepare stuck past WorkTimeoutSec= (an NSS lookup that hangs): answered
 * failed, and so is the prolog's retry, at once; its job will not run, so
 * when the lookup ends well after all, the volume is released, not kept. */
static void test_prepare_overdue(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer p = {}, p2 = {}, r = {};
        f->config->daemon.work_timeout_sec = 1;
        uint64_t gen = f->m->volumes[0].rec.generation;

        nss_delay_ms = 2500;
        Call *cp = prepare(f, &p, "81");
        assert_true(run_until(f->m, answered, &p));
        assert_string_equal(p.error, API_ERROR_VOLUME_FAILED);
        assert_non_null(strstr(str(p.parameters, "reason"), "the prepare of job 81 has not finished in "
                                                            "WorkTimeoutSec=1 s"));
        Call *cp2 = prepare(f, &p2, "81");
        assert_int_equal(p2.n, 1);
        assert_string_equal(p2.error, API_ERROR_VOLUME_FAILED);
        Call *cr = invoke(f->m, &r, "io.scratchd.Release", "{\"job\":\"81\"}");
        assert_int_equal(r.n, 1);
        assert_string_equal(r.error, API_ERROR_VOLUME_FAILED);

        /* The lookup ends; the Prepare succeeds late, and is released. */
        nss_delay_ms = 0;
        uint64_t deadline = now_usec() + 10 * USEC_PER_SEC;
        while (!(volume_idle(&f->m->volumes[0]) && state_of(f, 0) == STATE_CLEAN &&
                 f->m->volumes[0].rec.generation > gen)) {
                assert_true(now_usec() < deadline);
                assert_true(sd_event_run(f->m->event, 50 * USEC_PER_MSEC) >= 0);
        }
        assert_string_equal(f->m->volumes[0].rec.job, "");
        assert_int_equal(p.n, 1);   /* each answered once */
        assert_int_equal(p2.n, 1);
        assert_int_equal(r.n, 1);

        call_unref(cp);
        call_unref(cp2);
        call_unref(cr);
        answer_done(&p);
        answer_done(&p2);
        answer_done(&r);
}

/* At stop, work that is not overdue is waited for, up to a bound. */
static void test_stop_waits_for_work(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Volume *v = &f->m->volumes[0];
        Answer w = {};

        gate(true);
        Call *cw = invoke(f->m, &w, "io.scratchd.Wipe", NULL);
        uint64_t start = now_usec();
        assert_false(volume_wait_work(v, start + 200 * USEC_PER_MSEC));
        assert_true(now_usec() - start >= 200 * USEC_PER_MSEC);
        gate(false);
        assert_true(volume_wait_work(v, now_usec() + 10 * USEC_PER_SEC));
        assert_true(volume_idle(v));
        call_unref(cw);
        answer_done(&w);
}

static void test_wipe_two_volumes_one_fails(void **state) {
        Fixture *f = fixture_new(state, 2, NULL);
        Answer w = {}, s = {};

        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(state_of(f, 1), STATE_CLEAN);
        fw.fail = "other";
        Call *cw = invoke(f->m, &w, "io.scratchd.Wipe", NULL);
        assert_int_equal(w.n, 0);
        assert_true(run_until(f->m, answered, &w));
        assert_int_equal(w.n, 1);   /* one answer, once both are done */
        assert_true(all_idle(f->m, NULL));
        assert_string_equal(w.error, API_ERROR_VOLUME_FAILED);
        assert_string_equal(str(w.parameters, "volume"), "other");
        assert_string_equal(str(w.parameters, "reason"), "mkfs failed: fake");
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(f->m->volumes[0].rec.generation, 2);
        assert_int_equal(state_of(f, 1), STATE_FAILED);

        /* A Prepare takes the CLEAN one; the FAILED one is left alone. */
        Call *cp = prepare(f, &s, "5");
        assert_true(run_until(f->m, answered, &s));
        assert_string_equal(s.error, "");
        assert_string_equal(str(s.parameters, "volume"), "scratch");

        call_unref(cw);
        call_unref(cp);
        answer_done(&w);
        answer_done(&s);
}

static void test_client_gone_before_answer(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer a = {}, r = {};

        Call *cp = prepare(f, &a, "3");
        assert_true(run_until(f->m, answered, &a));

        gate(true);
        Call *cr = invoke(f->m, &r, "io.scratchd.Release", "{\"job\":\"3\"}");
        assert_int_equal(r.n, 0);
        /* The client goes, as the transport tells it: disconnected, its reference dropped. */
        call_disconnect(cr);
        call_unref(cr);
        gate(false);
        assert_true(run_until(f->m, all_idle, NULL));
        assert_int_equal(r.n, 0);   /* nothing sent to a client that is gone */
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(f->m->volumes[0].counters.releases, 1);

        call_unref(cp);
        answer_done(&a);
}

/* The epilog comes while the prolog's Prepare is still in the worker (the
 * prolog gave up on it): the volume is released once the Prepare is done. */
static void test_release_during_prepare(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer p = {}, r = {};
        uint64_t gen = f->m->volumes[0].rec.generation;

        nss_delay_ms = 300;
        Call *cp = prepare(f, &p, "77");
        Call *cr = invoke(f->m, &r, "io.scratchd.Release", "{\"job\":\"77\"}");
        assert_int_equal(r.n, 0);   /* waits: no NoSuchJob */
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, all_idle, NULL));
        assert_int_equal(p.n, 1);
        assert_string_equal(p.error, "");
        assert_string_equal(r.error, "");
        assert_int_equal(num(r.parameters, "key_generation"), gen + 1);
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_string_equal(f->m->volumes[0].rec.job, "");
        assert_string_equal(f->m->volumes[0].rec.last_job, "77");
        assert_int_equal(f->m->volumes[0].counters.releases, 1);

        call_unref(cp);
        call_unref(cr);
        answer_done(&p);
        answer_done(&r);
}

/* The same, but the Prepare fails: the job never had scratch, and its
 * Release is a success that erases nothing. */
static void test_release_during_failed_prepare(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer p = {}, r = {};
        uint64_t gen = f->m->volumes[0].rec.generation;

        nss_delay_ms = 300;
        Call *cp = invoke(f->m, &p, "io.scratchd.Prepare", "{\"job\":\"78\",\"user\":\"no-such-user-scratchd\"}");
        Call *cr = invoke(f->m, &r, "io.scratchd.Release", "{\"job\":\"78\"}");
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, answered, &p));
        assert_string_equal(p.error, API_ERROR_NO_SUCH_USER);
        assert_string_equal(str(p.parameters, "user"), "no-such-user-scratchd");
        assert_string_equal(r.error, "");
        assert_int_equal(num(r.parameters, "key_generation"), gen);
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(f->m->volumes[0].counters.wipes, 1);   /* the adoption's only */

        call_unref(cp);
        call_unref(cr);
        answer_done(&p);
        answer_done(&r);
}

/* The same, but the wipe after the Prepare fails: the Release says so (the
 * epilog drains the node), and the volume is fenced. */
static void test_release_during_prepare_wipe_fails(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer p = {}, r = {};

        fw.fail = "scratch";
        nss_delay_ms = 300;
        Call *cp = prepare(f, &p, "79");
        Call *cr = invoke(f->m, &r, "io.scratchd.Release", "{\"job\":\"79\"}");
        assert_int_equal(r.n, 0);
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, all_idle, NULL));
        assert_int_equal(p.n, 1);
        assert_string_equal(p.error, "");
        assert_int_equal(r.n, 1);
        assert_string_equal(r.error, API_ERROR_VOLUME_FAILED);
        assert_string_equal(str(r.parameters, "volume"), "scratch");
        assert_string_equal(str(r.parameters, "reason"), "mkfs failed: fake");
        assert_int_equal(state_of(f, 0), STATE_FAILED);
        assert_int_equal(f->m->volumes[0].counters.release_failures, 1);

        call_unref(cp);
        call_unref(cr);
        answer_done(&p);
        answer_done(&r);
}

/* Subscribe: the status, then each change; nothing once the client is gone. */
static void test_subscribe(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer sub = {}, w = {};

        Call *cs = invoke_more(f->m, &sub, "io.scratchd.Subscribe", NULL, true);
        assert_int_equal(sub.n, 1);
        assert_true(sub.continues);
        json_object *vols;
        assert_true(json_object_object_get_ex(sub.parameters, "volumes", &vols));

        gate(true);
        Call *cw = invoke(f->m, &w, "io.scratchd.Wipe", NULL);
        assert_int_equal(sub.n, 2);   /* WIPING */
        json_object *v;
        assert_true(json_object_object_get_ex(sub.parameters, "volume", &v));
        assert_string_equal(str(v, "state"), "WIPING");
        gate(false);
        assert_true(run_until(f->m, answered, &w));
        assert_int_equal(sub.n, 3);   /* CLEAN again */
        assert_true(json_object_object_get_ex(sub.parameters, "volume", &v));
        assert_string_equal(str(v, "state"), "CLEAN");
        assert_true(sub.continues);

        call_disconnect(cs);
        call_unref(cs);
        Answer w2 = {};
        Call *cw2 = invoke(f->m, &w2, "io.scratchd.Wipe", NULL);
        assert_true(run_until(f->m, answered, &w2));
        assert_int_equal(sub.n, 3);
        assert_int_equal(f->m->n_subscribers, 0);

        call_unref(cw);
        call_unref(cw2);
        answer_done(&sub);
        answer_done(&w);
        answer_done(&w2);
}

/* A user lookup that takes 2 s does not hold up the loop. */
static void test_slow_nss_does_not_delay_status(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer p = {};
        uint64_t worst = 0, n = 0;

        nss_delay_ms = 2000;
        uint64_t start = now_usec();
        Call *cp = prepare(f, &p, "8");
        assert_true(now_usec() - start < 50 * USEC_PER_MSEC);   /* Prepare itself returned at once */
        while (p.n == 0) {
                assert_true(now_usec() - start < 10 * USEC_PER_SEC);
                Answer s = {};
                uint64_t t0 = now_usec();
                Call *cs = invoke(f->m, &s, "io.scratchd.GetStatus", NULL);
                uint64_t dt = now_usec() - t0;
                assert_int_equal(s.n, 1);
                assert_string_equal(s.error, "");
                worst = dt > worst ? dt : worst;
                n++;
                call_unref(cs);
                answer_done(&s);
                assert_true(sd_event_run(f->m->event, 10 * USEC_PER_MSEC) >= 0);
        }
        uint64_t total = now_usec() - start;
        print_message("prepare took %.3f s; %" PRIu64 " GetStatus meanwhile, the slowest %.3f ms\n",
                      (double) total / USEC_PER_SEC, n, (double) worst / USEC_PER_MSEC);
        assert_true(total >= 2 * USEC_PER_SEC);   /* the lookup really was slow */
        assert_true(n >= 10);
        assert_true(worst < 50 * USEC_PER_MSEC);
        assert_string_equal(p.error, "");
        call_unref(cp);
        answer_done(&p);
}

/* ---- shared mode ---- */

/* The pool and every job volume of it idle. */
static bool pool_quiet(Manager *m, void *arg) {
        for (size_t i = 0; i < m->n_volumes; i++) {
                if (!volume_idle(&m->volumes[i]))
                        return false;
                for (size_t k = 0; k < m->volumes[i].n_jobs; k++)
                        if (!volume_idle(m->volumes[i].jobs[k]))
                                return false;
        }
        return true;
}

/* One pool ("scratch", Mode=shared, `extra` lines more), adopted CLEAN over
 * a data device of POOL_DEVICE_SIZE, its spare made. */
static Fixture *shared_new(void **state, const char *extra) {
        char lines[256];
        snprintf(lines, sizeof(lines), "Mode=shared\n%s", extra ?: "");
        Fixture *f = fixture_new_with(state, 1, NULL, lines);
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_int_equal(f->m->volumes[0].sc->mode, SCRATCH_MODE_SHARED);
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        return f;
}

static Volume *pool_of(Fixture *f) {
        return &f->m->volumes[0];
}

/* The pool's size for job volumes, as thin_plan() makes it of the data device. */
static uint64_t expected_pool_bytes(void) {
        ThinPlan plan;
        char why[256];
        assert_int_equal(thin_plan(POOL_DEVICE_SIZE, 0, &plan, why, sizeof(why)), 0);
        return plan.data_size;
}

/* A job's size when its Prepare names none, JobSize= unset: the pool over MaxJobs=. */
static uint64_t default_job_size(unsigned max_jobs) {
        return job_size_resolve(NULL, expected_pool_bytes(), max_jobs, THIN_BLOCK_DEFAULT);
}

/* Prepare of `job` by the test's user, of `size` bytes (0: none named). */
static Call *prepare_sized(Fixture *f, Answer *a, const char *job, uint64_t size) {
        char params[256];
        if (size > 0)
                snprintf(params, sizeof(params), "{\"job\":\"%s\",\"user\":\"%s\",\"size\":%" PRIu64 "}", job,
                         f->user, size);
        else
                snprintf(params, sizeof(params), "{\"job\":\"%s\",\"user\":\"%s\"}", job, f->user);
        return invoke(f->m, a, "io.scratchd.Prepare", params);
}

static Call *release(Fixture *f, Answer *a, const char *job) {
        char params[128];
        snprintf(params, sizeof(params), "{\"job\":\"%s\"}", job);
        return invoke(f->m, a, "io.scratchd.Release", params);
}

static void assert_job_dir(Fixture *f, const Answer *a, const char *job) {
        char expect[256];
        snprintf(expect, sizeof(expect), "%s/%s", f->mounts[0], job);
        assert_string_equal(a->error, "");
        assert_string_equal(str(a->parameters, "volume"), "scratch");
        assert_string_equal(str(a->parameters, "directory"), expect);
}

/* Prepares `job` (default size) and runs the loop until it is answered and
 * the pool is quiet again. */
static void prepare_done(Fixture *f, const char *job, uint64_t size) {
        Answer a = {};
        Call *c = prepare_sized(f, &a, job, size);
        assert_true(run_until(f->m, answered, &a));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_int_equal(a.n, 1);
        assert_job_dir(f, &a, job);
        call_unref(c);
        answer_done(&a);
}

static void test_shared_adopted(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);

        assert_int_equal(pool->rec.data_size, POOL_DEVICE_SIZE);
        assert_int_equal(pool_bytes(pool), expected_pool_bytes());
        assert_true(pool_bytes(pool) < POOL_DEVICE_SIZE);
        /* A spare of the default size, ready; no job volume. */
        assert_int_equal(pool->n_jobs, 1);
        assert_non_null(pool_spare(pool));
        assert_true(pool_spare_ready(pool));
        assert_int_equal(pool_spare(pool)->rec.data_size, default_job_size(MAX_JOBS_DEFAULT));
        assert_int_equal(pool_n_jobs(pool), 0);
        assert_int_equal(pool_reserved_bytes(pool), 0);
        assert_int_equal(fw.n_spare_creates, 1);
        assert_int_equal(fw.n_creates, 1);
}

/* Two jobs at once: each its own volume, directory and key generation. */
static void test_shared_two_prepares(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer a = {}, b = {};
        uint64_t size = default_job_size(MAX_JOBS_DEFAULT);

        gate(true);
        Call *ca = prepare_sized(f, &a, "101", 0);
        Call *cb = prepare_sized(f, &b, "102", 0);
        /* Both are being made at once; neither answered yet. */
        assert_int_equal(a.n + b.n, 0);
        Volume *ja = pool_find_job(f->m, "101"), *jb = pool_find_job(f->m, "102");
        assert_non_null(ja);
        assert_non_null(jb);
        assert_ptr_not_equal(ja, jb);
        assert_true(job_being_made(ja));
        assert_true(job_being_made(jb));
        gate(false);
        assert_true(run_until(f->m, answered, &a));
        assert_true(run_until(f->m, answered, &b));
        assert_true(run_until(f->m, pool_quiet, NULL));

        assert_job_dir(f, &a, "101");
        assert_job_dir(f, &b, "102");
        assert_string_not_equal(str(a.parameters, "directory"), str(b.parameters, "directory"));
        assert_int_not_equal(num(a.parameters, "key_generation"), num(b.parameters, "key_generation"));
        assert_int_equal(num(a.parameters, "size_bytes"), size);
        assert_int_equal(num(b.parameters, "size_bytes"), size);

        /* The first got the spare (only mounted), the second a volume made for it. */
        assert_int_equal(fw.n_assigns, 1);
        assert_int_equal(fw.n_creates - fw.n_spare_creates, 1);
        ja = pool_find_job(f->m, "101");
        jb = pool_find_job(f->m, "102");
        assert_int_equal(volume_visible_state(ja), STATE_IN_USE);
        assert_int_equal(volume_visible_state(jb), STATE_IN_USE);
        assert_int_not_equal(ja->rec.thin_id, jb->rec.thin_id);
        assert_int_equal(pool_n_jobs(pool), 2);
        assert_int_equal(pool_reserved_bytes(pool), 2 * size);
        /* A new spare stands where the first one was. */
        assert_true(pool_spare_ready(pool));
        assert_int_equal(fw.n_spare_creates, 2);
        assert_int_equal(pool->counters.prepares, 2);

        /* Every key generation handed out is on file in the pool's record
         * before it is used: no restart hands one out twice. */
        Record on_file;
        assert_int_equal(record_load(f->state_dir, "scratch", &on_file), 0);
        assert_int_equal(on_file.generation, pool->rec.generation);
        assert_true(on_file.generation >= (uint64_t) num(a.parameters, "key_generation"));
        assert_true(on_file.generation >= (uint64_t) num(b.parameters, "key_generation"));
        assert_true(on_file.thin_id > ja->rec.thin_id && on_file.thin_id > jb->rec.thin_id);

        call_unref(ca);
        call_unref(cb);
        answer_done(&a);
        answer_done(&b);
}

/* One job's release erases its volume alone. */
static void test_shared_release_one(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer r = {}, r2 = {}, r3 = {};
        uint64_t size = default_job_size(MAX_JOBS_DEFAULT);

        prepare_done(f, "101", 0);
        prepare_done(f, "102", 0);
        uint64_t gen_a = pool_find_job(f->m, "101")->rec.generation;
        uint64_t gen_b = pool_find_job(f->m, "102")->rec.generation;
        unsigned releases = fw.n_releases;

        gate(true);
        Call *cr = release(f, &r, "101");
        assert_int_equal(r.n, 0);
        assert_int_equal(volume_visible_state(pool_find_job(f->m, "101")), STATE_WIPING);
        assert_int_equal(volume_visible_state(pool_find_job(f->m, "102")), STATE_IN_USE);
        gate(false);
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_string_equal(r.error, "");
        assert_string_equal(str(r.parameters, "volume"), "scratch");
        assert_int_equal(num(r.parameters, "key_generation"), gen_a);
        assert_int_equal(fw.n_releases - releases, 1);

        /* 101's volume is gone; 102's is as it was. */
        assert_null(pool_find_job(f->m, "101"));
        Volume *jb = pool_find_job(f->m, "102");
        assert_non_null(jb);
        assert_int_equal(volume_visible_state(jb), STATE_IN_USE);
        assert_int_equal(jb->rec.generation, gen_b);
        assert_int_equal(pool_n_jobs(pool), 1);
        assert_int_equal(pool_reserved_bytes(pool), size);
        assert_int_equal(pool->counters.releases, 1);
        assert_string_equal(pool->rec.last_job, "101");
        assert_int_equal(state_of(f, 0), STATE_CLEAN);

        /* A retried epilog is answered at once, and erases nothing more. */
        Call *cr2 = release(f, &r2, "101");
        assert_int_equal(r2.n, 1);
        assert_string_equal(r2.error, "");
        assert_int_equal(fw.n_releases - releases, 1);
        /* A job that never had a volume here: nothing to erase, success,
         * saying so; nothing else touched. */
        Call *cr3 = release(f, &r3, "999");
        assert_int_equal(r3.n, 1);
        assert_string_equal(r3.error, "");
        assert_true(json_object_get_boolean(json_object_object_get(r3.parameters, "unknown")));
        assert_string_equal(str(r3.parameters, "volume"), "");
        assert_int_equal(fw.n_releases - releases, 1);
        assert_int_equal(volume_visible_state(pool_find_job(f->m, "102")), STATE_IN_USE);

        call_unref(cr);
        call_unref(cr2);
        call_unref(cr3);
        answer_done(&r);
        answer_done(&r2);
        answer_done(&r3);
}

/* A Prepare that does not fit beside the others is refused at once, with
 * what is free, and changes nothing. */
static void test_shared_no_space(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer a = {}, b = {}, c = {};
        const uint64_t six = UINT64_C(6) << 30;
        uint64_t total = expected_pool_bytes();

        prepare_done(f, "201", six);
        Volume *j = pool_find_job(f->m, "201");
        assert_int_equal(j->rec.data_size, six);
        assert_int_equal(pool_reserved_bytes(pool), six);
        unsigned creates = fw.n_creates;
        size_t n_jobs = pool->n_jobs;

        Call *ca = prepare_sized(f, &a, "202", six);
        assert_int_equal(a.n, 1);
        assert_string_equal(a.error, API_ERROR_NO_SPACE);
        assert_string_equal(str(a.parameters, "volume"), "scratch");
        assert_int_equal(num(a.parameters, "requested_bytes"), six);
        assert_int_equal(num(a.parameters, "free_bytes"), total - six);
        assert_non_null(str(a.parameters, "reason"));
        assert_true(strlen(str(a.parameters, "reason")) > 0);

        /* More than the whole pool: NoSpace too, saying so. */
        Call *cb = prepare_sized(f, &b, "203", UINT64_C(20) << 30);
        assert_int_equal(b.n, 1);
        assert_string_equal(b.error, API_ERROR_NO_SPACE);
        assert_int_equal(num(b.parameters, "requested_bytes"), UINT64_C(20) << 30);
        assert_int_equal(num(b.parameters, "free_bytes"), total - six);
        assert_non_null(strstr(str(b.parameters, "reason"), "whole pool"));

        /* Below the smallest job volume (in whole pool blocks): the
         * parameter is refused. */
        Call *cc = prepare_sized(f, &c, "204", JOB_SIZE_MIN - THIN_BLOCK_DEFAULT);
        assert_int_equal(c.n, 1);
        assert_string_equal(c.error, "org.varlink.service.InvalidParameter");
        assert_string_equal(str(c.parameters, "parameter"), "size");

        /* Nothing was made or changed. */
        assert_true(pool_quiet(f->m, NULL));
        assert_int_equal(fw.n_creates, creates);
        assert_int_equal(pool->n_jobs, n_jobs);
        assert_null(pool_find_job(f->m, "202"));
        assert_null(pool_find_job(f->m, "203"));
        assert_null(pool_find_job(f->m, "204"));
        assert_int_equal(pool_reserved_bytes(pool), six);
        assert_int_equal(pool->counters.prepare_failures, 3);

        /* A size is rounded up to whole pool blocks: one byte short of the
         * smallest is the smallest. */
        prepare_done(f, "205", JOB_SIZE_MIN - 1);
        assert_int_equal(pool_find_job(f->m, "205")->rec.data_size, JOB_SIZE_MIN);
        assert_int_equal(pool_reserved_bytes(pool), six + JOB_SIZE_MIN);

        call_unref(ca);
        call_unref(cb);
        call_unref(cc);
        answer_done(&a);
        answer_done(&b);
        answer_done(&c);
}

/* The same with JobSize=: the Prepare names no size, and is told the one
 * it would have got. */
static void test_shared_no_space_default_size(void **state) {
        Fixture *f = shared_new(state, "JobSize=6G\n");
        Volume *pool = pool_of(f);
        Answer a = {};
        const uint64_t six = UINT64_C(6) << 30;

        prepare_done(f, "301", 0);
        assert_int_equal(pool_find_job(f->m, "301")->rec.data_size, six);
        /* No spare beside it: it would not fit. */
        assert_null(pool_spare(pool));

        Call *ca = prepare_sized(f, &a, "302", 0);
        assert_int_equal(a.n, 1);
        assert_string_equal(a.error, API_ERROR_NO_SPACE);
        assert_int_equal(num(a.parameters, "free_bytes"), expected_pool_bytes() - six);
        assert_int_equal(num(a.parameters, "requested_bytes"), six);
        assert_null(pool_find_job(f->m, "302"));

        call_unref(ca);
        answer_done(&a);
}

/* MaxJobs= job volumes live: TooManyJobs, until one is released. */
static void test_shared_too_many_jobs(void **state) {
        Fixture *f = shared_new(state, "MaxJobs=2\n");
        Volume *pool = pool_of(f);
        Answer a = {}, r = {}, b = {};

        prepare_done(f, "401", 0);
        prepare_done(f, "402", 0);
        assert_int_equal(pool_n_jobs(pool), 2);
        unsigned creates = fw.n_creates, assigns = fw.n_assigns;

        Call *ca = prepare_sized(f, &a, "403", JOB_SIZE_MIN);
        assert_int_equal(a.n, 1);
        assert_string_equal(a.error, API_ERROR_TOO_MANY_JOBS);
        assert_string_equal(str(a.parameters, "volume"), "scratch");
        assert_int_equal(num(a.parameters, "max_jobs"), 2);
        assert_non_null(strstr(str(a.parameters, "reason"), "MaxJobs=2"));
        assert_null(pool_find_job(f->m, "403"));
        assert_int_equal(fw.n_creates, creates);
        assert_int_equal(fw.n_assigns, assigns);

        /* Once one job is gone, the next gets its volume. */
        Call *cr = release(f, &r, "401");
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_string_equal(r.error, "");
        Call *cb = prepare_sized(f, &b, "403", JOB_SIZE_MIN);
        assert_true(run_until(f->m, answered, &b));
        assert_job_dir(f, &b, "403");
        assert_int_equal(num(b.parameters, "size_bytes"), JOB_SIZE_MIN);

        call_unref(ca);
        call_unref(cr);
        call_unref(cb);
        answer_done(&a);
        answer_done(&r);
        answer_done(&b);
}

/* A retried prolog gets the same volume: while it is made, and after. */
static void test_shared_prepare_retried(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer a = {}, b = {}, c = {};
        const uint64_t size = UINT64_C(2) << 30;   /* not the spare's: made for it */

        gate(true);
        Call *ca = prepare_sized(f, &a, "501", size);
        Call *cb = prepare_sized(f, &b, "501", size);
        assert_int_equal(a.n + b.n, 0);   /* the retry waits for the same volume */
        gate(false);
        assert_true(run_until(f->m, answered, &a));
        assert_true(run_until(f->m, answered, &b));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_job_dir(f, &a, "501");
        assert_job_dir(f, &b, "501");
        assert_int_equal(num(a.parameters, "key_generation"), num(b.parameters, "key_generation"));
        assert_int_equal(num(a.parameters, "size_bytes"), size);
        assert_int_equal(num(b.parameters, "size_bytes"), size);

        /* Done: answered at once, the same. */
        Call *cc = prepare_sized(f, &c, "501", size);
        assert_int_equal(c.n, 1);
        assert_job_dir(f, &c, "501");
        assert_int_equal(num(c.parameters, "key_generation"), num(a.parameters, "key_generation"));

        /* One volume was made for it, and only one. */
        assert_int_equal(fw.n_creates - fw.n_spare_creates, 1);
        assert_int_equal(pool_n_jobs(pool), 1);
        assert_int_equal(pool_reserved_bytes(pool), size);
        assert_int_equal(pool->counters.prepares, 1);

        call_unref(ca);
        call_unref(cb);
        call_unref(cc);
        answer_done(&a);
        answer_done(&b);
        answer_done(&c);
}

/* The epilog comes while the prolog's volume is being made (the prolog gave
 * up on it): the volume is erased as soon as it is made, and then answered. */
static void test_shared_release_during_create(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer p = {}, r = {};

        gate(true);
        Call *cp = prepare_sized(f, &p, "601", UINT64_C(2) << 30);
        Call *cr = release(f, &r, "601");
        assert_int_equal(p.n + r.n, 0);   /* waits: no NoSuchJob */
        gate(false);
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_int_equal(p.n, 1);
        assert_int_equal(r.n, 1);
        assert_job_dir(f, &p, "601");
        assert_string_equal(r.error, "");
        assert_int_equal(num(r.parameters, "key_generation"), num(p.parameters, "key_generation"));

        /* Made, then erased: gone, its space free. */
        assert_int_equal(fw.n_releases - fw.n_spare_releases, 1);
        assert_null(pool_find_job(f->m, "601"));
        assert_int_equal(pool_n_jobs(pool), 0);
        assert_int_equal(pool_reserved_bytes(pool), 0);
        assert_string_equal(pool->rec.last_job, "601");

        /* The same when it is the spare being given to the job. */
        gate(true);
        Answer p2 = {}, r2 = {};
        Call *cp2 = prepare_sized(f, &p2, "602", 0);
        assert_int_equal(pool_find_job(f->m, "602")->work, WORK_JOB_ASSIGN);
        Call *cr2 = release(f, &r2, "602");
        gate(false);
        assert_true(run_until(f->m, answered, &r2));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_string_equal(p2.error, "");
        assert_string_equal(r2.error, "");
        assert_null(pool_find_job(f->m, "602"));
        assert_int_equal(pool_reserved_bytes(pool), 0);

        call_unref(cp);
        call_unref(cr);
        call_unref(cp2);
        call_unref(cr2);
        answer_done(&p);
        answer_done(&r);
        answer_done(&p2);
        answer_done(&r2);
}

/* The same, but the erase fails: the Release says so. */
static void test_shared_release_during_create_fails(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer p = {}, r = {};
        const uint64_t size = UINT64_C(2) << 30;

        fw.fail_job = "603";
        gate(true);
        Call *cp = prepare_sized(f, &p, "603", size);
        Call *cr = release(f, &r, "603");
        gate(false);
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_job_dir(f, &p, "603");
        assert_string_equal(r.error, API_ERROR_VOLUME_FAILED);
        assert_string_equal(str(r.parameters, "volume"), "scratch");
        assert_string_equal(str(r.parameters, "reason"), "cannot delete thin volume: fake");

        Volume *j = pool_find_job(f->m, "603");
        assert_non_null(j);
        assert_int_equal(j->rec.state, STATE_FAILED);
        assert_int_equal(pool_reserved_bytes(pool), size);
        assert_int_equal(pool->counters.release_failures, 1);

        call_unref(cp);
        call_unref(cr);
        answer_done(&p);
        answer_done(&r);
}

/* A release that fails fences that job's volume alone: FAILED, its space
 * reserved; the other jobs, and new ones, go on. */
static void test_shared_release_fails(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer r = {}, r2 = {}, p = {}, s = {};
        uint64_t size = default_job_size(MAX_JOBS_DEFAULT);

        prepare_done(f, "701", 0);
        prepare_done(f, "702", 0);
        fw.fail_job = "701";
        Call *cr = release(f, &r, "701");
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_string_equal(r.error, API_ERROR_VOLUME_FAILED);
        assert_string_equal(str(r.parameters, "volume"), "scratch");
        assert_string_equal(str(r.parameters, "reason"), "cannot delete thin volume: fake");

        Volume *ja = pool_find_job(f->m, "701");
        assert_non_null(ja);
        assert_int_equal(volume_visible_state(ja), STATE_FAILED);
        assert_int_equal(volume_visible_state(pool_find_job(f->m, "702")), STATE_IN_USE);
        /* Still counted, its space still reserved; the pool itself fine. */
        assert_int_equal(pool_n_jobs(pool), 2);
        assert_int_equal(pool_reserved_bytes(pool), 2 * size);
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_int_equal(pool->counters.release_failures, 1);
        assert_string_equal(pool->rec.last_job, "");

        /* A repeated release is told at once; nothing is erased again. */
        unsigned releases = fw.n_releases;
        Call *cr2 = release(f, &r2, "701");
        assert_int_equal(r2.n, 1);
        assert_string_equal(r2.error, API_ERROR_VOLUME_FAILED);
        assert_string_equal(str(r2.parameters, "reason"), "cannot delete thin volume: fake");
        assert_int_equal(fw.n_releases, releases);

        /* Another job gets a volume. */
        Call *cp = prepare_sized(f, &p, "703", 0);
        assert_true(run_until(f->m, answered, &p));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_job_dir(f, &p, "703");
        assert_int_equal(pool_n_jobs(pool), 3);
        assert_int_equal(pool_reserved_bytes(pool), 3 * size);

        /* Status shows it FAILED, with why. */
        Call *cs = invoke(f->m, &s, "io.scratchd.GetStatus", NULL);
        json_object *vols, *v, *jobs;
        assert_true(json_object_object_get_ex(s.parameters, "volumes", &vols));
        v = json_object_array_get_idx(vols, 0);
        assert_true(json_object_object_get_ex(v, "jobs", &jobs));
        assert_int_equal(json_object_array_length(jobs), 3);
        bool seen = false;
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                json_object *o = json_object_array_get_idx(jobs, i);
                if (!streq(str(o, "job"), "701"))
                        continue;
                seen = true;
                assert_string_equal(str(o, "state"), "FAILED");
                assert_string_equal(str(o, "reason"), "cannot delete thin volume: fake");
        }
        assert_true(seen);

        call_unref(cr);
        call_unref(cr2);
        call_unref(cp);
        call_unref(cs);
        answer_done(&r);
        answer_done(&r2);
        answer_done(&p);
        answer_done(&s);
}

/* A job that needs the spare's space: the spare is erased first, then the
 * job's volume made; one answer. */
static void test_shared_spare_gives_way(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer p = {};
        uint64_t spare = default_job_size(MAX_JOBS_DEFAULT);
        uint64_t size = expected_pool_bytes() - spare / 2;
        size -= size % THIN_BLOCK_DEFAULT;

        assert_true(pool_spare_ready(pool));
        gate(true);
        Call *cp = prepare_sized(f, &p, "801", size);
        assert_int_equal(p.n, 0);
        assert_non_null(pool->pending);
        gate(false);
        assert_true(run_until(f->m, answered, &p));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_job_dir(f, &p, "801");
        assert_int_equal(num(p.parameters, "size_bytes"), size);
        assert_null(pool->pending);
        assert_int_equal(fw.n_spare_releases, 1);
        /* No room for a spare beside it. */
        assert_null(pool_spare(pool));
        assert_int_equal(pool->n_jobs, 1);
        assert_int_equal(pool_reserved_bytes(pool), size);

        call_unref(cp);
        answer_done(&p);
}

/* The spare's release, whose space a Prepare waits for, overruns
 * WorkTimeoutSec=: the Prepare, its retry and its epilog are answered (the
 * epilog's is a success: nothing was made), and so is, at once, the next
 * Prepare that needs that space; once the spare's release ends, the pool
 * takes jobs again. */
static void test_shared_spare_overdue(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer p = {}, p2 = {}, r = {}, q = {};
        uint64_t spare = default_job_size(MAX_JOBS_DEFAULT);
        uint64_t size = expected_pool_bytes() - spare / 2;
        size -= size % THIN_BLOCK_DEFAULT;
        f->config->daemon.work_timeout_sec = 1;

        assert_true(pool_spare_ready(pool));
        gate(true);
        Call *cp = prepare_sized(f, &p, "811", size);
        assert_non_null(pool->pending);
        Call *cp2 = prepare_sized(f, &p2, "811", size);
        Call *cr = invoke(f->m, &r, "io.scratchd.Release", "{\"job\":\"811\"}");
        assert_int_equal(p.n + p2.n + r.n, 0);
        assert_true(run_until(f->m, answered, &p));
        assert_string_not_equal(p.error, "");
        assert_non_null(strstr(str(p.parameters, "reason"), "has not finished in WorkTimeoutSec=1 s"));
        assert_int_equal(p2.n, 1);
        assert_string_not_equal(p2.error, "");
        assert_int_equal(r.n, 1);
        assert_string_equal(r.error, "");
        assert_null(pool->pending);

        /* The next Prepare that needs the spare's space: answered at once. */
        Call *cq = prepare_sized(f, &q, "812", size);
        assert_int_equal(q.n, 1);
        assert_string_equal(q.error, API_ERROR_VOLUME_FAILED);
        assert_non_null(strstr(str(q.parameters, "reason"), "WorkTimeoutSec=1 s"));

        gate(false);
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_null(pool_find_job(f->m, "811"));
        prepare_done(f, "813", size);

        call_unref(cp);
        call_unref(cp2);
        call_unref(cr);
        call_unref(cq);
        answer_done(&p);
        answer_done(&p2);
        answer_done(&r);
        answer_done(&q);
}

/* The epilog comes while the job's Prepare waits for the spare to give its
 * space up: it waits too, for the volume to be made, then erased. */
static void test_shared_release_while_spare_gives_way(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer p = {}, r = {}, r2 = {};
        uint64_t spare = default_job_size(MAX_JOBS_DEFAULT);
        uint64_t size = expected_pool_bytes() - spare / 2;
        size -= size % THIN_BLOCK_DEFAULT;

        gate(true);
        Call *cp = prepare_sized(f, &p, "802", size);
        assert_non_null(pool->pending);
        assert_null(pool_find_job(f->m, "802"));
        Call *cr = release(f, &r, "802");
        Call *cr2 = release(f, &r2, "802");   /* and a retry of it */
        assert_int_equal(p.n + r.n + r2.n, 0);   /* no NoSuchJob: they wait */
        gate(false);
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, answered, &r2));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_int_equal(p.n, 1);
        assert_job_dir(f, &p, "802");
        assert_int_equal(num(p.parameters, "size_bytes"), size);
        assert_string_equal(r.error, "");
        assert_string_equal(r2.error, "");
        assert_int_equal(num(r.parameters, "key_generation"), num(p.parameters, "key_generation"));

        /* Made, then erased: gone, its space free, a spare back. */
        assert_null(pool->pending);
        assert_null(pool_find_job(f->m, "802"));
        assert_int_equal(fw.n_releases - fw.n_spare_releases, 1);
        assert_int_equal(pool_n_jobs(pool), 0);
        assert_int_equal(pool_reserved_bytes(pool), 0);
        assert_true(pool_spare_ready(pool));

        call_unref(cp);
        call_unref(cr);
        call_unref(cr2);
        answer_done(&p);
        answer_done(&r);
        answer_done(&r2);
}

/* The same, but the job's volume cannot be made: the Release is a success
 * that erases nothing. */
static void test_shared_release_while_spare_gives_way_no_room(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer p = {}, q = {}, r = {};
        uint64_t spare = default_job_size(MAX_JOBS_DEFAULT);
        uint64_t size = expected_pool_bytes() - spare / 2;
        size -= size % THIN_BLOCK_DEFAULT;

        /* The spare's release fails: fenced, its space stays reserved. */
        fw.fail_job = "";
        gate(true);
        Call *cp = prepare_sized(f, &p, "803", size);
        assert_non_null(pool->pending);
        Call *cq = prepare_sized(f, &q, "803", size);   /* a retried prolog */
        Call *cr = release(f, &r, "803");
        assert_int_equal(p.n + q.n + r.n, 0);
        gate(false);
        assert_true(run_until(f->m, answered, &r));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_int_equal(p.n, 1);
        assert_int_equal(q.n, 1);
        assert_int_equal(r.n, 1);
        assert_string_equal(p.error, API_ERROR_NO_SPACE);
        assert_string_equal(q.error, API_ERROR_NO_SPACE);
        assert_string_equal(str(q.parameters, "reason"), str(p.parameters, "reason"));
        assert_string_equal(r.error, "");
        assert_null(pool->pending);
        assert_null(pool_find_job(f->m, "803"));
        assert_int_equal(fw.n_releases - fw.n_spare_releases, 0);

        call_unref(cp);
        call_unref(cq);
        call_unref(cr);
        answer_done(&p);
        answer_done(&q);
        answer_done(&r);
}

/* A retried prolog while its Prepare waits for the spare waits with it, and
 * gets the same volume. */
static void test_shared_prepare_retried_while_spare_gives_way(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer p = {}, q = {};
        uint64_t spare = default_job_size(MAX_JOBS_DEFAULT);
        uint64_t size = expected_pool_bytes() - spare / 2;
        size -= size % THIN_BLOCK_DEFAULT;

        gate(true);
        Call *cp = prepare_sized(f, &p, "804", size);
        assert_non_null(pool->pending);
        Call *cq = prepare_sized(f, &q, "804", size);
        assert_int_equal(p.n + q.n, 0);   /* no VolumeBusy: it waits */
        gate(false);
        assert_true(run_until(f->m, answered, &p));
        assert_true(run_until(f->m, answered, &q));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_job_dir(f, &p, "804");
        assert_job_dir(f, &q, "804");
        assert_int_equal(num(q.parameters, "key_generation"), num(p.parameters, "key_generation"));
        assert_int_equal(num(q.parameters, "size_bytes"), size);
        /* One volume, made once. */
        assert_int_equal(fw.n_creates - fw.n_spare_creates, 1);
        assert_int_equal(pool_n_jobs(pool), 1);
        assert_int_equal(pool_reserved_bytes(pool), size);

        call_unref(cp);
        call_unref(cq);
        answer_done(&p);
        answer_done(&q);
}

/* A spare that cannot be made is not made again at once, over and over
 * (each try uses a key generation and a thin id up, on file): it is tried
 * again at the next check. A job's Prepare still tries, and is told. */
static void test_shared_spare_fails(void **state) {
        Fixture *f = shared_new(state, NULL);
        Volume *pool = pool_of(f);
        Answer a = {};

        /* A job takes the spare; the next one cannot be made. */
        fw.fail_create = true;
        prepare_done(f, "1001", 0);
        assert_true(run_until(f->m, pool_quiet, NULL));
        unsigned tries = fw.n_spare_creates;
        uint64_t gen = pool->rec.generation;
        assert_int_equal(tries, 2);

        /* A while of the loop: nothing more is tried. */
        uint64_t until = now_usec() + 300 * USEC_PER_MSEC;
        while (now_usec() < until)
                assert_true(sd_event_run(f->m->event, 50 * USEC_PER_MSEC) >= 0);
        assert_true(run_until(f->m, pool_quiet, NULL));
        print_message("%u spare(s) tried; key generation %" PRIu64 " -> %" PRIu64 "\n", fw.n_spare_creates, gen,
                      pool->rec.generation);
        assert_int_equal(fw.n_spare_creates, tries);
        assert_int_equal(pool->rec.generation, gen);
        assert_null(pool_spare(pool));
        assert_int_equal(pool->n_jobs, 1);

        /* A job's own volume is tried, and its failure told. */
        Call *ca = prepare_sized(f, &a, "1002", 0);
        assert_true(run_until(f->m, answered, &a));
        assert_string_equal(a.error, API_ERROR_INTERNAL);
        assert_null(pool_find_job(f->m, "1002"));
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_int_equal(fw.n_spare_creates, tries);

        /* Made again once the cause is gone, at the next check. */
        fw.fail_create = false;
        pool_spare_ensure(pool);
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_int_equal(fw.n_spare_creates, tries);   /* not before the check */
        pool_spare_check(pool);
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_int_equal(fw.n_spare_creates, tries + 1);
        assert_true(pool_spare_ready(pool));

        call_unref(ca);
        answer_done(&a);
}

static void test_shared_status(void **state) {
        Fixture *f = shared_new(state, "MaxJobs=4\n");
        Answer s = {}, s0 = {};
        uint64_t total = expected_pool_bytes(), size = default_job_size(4);
        json_object *vols, *v, *pool, *jobs;

        /* No job yet. */
        Call *cs0 = invoke(f->m, &s0, "io.scratchd.GetStatus", NULL);
        assert_true(json_object_object_get_ex(s0.parameters, "volumes", &vols));
        v = json_object_array_get_idx(vols, 0);
        assert_true(json_object_object_get_ex(v, "jobs", &jobs));
        assert_int_equal(json_object_array_length(jobs), 0);   /* the spare is no job */
        assert_true(json_object_object_get_ex(v, "pool", &pool));
        assert_int_equal(num(pool, "jobs"), 0);
        assert_int_equal(num(pool, "reserved_bytes"), 0);
        assert_int_equal(num(pool, "free_bytes"), total);

        prepare_done(f, "901", 0);
        prepare_done(f, "902", UINT64_C(1) << 30);

        Call *cs = invoke(f->m, &s, "io.scratchd.GetStatus", NULL);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.error, "");
        assert_true(json_object_object_get_ex(s.parameters, "volumes", &vols));
        assert_int_equal(json_object_array_length(vols), 1);
        v = json_object_array_get_idx(vols, 0);
        assert_string_equal(str(v, "name"), "scratch");
        assert_string_equal(str(v, "mode"), "shared");
        assert_string_equal(str(v, "state"), "CLEAN");
        json_object *x;
        assert_false(json_object_object_get_ex(v, "size_bytes", &x));   /* no file system of its own */

        assert_true(json_object_object_get_ex(v, "pool", &pool));
        assert_int_equal(num(pool, "size_bytes"), total);
        assert_int_equal(num(pool, "reserved_bytes"), size + (UINT64_C(1) << 30));
        assert_int_equal(num(pool, "free_bytes"), total - size - (UINT64_C(1) << 30));
        assert_int_equal(num(pool, "jobs"), 2);
        assert_int_equal(num(pool, "max_jobs"), 4);
        assert_int_equal(num(pool, "job_size_bytes"), size);
        assert_true(json_object_object_get_ex(pool, "spare_ready", &x));
        assert_true(json_object_get_boolean(x));
        assert_int_equal(num(pool, "spare_bytes"), size);

        assert_true(json_object_object_get_ex(v, "jobs", &jobs));
        assert_int_equal(json_object_array_length(jobs), 2);
        for (size_t i = 0; i < 2; i++) {
                json_object *o = json_object_array_get_idx(jobs, i);
                const char *job = str(o, "job");
                assert_non_null(job);
                assert_true(streq(job, "901") || streq(job, "902"));
                Volume *j = pool_find_job(f->m, job);
                char dir[256];
                snprintf(dir, sizeof(dir), "%s/%s", f->mounts[0], job);
                assert_string_equal(str(o, "user"), f->user);
                assert_string_equal(str(o, "state"), "IN_USE");
                assert_string_equal(str(o, "directory"), dir);
                assert_int_equal(num(o, "size_bytes"), streq(job, "901") ? size : UINT64_C(1) << 30);
                assert_int_equal(num(o, "key_generation"), j->rec.generation);
                assert_int_equal(num(o, "thin_id"), j->rec.thin_id);
                assert_false(json_object_object_get_ex(o, "reason", &x));
        }
        assert_string_not_equal(str(json_object_array_get_idx(jobs, 0), "job"),
                                str(json_object_array_get_idx(jobs, 1), "job"));

        call_unref(cs0);
        call_unref(cs);
        answer_done(&s0);
        answer_done(&s);
}

/* A disk not there at the first adoption (udev makes its link late): the
 * volume is ABSENT "waiting for its disk", a Prepare meanwhile is refused
 * as something that clears by itself (scratchctl asks again), not counted
 * as a failure, and the daemon's own retry takes the disk once it comes. */
static bool volume_clean(Manager *m, void *arg) {
        return volume_idle(&m->volumes[0]) && m->volumes[0].rec.state == STATE_CLEAN;
}

static void test_disk_late(void **state) {
        fw.absent = true;
        hold_adoption = true;
        Fixture *f = fixture_new(state, 1, NULL);
        hold_adoption = false;
        fw.absent = true;
        gate(false);
        Volume *v = &f->m->volumes[0];
        assert_true(run_until(f->m, all_idle, NULL));
        assert_int_equal(v->rec.state, STATE_ABSENT);
        assert_true(v->settled);
        assert_true(volume_waiting_for_disk(v));
        assert_string_equal(volume_activity(v), "waiting for its disk");

        Answer a = {};
        Call *c = prepare(f, &a, "90");
        assert_string_equal(a.error, API_ERROR_NO_CLEAN_VOLUME);
        json_object *vols;
        assert_true(json_object_object_get_ex(a.parameters, "volumes", &vols));
        assert_string_equal(str(json_object_array_get_idx(vols, 0), "activity"), "waiting for its disk");
        assert_int_equal(v->counters.prepare_failures, 0);
        call_unref(c);
        answer_done(&a);

        /* The disk comes: the retry (after 1 s) takes it. */
        fw.absent = false;
        assert_true(run_until(f->m, volume_clean, NULL));
        assert_false(volume_waiting_for_disk(v));
        assert_null(volume_activity(v));

        /* Past the wait, a disk still missing is no longer waited for. */
        v->rec.state = STATE_ABSENT;
        v->disk_wait_until = now_usec() - 1;
        assert_false(volume_waiting_for_disk(v));
}

/* ---- reload (systemctl reload, io.scratchd.Reload) ---- */

/* Writes the fixture's config, with `extra` lines in [Scratch] and `daemon`
 * lines in [Daemon], as the file a reload reads. */
static void write_config(Fixture *f, const char *extra, const char *daemon) {
        char path[256];
        snprintf(path, sizeof(path), "%s/scratchd.conf", f->dir.path);
        FILE *c = fopen(path, "we");
        assert_non_null(c);
        fprintf(c, "[Scratch]\nDevices=/dev/null\nMountPoint=%s\n%s[Daemon]\nAuditLog=\n%s", f->mounts[0], extra ?: "",
                daemon ?: "");
        assert_int_equal(fclose(c), 0);
        if (!f->m->config_path)
                assert_non_null(f->m->config_path = strdup(path));
}

static void reload(Fixture *f, Answer *a) {
        Call *c = invoke(f->m, a, "io.scratchd.Reload", NULL);
        assert_int_equal(a->n, 1);   /* answered at once: nothing waits on a worker */
        call_unref(c);
}

/* A good file applies (the [Scratch] keys from the next wipe on), a bad one
 * is refused with its one-line error and changes nothing, and so is one that
 * changes what only a restart can. */
static void test_reload(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer a = {};

        /* The same file: nothing changed. */
        write_config(f, NULL, NULL);
        reload(f, &a);
        assert_string_equal(a.error, "");
        assert_string_equal(str(a.parameters, "changed"), "");
        answer_done(&a);

        /* A good one. */
        const Config *before = f->m->config;
        write_config(f, "FileSystem=ext4\n", "WorkTimeoutSec=77\nMaxConnections=9\n");
        reload(f, &a);
        assert_string_equal(a.error, "");
        assert_string_equal(str(a.parameters, "changed"), "FileSystem=, WorkTimeoutSec=, MaxConnections=");
        answer_done(&a);
        assert_ptr_not_equal(f->m->config, before);
        assert_int_equal(f->m->config->daemon.work_timeout_sec, 77);
        assert_int_equal(f->m->volumes[0].sc->file_system, FILE_SYSTEM_EXT4);
        assert_int_equal(manager_transport_limits(f->m).max_connections, 9);
        /* ... and the next wipe's order carries it. */
        Call *cw = invoke(f->m, &a, "io.scratchd.Wipe", NULL);
        assert_true(run_until(f->m, answered, &a));
        assert_string_equal(a.error, "");
        assert_int_equal(f->m->volumes[0].order.sc->file_system, FILE_SYSTEM_EXT4);
        call_unref(cw);
        answer_done(&a);

        /* A bad value: refused, naming the file, the line and the key. */
        const Config *good = f->m->config;
        write_config(f, "FileSystem=btrfs\n", "WorkTimeoutSec=5\n");
        reload(f, &a);
        assert_string_equal(a.error, "io.scratchd.ConfigRefused");
        const char *why = str(a.parameters, "reason");
        assert_non_null(why);
        assert_non_null(strstr(why, "scratchd.conf:4"));
        assert_non_null(strstr(why, "FileSystem"));
        assert_non_null(strstr(why, "the running config stays"));
        assert_null(strchr(why, '\n'));
        answer_done(&a);
        assert_ptr_equal(f->m->config, good);
        assert_int_equal(f->m->config->daemon.work_timeout_sec, 77);

        /* What only a restart can change: refused, naming the key. */
        write_config(f, "MountPoint=/elsewhere\n", NULL);
        reload(f, &a);
        assert_string_equal(a.error, "io.scratchd.ConfigRefused");
        assert_non_null(strstr(str(a.parameters, "reason"), "MountPoint= changed"));
        assert_non_null(strstr(str(a.parameters, "reason"), "systemctl restart scratchd"));
        answer_done(&a);

        /* A group that does not exist: refused (the old gids stay). */
        write_config(f, NULL, "[Access]\nReadGroup=scratchd-no-such-group\n");
        reload(f, &a);
        assert_string_equal(a.error, "io.scratchd.ConfigRefused");
        assert_non_null(strstr(str(a.parameters, "reason"), "ReadGroup=scratchd-no-such-group: no such group"));
        answer_done(&a);
        assert_ptr_equal(f->m->config, good);
        assert_string_equal(lifecycle_state_to_string(state_of(f, 0)), "CLEAN");

        /* Reloading is an operator's: anyone else is refused before the file is read. */
        next_caller = (Caller) { .uid = 4242, .gid = 4242 };
        reload(f, &a);
        assert_string_equal(a.error, "io.scratchd.NotAuthorized");
        answer_done(&a);
}

/* A reload while work is in flight: the worker keeps the config it started
 * with until it ends; configs no work reads are freed at the next reload,
 * and a reload that changes nothing swaps nothing. */
static void test_reload_during_work(void **state) {
        Fixture *f = fixture_new(state, 1, NULL);
        Answer a = {}, w = {};
        char line[64];

        write_config(f, NULL, "WorkTimeoutSec=71\n");
        reload(f, &a);
        assert_string_equal(a.error, "");
        answer_done(&a);
        const Config *c1 = f->m->config;
        assert_int_equal(f->m->n_retired, 1);   /* the fixture's own, never freed here */

        gate(true);
        Call *cw = invoke(f->m, &w, "io.scratchd.Wipe", NULL);
        assert_ptr_equal(f->m->volumes[0].order.sc, &c1->scratch[0]);
        for (unsigned t = 72; t <= 73; t++) {
                snprintf(line, sizeof(line), "WorkTimeoutSec=%u\n", t);
                write_config(f, NULL, line);
                reload(f, &a);
                assert_string_equal(a.error, "");
                answer_done(&a);
        }
        /* c1 is retired, and kept: the wipe still reads it. */
        assert_int_equal(f->m->n_retired, 3);
        assert_ptr_equal(f->m->volumes[0].order.sc, &c1->scratch[0]);
        assert_string_equal(f->m->volumes[0].order.sc->name, "scratch");
        assert_int_equal(f->m->config->daemon.work_timeout_sec, 73);

        gate(false);
        assert_true(run_until(f->m, answered, &w));
        assert_string_equal(w.error, "");
        write_config(f, NULL, "WorkTimeoutSec=74\n");
        reload(f, &a);
        answer_done(&a);
        assert_int_equal(f->m->n_retired, 2);   /* the fixture's and the one just replaced */

        /* Nothing changed: nothing swapped. */
        const Config *now = f->m->config;
        reload(f, &a);
        assert_string_equal(str(a.parameters, "changed"), "");
        answer_done(&a);
        assert_ptr_equal(f->m->config, now);
        assert_int_equal(f->m->n_retired, 2);
        call_unref(cw);
        answer_done(&w);
}

/* ---- stale volumes (JobCheck=slurm) ---- */

/* A cgroup tree as slurmstepd leaves it (cgroup v1, freezer): CGROUP/freezer/slurm,
 * and a job's directory below it while the job runs. */
static void cgroup_job(Fixture *f, const char *job, bool present) {
        char path[256];
        snprintf(path, sizeof(path), "%s/cgroup/freezer/slurm/uid_0/job_%s", f->dir.path, job);
        if (present) {
                for (char *p = strchr(path + strlen(f->dir.path) + 1, '/'); p; p = strchr(p + 1, '/')) {
                        *p = 0;
                        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
                        *p = '/';
                }
                assert_int_equal(mkdir(path, 0755), 0);
                /* A process in it, as the job's extern step keeps one. */
                strcat(path, "/cgroup.procs");
                FILE *procs = fopen(path, "we");
                assert_non_null(procs);
                fputs("4242\n", procs);
                assert_int_equal(fclose(procs), 0);
        } else {
                /* As the kernel removes a cgroup: its files go with it. */
                char procs[300];
                snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
                assert_int_equal(unlink(procs), 0);
                assert_int_equal(rmdir(path), 0);
        }
}

static Fixture *stale_fixture(void **state, const char *mode, bool release) {
        char extra[256];
        snprintf(extra, sizeof(extra), "%s[Daemon]\nJobCheck=slurm\nStaleAfterSec=30\nReleaseStale=%s\n", mode,
                 release ? "yes" : "no");
        Fixture *f = fixture_new_with(state, 1, NULL, extra);
        if (*mode)
                assert_true(run_until(f->m, pool_quiet, NULL));
        static char root[256];
        snprintf(root, sizeof(root), "%s/cgroup", f->dir.path);
        f->m->cgroup_root = root;
        return f;
}

/* Makes `v`'s job gone for longer than StaleAfterSec= (30 s), as if. */
static void backdate(Volume *v) {
        assert_true(v->job_gone_usec > 0);
        v->job_gone_usec -= 31 * USEC_PER_SEC;
}

static json_object *volume_status(Fixture *f) {
        Answer a = {};
        Call *c = invoke(f->m, &a, "io.scratchd.GetStatus", NULL);
        call_unref(c);
        json_object *vols, *v;
        assert_true(json_object_object_get_ex(a.parameters, "volumes", &vols));
        v = json_object_get(json_object_array_get_idx(vols, 0));
        answer_done(&a);
        return v;
}

static bool status_bool(json_object *v, const char *key) {
        json_object *b;
        assert_true(json_object_object_get_ex(v, key, &b));
        return json_object_get_boolean(b);
}

static bool metrics_have(Fixture *f, const char *line) {
        _cleanup_free_ char *text = backend_metrics_text(f->m);
        assert_non_null(text);
        return strstr(text, line) != NULL;
}

/* Exclusive mode: the job's cgroup goes, the volume is stale StaleAfterSec=
 * later (shown in status and the metrics), and ReleaseStale=yes releases it;
 * the epilog that comes after succeeds. */
static void test_stale_released(void **state) {
        Fixture *f = stale_fixture(state, "", true);
        Answer a = {}, r = {};
        cgroup_job(f, "5", true);
        Call *cp = prepare(f, &a, "5");
        assert_true(run_until(f->m, answered, &a));
        assert_string_equal(a.error, "");
        Volume *v = &f->m->volumes[0];
        uint64_t gen = v->rec.generation;

        /* Running: the positive control, found. */
        stale_check(f->m);
        assert_int_equal(v->job_gone_usec, 0);
        json_object *st = volume_status(f);
        assert_false(status_bool(st, "stale"));
        json_object_put(st);
        assert_true(metrics_have(f, "scratchd_stale_volumes{volume=\"scratch\"} 0\n"));

        /* Gone: not stale yet (its epilog may be on its way). */
        cgroup_job(f, "5", false);
        stale_check(f->m);
        assert_true(v->job_gone_usec > 0);
        assert_false(volume_stale(v));
        st = volume_status(f);
        assert_false(status_bool(st, "stale"));
        json_object *since;
        assert_true(json_object_object_get_ex(st, "job_gone_since", &since));
        assert_true(json_object_get_int64(since) > 0);
        json_object_put(st);

        /* Gone for StaleAfterSec=: released by the daemon, as an epilog would. */
        backdate(v);
        assert_true(volume_stale(v));
        assert_true(metrics_have(f, "scratchd_stale_volumes{volume=\"scratch\"} 1\n"));
        stale_check(f->m);
        assert_true(run_until(f->m, all_idle, NULL));
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_true(v->rec.generation > gen);
        assert_string_equal(v->rec.last_job, "5");
        assert_int_equal(v->job_gone_usec, 0);
        assert_true(metrics_have(f, "scratchd_stale_volumes{volume=\"scratch\"} 0\n"));

        /* The epilog, late: success, nothing more erased. */
        uint64_t after = v->rec.generation;
        Call *cr = release(f, &r, "5");
        assert_true(run_until(f->m, answered, &r));
        assert_string_equal(r.error, "");
        assert_int_equal(v->rec.generation, after);
        call_unref(cp);
        call_unref(cr);
        answer_done(&a);
        answer_done(&r);
}

/* A job never seen running is not called gone; one seen, then gone, is
 * stale, shown and (ReleaseStale=no) kept; and one that comes back is no
 * longer gone. */
static void test_stale_kept(void **state) {
        Fixture *f = stale_fixture(state, "", false);
        Answer a = {};
        cgroup_job(f, "5", true);    /* Slurm's cgroups are there (another job's) */
        Call *cp = prepare(f, &a, "6");
        assert_true(run_until(f->m, answered, &a));
        Volume *v = &f->m->volumes[0];

        /* Handed out, its cgroup not made yet (the extern step starts once
         * the prolog has ended): not gone, however long. */
        stale_check(f->m);
        assert_int_equal(v->job_gone_usec, 0);
        assert_false(volume_stale(v));

        cgroup_job(f, "6", true);
        stale_check(f->m);
        cgroup_job(f, "6", false);
        stale_check(f->m);
        backdate(v);
        stale_check(f->m);
        assert_true(volume_stale(v));
        assert_true(all_idle(f->m, NULL));
        assert_int_equal(state_of(f, 0), STATE_IN_USE);
        json_object *st = volume_status(f);
        assert_true(status_bool(st, "stale"));
        json_object_put(st);

        cgroup_job(f, "6", true);
        stale_check(f->m);
        assert_false(volume_stale(v));
        assert_int_equal(v->job_gone_usec, 0);

        /* Gone again, stale again; then a reload sets ReleaseStale=yes: released. */
        cgroup_job(f, "6", false);
        stale_check(f->m);
        backdate(v);
        stale_check(f->m);
        assert_true(volume_stale(v));
        assert_int_equal(state_of(f, 0), STATE_IN_USE);
        uint64_t gen = v->rec.generation;
        write_config(f, NULL, "JobCheck=slurm\nStaleAfterSec=30\nReleaseStale=yes\n");
        Answer r = {};
        reload(f, &r);
        assert_string_equal(r.error, "");
        assert_string_equal(str(r.parameters, "changed"), "ReleaseStale=");
        answer_done(&r);
        assert_true(run_until(f->m, all_idle, NULL));
        assert_int_equal(state_of(f, 0), STATE_CLEAN);
        assert_true(v->rec.generation > gen);
        call_unref(cp);
        answer_done(&a);
}

/* No Slurm cgroups to look in: the check cannot see, says so, and calls no
 * job gone however long. */
static void test_stale_blind(void **state) {
        Fixture *f = stale_fixture(state, "", true);
        Answer a = {};
        Call *cp = prepare(f, &a, "7");
        assert_true(run_until(f->m, answered, &a));
        Volume *v = &f->m->volumes[0];

        stale_check(f->m);
        assert_int_equal(v->job_gone_usec, 0);
        assert_non_null(strstr(f->m->job_check_blind, "no Slurm job cgroups"));
        json_object *st = volume_status(f);
        assert_false(status_bool(st, "stale"));
        assert_non_null(strstr(str(st, "job_check"), "proctrack/cgroup"));
        json_object_put(st);
        assert_true(metrics_have(f, "scratchd_job_check_blind{volume=\"scratch\"} 1\n"));
        assert_int_equal(state_of(f, 0), STATE_IN_USE);

        /* Slurm's cgroups appear (slurmd started): it sees again. */
        cgroup_job(f, "7", true);
        stale_check(f->m);
        assert_string_equal(f->m->job_check_blind, "");
        assert_true(metrics_have(f, "scratchd_job_check_blind{volume=\"scratch\"} 0\n"));
        call_unref(cp);
        answer_done(&a);
}

/* Shared mode: one job volume goes stale and is released; the other job's
 * stays. */
static void test_stale_shared(void **state) {
        Fixture *f = stale_fixture(state, "Mode=shared\n", true);
        cgroup_job(f, "201", true);
        cgroup_job(f, "202", true);
        prepare_done(f, "201", 0);
        prepare_done(f, "202", 0);
        stale_check(f->m);   /* both seen running */

        cgroup_job(f, "201", false);
        stale_check(f->m);
        backdate(pool_find_job(f->m, "201"));
        assert_true(metrics_have(f, "scratchd_stale_volumes{volume=\"scratch\"} 1\n"));
        stale_check(f->m);
        assert_true(run_until(f->m, pool_quiet, NULL));
        assert_null(pool_find_job(f->m, "201"));
        assert_non_null(pool_find_job(f->m, "202"));
        assert_int_equal(volume_visible_state(pool_find_job(f->m, "202")), STATE_IN_USE);
        assert_true(pool_released_recently(pool_of(f), "201"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_adopted_clean, fixture_free),
                cmocka_unit_test_teardown(test_prepare_retried_same_directory, fixture_free),
                cmocka_unit_test_teardown(test_prepare_by_uid, fixture_free),
                cmocka_unit_test_teardown(test_release_retried, fixture_free),
                cmocka_unit_test_teardown(test_wipe_in_use_needs_force, fixture_free),
                cmocka_unit_test_teardown(test_release_during_adoption, fixture_free),
                cmocka_unit_test_teardown(test_ready_after_adoption, fixture_free),
                cmocka_unit_test_teardown(test_get_job, fixture_free),
                cmocka_unit_test_teardown(test_release_owed_not_unknown, fixture_free),
                cmocka_unit_test_teardown(test_prepare_while_wiping, fixture_free),
                cmocka_unit_test_teardown(test_wipe_overdue, fixture_free),
                cmocka_unit_test_teardown(test_stop_waits_for_work, fixture_free),
                cmocka_unit_test_teardown(test_prepare_overdue, fixture_free),
                cmocka_unit_test_teardown(test_wipe_two_volumes_one_fails, fixture_free),
                cmocka_unit_test_teardown(test_client_gone_before_answer, fixture_free),
                cmocka_unit_test_teardown(test_subscribe, fixture_free),
                cmocka_unit_test_teardown(test_release_during_prepare, fixture_free),
                cmocka_unit_test_teardown(test_release_during_failed_prepare, fixture_free),
                cmocka_unit_test_teardown(test_release_during_prepare_wipe_fails, fixture_free),
                cmocka_unit_test_teardown(test_slow_nss_does_not_delay_status, fixture_free),
                cmocka_unit_test_teardown(test_shared_adopted, fixture_free),
                cmocka_unit_test_teardown(test_shared_two_prepares, fixture_free),
                cmocka_unit_test_teardown(test_shared_release_one, fixture_free),
                cmocka_unit_test_teardown(test_shared_no_space, fixture_free),
                cmocka_unit_test_teardown(test_shared_no_space_default_size, fixture_free),
                cmocka_unit_test_teardown(test_shared_too_many_jobs, fixture_free),
                cmocka_unit_test_teardown(test_shared_prepare_retried, fixture_free),
                cmocka_unit_test_teardown(test_shared_release_during_create, fixture_free),
                cmocka_unit_test_teardown(test_shared_release_during_create_fails, fixture_free),
                cmocka_unit_test_teardown(test_shared_release_fails, fixture_free),
                cmocka_unit_test_teardown(test_shared_spare_gives_way, fixture_free),
                cmocka_unit_test_teardown(test_shared_spare_overdue, fixture_free),
                cmocka_unit_test_teardown(test_shared_release_while_spare_gives_way, fixture_free),
                cmocka_unit_test_teardown(test_shared_release_while_spare_gives_way_no_room, fixture_free),
                cmocka_unit_test_teardown(test_shared_prepare_retried_while_spare_gives_way, fixture_free),
                cmocka_unit_test_teardown(test_shared_spare_fails, fixture_free),
                cmocka_unit_test_teardown(test_shared_status, fixture_free),
                cmocka_unit_test_teardown(test_disk_late, fixture_free),
                cmocka_unit_test_teardown(test_reload, fixture_free),
                cmocka_unit_test_teardown(test_reload_during_work, fixture_free),
                cmocka_unit_test_teardown(test_stale_released, fixture_free),
                cmocka_unit_test_teardown(test_stale_kept, fixture_free),
                cmocka_unit_test_teardown(test_stale_blind, fixture_free),
                cmocka_unit_test_teardown(test_stale_shared, fixture_free),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
