/* SPDX-License-Identifier: GPL-2.0-or-later */
/* api_dispatch() against a fake ApiBackend that records what it is asked:
 * routing of every method, introspection answered without the backend,
 * the authorization table for every method and kind of caller (checked
 * before any parameter), the parameter checks, job ids and user names; and
 * auth_allowed() on its own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <pwd.h>

#include "scratchd/api.h"
#include "scratchd/transport.h"
#include "scratchd/auth.h"
#include "scratchd/lifecycle.h"
#include "scratchd/util.h"
#include "scratchd/varlink.h"

#define READ_GID ((gid_t) 1000)
#define OPERATOR_GID ((gid_t) 2000)

/* ---- the fake backend ---- */

typedef enum Fn {
        FN_NONE,
        FN_GET_STATUS,
        FN_PREPARE,
        FN_RELEASE,
        FN_WIPE,
        FN_SUBSCRIBE,
        FN_GET_METRICS,
        FN_GET_RECORDS,
        FN_GET_NODE_KEY,
        _FN_MAX,
} Fn;

static const char *const fn_names[_FN_MAX] = {
        [FN_NONE] = "none",
        [FN_GET_STATUS] = "get_status",
        [FN_PREPARE] = "prepare",
        [FN_RELEASE] = "release",
        [FN_WIPE] = "wipe",
        [FN_SUBSCRIBE] = "subscribe",
        [FN_GET_METRICS] = "get_metrics",
        [FN_GET_RECORDS] = "get_records",
        [FN_GET_NODE_KEY] = "get_node_key",
};

typedef struct Fake {
        unsigned n_calls;
        Fn fn;
        void *userdata, *conn;
        const Caller *caller;
        /* Copies: the strings belong to the call, freed after dispatch. */
        bool has_job, has_user, has_volume, force, has_before;
        char job[512], user[512], volume[512], before[512];
        int64_t uid;
        uint64_t size, since;
} Fake;

static Fake fake;
static ApiBackend backend;
static int conn_token;   /* its address stands for a connection */
#define CONN ((Call *) &conn_token)

static void record(void *userdata, Fn fn, void *conn, const Caller *c, ApiResult *r) {
        Fake *f = userdata;
        assert_ptr_equal(f, &fake);
        f->n_calls++;
        f->fn = fn;
        f->userdata = userdata;
        f->conn = conn;
        f->caller = c;
        /* What a backend answers: the result starts out a success. */
        assert_null(r->error);
        assert_null(r->parameters);
        r->parameters = json_object_new_object();
        json_object_object_add(r->parameters, "called", json_object_new_string(fn_names[fn]));
}

static void copy_arg(bool *has, char *buf, size_t size, const char *v) {
        *has = v != NULL;
        snprintf(buf, size, "%s", v ?: "");
}

static void fake_get_status(void *userdata, ApiResult *r) {
        record(userdata, FN_GET_STATUS, NULL, NULL, r);
}

static void fake_prepare(void *userdata, Call *conn, const Caller *c, const char *job, const char *user,
                         int64_t uid, const char *volume, uint64_t size, ApiResult *r) {
        record(userdata, FN_PREPARE, conn, c, r);
        fake.uid = uid;
        fake.size = size;
        copy_arg(&fake.has_job, fake.job, sizeof(fake.job), job);
        copy_arg(&fake.has_user, fake.user, sizeof(fake.user), user);
        copy_arg(&fake.has_volume, fake.volume, sizeof(fake.volume), volume);
}

static void fake_release(void *userdata, Call *conn, const Caller *c, const char *job, ApiResult *r) {
        record(userdata, FN_RELEASE, conn, c, r);
        copy_arg(&fake.has_job, fake.job, sizeof(fake.job), job);
        r->deferred = true;   /* as the daemon does: the reply comes after the wipe */
}

static void fake_wipe(void *userdata, Call *conn, const Caller *c, const char *volume, bool force, ApiResult *r) {
        record(userdata, FN_WIPE, conn, c, r);
        fake.force = force;
        copy_arg(&fake.has_volume, fake.volume, sizeof(fake.volume), volume);
        r->deferred = true;
}

static void fake_subscribe(void *userdata, Call *conn, ApiResult *r) {
        record(userdata, FN_SUBSCRIBE, conn, NULL, r);
        r->subscribe = true;
}

static void fake_get_metrics(void *userdata, ApiResult *r) {
        record(userdata, FN_GET_METRICS, NULL, NULL, r);
}

static void fake_get_records(void *userdata, const char *job, uint64_t since, const char *before, ApiResult *r) {
        record(userdata, FN_GET_RECORDS, NULL, NULL, r);
        copy_arg(&fake.has_job, fake.job, sizeof(fake.job), job);
        copy_arg(&fake.has_before, fake.before, sizeof(fake.before), before);
        fake.since = since;
}

static void fake_get_node_key(void *userdata, ApiResult *r) {
        record(userdata, FN_GET_NODE_KEY, NULL, NULL, r);
}

/* The group database, as these tests have it: every user still in the
 * groups its credentials name, but for the uid revoked (none: -1). */
static uid_t revoked_uid = (uid_t) -1;
static unsigned n_group_checks;
static bool fake_group_lists(uid_t uid, gid_t g) {
        n_group_checks++;
        return uid != revoked_uid;
}

static void backend_init(gid_t read_gid, gid_t operator_gid) {
        revoked_uid = (uid_t) -1;
        n_group_checks = 0;
        fake = (Fake) {};
        backend = (ApiBackend) {
                .get_status = fake_get_status,
                .prepare = fake_prepare,
                .release = fake_release,
                .wipe = fake_wipe,
                .subscribe = fake_subscribe,
                .get_metrics = fake_get_metrics,
                .get_records = fake_get_records,
                .get_node_key = fake_get_node_key,
                .userdata = &fake,
                .read_gid = read_gid,
                .operator_gid = operator_gid,
                .group_lists = fake_group_lists,
        };
}

static int setup(void **state) {
        backend_init(READ_GID, OPERATOR_GID);
        return 0;
}

/* ---- callers ---- */

static Caller caller_make(uid_t uid, gid_t gid, size_t n, const gid_t *groups) {
        Caller c = { .uid = uid, .gid = gid, .pid = 4242 };
        assert_true(n <= ELEMENTSOF(c.groups));
        for (size_t i = 0; i < n; i++)
                c.groups[i] = groups[i];
        c.n_groups = n;
        return c;
}

static Caller root(void) {
        return caller_make(0, 0, 0, NULL);
}

static Caller outsider(void) {
        static const gid_t g[] = { 100, 50, 51 };
        return caller_make(1004, 100, ELEMENTSOF(g), g);
}

static Caller operator(void) {
        static const gid_t g[] = { 100, OPERATOR_GID };
        return caller_make(1003, 100, ELEMENTSOF(g), g);
}

/* ---- dispatching ---- */

/* Dispatches `method` with `params` (JSON text, or NULL for none) as `c`.
 * The result starts out as garbage, as a reused one might. */
static void dispatch(const Caller *c, const char *method, const char *params, bool more, ApiResult *ret) {
        VarlinkCall call = {
                .method = strdup(method),
                .parameters = params ? json_tokener_parse(params) : json_object_new_object(),
                .more = more,
        };
        assert_non_null(call.method);
        if (!call.parameters)
                print_error("bad test parameters: %s\n", params);
        assert_non_null(call.parameters);
        assert_true(json_object_is_type(call.parameters, json_type_object));

        fake.n_calls = 0;
        fake.fn = FN_NONE;
        *ret = (ApiResult) { .error = "garbage", .deferred = true, .subscribe = true };
        api_dispatch(&backend, CONN, c, &call, ret);
        varlink_call_done(&call);
}

