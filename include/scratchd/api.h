/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "scratchd/auth.h"
#include "scratchd/varlink.h"

/* The io.scratchd varlink interface: its method table, authorization and
 * parameter checks. What the methods do is the backend's (the daemon, or a
 * fake in the unit tests). */

#define API_INTERFACE "io.scratchd"
#define DEFAULT_SOCKET_PATH "/run/scratchd/io.scratchd"

/* Error names, as clients see them. */
#define API_ERROR_NOT_AUTHORIZED "io.scratchd.NotAuthorized"
#define API_ERROR_VOLUME_BUSY "io.scratchd.VolumeBusy"
#define API_ERROR_VOLUME_FAILED "io.scratchd.VolumeFailed"
#define API_ERROR_NO_SUCH_JOB "io.scratchd.NoSuchJob"
#define API_ERROR_NO_SUCH_USER "io.scratchd.NoSuchUser"
#define API_ERROR_NO_SUCH_VOLUME "io.scratchd.NoSuchVolume"
#define API_ERROR_NO_CLEAN_VOLUME "io.scratchd.NoCleanVolume"
/* Shared mode (reserve.h): NoSpace (volume, requested_bytes, free_bytes,
 * reason), the reason reserve_check()'s line; TooManyJobs (volume, max_jobs,
 * reason). Neither says the node is broken: wait, or ask for less. */
#define API_ERROR_NO_SPACE "io.scratchd.NoSpace"
#define API_ERROR_TOO_MANY_JOBS "io.scratchd.TooManyJobs"
/* Reload: the file is bad, or changes what only a restart can (reason). */
#define API_ERROR_CONFIG_REFUSED "io.scratchd.ConfigRefused"
/* Erase records (GetRecords, GetNodeKey): this scratchd keeps none, or has
 * no node key to sign them (reason). */
#define API_ERROR_RECORDS_UNAVAILABLE "io.scratchd.RecordsUnavailable"
#define API_ERROR_NO_NODE_KEY "io.scratchd.NoNodeKey"
#define API_ERROR_INVALID_MESSAGE "io.scratchd.InvalidMessage"
#define API_ERROR_TOO_MANY_CONNECTIONS "io.scratchd.TooManyConnections"
#define API_ERROR_INTERNAL "io.scratchd.InternalError"
#define API_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define API_ERROR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define API_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define API_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"

/* What a method call comes to. */
typedef struct ApiResult {
        const char *error;         /* NULL: success; else an error name above */
        json_object *parameters;   /* of the reply or error; owned; may be NULL */
        bool deferred;             /* the backend replies later (a wipe runs) */
        bool subscribe;            /* the connection now gets state changes */
} ApiResult;

void api_result_error(ApiResult *r, const char *error, json_object *parameters);
/* Sets InvalidParameter naming `parameter`. */
void api_result_invalid_parameter(ApiResult *r, const char *parameter);

/* The transport's handle of the call (transport.h): a backend that answers
 * later (r->deferred) takes a reference to it. */
typedef struct Call Call;

/* Prepare's user: by name, or by uid (UID_NONE: by name). */
#define UID_NONE ((int64_t) -1)

/* Prepare's size: bytes, > 0 (a JSON integer, checked here: anything else is
 * InvalidParameter naming "size"); 0: not given. Whether it fits is the
 * backend's (reserve_check()). */
#define SIZE_NONE UINT64_C(0)

typedef struct ApiBackend {
        void (*get_status)(void *userdata, ApiResult *r);
        void (*prepare)(void *userdata, Call *call, const Caller *c, const char *job, const char *user, int64_t uid,
                        const char *volume, uint64_t size, ApiResult *r);
        void (*release)(void *userdata, Call *call, const Caller *c, const char *job, ApiResult *r);
        /* force: a volume a job holds is wiped too (the job loses its scratch). */
        void (*wipe)(void *userdata, Call *call, const Caller *c, const char *volume, bool force, ApiResult *r);
        void (*subscribe)(void *userdata, Call *call, ApiResult *r);
        void (*get_metrics)(void *userdata, ApiResult *r);
        /* GetJob: `c` is the caller, whom the backend checks (the job's own
         * user, or a reader); NULL: NoSuchJob for every job. */
        void (*get_job)(void *userdata, const Caller *c, const char *job, ApiResult *r);
        /* Reload: NULL where there is no config to read again (ConfigRefused). */
        void (*reload)(void *userdata, const Caller *c, ApiResult *r);
        /* GetRecords: job NULL or a valid job id; since 0 or microseconds
         * since the epoch; before NULL or a record's file name (the reply's
         * continue_before). GetNodeKey. NULL: RecordsUnavailable, NoNodeKey. */
        void (*get_records)(void *userdata, const char *job, uint64_t since_usec, const char *before, ApiResult *r);
        void (*get_node_key)(void *userdata, ApiResult *r);
        void *userdata;
        gid_t read_gid, operator_gid;
        /* Whether the group database still lists a user in a group; NULL:
         * auth_group_lists_cached(). Tests give their own. */
        AuthGroupListsFn group_lists;
} ApiBackend;

/* Looks the method up, checks the caller may call it and that its parameters
 * are present, of the right type and valid, then hands it to the backend. */
void api_dispatch(const ApiBackend *b, Call *call, const Caller *c, const VarlinkCall *message, ApiResult *ret);

/* The interface description, in varlink's IDL. */
extern const char api_interface_description[];
