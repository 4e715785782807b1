/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "scratchd/config.h"
#include "scratchd/erasure.h"
#include "scratchd/record.h"

/* The daemon's long work on one volume, run in a worker thread so that the
 * event loop keeps answering: whatever may block (mkfs on a big disk,
 * libcryptsetup, udev, a user lookup through NSS that may be LDAP or SSSD, the
 * job directory on the scratch file system) happens here. */

typedef enum WorkKind {
        WORK_NONE,
        WORK_ADOPT,     /* keep what the record proves, wipe anything else */
        WORK_PREPARE,   /* look the job's user up, make the job's directory */
        WORK_RELEASE,   /* crypto-erase after a job */
        WORK_WIPE,      /* crypto-erase because an operator asked */
        WORK_JOB_CREATE,   /* shared mode: make a job's own volume */
        WORK_JOB_RELEASE,  /* shared mode: crypto-erase a job's own volume */
        WORK_JOB_ASSIGN,   /* shared mode: give the spare to a job */
        _WORK_MAX,
        _WORK_INVALID = -EINVAL,
} WorkKind;

const char *work_kind_to_string(WorkKind w);

/* What the worker is told; it reads nothing else. */
typedef struct WorkOrder {
        WorkKind kind;
        const ScratchConfig *sc;
        /* WORK_PREPARE */
        char job[65];
        char user[65];           /* by name, or */
        uid_t uid;               /* by uid when user is "" */
        /* WORK_JOB_CREATE */
        uint64_t size;
        uint32_t thin_id;
        uint64_t generation;
        Record pool;             /* the pool's record: its data path settings */
        /* WORK_JOB_RELEASE, WORK_JOB_ASSIGN */
        Record job_rec;
} WorkOrder;

/* What the worker writes; the loop reads it after joining the thread. */
typedef struct WorkResult {
        int r;                   /* 0 or a negative errno */
        Record rec;              /* WORK_ADOPT, _RELEASE, _WIPE: the record as it ended up */
        /* WORK_PREPARE */
        const char *error;       /* on failure: the io.scratchd error name */
        char user[65];           /* the user's name and ids as NSS gave them */
        uid_t uid;
        gid_t gid;
        char reason[256];        /* on failure, one line */
        /* WORK_ADOPT, WORK_WIPE of a pool: its job volumes as they ended up
         * (kept, or fenced); malloc'd, the loop takes them. */
        Record *jobs;
        size_t n_jobs;
        /* Processes the work killed (BusyPolicy=kill), as holders_format()
         * names them, for the audit event of its end. */
        char killed[1024];
        /* Each erase's record (erasure.h): the pool's or volume's, or the job
         * volume's; name "" when nothing was erased. */
        ErasureOutcome erasure;
        /* WORK_ADOPT of a pool: the job volumes it erased (those it could not
         * vouch for), each with its record, for an audit event each;
         * malloc'd, the loop takes them. */
        struct ErasedJob {
                char job[65];
                char user[65];
                int r;                   /* the erase's: 0, or it failed (the job volume fenced) */
                ErasureOutcome erasure;
        } *erased;
        size_t n_erased;
        unsigned erasures_recorded;  /* records written, this one included */
        unsigned erasure_failures;   /* records that could not be written, this one included */
} WorkResult;

/* The worker's body, called in the worker thread: a function pointer, so
 * that unit tests drive the daemon with a fake one. */
typedef struct VolumeWorker {
        void (*run)(void *userdata, const WorkOrder *o, WorkResult *ret);
        void *userdata;
} VolumeWorker;

/* The real body: setup and wipes through the engine (userdata: Engine *),
 * Prepare through worker_prepare(). */
void worker_run(void *userdata, const WorkOrder *o, WorkResult *ret);

/* Prepare's part: resolves the user (NSS) and makes MountPoint/JOB, 0700,
 * owned by the user, without following links. An existing directory of
 * that user's is taken as is (a Prepare retried after a restart). */
void worker_prepare(const WorkOrder *o, WorkResult *ret);