static void result_done(ApiResult *r) {
        json_object_put(r->parameters);
        *r = (ApiResult) {};
}

static const char *get_string(json_object *o, const char *key) {
        json_object *v;
        assert_non_null(o);
        if (!json_object_object_get_ex(o, key, &v))
                print_error("no '%s' in %s\n", key, json_object_to_json_string(o));
        assert_true(json_object_object_get_ex(o, key, &v));
        assert_true(json_object_is_type(v, json_type_string));
        return json_object_get_string(v);
}

static void assert_error(const ApiResult *r, const char *error) {
        if (!r->error || !streq(r->error, error))
                print_error("expected error %s, got %s\n", error, r->error ?: "success");
        assert_non_null(r->error);
        assert_string_equal(r->error, error);
        assert_false(r->deferred);
        assert_false(r->subscribe);
}

/* InvalidParameter naming `parameter`; the backend was not called. */
static void assert_invalid_parameter(ApiResult *r, const char *parameter) {
        assert_error(r, API_ERROR_INVALID_PARAMETER);
        assert_string_equal(get_string(r->parameters, "parameter"), parameter);
        assert_int_equal(json_object_object_length(r->parameters), 1);
        assert_int_equal(fake.n_calls, 0);
        result_done(r);
}

/* The backend function `fn` was called once, for this connection and caller,
 * and its result is what the call returns. */
static void assert_routed(ApiResult *r, Fn fn, const Caller *c) {
        if (r->error)
                print_error("expected %s, got error %s\n", fn_names[fn], r->error);
        assert_null(r->error);
        assert_int_equal(fake.n_calls, 1);
        if (fake.fn != fn)
                print_error("expected %s, got %s\n", fn_names[fn], fn_names[fake.fn]);
        assert_int_equal(fake.fn, fn);
        assert_ptr_equal(fake.userdata, &fake);
        assert_string_equal(get_string(r->parameters, "called"), fn_names[fn]);
        if (fn == FN_PREPARE || fn == FN_RELEASE || fn == FN_WIPE || fn == FN_SUBSCRIBE)
                assert_ptr_equal(fake.conn, CONN);
        if (fn == FN_PREPARE || fn == FN_RELEASE || fn == FN_WIPE)
                assert_ptr_equal(fake.caller, c);
        assert_int_equal(r->deferred, fn == FN_RELEASE || fn == FN_WIPE);
        assert_int_equal(r->subscribe, fn == FN_SUBSCRIBE);
}

/* ---- routing ---- */

static void test_route_get_status(void **state) {
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.GetStatus", NULL, false, &r);
        assert_routed(&r, FN_GET_STATUS, &c);
        result_done(&r);
        /* Also with more (a client may ask; one reply comes). */
        dispatch(&c, "io.scratchd.GetStatus", "{}", true, &r);
        assert_routed(&r, FN_GET_STATUS, &c);
        result_done(&r);
}

static void test_route_prepare(void **state) {
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1234\",\"user\":\"alice\"}", false, &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_true(fake.has_job);
        assert_string_equal(fake.job, "1234");
        assert_true(fake.has_user);
        assert_string_equal(fake.user, "alice");
        assert_false(fake.has_volume);   /* not given: NULL */
        assert_true(fake.size == SIZE_NONE);   /* not given: 0 */
        assert_true(fake.size == 0);
        result_done(&r);

        dispatch(&c, "io.scratchd.Prepare", "{\"volume\":\"fast\",\"user\":\"bob\",\"job\":\"99.server\"}", false,
                 &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_string_equal(fake.job, "99.server");
        assert_string_equal(fake.user, "bob");
        assert_true(fake.has_volume);
        assert_string_equal(fake.volume, "fast");
        result_done(&r);

        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1\",\"user\":\"u\",\"volume\":null}", false, &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_false(fake.has_volume);
        assert_int_equal(fake.uid, UID_NONE);
        result_done(&r);

        /* By uid (a hook passes SLURM_JOB_UID): no name. */
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"7\",\"uid\":1001}", false, &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_false(fake.has_user);
        assert_int_equal(fake.uid, 1001);
        result_done(&r);
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"7\",\"uid\":0}", false, &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_int_equal(fake.uid, 0);
        result_done(&r);
}

/* size: an integer number of bytes, passed through as it came. */
static void test_prepare_size(void **state) {
        static const struct {
                const char *json;
                uint64_t size;
        } good[] = {
                { "1", 1 },
                { "314572800", UINT64_C(300) << 20 },
                { "107374182400", UINT64_C(100) << 30 },
                { "1099511627776", UINT64_C(1) << 40 },
                { "4611686018427387904", UINT64_C(1) << 62 },
                { "9223372036854775806", (uint64_t) INT64_MAX - 1 },
                { "null", SIZE_NONE },
        };
        Caller c = root();
        ApiResult r;
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                char params[256];
                print_message("size %s\n", good[i].json);
                snprintf(params, sizeof(params), "{\"job\":\"7\",\"user\":\"alice\",\"size\":%s}", good[i].json);
                dispatch(&c, "io.scratchd.Prepare", params, false, &r);
                assert_routed(&r, FN_PREPARE, &c);
                assert_true(fake.size == good[i].size);
                assert_string_equal(fake.job, "7");
                assert_string_equal(fake.user, "alice");
                result_done(&r);
        }

        /* With a uid and a volume, in any order: each where it belongs. */
        dispatch(&c, "io.scratchd.Prepare",
                 "{\"size\":107374182400,\"volume\":\"fast\",\"uid\":1001,\"job\":\"8\"}", false, &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_true(fake.size == UINT64_C(100) << 30);
        assert_int_equal(fake.uid, 1001);
        assert_false(fake.has_user);
        assert_string_equal(fake.volume, "fast");
        assert_string_equal(fake.job, "8");
        result_done(&r);

        /* Not given again: 0, not what the last call had. */
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"7\",\"user\":\"alice\"}", false, &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_true(fake.size == SIZE_NONE);
        result_done(&r);
}

/* A size is a JSON integer from 1 to what int64 holds: no strings (scratchctl
 * reads "100G"), no fractions, nothing json-c would clamp. */
static void test_prepare_size_checked(void **state) {
        static const char *const bad[] = {
                "0", "-1", "-107374182400", "\"100G\"", "\"107374182400\"", "\"\"", "1.5", "1e12", "1.0",
                "true", "false", "[]", "[1]", "{}", "{\"bytes\":1}",
                /* json-c reads these as INT64_MAX or INT64_MIN, saying nothing */
                "9223372036854775807", "9223372036854775808", "18446744073709551615", "99999999999999999999",
                "-9223372036854775808", "-9223372036854775809",
        };
        Caller c = root();
        ApiResult r;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *params = NULL;
                assert_true(asprintf(&params, "{\"job\":\"7\",\"user\":\"alice\",\"size\":%s}", bad[i]) > 0);
                print_message("%s\n", params);
                dispatch(&c, "io.scratchd.Prepare", params, false, &r);
                assert_invalid_parameter(&r, "size");
        }
        /* size is Prepare's only. */
        dispatch(&c, "io.scratchd.Release", "{\"job\":\"7\",\"size\":1}", false, &r);
        assert_invalid_parameter(&r, "size");
        dispatch(&c, "io.scratchd.Wipe", "{\"size\":1}", false, &r);
        assert_invalid_parameter(&r, "size");
        /* Authorization first: an outsider learns nothing of its size. */
        Caller o = outsider();
        dispatch(&o, "io.scratchd.Prepare", "{\"job\":\"7\",\"user\":\"alice\",\"size\":\"x\"}", false, &r);
        assert_error(&r, API_ERROR_NOT_AUTHORIZED);
        assert_int_equal(fake.n_calls, 0);
        result_done(&r);
}

