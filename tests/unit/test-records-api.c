/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The erase records' read side (src/daemon/records.c): io.scratchd.GetRecords
 * and GetNodeKey through the daemon's handler, with a fake transport (the
 * answers recorded), over real records signed by a real node key
 * (erasure_write(), erasure_key_load_or_create()) in a temporary directory:
 * what is listed and in which order, the filters, the paging that keeps each
 * reply within a varlink message, the files that cannot be read (counted,
 * never left out without a word), who may ask, and that the key GetNodeKey
 * gives verifies the records GetRecords gives. Also rfc3339.c, the time form
 * of "since". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "scratchd/api.h"
#include "scratchd/config.h"
#include "scratchd/erasure.h"
#include "scratchd/manager.h"
#include "scratchd/rfc3339.h"
#include "scratchd/util.h"
#include "scratchd/varlink.h"

static inline void json_putp(json_object **p) {
        json_object_put(*p);
}
/* Not evp_pkey_freep: erasure.h may have one. */
static inline void pkey_freep(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}

/* 2026-12-03T12:01:02Z */
#define T0 UINT64_C(1796299262)

/* ---- the fake transport ---- */

typedef struct Answer {
        unsigned n;
        char error[128];           /* "" for a reply */
        json_object *parameters;
} Answer;

static void fake_send(Call *call, void *sink, const char *error, json_object *parameters, bool continues) {
        Answer *a = sink;
        a->n++;
        snprintf(a->error, sizeof(a->error), "%s", error ?: "");
        json_object_put(a->parameters);
        a->parameters = parameters;
}

static void answer_done(Answer *a) {
        json_object_put(a->parameters);
        *a = (Answer) {};
}

/* The call as the transport hands it over, by `caller` (root if NULL);
 * answered at once (neither method waits on anything). */
static void invoke_as(Manager *m, const Caller *caller, Answer *a, const char *method, const char *params) {
        Caller c = caller ? *caller : (Caller) { .uid = 0 };
        c.pid = getpid();
        answer_done(a);
        Call *call = call_new(&c, false, false, fake_send, a);
        assert_non_null(call);
        VarlinkCall vc = { .method = strdup(method), .parameters = json_tokener_parse(params ?: "{}") };
        assert_non_null(vc.parameters);
        manager_handle_call(m, call, &vc);
        varlink_call_done(&vc);
        call_unref(call);
        assert_int_equal(a->n, 1);
}

static void invoke(Manager *m, Answer *a, const char *method, const char *params) {
        invoke_as(m, NULL, a, method, params);
}

static json_object *member(json_object *o, const char *key) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v))
                print_error("no '%s' in %s\n", key, json_object_to_json_string(o));
        assert_true(json_object_object_get_ex(o, key, &v));
        return v;
}

static const char *str(json_object *o, const char *key) {
        json_object *v = member(o, key);
        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* ---- the daemon, its key and its records ---- */

typedef struct Fixture {
        TempDir dir;
        char state_dir[128], key_dir[128], records_dir[128], mount[128];
        Config *config;
        Manager *m;
        EVP_PKEY *key;
} Fixture;

static void fake_run(void *userdata, const WorkOrder *o, WorkResult *ret) {
        fail_msg("no work is started in these tests");
}

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        void *t = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;

        assert_non_null(f);
        assert_int_equal(setup_tempdir(&t), 0);
        f->dir = *(TempDir *) t;
        free(t);
        snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir.path);
        snprintf(f->key_dir, sizeof(f->key_dir), "%s/lib", f->dir.path);
        snprintf(f->records_dir, sizeof(f->records_dir), "%s/lib/records", f->dir.path);
        snprintf(f->mount, sizeof(f->mount), "%s/mnt", f->dir.path);
        assert_int_equal(mkdir(f->key_dir, 0700), 0);
        assert_int_equal(mkdir(f->mount, 0755), 0);
        assert_int_equal(erasure_key_load_or_create(f->key_dir, &f->key), 1);

        assert_true(asprintf(&text, "[Scratch]\nDevices=/dev/null\nMountPoint=%s\n[Daemon]\nAuditLog=\n", f->mount) > 0);
        assert_int_equal(config_load_string("test.conf", text, &f->config, &error), 0);
        VolumeWorker worker = { .run = fake_run };
        assert_int_equal(manager_new(f->config, f->state_dir, &worker, &f->m), 0);
        /* As manager_records_open() leaves them. */
        f->m->records_dir = strdup(f->records_dir);
        assert_non_null(f->m->records_dir);
        f->m->node_key = f->key;
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;
        /* Ours, not the manager's to free (whatever manager_free() does with them). */
        free(f->m->records_dir);
        f->m->records_dir = NULL;
        f->m->node_key = NULL;
        manager_free(f->m);
        config_free(f->config);
        EVP_PKEY_free(f->key);
        TempDir *t = malloc(sizeof(TempDir));
        *t = f->dir;
        void *p = t;
        free(f);
        return teardown_tempdir(&p);
}

