/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"
#include "scratchd/api.h"
#include "scratchd/transport.h"
#include "scratchd/lifecycle.h"
#include "scratchd/rfc3339.h"
#include "scratchd/util.h"

const char api_interface_description[] =
        "# Encrypted, crypto-wiped scratch volumes for compute nodes.\n"
        "interface io.scratchd\n"
        "\n"
        "type Volume (\n"
        "  name: string,\n"
        "  devices: []string,\n"
        "  state: (ABSENT, WIPING, CLEAN, IN_USE, DIRTY, FAILED),\n"
        "  adopting: ?bool,\n"
        "  # what runs on it now: adopting, preparing or wiping\n"
        "  activity: ?string,\n"
        "  job: ?string,\n"
        "  user: ?string,\n"
        "  key_generation: int,\n"
        "  cipher: ?string,\n"
        "  key_bits: ?int,\n"
        "  sector_size: ?int,\n"
        "  bypass_workqueues: ?bool,\n"
        "  allow_discards: ?bool,\n"
        "  # where each dm-crypt setting came from: config, default or what the machine said\n"
        "  tuning: ?string,\n"
        "  mount_point: string,\n"
        "  size_bytes: ?int,\n"
        "  used_bytes: ?int,\n"
        "  last_wipe: ?int,\n"
        "  last_wipe_usec: ?int,\n"
        "  # JobCheck=: whether the job holding it is gone (for StaleAfterSec=), since when (Unix time),\n"
        "  # and why the check cannot see the jobs, when it cannot\n"
        "  stale: ?bool,\n"
        "  job_gone_since: ?int,\n"
        "  job_check: ?string,\n"
        "  reason: ?string\n"
        ")\n"
        "\n"
        "# Why a volume cannot be had: its state, what runs on it, its job or why it failed.\n"
        "type VolumeBrief (\n"
        "  volume: string,\n"
        "  state: (ABSENT, WIPING, CLEAN, IN_USE, DIRTY, FAILED),\n"
        "  activity: ?string,\n"
        "  job: ?string,\n"
        "  reason: ?string\n"
        ")\n"
        "\n"
        "# The state of every volume.\n"
        "method GetStatus() -> (volumes: []Volume)\n"
        "\n"
        "# Hands a CLEAN volume to a job: makes the job's directory, 0700, owned by the user (by name or uid).\n"
        "# size: in shared mode, the job volume's size in bytes (> 0; default JobSize=), given back in size_bytes.\n"
        "method Prepare(job: string, user: ?string, uid: ?int, volume: ?string, size: ?int) -> (volume: string, directory: string, key_generation: int, size_bytes: ?int)\n"
        "\n"
        "# Takes the job's volume back, crypto-erases and re-keys it; returns once it is CLEAN again.\n"
        "# unknown: no volume holds the job, none was released for it since scratchd started, and none is\n"
        "# being adopted (its prolog failed, or it ran before a reboot): nothing to erase; volume is \"\" then.\n"
        "# While a volume is being adopted, VolumeBusy (activity \"adopting\"): ask again.\n"
        "method Release(job: string) -> (volume: string, key_generation: int, unknown: ?bool)\n"
        "\n"
        "# Crypto-erases and re-keys a volume (or every volume) now. A volume a job holds (IN_USE) is\n"
        "# refused (VolumeBusy) unless force is true: then its job loses its scratch at once.\n"
        "method Wipe(volume: ?string, force: ?bool) -> (volumes: []Volume)\n"
        "\n"
        "# The state of every volume, then each change as it happens (call with more).\n"
        "method Subscribe() -> (volumes: ?[]Volume, volume: ?Volume)\n"
        "\n"
        "# Metrics in the Prometheus text format.\n"
        "method GetMetrics() -> (text: string)\n"
        "\n"
        "# The directory of a job that a volume holds: for the job's own user (a task prolog) and readers;\n"
        "# NoSuchJob for anyone else, as for a job no volume holds.\n"
        "method GetJob(job: string) -> (volume: string, directory: string, user: string)\n"
        "\n"
        "# Reads the config file again. changed: the keys that differ (\"Cipher=, WorkTimeoutSec=\"), \"\" if none.\n"
        "# A bad file, or one that changes what only a restart can, is refused (ConfigRefused) and the\n"
        "# running config stays.\n"
        "method Reload() -> (changed: string)\n"
        "\n"
        "# The signed erase records this node keeps (docs/erasure-record.schema.json), each object as stored,\n"
        "# signature included, oldest first; names: each one's file name, in the same order. public_key: the\n"
        "# node key that signs them (base64 of its 32 bytes), null if there is none now.\n"
        "# job: only that job's. since: only those whose end is at or after this RFC 3339 time\n"
        "# (2026-12-03T12:00:00Z, 2026-12-03T13:00:00.5+01:00). A reply holds what fits in one message\n"
        "# (64 KiB: a few dozen records) and reads at most 1000 files: truncated: older records may match too;\n"
        "# ask again with before set to continue_before. unreadable: files in the records directory that\n"
        "# could not be read as records (the journal names the first); none is left out without a count.\n"
        "# RecordsUnavailable: this scratchd keeps no records.\n"
        "method GetRecords(job: ?string, since: ?string, before: ?string) -> (records: []object, names: []string, public_key: ?string, truncated: bool, continue_before: ?string, unreadable: int)\n"
        "\n"
        "# The public half of the node key that signs the erase records: PEM (SubjectPublicKeyInfo) and base64\n"
        "# of the raw 32 bytes, as scratchctl verify --pubkey takes either. NoNodeKey: there is none.\n"
        "method GetNodeKey() -> (public_key_pem: string, public_key: string)\n"
        "\n"
        "error NotAuthorized ()\n"
        "error VolumeBusy (volume: string, state: string, job: ?string, reason: ?string)\n"
        "error VolumeFailed (volume: string, reason: string)\n"
        "error NoSuchJob (job: string)\n"
        "error NoSuchUser (user: string)\n"
        "error NoSuchVolume (volume: string)\n"
        "error NoCleanVolume (volumes: []VolumeBrief)\n"
        "# Shared mode: the pool has too little unreserved space for the job volume; wait, or ask for less.\n"
        "error NoSpace (volume: string, requested_bytes: int, free_bytes: int, reason: string)\n"
        "# Shared mode: MaxJobs= job volumes exist already; wait for a job to end.\n"
        "error TooManyJobs (volume: string, max_jobs: int, reason: string)\n"
        "error ConfigRefused (reason: string)\n"
        "error RecordsUnavailable (reason: string)\n"
        "error NoNodeKey (reason: string)\n"
        "error InvalidMessage (reason: string)\n"
        "error TooManyConnections ()\n"
        "error InternalError (reason: string)\n";