/* The user by name or by uid: exactly one, and a uid is an integer uid. */
static void test_prepare_uid_checked(void **state) {
        static const char *const bad[] = { "-1", "4294967295", "4294967296", "1.5", "\"1001\"", "true", "[]", "{}" };
        Caller c = root();
        ApiResult r;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *params = NULL;
                assert_true(asprintf(&params, "{\"job\":\"7\",\"uid\":%s}", bad[i]) > 0);
                print_message("%s\n", params);
                dispatch(&c, "io.scratchd.Prepare", params, false, &r);
                assert_invalid_parameter(&r, "uid");
        }
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"7\",\"user\":\"alice\",\"uid\":1001}", false, &r);
        assert_invalid_parameter(&r, "uid");
        assert_int_equal(fake.n_calls, 0);
}

static void test_route_release(void **state) {
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.Release", "{\"job\":\"1234_7\"}", false, &r);
        assert_routed(&r, FN_RELEASE, &c);
        assert_true(fake.has_job);
        assert_string_equal(fake.job, "1234_7");
        result_done(&r);
}

static void test_route_wipe(void **state) {
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.Wipe", NULL, false, &r);
        assert_routed(&r, FN_WIPE, &c);
        assert_false(fake.has_volume);
        result_done(&r);

        dispatch(&c, "io.scratchd.Wipe", "{\"volume\":\"scratch\"}", false, &r);
        assert_routed(&r, FN_WIPE, &c);
        assert_true(fake.has_volume);
        assert_string_equal(fake.volume, "scratch");
        result_done(&r);

        dispatch(&c, "io.scratchd.Wipe", "{\"volume\":null}", false, &r);
        assert_routed(&r, FN_WIPE, &c);
        assert_false(fake.has_volume);
        assert_false(fake.force);
        result_done(&r);

        /* force: a JSON boolean, passed as is; anything else is refused. */
        dispatch(&c, "io.scratchd.Wipe", "{\"volume\":\"scratch\",\"force\":true}", false, &r);
        assert_routed(&r, FN_WIPE, &c);
        assert_true(fake.force);
        result_done(&r);
        dispatch(&c, "io.scratchd.Wipe", "{\"force\":false}", false, &r);
        assert_routed(&r, FN_WIPE, &c);
        assert_false(fake.force);
        result_done(&r);
        dispatch(&c, "io.scratchd.Wipe", "{\"force\":null}", false, &r);
        assert_routed(&r, FN_WIPE, &c);
        assert_false(fake.force);
        result_done(&r);
        static const char *const bad[] = { "{\"force\":1}", "{\"force\":\"true\"}", "{\"force\":[true]}" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                dispatch(&c, "io.scratchd.Wipe", bad[i], false, &r);
                assert_invalid_parameter(&r, "force");
                result_done(&r);
        }
}

static void test_route_subscribe(void **state) {
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.Subscribe", NULL, true, &r);
        assert_routed(&r, FN_SUBSCRIBE, &c);
        result_done(&r);

        /* Without more there is nothing to subscribe with. */
        dispatch(&c, "io.scratchd.Subscribe", NULL, false, &r);
        assert_error(&r, API_ERROR_EXPECTED_MORE);
        assert_int_equal(fake.n_calls, 0);
        result_done(&r);
}

static void test_route_get_metrics(void **state) {
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.GetMetrics", NULL, false, &r);
        assert_routed(&r, FN_GET_METRICS, &c);
        result_done(&r);
}

/* Erase records: the filters checked and handed over (since as
 * microseconds); without a backend for them, RecordsUnavailable and
 * NoNodeKey. */
static void test_route_get_records(void **state) {
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.GetRecords", NULL, false, &r);
        assert_routed(&r, FN_GET_RECORDS, &c);
        assert_false(fake.has_job);
        assert_false(fake.has_before);
        assert_int_equal(fake.since, 0);
        result_done(&r);

        dispatch(&c, "io.scratchd.GetRecords",
                 "{\"job\":\"1234_7\",\"since\":\"2026-12-03T13:01:02.5+01:00\","
                 "\"before\":\"20261203T120102Z-scratch-7.json\"}",
                 false, &r);
        assert_routed(&r, FN_GET_RECORDS, &c);
        assert_string_equal(fake.job, "1234_7");
        assert_int_equal(fake.since, UINT64_C(1796299262500000));
        assert_string_equal(fake.before, "20261203T120102Z-scratch-7.json");
        result_done(&r);

        static const struct {
                const char *params, *parameter;
        } bad[] = {
                { "{\"job\":\"../etc\"}", "job" },
                { "{\"since\":\"2026-12-03\"}", "since" },
                { "{\"since\":\"\"}", "since" },
                { "{\"since\":12}", "since" },
                { "{\"before\":\"../x\"}", "before" },
                { "{\"before\":\".x.tmp\"}", "before" },
                { "{\"limit\":1}", "limit" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                dispatch(&c, "io.scratchd.GetRecords", bad[i].params, false, &r);
                assert_invalid_parameter(&r, bad[i].parameter);
        }

        dispatch(&c, "io.scratchd.GetNodeKey", NULL, false, &r);
        assert_routed(&r, FN_GET_NODE_KEY, &c);
        result_done(&r);

        backend.get_records = NULL;
        backend.get_node_key = NULL;
        dispatch(&c, "io.scratchd.GetRecords", NULL, false, &r);
        assert_error(&r, API_ERROR_RECORDS_UNAVAILABLE);
        assert_non_null(strstr(get_string(r.parameters, "reason"), "no erase records"));
        result_done(&r);
        dispatch(&c, "io.scratchd.GetNodeKey", NULL, false, &r);
        assert_error(&r, API_ERROR_NO_NODE_KEY);
        result_done(&r);
}

/* ---- introspection ---- */

static bool array_contains(json_object *a, const char *s) {
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *v = json_object_array_get_idx(a, i);
                if (json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), s))
                        return true;
        }
        return false;
}

static void test_get_info(void **state) {
        Caller c = outsider();
        ApiResult r;
        dispatch(&c, "org.varlink.service.GetInfo", NULL, false, &r);
        assert_null(r.error);
        assert_false(r.deferred);
        assert_false(r.subscribe);
        assert_int_equal(fake.n_calls, 0);
        assert_true(strlen(get_string(r.parameters, "vendor")) > 0);
        assert_true(strlen(get_string(r.parameters, "product")) > 0);
        assert_true(strlen(get_string(r.parameters, "version")) > 0);
        assert_true(strlen(get_string(r.parameters, "url")) > 0);
        json_object *ifaces;
        assert_true(json_object_object_get_ex(r.parameters, "interfaces", &ifaces));
        assert_true(json_object_is_type(ifaces, json_type_array));
        assert_true(array_contains(ifaces, "org.varlink.service"));
        assert_true(array_contains(ifaces, API_INTERFACE));
        assert_true(array_contains(ifaces, "io.scratchd"));
        result_done(&r);
}

