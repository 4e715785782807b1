/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: one message off the socket, through the parser and the
 * dispatcher (with a backend that does nothing), as root and as a stranger;
 * and the same bytes as a reply, as scratchctl reads them. */
#include "scratchd/api.h"
#include "scratchd/util.h"
#include "scratchd/varlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ok(ApiResult *r) {
        r->parameters = json_object_new_object();
}
static void get_status(void *u, ApiResult *r) {
        ok(r);
}
static void prepare(void *u, Call *c, const Caller *k, const char *job, const char *user, int64_t uid, const char *vol,
                    uint64_t size, ApiResult *r) {
        if (size > (UINT64_C(1) << 40)) {   /* the shared-mode errors' encoding too */
                json_object *p = json_object_new_object();
                json_object_object_add(p, "volume", json_object_new_string(vol ?: "scratch"));
                json_object_object_add(p, "requested_bytes", json_object_new_int64((int64_t) size));
                json_object_object_add(p, "free_bytes", json_object_new_int64(0));
                json_object_object_add(p, "reason", json_object_new_string("0 B free of 1.0 TiB"));
                api_result_error(r, API_ERROR_NO_SPACE, p);
                return;
        }
        ok(r);
        json_object_object_add(r->parameters, "directory", json_object_new_string(job));
        if (size > 0)
                json_object_object_add(r->parameters, "size_bytes", json_object_new_int64((int64_t) size));
}
static void release(void *u, Call *c, const Caller *k, const char *job, ApiResult *r) {
        r->deferred = true;
}
static void wipe(void *u, Call *c, const Caller *k, const char *vol, bool force, ApiResult *r) {
        api_result_error(r, API_ERROR_VOLUME_BUSY, NULL);
}
static void subscribe(void *u, Call *c, ApiResult *r) {
        ok(r);
        r->subscribe = true;
}
static void get_metrics(void *u, ApiResult *r) {
        ok(r);
}

/* The group database: the callers still in the groups they name. */
static bool group_lists(uid_t uid, gid_t g) {
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const ApiBackend b = {
                .get_status = get_status, .prepare = prepare, .release = release, .wipe = wipe,
                .subscribe = subscribe, .get_metrics = get_metrics, .read_gid = 100, .operator_gid = 37,
                .group_lists = group_lists,
        };
        static const Caller callers[] = { { .uid = 0 }, { .uid = 1000, .gid = 100 }, { .uid = 1001, .gid = 1001 } };
        VarlinkCall call;
        char *error = NULL;

        if (varlink_parse_call((const char *) data, size, &call, &error) == 0) {
                for (size_t i = 0; i < ELEMENTSOF(callers); i++) {
                        ApiResult r;
                        api_dispatch(&b, NULL, &callers[i], &call, &r);
                        size_t len;
                        free(r.error ? varlink_encode_error(r.error, r.parameters, &len)
                                     : varlink_encode_reply(r.parameters, r.subscribe, &len));
                }
                varlink_call_done(&call);
        } else if (error && strchr(error, '\n'))
                __builtin_trap();   /* errors are one line */
        free(error);

        char *err = NULL;
        json_object *p = NULL;
        bool more;
        if (varlink_parse_reply((const char *) data, size, &err, &p, &more) == 0) {
                free(err);
                json_object_put(p);
        }
        return 0;
}