static const ErasureMedia media[] = {
        { "/dev/disk/by-id/nvme-A", "Samsung PM9A3", "S64ANS0T123456", "eui.0025388b1234", UINT64_C(3840755982336) },
};

/* A record of an erase that ended `sec` seconds after T0, half a second
 * into that second; written and signed as the daemon does. Its name. */
static char *write_record(Fixture *f, uint64_t sec, const char *volume, const char *job, const char *user,
                          const char *trigger, uint64_t generation) {
        ErasureNode node = { .host = "node01", .boot_id = "f08f71fc-4d21-4655-8e52-7afa1f43ede5" };
        node.checked[node.n_checked++] = "crash-kernel-armed";
        ErasureRecord r = {
                .volume = volume, .mode = strchr(volume, '.') ? "shared" : "exclusive", .trigger = trigger,
                .media = media, .n_media = ELEMENTSOF(media),
                .cipher = "aes-xts-plain64", .key_bits = 512, .sector_size = 4096,
                .discard_done = true, .discard_detail = "BLKDISCARD",
                .scope = strchr(volume, '.') ? ERASURE_SCOPE_JOB_VOLUME : ERASURE_SCOPE_VOLUME,
                .scope_size_bytes = UINT64_C(1) << 40,
                .job = job, .user = user, .key_generation = generation, .next_key_generation = generation + 1,
                .start_usec = (T0 + sec) * USEC_PER_SEC, .end_usec = (T0 + sec) * USEC_PER_SEC + 500000,
                .result = "ok", .node = &node,
        };
        char *name = NULL;
        assert_int_equal(erasure_write(f->records_dir, &r, f->key, &name), 0);
        return name;
}

/* A string literal's bytes, NULs inside included, the final one not. */
#define write_literal(dir, name, lit) write_file(dir, name, lit, sizeof(lit) - 1)

static void write_file(const char *dir, const char *name, const char *data, size_t n) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, data, n), 0);
        close(fd);
}

/* The four records most tests list, oldest first by name: A (job 100), B
 * (job 200) an hour later, then D and C in the same second two hours on
 * ("scratch-" sorts before "scratch."): D of no job (at start-up), C a job
 * volume's (job 300). */
typedef struct Four {
        char *a, *b, *c, *d;
} Four;

static Four write_four(Fixture *f) {
        Four x;
        x.a = write_record(f, 0, "scratch", "100", "alice", "release", 7);
        x.b = write_record(f, 3600, "scratch", "200", "bob", "release", 8);
        x.c = write_record(f, 7200, "scratch.3", "300", "carol", "release", 1);
        x.d = write_record(f, 7200, "scratch", NULL, NULL, "startup", 9);
        return x;
}

static void four_done(Four *x) {
        free(x->a);
        free(x->b);
        free(x->c);
        free(x->d);
}

/* A reply as a client takes it: within one varlink message, and parsed
 * back by varlink_parse_reply() (scratchctl's reader). */
static void assert_fits_wire(json_object *parameters) {
        size_t len;
        _cleanup_free_ char *msg = varlink_encode_reply(json_object_get(parameters), false, &len);
        assert_non_null(msg);
        if (len - 1 > VARLINK_MESSAGE_MAX)
                print_error("a reply of %zu bytes\n", len - 1);
        assert_true(len - 1 <= VARLINK_MESSAGE_MAX);
        char *error = NULL;
        json_object *back = NULL;
        assert_int_equal(varlink_parse_reply(msg, len - 1, &error, &back, NULL), 0);
        assert_null(error);
        assert_true(json_object_equal(back, parameters));
        json_object_put(back);
}

/* The reply's names, joined by spaces, after checking the reply's shape:
 * as many records as names, each record the file's content unchanged. */
