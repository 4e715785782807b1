/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon layer (src/daemon: manager, volumes, operations, backend) on a
 * real sd-event loop, with a fake worker body (records saved, no disks) and
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
#include "scratchd/record.h"
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
        const char *state_dir;
} FakeWorker;

static FakeWorker fw = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void gate(bool closed) {
        pthread_mutex_lock(&fw.lock);
        fw.gate_closed = closed;
        pthread_cond_broadcast(&fw.cond);
        pthread_mutex_unlock(&fw.lock);
}

/* A wipe as the engine records it (through the lifecycle), without a disk. */
static void fake_run(void *userdata, const WorkOrder *o, WorkResult *ret) {
        if (o->kind == WORK_PREPARE) {
                worker_prepare(o, ret);
                return;
        }
        pthread_mutex_lock(&fw.lock);
        while (fw.gate_closed)
                pthread_cond_wait(&fw.cond, &fw.lock);
        bool fail = fw.fail && streq(fw.fail, o->sc->name);
        pthread_mutex_unlock(&fw.lock);

        Record rec;
        if (record_load(fw.state_dir, o->sc->name, &rec) < 0)
                rec = (Record) { .state = STATE_ABSENT };
        assert_int_equal(lifecycle_apply(&rec, EVENT_WIPE_START, NULL), 0);
        rec.generation++;
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
static Call *invoke_more(Manager *m, Answer *a, const char *method, const char *params, bool more) {
        const Caller root = { .uid = 0, .pid = getpid() };
        Call *call = call_new(&root, false, more, fake_send, a);
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
 * directory; adopted (wiped by the fake) to CLEAN. */
static Fixture *fixture_new(void **state, size_t n_volumes, const char *fail) {
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

        assert_true(asprintf(&text, "[Scratch]\nDevices=/dev/null\nMountPoint=%s\n[Daemon]\nAuditLog=\n", f->mounts[0]) >
                    0);
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
        fw.state_dir = f->state_dir;
        gate(false);
        nss_delay_ms = 0;
        VolumeWorker worker = { .run = fake_run };
        assert_int_equal(manager_new(f->config, f->state_dir, &worker, &f->m), 0);
        manager_startup(f->m);
        assert_true(run_until(f->m, all_idle, NULL));
        *state = f;
        return f;
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
        assert_int_equal(f->m->volumes[0].counters.prepare_failures, 1);
        assert_string_equal(f->m->volumes[0].rec.job, "");

        call_unref(cw);
        call_unref(cp);
        call_unref(cs);
        answer_done(&w);
        answer_done(&p);
        answer_done(&s);
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_adopted_clean, fixture_free),
                cmocka_unit_test_teardown(test_prepare_retried_same_directory, fixture_free),
                cmocka_unit_test_teardown(test_prepare_by_uid, fixture_free),
                cmocka_unit_test_teardown(test_release_retried, fixture_free),
                cmocka_unit_test_teardown(test_prepare_while_wiping, fixture_free),
                cmocka_unit_test_teardown(test_wipe_two_volumes_one_fails, fixture_free),
                cmocka_unit_test_teardown(test_client_gone_before_answer, fixture_free),
                cmocka_unit_test_teardown(test_subscribe, fixture_free),
                cmocka_unit_test_teardown(test_release_during_prepare, fixture_free),
                cmocka_unit_test_teardown(test_release_during_failed_prepare, fixture_free),
                cmocka_unit_test_teardown(test_slow_nss_does_not_delay_status, fixture_free),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