static void test_get_interface_description(void **state) {
        Caller c = outsider();
        ApiResult r;

        dispatch(&c, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"io.scratchd\"}", false, &r);
        assert_null(r.error);
        assert_int_equal(fake.n_calls, 0);
        const char *d = get_string(r.parameters, "description");
        assert_non_null(strstr(d, "interface io.scratchd"));
        assert_non_null(strstr(d, "method Prepare("));
        assert_non_null(strstr(d, "method GetStatus("));
        assert_non_null(strstr(d, "method Release("));
        assert_non_null(strstr(d, "method Wipe("));
        assert_non_null(strstr(d, "method Subscribe("));
        assert_non_null(strstr(d, "method GetMetrics("));
        assert_non_null(strstr(d, "error NotAuthorized"));
        assert_non_null(strstr(d, "size: ?int) -> ("));
        assert_non_null(strstr(d, "size_bytes: ?int)\n"));
        assert_non_null(strstr(d, "error NoSpace (volume: string, requested_bytes: int, free_bytes: int, "
                                  "reason: string)\n"));
        assert_non_null(strstr(d, "error TooManyJobs (volume: string, max_jobs: int, reason: string)\n"));
        assert_string_equal(d, api_interface_description);
        result_done(&r);

        dispatch(&c, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"org.varlink.service\"}", false,
                 &r);
        assert_null(r.error);
        assert_int_equal(fake.n_calls, 0);
        d = get_string(r.parameters, "description");
        assert_non_null(strstr(d, "interface org.varlink.service"));
        assert_non_null(strstr(d, "method GetInfo("));
        assert_non_null(strstr(d, "method GetInterfaceDescription("));
        result_done(&r);

        static const char *const unknown[] = { "com.example.Foo", "io.scratchd.GetStatus", "io.Scratchd", "x" };
        for (size_t i = 0; i < ELEMENTSOF(unknown); i++) {
                char params[128];
                snprintf(params, sizeof(params), "{\"interface\":\"%s\"}", unknown[i]);
                dispatch(&c, "org.varlink.service.GetInterfaceDescription", params, false, &r);
                assert_error(&r, API_ERROR_INTERFACE_NOT_FOUND);
                assert_string_equal(r.error, "org.varlink.service.InterfaceNotFound");
                assert_string_equal(get_string(r.parameters, "interface"), unknown[i]);
                assert_int_equal(fake.n_calls, 0);
                result_done(&r);
        }

        /* The interface is required. */
        dispatch(&c, "org.varlink.service.GetInterfaceDescription", NULL, false, &r);
        assert_invalid_parameter(&r, "interface");
        dispatch(&c, "org.varlink.service.GetInterfaceDescription", "{\"interface\":1}", false, &r);
        assert_invalid_parameter(&r, "interface");
}

static void test_interface_description_text(void **state) {
        /* The description is the IDL text of every method and error name. */
        const char *d = api_interface_description;
        assert_true(startswith(d, "#") || startswith(d, "interface "));
        assert_non_null(strstr(d, "\ninterface io.scratchd\n"));
        static const char *const errors[] = {
                API_ERROR_NOT_AUTHORIZED, API_ERROR_VOLUME_BUSY,     API_ERROR_VOLUME_FAILED,
                API_ERROR_NO_SUCH_JOB,    API_ERROR_NO_SUCH_USER,    API_ERROR_NO_SUCH_VOLUME,
                API_ERROR_NO_CLEAN_VOLUME, API_ERROR_INVALID_MESSAGE, API_ERROR_TOO_MANY_CONNECTIONS,
                API_ERROR_INTERNAL,       API_ERROR_NO_SPACE,        API_ERROR_TOO_MANY_JOBS,
                API_ERROR_RECORDS_UNAVAILABLE, API_ERROR_NO_NODE_KEY,
        };
        for (size_t i = 0; i < ELEMENTSOF(errors); i++) {
                char line[128];
                assert_true(startswith(errors[i], API_INTERFACE "."));
                snprintf(line, sizeof(line), "\nerror %s ", errors[i] + strlen(API_INTERFACE "."));
                if (!strstr(d, line))
                        print_error("no \"%s\" in the description\n", line + 1);
                assert_non_null(strstr(d, line));
        }
        assert_int_equal(d[strlen(d) - 1], '\n');
}

static void test_unknown_method(void **state) {
        static const char *const unknown[] = {
                "io.scratchd.Bogus",
                "io.scratchd.getstatus",
                "io.scratchd.GetStatus2",
                "io.scratchd.GetStatus.",
                "GetStatus",
                "io.scratchd",
                "io.scratchd.",
                "org.varlink.service.Bogus",
                "org.varlink.service.getinfo",
        };
        Caller c = root();
        for (size_t i = 0; i < ELEMENTSOF(unknown); i++) {
                ApiResult r;
                print_message("%s\n", unknown[i]);
                dispatch(&c, unknown[i], "{\"job\":\"1\"}", false, &r);
                assert_error(&r, API_ERROR_METHOD_NOT_FOUND);
                assert_string_equal(r.error, "org.varlink.service.MethodNotFound");
                assert_string_equal(get_string(r.parameters, "method"), unknown[i]);
                assert_int_equal(fake.n_calls, 0);
                result_done(&r);
        }
}

/* ---- authorization ---- */

typedef enum Kind {
        KIND_ROOT,
        KIND_READER_PRIMARY,
        KIND_READER_SUPPLEMENTARY,
        KIND_OPERATOR_PRIMARY,
        KIND_OPERATOR_SUPPLEMENTARY,
        KIND_BOTH,
        KIND_OUTSIDER,
        KIND_ROOT_GROUP,        /* gid 0 but not uid 0: not root */
        KIND_NO_GROUPS,         /* primary gid GID_NONE, no supplementary groups */
        KIND_GID_NONE_GROUP,    /* (gid_t) -1 among its groups */
        _KIND_MAX,
} Kind;

static const char *const kind_names[_KIND_MAX] = {
        [KIND_ROOT] = "root",
        [KIND_READER_PRIMARY] = "ReadGroup (primary)",
        [KIND_READER_SUPPLEMENTARY] = "ReadGroup (supplementary)",
        [KIND_OPERATOR_PRIMARY] = "OperatorGroup (primary)",
        [KIND_OPERATOR_SUPPLEMENTARY] = "OperatorGroup (supplementary)",
        [KIND_BOTH] = "ReadGroup and OperatorGroup",
        [KIND_OUTSIDER] = "neither",
        [KIND_ROOT_GROUP] = "gid 0, uid 1006",
        [KIND_NO_GROUPS] = "gid (gid_t) -1, no groups",
        [KIND_GID_NONE_GROUP] = "(gid_t) -1 as a supplementary group",
};

static Caller caller_of(Kind k) {
        switch (k) {
        case KIND_ROOT:
                return root();
        case KIND_READER_PRIMARY:
                return caller_make(1001, READ_GID, 0, NULL);
        case KIND_READER_SUPPLEMENTARY: {
                static const gid_t g[] = { 100, 50, READ_GID, 60 };
                return caller_make(1002, 100, ELEMENTSOF(g), g);
        }
        case KIND_OPERATOR_PRIMARY:
                return caller_make(1003, OPERATOR_GID, 0, NULL);
        case KIND_OPERATOR_SUPPLEMENTARY:
                return operator();
        case KIND_BOTH: {
                static const gid_t g[] = { READ_GID, OPERATOR_GID };
                return caller_make(1007, 100, ELEMENTSOF(g), g);
        }
        case KIND_OUTSIDER:
                return outsider();
        case KIND_ROOT_GROUP: {
                static const gid_t g[] = { 0 };
                return caller_make(1006, 0, ELEMENTSOF(g), g);
        }
        case KIND_NO_GROUPS:
                return caller_make(1008, GID_NONE, 0, NULL);
        case KIND_GID_NONE_GROUP: {
                static const gid_t g[] = { GID_NONE };
                return caller_make(1009, GID_NONE, ELEMENTSOF(g), g);
        }
        default:
                fail();
        }
        return outsider();
}