static const char varlink_service_description[] =
        "interface org.varlink.service\n"
        "method GetInfo() -> (vendor: string, product: string, version: string, url: string, interfaces: []string)\n"
        "method GetInterfaceDescription(interface: string) -> (description: string)\n"
        "error InterfaceNotFound (interface: string)\n"
        "error MethodNotFound (method: string)\n"
        "error MethodNotImplemented (method: string)\n"
        "error InvalidParameter (parameter: string)\n";

void api_result_error(ApiResult *r, const char *error, json_object *parameters) {
        json_object_put(r->parameters);
        *r = (ApiResult) { .error = error, .parameters = parameters };
}

void api_result_invalid_parameter(ApiResult *r, const char *parameter) {
        json_object *p = json_object_new_object();
        if (p)
                json_object_object_add(p, "parameter", json_object_new_string(parameter));
        api_result_error(r, API_ERROR_INVALID_PARAMETER, p);
}

typedef enum MethodId {
        M_GET_STATUS,
        M_PREPARE,
        M_RELEASE,
        M_WIPE,
        M_SUBSCRIBE,
        M_GET_METRICS,
        M_GET_JOB,
        M_RELOAD,
        M_GET_RECORDS,
        M_GET_NODE_KEY,
        M_GET_INFO,
        M_GET_INTERFACE_DESCRIPTION,
} MethodId;