static char *names_of(Fixture *f, json_object *p) {
        json_object *records = member(p, "records"), *names = member(p, "names");
        assert_true(json_object_is_type(records, json_type_array));
        assert_true(json_object_is_type(names, json_type_array));
        assert_int_equal(json_object_array_length(records), json_object_array_length(names));
        assert_fits_wire(p);
        _cleanup_strv_free_ char **l = NULL;
        for (size_t i = 0; i < json_object_array_length(names); i++) {
                const char *name = json_object_get_string(json_object_array_get_idx(names, i));
                char path[PATH_MAX];
                _cleanup_free_ char *text = NULL;
                snprintf(path, sizeof(path), "%s/%s", f->records_dir, name);
                assert_int_equal(read_full_file(path, &text), 0);
                _cleanup_(json_putp) json_object *on_disk = json_tokener_parse(text);
                assert_non_null(on_disk);
                assert_true(json_object_equal(on_disk, json_object_array_get_idx(records, i)));
                assert_int_equal(strv_extend(&l, name), 0);
        }
        char *s = l ? strv_join(l, " ") : strdup("");
        assert_non_null(s);
        return s;
}

/* GetRecords with `params`: a reply, its names. */
static char *get_records(Fixture *f, Answer *a, const char *params) {
        invoke(f->m, a, "io.scratchd.GetRecords", params);
        if (a->error[0])
                print_error("GetRecords %s: %s %s\n", params, a->error, json_object_to_json_string(a->parameters));
        assert_string_equal(a->error, "");
        return names_of(f, a->parameters);
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);
        return n >= k && streq(s + n - k, suffix);
}

static char *join3(const char *x, const char *y, const char *z) {
        char *s = NULL;
        assert_true(asprintf(&s, "%s%s%s%s%s", x, y[0] ? " " : "", y, z[0] ? " " : "", z) > 0);
        return s;
}

/* ---- the tests ---- */

static void test_all(void **state) {
        Fixture *f = *state;
        Four x = write_four(f);
        Answer a = {};
        _cleanup_free_ char *names = get_records(f, &a, NULL), *ab = join3(x.a, x.b, ""), *want = join3(ab, x.d, x.c);
        assert_string_equal(names, want);

        json_object *records = member(a.parameters, "records");
        assert_string_equal(str(json_object_array_get_idx(records, 0), "job"), "100");
        assert_string_equal(str(json_object_array_get_idx(records, 0), "user"), "alice");
        assert_string_equal(str(json_object_array_get_idx(records, 0), "end"), "2026-12-03T12:01:02.500000Z");
        assert_string_equal(str(json_object_array_get_idx(records, 1), "job"), "200");
        assert_null(str(json_object_array_get_idx(records, 2), "job"));   /* null: no job */
        assert_string_equal(str(json_object_array_get_idx(records, 2), "trigger"), "startup");
        assert_string_equal(str(json_object_array_get_idx(records, 3), "volume"), "scratch.3");
        assert_false(json_object_get_boolean(member(a.parameters, "truncated")));
        assert_false(json_object_object_get_ex(a.parameters, "continue_before", NULL));
        assert_int_equal(json_object_get_int64(member(a.parameters, "unreadable")), 0);
        _cleanup_free_ char *b64 = NULL;
        assert_int_equal(erasure_key_public_base64(f->key, &b64), 0);
        assert_string_equal(str(a.parameters, "public_key"), b64);

        /* No key now (it could not be loaded): the records still, the key null. */
        f->m->node_key = NULL;
        _cleanup_free_ char *again = get_records(f, &a, "{}");
        assert_string_equal(again, want);
        assert_true(json_object_is_type(member(a.parameters, "public_key"), json_type_null));
        f->m->node_key = f->key;
        answer_done(&a);
        four_done(&x);
}

static void test_by_job(void **state) {
        Fixture *f = *state;
        Four x = write_four(f);
        Answer a = {};
        _cleanup_free_ char *n100 = get_records(f, &a, "{\"job\":\"100\"}");
        assert_string_equal(n100, x.a);
        _cleanup_free_ char *n300 = get_records(f, &a, "{\"job\":\"300\"}");
        assert_string_equal(n300, x.c);
        _cleanup_free_ char *none = get_records(f, &a, "{\"job\":\"999\"}");
        assert_string_equal(none, "");
        assert_false(json_object_get_boolean(member(a.parameters, "truncated")));
        answer_done(&a);
        four_done(&x);
}