typedef struct MethodCase {
        const char *method;
        Access access;
        Fn fn;                    /* FN_NONE: answered without the backend */
        const char *params;       /* valid ones */
        const char *bad_params;   /* invalid ones, for the auth-first check */
        bool more;
} MethodCase;

static const MethodCase method_cases[] = {
        { "io.scratchd.GetStatus", ACCESS_READ, FN_GET_STATUS, "{}", "{\"bogus\":\"x\"}", false },
        { "io.scratchd.Prepare", ACCESS_OPERATE, FN_PREPARE, "{\"job\":\"1234\",\"user\":\"alice\"}",
          "{\"job\":5,\"user\":[],\"volume\":{},\"bogus\":true}", false },
        { "io.scratchd.Release", ACCESS_OPERATE, FN_RELEASE, "{\"job\":\"1234\"}", "{\"job\":\"../etc\"}", false },
        { "io.scratchd.Wipe", ACCESS_OPERATE, FN_WIPE, "{\"volume\":\"scratch\"}", "{\"volume\":\"\"}", false },
        { "io.scratchd.Subscribe", ACCESS_READ, FN_SUBSCRIBE, "{}", "{\"x\":1}", true },
        { "io.scratchd.GetMetrics", ACCESS_READ, FN_GET_METRICS, "{}", "{\"format\":\"json\"}", false },
        { "io.scratchd.GetRecords", ACCESS_READ, FN_GET_RECORDS, "{\"job\":\"1234\"}", "{\"since\":\"x\"}", false },
        { "io.scratchd.GetNodeKey", ACCESS_READ, FN_GET_NODE_KEY, "{}", "{\"x\":1}", false },
        { "org.varlink.service.GetInfo", ACCESS_PUBLIC, FN_NONE, "{}", NULL, false },
        { "org.varlink.service.GetInterfaceDescription", ACCESS_PUBLIC, FN_NONE, "{\"interface\":\"io.scratchd\"}",
          NULL, false },
};

/* The authorization table, written out: may a caller of this kind call
 * read methods / state-changing methods, with both groups configured
 * (ReadGroup=1000, OperatorGroup=2000)? Introspection: always. */
static const struct {
        bool read, operate;
} expected_with_groups[_KIND_MAX] = {
        [KIND_ROOT] = { true, true },
        [KIND_READER_PRIMARY] = { true, false },
        [KIND_READER_SUPPLEMENTARY] = { true, false },
        [KIND_OPERATOR_PRIMARY] = { true, true },
        [KIND_OPERATOR_SUPPLEMENTARY] = { true, true },
        [KIND_BOTH] = { true, true },
        [KIND_OUTSIDER] = { false, false },
        [KIND_ROOT_GROUP] = { false, false },
        [KIND_NO_GROUPS] = { false, false },
        [KIND_GID_NONE_GROUP] = { false, false },
};

static bool expected_allowed(Access a, Kind k, bool groups_set) {
        switch (a) {
        case ACCESS_PUBLIC:
                return true;
        case ACCESS_READ:
                return groups_set ? expected_with_groups[k].read : k == KIND_ROOT;
        case ACCESS_OPERATE:
                return groups_set ? expected_with_groups[k].operate : k == KIND_ROOT;
        }
        fail();
        return false;
}

static void run_authorization_table(bool groups_set) {
        if (groups_set)
                backend_init(READ_GID, OPERATOR_GID);
        else
                backend_init(GID_NONE, GID_NONE);

        for (size_t m = 0; m < ELEMENTSOF(method_cases); m++) {
                const MethodCase *mc = &method_cases[m];
                for (Kind k = 0; k < _KIND_MAX; k++) {
                        Caller c = caller_of(k);
                        bool allowed = expected_allowed(mc->access, k, groups_set);
                        ApiResult r;

                        print_message("groups %s, %s by %s: %s\n", groups_set ? "set" : "unset", mc->method,
                                      kind_names[k], allowed ? "allowed" : "refused");
                        dispatch(&c, mc->method, mc->params, mc->more, &r);
                        if (!allowed) {
                                assert_error(&r, API_ERROR_NOT_AUTHORIZED);
                                assert_string_equal(r.error, "io.scratchd.NotAuthorized");
                                assert_int_equal(fake.n_calls, 0);
                        } else if (mc->fn != FN_NONE) {
                                assert_routed(&r, mc->fn, &c);
                        } else {
                                assert_null(r.error);
                                assert_non_null(r.parameters);
                                assert_int_equal(fake.n_calls, 0);
                        }
                        result_done(&r);

                        /* Refused before the parameters are looked at: bad
                         * parameters get NotAuthorized all the same, and the
                         * backend never hears of it. */
                        if (!allowed && mc->bad_params) {
                                dispatch(&c, mc->method, mc->bad_params, mc->more, &r);
                                assert_error(&r, API_ERROR_NOT_AUTHORIZED);
                                assert_int_equal(fake.n_calls, 0);
                                result_done(&r);
                                /* And without more, for Subscribe. */
                                dispatch(&c, mc->method, mc->params, false, &r);
                                assert_error(&r, API_ERROR_NOT_AUTHORIZED);
                                assert_int_equal(fake.n_calls, 0);
                                result_done(&r);
                        }
                }
        }
}

static void test_authorization_with_groups(void **state) {
        run_authorization_table(true);
}

static void test_authorization_without_groups(void **state) {
        run_authorization_table(false);
}

static void test_authorization_only_read_group(void **state) {
        /* ReadGroup set, OperatorGroup unset: only root may change state. */
        backend_init(READ_GID, GID_NONE);
        static const struct {
                Kind kind;
                bool read, operate;
        } table[] = {
                { KIND_ROOT, true, true },
                { KIND_READER_PRIMARY, true, false },
                { KIND_READER_SUPPLEMENTARY, true, false },
                { KIND_OPERATOR_SUPPLEMENTARY, false, false },
                { KIND_OUTSIDER, false, false },
                { KIND_NO_GROUPS, false, false },
                { KIND_GID_NONE_GROUP, false, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Caller c = caller_of(table[i].kind);
                ApiResult r;
                dispatch(&c, "io.scratchd.GetStatus", NULL, false, &r);
                if (table[i].read)
                        assert_routed(&r, FN_GET_STATUS, &c);
                else
                        assert_error(&r, API_ERROR_NOT_AUTHORIZED);
                result_done(&r);
                dispatch(&c, "io.scratchd.Release", "{\"job\":\"1\"}", false, &r);
                if (table[i].operate)
                        assert_routed(&r, FN_RELEASE, &c);
                else
                        assert_error(&r, API_ERROR_NOT_AUTHORIZED);
                result_done(&r);
        }
}

static void test_not_authorized_has_no_parameters_to_leak(void **state) {
        Caller c = outsider();
        ApiResult r;
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1234\",\"user\":\"alice\"}", false, &r);
        assert_error(&r, API_ERROR_NOT_AUTHORIZED);
        /* Nothing about the volumes, the job or why. */
        assert_true(!r.parameters || json_object_object_length(r.parameters) == 0);
        result_done(&r);
}