typedef enum ParamType {
        PARAM_STRING,   /* 1-256 bytes, no NUL */
        PARAM_UID,      /* an integer uid, 0 to 4294967294 */
        PARAM_SIZE,     /* an integer number of bytes, > 0 */
        PARAM_BOOL,     /* true or false */
} ParamType;

typedef struct Param {
        const char *name;
        bool required;
        ParamType type;
} Param;

#define PARAMS_MAX 5

typedef struct Method {
        const char *name;
        MethodId id;
        Access access;
        Param params[PARAMS_MAX];
} Method;

static const Method methods[] = {
        { "io.scratchd.GetStatus", M_GET_STATUS, ACCESS_READ, {} },
        { "io.scratchd.Prepare", M_PREPARE, ACCESS_OPERATE,
          { { "job", true },
            { "user", false },
            { "uid", false, PARAM_UID },
            { "volume", false },
            { "size", false, PARAM_SIZE } } },
        { "io.scratchd.Release", M_RELEASE, ACCESS_OPERATE, { { "job", true } } },
        { "io.scratchd.Wipe", M_WIPE, ACCESS_OPERATE, { { "volume", false }, { "force", false, PARAM_BOOL } } },
        { "io.scratchd.Subscribe", M_SUBSCRIBE, ACCESS_READ, {} },
        { "io.scratchd.GetMetrics", M_GET_METRICS, ACCESS_READ, {} },
        /* Anyone may ask; the backend answers only the job's own user and
         * readers (NoSuchJob to others, who learn nothing). */
        { "io.scratchd.GetJob", M_GET_JOB, ACCESS_PUBLIC, { { "job", true } } },
        { "io.scratchd.Reload", M_RELOAD, ACCESS_OPERATE, {} },
        /* Records name jobs and users, as status does: readers. */
        { "io.scratchd.GetRecords", M_GET_RECORDS, ACCESS_READ,
          { { "job", false }, { "since", false }, { "before", false } } },
        { "io.scratchd.GetNodeKey", M_GET_NODE_KEY, ACCESS_READ, {} },
        { "org.varlink.service.GetInfo", M_GET_INFO, ACCESS_PUBLIC, {} },
        { "org.varlink.service.GetInterfaceDescription", M_GET_INTERFACE_DESCRIPTION, ACCESS_PUBLIC,
          { { "interface", true } } },
};

static const Method *find_method(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (streq(methods[i].name, name))
                        return &methods[i];
        return NULL;
}

static const Param *find_param(const Method *m, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(m->params) && m->params[i].name; i++)
                if (streq(m->params[i].name, name))
                        return &m->params[i];
        return NULL;
}

/* An integer parameter: json-c says a JSON integer beyond int64 is
 * INT64_MAX (or INT64_MIN) without an error, so neither is taken. */
static bool get_int_param(json_object *val, int64_t min, int64_t max, int64_t *ret) {
        if (!json_object_is_type(val, json_type_int))
                return false;
        errno = 0;
        int64_t i = json_object_get_int64(val);
        if (errno != 0 || i == INT64_MAX || i == INT64_MIN || i < min || i > max)
                return false;
        *ret = i;
        return true;
}

/* Checks the call's parameters against the table: no unknown ones, each of
 * its type (or null for an optional one), no string longer than 256 bytes,
 * every required one there. Fills `values` (strings), `uid` and `size` in
 * table order; an integer's entry in `values` is its name, for "present". */