static void test_by_since(void **state) {
        Fixture *f = *state;
        Four x = write_four(f);
        Answer a = {};
        _cleanup_free_ char *bdc = join3(x.b, x.d, x.c), *dc = join3(x.d, x.c, ""), *all = join3(x.a, bdc, "");

        /* B ended at 13:01:02.5: a since just before it takes it... */
        _cleanup_free_ char *n1 = get_records(f, &a, "{\"since\":\"2026-12-03T13:01:02.4Z\"}");
        assert_string_equal(n1, bdc);
        /* ... and one just after does not, though its name has the same second. */
        _cleanup_free_ char *n2 = get_records(f, &a, "{\"since\":\"2026-12-03T13:01:02.600000Z\"}");
        assert_string_equal(n2, dc);
        /* The same time with an offset. */
        _cleanup_free_ char *n3 = get_records(f, &a, "{\"since\":\"2026-12-03T14:01:02.6+01:00\"}");
        assert_string_equal(n3, dc);
        /* Exactly the end: at or after. */
        _cleanup_free_ char *n4 = get_records(f, &a, "{\"since\":\"2026-12-03T13:01:02.500000Z\"}");
        assert_string_equal(n4, bdc);
        _cleanup_free_ char *n5 = get_records(f, &a, "{\"since\":\"2026-01-01T00:00:00Z\"}");
        assert_string_equal(n5, all);
        _cleanup_free_ char *n6 = get_records(f, &a, "{\"since\":\"2027-01-01T00:00:00Z\"}");
        assert_string_equal(n6, "");
        /* Both filters. */
        _cleanup_free_ char *n7 = get_records(f, &a, "{\"since\":\"2026-12-03T13:00:00Z\",\"job\":\"100\"}");
        assert_string_equal(n7, "");
        _cleanup_free_ char *n8 = get_records(f, &a, "{\"since\":\"2026-12-03T13:00:00Z\",\"job\":\"300\"}");
        assert_string_equal(n8, x.c);
        answer_done(&a);
        four_done(&x);
}

static void test_bad_parameters(void **state) {
        Fixture *f = *state;
        Four x = write_four(f);
        static const struct {
                const char *params, *parameter;
        } cases[] = {
                { "{\"since\":\"yesterday\"}", "since" },
                { "{\"since\":\"2026-12-03\"}", "since" },                  /* a date alone: the client's to widen */
                { "{\"since\":\"2026-12-03T13:01:02\"}", "since" },         /* no zone */
                { "{\"since\":\"2026-12-03 13:01:02Z\"}", "since" },
                { "{\"since\":\"2026-02-30T00:00:00Z\"}", "since" },
                { "{\"since\":\"2026-12-03T24:00:00Z\"}", "since" },
                { "{\"since\":\"1969-12-31T23:59:59Z\"}", "since" },
                { "{\"since\":\"2026-12-03T13:01:02Z trailing\"}", "since" },
                { "{\"since\":1796299262000000}", "since" },               /* a string, not microseconds */
                { "{\"job\":\"../etc\"}", "job" },
                { "{\"job\":7}", "job" },
                { "{\"before\":\"../x.json\"}", "before" },
                { "{\"before\":\".x.tmp\"}", "before" },
                { "{\"limit\":5}", "limit" },
        };
        Answer a = {};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                print_message("%s\n", cases[i].params);
                invoke(f->m, &a, "io.scratchd.GetRecords", cases[i].params);
                assert_string_equal(a.error, API_ERROR_INVALID_PARAMETER);
                assert_string_equal(str(a.parameters, "parameter"), cases[i].parameter);
        }
        answer_done(&a);
        four_done(&x);
}