/* A user removed from OperatorGroup= in the group database loses access at
 * its next call, on the connection it holds (credentials fixed at connect
 * still name the group); root is never asked about. */
static void test_authorization_revoked_at_each_call(void **state) {
        Caller op = operator(), r0 = root();
        ApiResult r;

        dispatch(&op, "io.scratchd.Release", "{\"job\":\"1\"}", false, &r);
        assert_routed(&r, FN_RELEASE, &op);
        result_done(&r);
        assert_true(n_group_checks > 0);

        revoked_uid = op.uid;
        fake.n_calls = 0;
        dispatch(&op, "io.scratchd.Release", "{\"job\":\"1\"}", false, &r);
        assert_error(&r, API_ERROR_NOT_AUTHORIZED);
        result_done(&r);
        dispatch(&op, "io.scratchd.GetStatus", NULL, false, &r);
        assert_error(&r, API_ERROR_NOT_AUTHORIZED);
        result_done(&r);
        /* The public call stays public. */
        dispatch(&op, "org.varlink.service.GetInfo", NULL, false, &r);
        assert_null(r.error);
        result_done(&r);

        revoked_uid = r0.uid;
        n_group_checks = 0;
        dispatch(&r0, "io.scratchd.GetStatus", NULL, false, &r);
        assert_routed(&r, FN_GET_STATUS, &r0);
        result_done(&r);
        assert_int_equal(n_group_checks, 0);
}

/* Only calls that needed access and got it are marked authorized: they
 * alone keep a connection from idling out. */
static void test_call_authorized_flag(void **state) {
        static const struct {
                const char *method;
                bool as_operator, authorized;
        } table[] = {
                { "io.scratchd.GetStatus", true, true },
                { "io.scratchd.GetStatus", false, false },
                { "org.varlink.service.GetInfo", true, false },
                { "org.varlink.service.GetInfo", false, false },
                { "io.scratchd.NoSuchMethod", true, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Caller c = table[i].as_operator ? operator() : outsider();
                Call one = { .n_ref = 1, .caller = c }, *call = &one;
                VarlinkCall vc = { .method = (char *) table[i].method, .parameters = json_object_new_object() };
                ApiResult r;
                api_dispatch(&backend, call, &c, &vc, &r);
                json_object_put(vc.parameters);
                if (call->authorized != table[i].authorized)
                        print_error("%s as %s: authorized %d\n", table[i].method,
                                    table[i].as_operator ? "operator" : "outsider", call->authorized);
                assert_int_equal(call->authorized, table[i].authorized);
                result_done(&r);
        }
}

/* The real group database: root's primary group lists it; a group that
 * neither is its primary group nor names it does not. */
static void test_auth_group_lists_real_database(void **state) {
        struct passwd *pw = getpwuid(0);
        if (!pw)
                skip();
        assert_true(auth_group_lists(0, pw->pw_gid));
        gid_t other = GID_NONE;
        struct group *g;
        setgrent();
        while ((g = getgrent())) {
                bool names = false;
                for (char **m = g->gr_mem; m && *m; m++)
                        names = names || streq(*m, pw->pw_name);
                if (!names && g->gr_gid != pw->pw_gid) {
                        other = g->gr_gid;
                        break;
                }
        }
        endgrent();
        if (other == GID_NONE)
                skip();
        assert_false(auth_group_lists(0, other));
        assert_false(auth_group_lists(0, GID_NONE));
        /* No such user. */
        assert_false(auth_group_lists((uid_t) 4000000000u, pw->pw_gid));
        /* The cached answer is the same one. */
        assert_true(auth_group_lists_cached(0, pw->pw_gid));
        assert_false(auth_group_lists_cached(0, other));
}

/* ---- auth_allowed() ---- */

static void test_auth_allowed_table(void **state) {
        static const struct {
                gid_t read_gid, operator_gid;
        } configs[] = {
                { READ_GID, OPERATOR_GID },
                { GID_NONE, GID_NONE },
        };
        for (size_t i = 0; i < ELEMENTSOF(configs); i++)
                for (Kind k = 0; k < _KIND_MAX; k++) {
                        Caller c = caller_of(k);
                        bool groups_set = configs[i].read_gid != GID_NONE;
                        for (Access a = ACCESS_PUBLIC; a <= ACCESS_OPERATE; a++) {
                                bool expected = expected_allowed(a, k, groups_set);
                                bool got = auth_allowed(a, &c, configs[i].read_gid, configs[i].operator_gid);
                                if (got != expected)
                                        print_error("auth_allowed(%d, %s, groups %s) = %d, expected %d\n", a,
                                                    kind_names[k], groups_set ? "set" : "unset", got, expected);
                                assert_int_equal(got, expected);
                        }
                }
}

static void test_auth_allowed_edges(void **state) {
        Caller c;

        /* The group as the last of 64 supplementary groups. */
        gid_t many[64];
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = (gid_t) (5000 + i);
        many[63] = OPERATOR_GID;
        c = caller_make(1010, 100, 64, many);
        assert_true(auth_allowed(ACCESS_OPERATE, &c, READ_GID, OPERATOR_GID));
        assert_true(auth_allowed(ACCESS_READ, &c, READ_GID, OPERATOR_GID));

        /* Beyond n_groups does not count. */
        c = caller_make(1011, 100, 1, many);
        c.groups[1] = OPERATOR_GID;
        c.groups[2] = READ_GID;
        assert_false(auth_allowed(ACCESS_OPERATE, &c, READ_GID, OPERATOR_GID));
        assert_false(auth_allowed(ACCESS_READ, &c, READ_GID, OPERATOR_GID));
        assert_true(auth_allowed(ACCESS_PUBLIC, &c, READ_GID, OPERATOR_GID));

        /* One group for both: its members may do everything. */
        c = caller_make(1012, READ_GID, 0, NULL);
        assert_true(auth_allowed(ACCESS_READ, &c, READ_GID, READ_GID));
        assert_true(auth_allowed(ACCESS_OPERATE, &c, READ_GID, READ_GID));

        /* The root group (gid 0) is only special when configured. */
        c = caller_make(1013, 0, 0, NULL);
        assert_false(auth_allowed(ACCESS_READ, &c, READ_GID, OPERATOR_GID));
        assert_true(auth_allowed(ACCESS_READ, &c, 0, GID_NONE));
        assert_false(auth_allowed(ACCESS_OPERATE, &c, 0, GID_NONE));

        /* Root needs no group, whatever is configured. */
        c = caller_make(0, 12345, 0, NULL);
        assert_true(auth_allowed(ACCESS_OPERATE, &c, GID_NONE, GID_NONE));
        assert_true(auth_allowed(ACCESS_READ, &c, READ_GID, OPERATOR_GID));

        /* An unknown access level is refused. */
        c = root();
        assert_false(auth_allowed((Access) 99, &c, READ_GID, OPERATOR_GID));
}

static void test_auth_resolve_group_none(void **state) {
        gid_t g = 0;
        assert_int_equal(auth_resolve_group(NULL, &g), 0);
        assert_int_equal(g, GID_NONE);
        assert_int_equal(auth_resolve_group("scratchd-no-such-group-xyz", &g), -ESRCH);
}

/* ---- parameters ---- */

static void test_params_missing_required(void **state) {
        Caller c = root();
        ApiResult r;

        dispatch(&c, "io.scratchd.Prepare", NULL, false, &r);
        assert_invalid_parameter(&r, "job");
        dispatch(&c, "io.scratchd.Prepare", "{\"user\":\"alice\"}", false, &r);
        assert_invalid_parameter(&r, "job");
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1\"}", false, &r);
        assert_invalid_parameter(&r, "user");
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1\",\"volume\":\"v\"}", false, &r);
        assert_invalid_parameter(&r, "user");
        dispatch(&c, "io.scratchd.Release", NULL, false, &r);
        assert_invalid_parameter(&r, "job");
        dispatch(&c, "org.varlink.service.GetInterfaceDescription", "{}", false, &r);
        assert_invalid_parameter(&r, "interface");
}