static bool check_params(const Method *m, json_object *params, const char *values[PARAMS_MAX], int64_t *uid,
                         uint64_t *size, ApiResult *r) {
        json_object_object_foreach(params, key, val) {
                const Param *p = find_param(m, key);
                if (!p) {
                        api_result_invalid_parameter(r, key);
                        return false;
                }
                if (json_object_is_type(val, json_type_null) && !p->required)
                        continue;
                if (p->type == PARAM_BOOL) {
                        if (!json_object_is_type(val, json_type_boolean)) {
                                api_result_invalid_parameter(r, key);
                                return false;
                        }
                        /* Present: its name; true: "true" (a static string). */
                        values[p - m->params] = json_object_get_boolean(val) ? "true" : NULL;
                        continue;
                }
                if (p->type == PARAM_UID || p->type == PARAM_SIZE) {
                        int64_t i;
                        if (!get_int_param(val, p->type == PARAM_UID ? 0 : 1,
                                           p->type == PARAM_UID ? (int64_t) UINT32_MAX - 1 : INT64_MAX, &i)) {
                                api_result_invalid_parameter(r, key);
                                return false;
                        }
                        if (p->type == PARAM_UID)
                                *uid = i;
                        else
                                *size = (uint64_t) i;
                        values[p - m->params] = key;   /* present */
                        continue;
                }
                /* strlen(): an escaped NUL must not cut "1234\u0000/../x" to "1234". */
                if (!json_object_is_type(val, json_type_string) || json_object_get_string_len(val) == 0 ||
                    json_object_get_string_len(val) > 256 ||
                    strlen(json_object_get_string(val)) != (size_t) json_object_get_string_len(val)) {
                        api_result_invalid_parameter(r, key);
                        return false;
                }
                values[p - m->params] = json_object_get_string(val);
        }
        for (size_t i = 0; i < ELEMENTSOF(m->params) && m->params[i].name; i++)
                if (m->params[i].required && !values[i]) {
                        api_result_invalid_parameter(r, m->params[i].name);
                        return false;
                }
        return true;
}

static bool user_name_valid(const char *u) {
        if (strlen(u) > 64 || u[0] == '-')
                return false;
        for (const char *c = u; *c; c++)
                if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') && !(*c >= '0' && *c <= '9') &&
                    !strchr("._-$@", *c))
                        return false;
        return true;
}

static void get_info(ApiResult *r) {
        json_object *p = json_object_new_object(), *ifaces = json_object_new_array();
        json_object_object_add(p, "vendor", json_object_new_string("scratchd"));
        json_object_object_add(p, "product", json_object_new_string("scratchd"));
        json_object_object_add(p, "version", json_object_new_string(PACKAGE_VERSION));
        json_object_object_add(p, "url", json_object_new_string("man:scratchd(8)"));
        json_object_array_add(ifaces, json_object_new_string("org.varlink.service"));
        json_object_array_add(ifaces, json_object_new_string(API_INTERFACE));
        json_object_object_add(p, "interfaces", ifaces);
        r->parameters = p;
}

static void get_interface_description(const char *iface, ApiResult *r) {
        const char *d = streq(iface, API_INTERFACE)           ? api_interface_description
                        : streq(iface, "org.varlink.service") ? varlink_service_description
                                                              : NULL;
        json_object *p = json_object_new_object();
        if (!d) {
                json_object_object_add(p, "interface", json_object_new_string(iface));
                api_result_error(r, API_ERROR_INTERFACE_NOT_FOUND, p);
                return;
        }
        json_object_object_add(p, "description", json_object_new_string(d));
        r->parameters = p;
}

static void api_result_reason(ApiResult *r, const char *error, const char *reason) {
        json_object *p = json_object_new_object();
        if (p)
                json_object_object_add(p, "reason", json_object_new_string(reason));
        api_result_error(r, error, p);
}

/* GetRecords' cursor: the file name of a record given back (continue_before).
 * Only compared with the names in the directory, never opened; still, no
 * path. */
static bool record_name_valid(const char *s) {
        return s[0] != '.' && !strchr(s, '/') && strlen(s) <= 255;
}