static void test_unreadable_counted(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *ra = write_record(f, 0, "scratch", "100", "alice", "release", 7);
        _cleanup_free_ char *rb = write_record(f, 3600, "scratch", "200", "bob", "release", 8);
        char path[PATH_MAX], target[PATH_MAX];

        /* Named as records, newer than both, none a record. */
        write_literal(f->records_dir, "20261203T150000Z-scratch-1.json", "not json\n");
        write_literal(f->records_dir, "20261203T150001Z-scratch-2.json", "");
        write_literal(f->records_dir, "20261203T150002Z-scratch-3.json", "{}\n");   /* no end */
        /* Valid up to a NUL, which json-c would stop at. */
        write_literal(f->records_dir, "20261203T150003Z-scratch-4.json", "{\"end\":\"2026-12-03T15:00:03Z\"}\0x");
        write_literal(f->records_dir, "20261203T150004Z-scratch-5.json", "{\"end\":\"2026-12-03T15:00:04Z\",\"x\":1.5}");
        write_literal(f->records_dir, "20261203T150005Z-scratch-6.json", "{\"end\":\"2026-12-03T15:00:05Z\",}");
        size_t big = 49 * 1024;
        _cleanup_free_ char *huge = malloc(big);
        assert_non_null(huge);
        memset(huge, ' ', big);
        memcpy(huge, "{\"end\":\"2026-12-03T15:00:06Z\"}", 30);
        write_file(f->records_dir, "20261203T150006Z-scratch-7.json", huge, big);
        snprintf(path, sizeof(path), "%s/20261203T150007Z-scratch-8.json", f->records_dir);
        snprintf(target, sizeof(target), "%s/%s", f->records_dir, ra);
        assert_int_equal(symlink(target, path), 0);
        snprintf(path, sizeof(path), "%s/20261203T150008Z-scratch-9.json", f->records_dir);
        assert_int_equal(mkdir(path, 0700), 0);
        /* A FIFO: not waited on (a writer would never come). */
        snprintf(path, sizeof(path), "%s/20261203T150009Z-scratch-10.json", f->records_dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        /* Not named as a record. */
        write_literal(f->records_dir, "notes.txt", "x\n");
        /* A record being written (erasure_write()'s temporary name): not counted. */
        write_literal(f->records_dir, ".20261203T150010Z-scratch-11.tmp", "{");

        Answer a = {};
        _cleanup_free_ char *names = get_records(f, &a, NULL), *want = join3(ra, rb, "");
        assert_string_equal(names, want);
        assert_int_equal(json_object_get_int64(member(a.parameters, "unreadable")), 11);
        assert_false(json_object_get_boolean(member(a.parameters, "truncated")));

        /* Filtered to a job, the same files still counted: none is read as its. */
        _cleanup_free_ char *byjob = get_records(f, &a, "{\"job\":\"200\"}");
        assert_string_equal(byjob, rb);
        assert_int_equal(json_object_get_int64(member(a.parameters, "unreadable")), 11);
        /* Older than since by their names: not read, not counted; the file
         * not named as a record still is (it cannot be placed in time). */
        _cleanup_free_ char *later = get_records(f, &a, "{\"since\":\"2026-12-03T15:00:05Z\"}");
        assert_string_equal(later, "");
        assert_int_equal(json_object_get_int64(member(a.parameters, "unreadable")), 6);
        answer_done(&a);
}

static void test_no_directory_yet(void **state) {
        Fixture *f = *state;
        Answer a = {};
        /* No erase yet: the directory is not there. An empty list. */
        _cleanup_free_ char *names = get_records(f, &a, NULL);
        assert_string_equal(names, "");
        assert_false(json_object_get_boolean(member(a.parameters, "truncated")));
        assert_int_equal(json_object_get_int64(member(a.parameters, "unreadable")), 0);
        /* There and empty: the same. */
        assert_int_equal(mkdir(f->records_dir, 0700), 0);
        _cleanup_free_ char *again = get_records(f, &a, "{\"job\":\"1\"}");
        assert_string_equal(again, "");
        answer_done(&a);
}

static void test_not_kept(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *name = write_record(f, 0, "scratch", "100", "alice", "release", 7);
        (void) name;   /* kept for its cleanup: the record stays until the test ends */
        Answer a = {};
        char *dir = f->m->records_dir;
        f->m->records_dir = NULL;
        invoke(f->m, &a, "io.scratchd.GetRecords", NULL);
        f->m->records_dir = dir;
        assert_string_equal(a.error, API_ERROR_RECORDS_UNAVAILABLE);
        assert_non_null(strstr(str(a.parameters, "reason"), "keeps no erase records"));
        answer_done(&a);

        /* A directory that is not one: an error that says so, not an empty list. */
        char file[PATH_MAX];
        snprintf(file, sizeof(file), "%s/plain", f->key_dir);
        write_literal(f->key_dir, "plain", "x");
        f->m->records_dir = strdup(file);
        free(dir);
        invoke(f->m, &a, "io.scratchd.GetRecords", NULL);
        assert_string_equal(a.error, API_ERROR_INTERNAL);
        assert_non_null(strstr(str(a.parameters, "reason"), "Not a directory"));
        answer_done(&a);
}

static bool lists_all(uid_t uid, gid_t g) {
        return true;
}

static void test_access(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *name = write_record(f, 0, "scratch", "100", "alice", "release", 7);
        (void) name;
        Answer a = {};
        static const char *const methods[] = { "io.scratchd.GetRecords", "io.scratchd.GetNodeKey" };
        f->m->api.read_gid = 4300;
        f->m->api.operator_gid = 4400;
        f->m->api.group_lists = lists_all;

        Caller outsider = { .uid = 4242, .gid = 4242 };
        Caller reader = { .uid = 4243, .gid = 4300 };
        Caller op = { .uid = 4244, .gid = 100, .groups = { 4400 }, .n_groups = 1 };
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                invoke_as(f->m, &outsider, &a, methods[i], NULL);
                assert_string_equal(a.error, API_ERROR_NOT_AUTHORIZED);
                /* Nothing of the records in the refusal. */
                assert_true(!a.parameters || json_object_object_length(a.parameters) == 0);
                /* Refused before its parameters are looked at. */
                invoke_as(f->m, &outsider, &a, methods[i], "{\"since\":\"bad\"}");
                assert_string_equal(a.error, API_ERROR_NOT_AUTHORIZED);
                invoke_as(f->m, &reader, &a, methods[i], NULL);
                assert_string_equal(a.error, "");
                invoke_as(f->m, &op, &a, methods[i], NULL);
                assert_string_equal(a.error, "");
        }
        invoke_as(f->m, &reader, &a, "io.scratchd.GetRecords", NULL);
        assert_int_equal(json_object_array_length(member(a.parameters, "records")), 1);
        answer_done(&a);
}