typedef struct ParamCase {
        const char *method;
        const char *param;
        const char *others;   /* the other (valid) parameters, JSON members, or "" */
} ParamCase;

static const ParamCase param_cases[] = {
        { "io.scratchd.Prepare", "job", "\"user\":\"alice\"" },
        { "io.scratchd.Prepare", "user", "\"job\":\"1234\"" },
        { "io.scratchd.Prepare", "volume", "\"job\":\"1234\",\"user\":\"alice\"" },
        { "io.scratchd.Release", "job", "" },
        { "io.scratchd.Wipe", "volume", "" },
        { "org.varlink.service.GetInterfaceDescription", "interface", "" },
};

static void dispatch_param(const ParamCase *pc, const char *value_json, ApiResult *r) {
        _cleanup_free_ char *params = NULL;
        assert_true(asprintf(&params, "{%s%s\"%s\":%s}", pc->others, pc->others[0] ? "," : "", pc->param,
                             value_json) > 0);
        print_message("%s %.100s%s\n", pc->method, params, strlen(params) > 100 ? "..." : "");
        Caller c = root();
        dispatch(&c, pc->method, params, false, r);
}

static void test_params_wrong_type(void **state) {
        static const char *const bad[] = { "1234", "0", "-1", "1.5", "[]", "[\"1234\"]", "{}", "{\"a\":\"b\"}",
                                           "true", "false" };
        for (size_t i = 0; i < ELEMENTSOF(param_cases); i++)
                for (size_t j = 0; j < ELEMENTSOF(bad); j++) {
                        ApiResult r;
                        dispatch_param(&param_cases[i], bad[j], &r);
                        assert_invalid_parameter(&r, param_cases[i].param);
                }
}

static void test_params_empty_string(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(param_cases); i++) {
                ApiResult r;
                dispatch_param(&param_cases[i], "\"\"", &r);
                assert_invalid_parameter(&r, param_cases[i].param);
        }
}

static char *long_string_json(size_t n, char fill) {
        char *s = malloc(n + 3);
        assert_non_null(s);
        s[0] = '"';
        memset(s + 1, fill, n);
        s[n + 1] = '"';
        s[n + 2] = 0;
        return s;
}

static void test_params_too_long(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(param_cases); i++) {
                ApiResult r;
                _cleanup_free_ char *v257 = long_string_json(257, '1');
                dispatch_param(&param_cases[i], v257, &r);
                assert_invalid_parameter(&r, param_cases[i].param);

                _cleanup_free_ char *v4096 = long_string_json(4096, 'a');
                dispatch_param(&param_cases[i], v4096, &r);
                assert_invalid_parameter(&r, param_cases[i].param);
        }

        /* 256 bytes is the longest string; a volume name is not checked
         * further here (the backend looks it up), so it gets through. */
        Caller c = root();
        ApiResult r;
        char params[512];
        _cleanup_free_ char *v256 = long_string_json(256, 'v');
        snprintf(params, sizeof(params), "{\"volume\":%s}", v256);
        dispatch(&c, "io.scratchd.Wipe", params, false, &r);
        assert_routed(&r, FN_WIPE, &c);
        assert_int_equal(strlen(fake.volume), 256);
        result_done(&r);

        /* Multi-byte characters: bytes are counted. 129 'é' are 258 bytes. */
        char s[600];
        int n = snprintf(s, sizeof(s), "{\"volume\":\"");
        for (int k = 0; k < 129; k++)
                n += snprintf(s + n, sizeof(s) - (size_t) n, "\xc3\xa9");
        snprintf(s + n, sizeof(s) - (size_t) n, "\"}");
        dispatch(&c, "io.scratchd.Wipe", s, false, &r);
        assert_invalid_parameter(&r, "volume");
}

static void test_params_unknown_name(void **state) {
        Caller c = root();
        ApiResult r;

        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1\",\"user\":\"alice\",\"extra\":\"x\"}", false, &r);
        assert_invalid_parameter(&r, "extra");
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1\",\"user\":\"alice\",\"Job\":\"1\"}", false, &r);
        assert_invalid_parameter(&r, "Job");
        dispatch(&c, "io.scratchd.Release", "{\"job\":\"1\",\"force\":true}", false, &r);
        assert_invalid_parameter(&r, "force");
        dispatch(&c, "io.scratchd.Release", "{\"job\":\"1\",\"user\":\"alice\"}", false, &r);
        assert_invalid_parameter(&r, "user");   /* a parameter of another method */
        dispatch(&c, "io.scratchd.Wipe", "{\"volumes\":\"scratch\"}", false, &r);
        assert_invalid_parameter(&r, "volumes");
        dispatch(&c, "io.scratchd.GetStatus", "{\"volume\":\"scratch\"}", false, &r);
        assert_invalid_parameter(&r, "volume");
        dispatch(&c, "io.scratchd.GetMetrics", "{\"x\":null}", false, &r);
        assert_invalid_parameter(&r, "x");
        dispatch(&c, "io.scratchd.Subscribe", "{\"x\":\"y\"}", true, &r);
        assert_invalid_parameter(&r, "x");
        dispatch(&c, "org.varlink.service.GetInfo", "{\"x\":1}", false, &r);
        assert_invalid_parameter(&r, "x");
        dispatch(&c, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"io.scratchd\",\"y\":1}", false,
                 &r);
        assert_invalid_parameter(&r, "y");
}

static void test_params_null(void **state) {
        Caller c = root();
        ApiResult r;

        /* Optional: null is as good as absent. */
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1\",\"user\":\"alice\",\"volume\":null}", false, &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_false(fake.has_volume);
        result_done(&r);
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1\",\"user\":\"alice\",\"size\":null,\"uid\":null}",
                 false, &r);
        assert_routed(&r, FN_PREPARE, &c);
        assert_true(fake.size == SIZE_NONE);
        assert_int_equal(fake.uid, UID_NONE);
        result_done(&r);
        dispatch(&c, "io.scratchd.Wipe", "{\"volume\":null}", false, &r);
        assert_routed(&r, FN_WIPE, &c);
        assert_false(fake.has_volume);
        result_done(&r);

        /* Required: null is missing. */
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":null,\"user\":\"alice\"}", false, &r);
        assert_invalid_parameter(&r, "job");
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1\",\"user\":null}", false, &r);
        assert_invalid_parameter(&r, "user");
        dispatch(&c, "io.scratchd.Release", "{\"job\":null}", false, &r);
        assert_invalid_parameter(&r, "job");
        dispatch(&c, "org.varlink.service.GetInterfaceDescription", "{\"interface\":null}", false, &r);
        assert_invalid_parameter(&r, "interface");
}

/* ---- job ids and user names ---- */