static void get_records(const ApiBackend *b, const char *job, const char *since, const char *before, ApiResult *r) {
        uint64_t since_usec = 0;
        if (job && !job_id_valid(job))
                api_result_invalid_parameter(r, "job");
        else if (since && rfc3339_parse(since, &since_usec) < 0)
                api_result_invalid_parameter(r, "since");
        else if (before && !record_name_valid(before))
                api_result_invalid_parameter(r, "before");
        else if (b->get_records)
                b->get_records(b->userdata, job, since_usec, before, r);
        else
                api_result_reason(r, API_ERROR_RECORDS_UNAVAILABLE, "this scratchd keeps no erase records");
}

void api_dispatch(const ApiBackend *b, Call *call, const Caller *c, const VarlinkCall *message, ApiResult *ret) {
        const char *v[PARAMS_MAX] = {};
        int64_t uid = UID_NONE;
        uint64_t size = SIZE_NONE;
        *ret = (ApiResult) {};

        const Method *m = find_method(message->method);
        if (!m) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "method", json_object_new_string(message->method));
                api_result_error(ret, API_ERROR_METHOD_NOT_FOUND, p);
                return;
        }
        /* Authorization comes before any look at the parameters: an outsider
         * learns nothing from what it sent. */
        if (!auth_allowed_now(m->access, c, b->read_gid, b->operator_gid, b->group_lists ?: auth_group_lists_cached)) {
                api_result_error(ret, API_ERROR_NOT_AUTHORIZED, NULL);
                return;
        }
        if (call && m->access != ACCESS_PUBLIC)
                call->authorized = true;
        if (!check_params(m, message->parameters, v, &uid, &size, ret))
                return;

        switch (m->id) {
        case M_GET_STATUS:
                b->get_status(b->userdata, ret);
                break;
        case M_PREPARE:
                /* The user by name or by uid (a hook has SLURM_JOB_UID): exactly one. */
                if (!job_id_valid(v[0]))
                        api_result_invalid_parameter(ret, "job");
                else if (v[1] && v[2])
                        api_result_invalid_parameter(ret, "uid");
                else if (v[1] ? !user_name_valid(v[1]) : !v[2])
                        api_result_invalid_parameter(ret, "user");   /* not a name, or neither given */
                else
                        b->prepare(b->userdata, call, c, v[0], v[1], uid, v[3], size, ret);
                break;
        case M_RELEASE:
                if (!job_id_valid(v[0]))
                        api_result_invalid_parameter(ret, "job");
                else
                        b->release(b->userdata, call, c, v[0], ret);
                break;
        case M_WIPE:
                b->wipe(b->userdata, call, c, v[0], v[1] != NULL, ret);
                break;
        case M_SUBSCRIBE:
                /* A oneway subscription could never be answered nor end. */
                if (!message->more || message->oneway)
                        api_result_error(ret, API_ERROR_EXPECTED_MORE, NULL);
                else
                        b->subscribe(b->userdata, call, ret);
                break;
        case M_GET_METRICS:
                b->get_metrics(b->userdata, ret);
                break;
        case M_GET_JOB:
                if (!job_id_valid(v[0]))
                        api_result_invalid_parameter(ret, "job");
                else if (b->get_job)
                        b->get_job(b->userdata, c, v[0], ret);
                else
                        api_result_error(ret, API_ERROR_NO_SUCH_JOB, NULL);
                break;
        case M_RELOAD:
                if (b->reload)
                        b->reload(b->userdata, c, ret);
                else {
                        json_object *p = json_object_new_object();
                        json_object_object_add(p, "reason", json_object_new_string("nothing to reload here"));
                        api_result_error(ret, API_ERROR_CONFIG_REFUSED, p);
                }
                break;
        case M_GET_RECORDS:
                get_records(b, v[0], v[1], v[2], ret);
                break;
        case M_GET_NODE_KEY:
                if (b->get_node_key)
                        b->get_node_key(b->userdata, ret);
                else
                        api_result_reason(ret, API_ERROR_NO_NODE_KEY, "this scratchd keeps no erase records");
                break;
        case M_GET_INFO:
                get_info(ret);
                break;
        case M_GET_INTERFACE_DESCRIPTION:
                get_interface_description(v[0], ret);
                break;
        }
}