/* The key GetNodeKey gives, in either form, verifies the records
 * GetRecords gives, as they come (re-serialized: layout is not signed), and
 * not one changed. */
static void test_node_key_verifies_records(void **state) {
        Fixture *f = *state;
        Four x = write_four(f);
        Answer k = {}, a = {};
        invoke(f->m, &k, "io.scratchd.GetNodeKey", NULL);
        assert_string_equal(k.error, "");
        const char *pem = str(k.parameters, "public_key_pem"), *raw = str(k.parameters, "public_key");
        assert_true(startswith(pem, "-----BEGIN PUBLIC KEY-----\n"));
        assert_int_equal(strlen(raw), 44);

        _cleanup_(pkey_freep) EVP_PKEY *from_pem = NULL, *from_raw = NULL;
        assert_int_equal(erasure_key_parse_public(pem, &from_pem), 0);
        assert_int_equal(erasure_key_parse_public(raw, &from_raw), 0);
        assert_int_equal(EVP_PKEY_eq(from_pem, f->key), 1);
        assert_int_equal(EVP_PKEY_eq(from_raw, f->key), 1);

        _cleanup_free_ char *names = get_records(f, &a, NULL);
        (void) names;
        json_object *records = member(a.parameters, "records");
        assert_int_equal(json_object_array_length(records), 4);
        for (size_t i = 0; i < 4; i++) {
                json_object *r = json_object_array_get_idx(records, i);
                const char *text = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN);
                bool pinned = false;
                _cleanup_free_ char *why = NULL;
                assert_int_equal(erasure_verify(text, from_pem, &pinned, &why), 0);
                assert_true(pinned);
                assert_int_equal(erasure_verify(text, from_raw, NULL, NULL), 0);
                /* Control: the check can fail. One field changed, it does. */
                _cleanup_(json_putp) json_object *changed = NULL;
                assert_int_equal(json_object_deep_copy(r, &changed, NULL), 0);
                json_object_object_add(changed, "user", json_object_new_string("mallory"));
                assert_int_equal(erasure_verify(json_object_to_json_string(changed), from_pem, NULL, NULL), -EBADMSG);
        }
        /* And another node's key does not verify them. */
        _cleanup_(pkey_freep) EVP_PKEY *other = NULL;
        char other_dir[PATH_MAX];
        snprintf(other_dir, sizeof(other_dir), "%s/other", f->dir.path);
        assert_int_equal(mkdir(other_dir, 0700), 0);
        assert_int_equal(erasure_key_load_or_create(other_dir, &other), 1);
        assert_int_equal(erasure_verify(json_object_to_json_string(json_object_array_get_idx(records, 0)), other, NULL,
                                        NULL),
                         -EBADMSG);

        /* No key: NoNodeKey, with why. */
        f->m->node_key = NULL;
        snprintf(f->m->record_error, sizeof(f->m->record_error), "cannot read node-key.pem: Permission denied");
        invoke(f->m, &k, "io.scratchd.GetNodeKey", NULL);
        assert_string_equal(k.error, API_ERROR_NO_NODE_KEY);
        assert_non_null(strstr(str(k.parameters, "reason"), "cannot read node-key.pem: Permission denied"));
        f->m->node_key = f->key;
        answer_done(&k);
        answer_done(&a);
        four_done(&x);
}

/* Follows continue_before from reply to reply; each reply checked (within
 * a message, records as on disk). The names of all, oldest first, and the
 * number of replies. */