#define ID64 "0123456789012345678901234567890123456789012345678901234567890123"

static void test_invalid_job_ids(void **state) {
        static const char *const bad[] = {
                "", ".", "..", "../x", "a/b", "-x", ID64 "4", "job id", "/1234", "1234/", ".hidden", "a\\\\b",
                "1234\\n", "1234\\t", "a:b", "a*", "é",
        };
        Caller c = root();
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char params[256];
                ApiResult r;

                print_message("job \"%s\"\n", bad[i]);
                snprintf(params, sizeof(params), "{\"job\":\"%s\",\"user\":\"alice\"}", bad[i]);
                dispatch(&c, "io.scratchd.Prepare", params, false, &r);
                assert_invalid_parameter(&r, "job");

                snprintf(params, sizeof(params), "{\"job\":\"%s\"}", bad[i]);
                dispatch(&c, "io.scratchd.Release", params, false, &r);
                assert_invalid_parameter(&r, "job");
        }
}

static void test_valid_job_ids(void **state) {
        static const char *const good[] = { "1234", "1234_7", "1234.pbs-server", ID64, "a", "0", "1",
                                            "A-b_C.d", "1234.pbs-server.example.org" };
        Caller c = root();
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                char params[256];
                ApiResult r;

                print_message("job \"%s\"\n", good[i]);
                snprintf(params, sizeof(params), "{\"job\":\"%s\",\"user\":\"alice\"}", good[i]);
                dispatch(&c, "io.scratchd.Prepare", params, false, &r);
                assert_routed(&r, FN_PREPARE, &c);
                assert_string_equal(fake.job, good[i]);
                result_done(&r);

                snprintf(params, sizeof(params), "{\"job\":\"%s\"}", good[i]);
                dispatch(&c, "io.scratchd.Release", params, false, &r);
                assert_routed(&r, FN_RELEASE, &c);
                assert_string_equal(fake.job, good[i]);
                result_done(&r);
        }
}

static void test_user_names(void **state) {
        static const char *const bad[] = {
                "-x", "-", "a/b", "../root", "a b", "a:b", "a,b", "a\\nb", "a*", "r\\u00f6ot", ID64 "4",
        };
        static const char *const good[] = {
                "alice", "bob.smith", "svc-1", "user_x", "MACHINE$", "a@realm", "_apt", "1000", ID64,
        };
        Caller c = root();
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char params[256];
                ApiResult r;
                print_message("user \"%s\"\n", bad[i]);
                snprintf(params, sizeof(params), "{\"job\":\"1234\",\"user\":\"%s\"}", bad[i]);
                dispatch(&c, "io.scratchd.Prepare", params, false, &r);
                assert_invalid_parameter(&r, "user");
        }
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                char params[256];
                ApiResult r;
                print_message("user \"%s\"\n", good[i]);
                snprintf(params, sizeof(params), "{\"job\":\"1234\",\"user\":\"%s\"}", good[i]);
                dispatch(&c, "io.scratchd.Prepare", params, false, &r);
                assert_routed(&r, FN_PREPARE, &c);
                assert_string_equal(fake.user, good[i]);
                result_done(&r);
        }
}

static void test_job_checked_before_user(void **state) {
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"..\",\"user\":\"-x\"}", false, &r);
        assert_invalid_parameter(&r, "job");
}

static void test_bug_escaped_nul_in_job(void **state) {
        /* Was a bug, now fixed: src/core/api.c check_params() (lines 140-145) measures a string parameter with
         * json_object_get_string_len(), which counts a decoded \u0000, but
         * job_id_valid(), user_name_valid() and the backend read it as a C
         * string: {"job":"1234\u0000/../x"} passes as job "1234" (and
         * "user":"alice\u0000:x" as "alice"). Expected InvalidParameter
         * naming the parameter; got the backend called with the truncated
         * string. (Same root cause as the method in test-varlink.c.) */
        Caller c = root();
        ApiResult r;
        dispatch(&c, "io.scratchd.Release", "{\"job\":\"1234\\u0000/../x\"}", false, &r);
        assert_invalid_parameter(&r, "job");
        dispatch(&c, "io.scratchd.Prepare", "{\"job\":\"1234\",\"user\":\"alice\\u0000:x\"}", false, &r);
        assert_invalid_parameter(&r, "user");
        dispatch(&c, "io.scratchd.Wipe", "{\"volume\":\"scratch\\u0000x\"}", false, &r);
        assert_invalid_parameter(&r, "volume");
}

/* ---- ApiResult helpers ---- */

static void test_result_helpers(void **state) {
        ApiResult r = { .parameters = json_object_new_object(), .deferred = true };
        api_result_invalid_parameter(&r, "job");
        assert_string_equal(r.error, API_ERROR_INVALID_PARAMETER);
        assert_string_equal(get_string(r.parameters, "parameter"), "job");
        assert_false(r.deferred);
        api_result_error(&r, API_ERROR_NO_CLEAN_VOLUME, NULL);
        assert_string_equal(r.error, API_ERROR_NO_CLEAN_VOLUME);
        assert_null(r.parameters);
        result_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_route_get_status, setup),
                cmocka_unit_test_setup(test_route_prepare, setup),
                cmocka_unit_test_setup(test_prepare_uid_checked, setup),
                cmocka_unit_test_setup(test_prepare_size, setup),
                cmocka_unit_test_setup(test_prepare_size_checked, setup),
                cmocka_unit_test_setup(test_route_release, setup),
                cmocka_unit_test_setup(test_route_wipe, setup),
                cmocka_unit_test_setup(test_route_subscribe, setup),
                cmocka_unit_test_setup(test_route_get_metrics, setup),
                cmocka_unit_test_setup(test_route_get_records, setup),
                cmocka_unit_test_setup(test_get_info, setup),
                cmocka_unit_test_setup(test_get_interface_description, setup),
                cmocka_unit_test_setup(test_interface_description_text, setup),
                cmocka_unit_test_setup(test_unknown_method, setup),
                cmocka_unit_test_setup(test_authorization_with_groups, setup),
                cmocka_unit_test_setup(test_authorization_without_groups, setup),
                cmocka_unit_test_setup(test_authorization_only_read_group, setup),
                cmocka_unit_test_setup(test_not_authorized_has_no_parameters_to_leak, setup),
                cmocka_unit_test_setup(test_authorization_revoked_at_each_call, setup),
                cmocka_unit_test_setup(test_call_authorized_flag, setup),
                cmocka_unit_test(test_auth_group_lists_real_database),
                cmocka_unit_test(test_auth_allowed_table),
                cmocka_unit_test(test_auth_allowed_edges),
                cmocka_unit_test(test_auth_resolve_group_none),
                cmocka_unit_test_setup(test_params_missing_required, setup),
                cmocka_unit_test_setup(test_params_wrong_type, setup),
                cmocka_unit_test_setup(test_params_empty_string, setup),
                cmocka_unit_test_setup(test_params_too_long, setup),
                cmocka_unit_test_setup(test_params_unknown_name, setup),
                cmocka_unit_test_setup(test_params_null, setup),
                cmocka_unit_test_setup(test_invalid_job_ids, setup),
                cmocka_unit_test_setup(test_valid_job_ids, setup),
                cmocka_unit_test_setup(test_user_names, setup),
                cmocka_unit_test_setup(test_job_checked_before_user, setup),
                cmocka_unit_test_setup(test_bug_escaped_nul_in_job, setup),
                cmocka_unit_test(test_result_helpers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