static char *page_through(Fixture *f, const char *extra, unsigned *ret_pages) {
        _cleanup_strv_free_ char **pages = NULL;
        _cleanup_free_ char *before = NULL;
        Answer a = {};
        unsigned n = 0;
        for (;;) {
                char params[512];
                snprintf(params, sizeof(params), "{%s%s%s%s%s}", extra ?: "", extra && before ? "," : "",
                         before ? "\"before\":\"" : "", before ?: "", before ? "\"" : "");
                _cleanup_free_ char *names = get_records(f, &a, params);
                n++;
                assert_true(n < 100);
                /* Newest first: each page goes in front. */
                if (names[0])
                        assert_int_equal(strv_extend(&pages, names), 0);
                if (!json_object_get_boolean(member(a.parameters, "truncated"))) {
                        assert_false(json_object_object_get_ex(a.parameters, "continue_before", NULL));
                        break;
                }
                const char *next = str(a.parameters, "continue_before");
                assert_non_null(next);
                if (before)
                        assert_true(strcmp(next, before) < 0);   /* it moves on */
                free(before);
                before = strdup(next);
        }
        answer_done(&a);
        size_t k = strv_length(pages);
        for (size_t i = 0; i < k / 2; i++) {
                char *t = pages[i];
                pages[i] = pages[k - 1 - i];
                pages[k - 1 - i] = t;
        }
        *ret_pages = n;
        char *s = k ? strv_join(pages, " ") : strdup("");
        assert_non_null(s);
        return s;
}

static void test_paging(void **state) {
        Fixture *f = *state;
        _cleanup_strv_free_ char **all = NULL, **of_job = NULL, **recent = NULL;
        /* Far more than one message holds (some 40 of these fit). */
        for (unsigned i = 0; i < 100; i++) {
                char job[16];
                snprintf(job, sizeof(job), "%u", 1000 + i % 2);
                char *name = write_record(f, i * 60, i % 2 ? "scratch" : "other", job, "alice", "release", i);
                assert_int_equal(strv_extend(&all, name), 0);
                if (i % 2 == 1)
                        assert_int_equal(strv_extend(&of_job, name), 0);
                if (i >= 90)
                        assert_int_equal(strv_extend(&recent, name), 0);
                free(name);
        }
        _cleanup_free_ char *want = strv_join(all, " "), *want_job = strv_join(of_job, " "),
                            *want_recent = strv_join(recent, " ");

        /* The first reply alone: the newest that fit, and it says there is more. */
        Answer a = {};
        _cleanup_free_ char *first = get_records(f, &a, NULL);
        size_t n_first = json_object_array_length(member(a.parameters, "records"));
        print_message("the first reply holds %zu records\n", n_first);
        assert_true(n_first >= 10 && n_first < 50);
        assert_true(json_object_get_boolean(member(a.parameters, "truncated")));
        assert_true(ends_with(want, first));
        answer_done(&a);

        /* Every record once, in order, each reply within a message. */
        unsigned n_pages;
        _cleanup_free_ char *got = page_through(f, NULL, &n_pages);
        assert_string_equal(got, want);
        assert_true(n_pages >= 3);
        /* With a filter: the same. */
        _cleanup_free_ char *got_job = page_through(f, "\"job\":\"1001\"", &n_pages);
        assert_string_equal(got_job, want_job);
        assert_true(n_pages >= 2);
        /* 2026-12-03T13:31:02Z: the 91st record's second; it ended half a second later. */
        _cleanup_free_ char *got_recent = page_through(f, "\"since\":\"2026-12-03T13:31:02Z\"", &n_pages);
        assert_string_equal(got_recent, want_recent);
        assert_int_equal(n_pages, 1);
}

/* A search through more files than one reply reads (a job's records, whose
 * id is not in the names) goes on where it stopped. */
static void test_scan_bounded(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *wanted = write_record(f, 0, "scratch", "wanted", "alice", "release", 1);
        _cleanup_free_ char *model = write_record(f, 60, "scratch", "other", "bob", "release", 2);
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        snprintf(path, sizeof(path), "%s/%s", f->records_dir, model);
        assert_int_equal(read_full_file(path, &text), 0);
        /* 1100 more of job "other", newer (copies: only their names differ). */
        for (unsigned i = 0; i < 1100; i++) {
                char name[64];
                time_t t = (time_t) (T0 + 120 + i);
                struct tm tm;
                strftime(name, sizeof(name), "%Y%m%dT%H%M%SZ-scratch-2.json", gmtime_r(&t, &tm));
                write_file(f->records_dir, name, text, strlen(text));
        }
        Answer a = {};
        _cleanup_free_ char *first = get_records(f, &a, "{\"job\":\"wanted\"}");
        assert_string_equal(first, "");
        assert_true(json_object_get_boolean(member(a.parameters, "truncated")));
        answer_done(&a);

        unsigned n_pages;
        _cleanup_free_ char *got = page_through(f, "\"job\":\"wanted\"", &n_pages);
        assert_string_equal(got, wanted);
        assert_int_equal(n_pages, 2);
}

/* ---- rfc3339.c ---- */

static void test_rfc3339(void **state) {
        static const struct {
                const char *text;
                uint64_t usec;
        } good[] = {
                { "1970-01-01T00:00:00Z", 0 },
                { "2026-12-03T12:01:02Z", T0 * USEC_PER_SEC },
                { "2026-12-03t12:01:02z", T0 * USEC_PER_SEC },
                { "2026-12-03T12:01:02.5Z", T0 * USEC_PER_SEC + 500000 },
                { "2026-12-03T12:01:02.123456Z", T0 * USEC_PER_SEC + 123456 },
                { "2026-12-03T12:01:02.123456789Z", T0 * USEC_PER_SEC + 123456 },   /* past microseconds: cut */
                { "2026-12-03T13:01:02+01:00", T0 * USEC_PER_SEC },
                { "2026-12-03T06:31:02-05:30", T0 * USEC_PER_SEC },
                { "2024-02-29T00:00:00Z", UINT64_C(1709164800) * USEC_PER_SEC },   /* a leap year's */
                { "2016-12-31T23:59:60Z", UINT64_C(1483228800) * USEC_PER_SEC },   /* a leap second */
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                uint64_t u = 1;
                print_message("%s\n", good[i].text);
                assert_int_equal(rfc3339_parse(good[i].text, &u), 0);
                assert_int_equal(u, good[i].usec);
        }
        static const char *const bad[] = {
                "", "2026-12-03", "2026-12-03T12:01:02", "2026-12-03T12:01Z", "2026-12-03 12:01:02Z",
                "2026-12-3T12:01:02Z", "2026-13-03T12:01:02Z", "2026-00-03T12:01:02Z", "2025-02-29T00:00:00Z",
                "2026-04-31T00:00:00Z", "2026-12-03T24:00:00Z", "2026-12-03T12:60:00Z", "2026-12-03T12:01:61Z",
                "2026-12-03T12:01:02.Z", "2026-12-03T12:01:02.1234567890Z", "2026-12-03T12:01:02+01",
                "2026-12-03T12:01:02+0100", "2026-12-03T12:01:02+24:00", "2026-12-03T12:01:02Z ",
                " 2026-12-03T12:01:02Z", "+2026-12-03T12:01:02Z", "2026-12-03T12:01:02ZZ", "１９７０-01-01T00:00:00Z",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint64_t u = 7;
                print_message("bad: '%s'\n", bad[i]);
                assert_int_equal(rfc3339_parse(bad[i], &u), -EINVAL);
                assert_int_equal(u, 7);
        }
        uint64_t u;
        assert_int_equal(rfc3339_parse("1969-12-31T23:59:59Z", &u), -ERANGE);
        assert_int_equal(rfc3339_parse("1970-01-01T00:59:59+01:00", &u), -ERANGE);

        /* Formatted as parsed back. */
        char buf[RFC3339_MAX];
        assert_string_equal(rfc3339_format(buf, sizeof(buf), T0 * USEC_PER_SEC), "2026-12-03T12:01:02Z");
        assert_string_equal(rfc3339_format(buf, sizeof(buf), T0 * USEC_PER_SEC + 5), "2026-12-03T12:01:02.000005Z");
        /* Records' and the audit log's form: microseconds always. */
        assert_string_equal(rfc3339_format_usec(buf, sizeof(buf), T0 * USEC_PER_SEC), "2026-12-03T12:01:02.000000Z");
        assert_string_equal(rfc3339_format_usec(buf, sizeof(buf), T0 * USEC_PER_SEC + 5), "2026-12-03T12:01:02.000005Z");
        for (uint64_t x = 0; x < UINT64_C(4102444800) * USEC_PER_SEC; x += UINT64_C(86399999993)) {
                assert_int_equal(rfc3339_parse(rfc3339_format(buf, sizeof(buf), x), &u), 0);
                assert_int_equal(u, x);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_all, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_by_job, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_by_since, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_bad_parameters, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_unreadable_counted, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_no_directory_yet, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_not_kept, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_access, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_node_key_verifies_records, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_paging, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_scan_bounded, fixture_setup, fixture_teardown),
                cmocka_unit_test(test_rfc3339),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
