/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scratchd/cipher.h"

typedef enum FileSystem {
        FILE_SYSTEM_XFS,
        FILE_SYSTEM_EXT4,
        _FILE_SYSTEM_MAX,
        _FILE_SYSTEM_INVALID = -EINVAL,
} FileSystem;

/* A setting that is on, off, or chosen from what the machine says (tuning.c). */
typedef enum Tristate {
        TRISTATE_AUTO,
        TRISTATE_YES,
        TRISTATE_NO,
        _TRISTATE_MAX,
        _TRISTATE_INVALID = -EINVAL,
} Tristate;

const char *file_system_to_string(FileSystem f);
FileSystem file_system_from_string(const char *s);
const char *tristate_to_string(Tristate d);
Tristate tristate_from_string(const char *s);

/* Mode=: one volume for one job at a time, or a pool with a volume per job. */
typedef enum ScratchMode {
        SCRATCH_MODE_EXCLUSIVE,
        SCRATCH_MODE_SHARED,
        _SCRATCH_MODE_MAX,
        _SCRATCH_MODE_INVALID = -EINVAL,
} ScratchMode;

const char *scratch_mode_to_string(ScratchMode m);
ScratchMode scratch_mode_from_string(const char *s);

/* BusyPolicy=: what a release does with processes that still hold the
 * finished job's volume. */
typedef enum BusyPolicy {
        BUSY_POLICY_KILL,       /* SIGKILL those of the job's user; others' make it fence */
        BUSY_POLICY_REFUSE,     /* kill none: the release fences, naming them */
        _BUSY_POLICY_MAX,
        _BUSY_POLICY_INVALID = -EINVAL,
} BusyPolicy;

const char *busy_policy_to_string(BusyPolicy b);
BusyPolicy busy_policy_from_string(const char *s);

/* JobCheck=: how the daemon tells whether a volume's job still runs on the
 * node (jobcheck.h); a job that does not is stale. */
typedef enum JobCheck {
        JOB_CHECK_NONE,         /* no check: no volume is ever stale */
        JOB_CHECK_SLURM,        /* the job's cgroup, which slurmstepd makes and removes */
        _JOB_CHECK_MAX,
        _JOB_CHECK_INVALID = -EINVAL,
} JobCheck;

const char *job_check_to_string(JobCheck j);
JobCheck job_check_from_string(const char *s);

/* JobSize=: bytes, or a share of the pool in percent (reserve.h). */
typedef struct JobSize {
        uint64_t bytes;          /* 0 with percent, or when not set */
        unsigned percent;        /* 1..100; 0: bytes, or not set */
} JobSize;

#define MAX_JOBS_DEFAULT 8
#define MAX_JOBS_MAX 256

typedef struct ScratchConfig {
        char *name;            /* "scratch": names the mapping, state file and logs */
        char **devices;        /* Devices=: paths, globs or "auto", as written */
        char *mount_point;
        FileSystem file_system;
        bool expendable;
        Tristate discard;            /* Discard=: discard the raw disk during a wipe */
        unsigned sector_size;        /* SectorSize=; 0: chosen from the device */
        CipherChoice cipher;         /* Cipher=; see cipher.h */
        Tristate bypass_workqueues;  /* BypassWorkqueues=: no_read/no_write_workqueue */
        Tristate allow_discards;     /* AllowDiscards=: the file system's discards reach the disk */
        ScratchMode mode;            /* Mode=, default exclusive */
        JobSize job_size;            /* JobSize= (shared): a job's size when its Prepare names none;
                                      * unset: the pool divided by MaxJobs= */
        unsigned max_jobs;           /* MaxJobs= (shared): job volumes at once, 1..MAX_JOBS_MAX */
        BusyPolicy busy_policy;      /* BusyPolicy=, default kill */
} ScratchConfig;

typedef struct DaemonConfig {
        unsigned socket_mode;               /* SocketMode=, default 0666 */
        unsigned idle_timeout_sec;          /* IdleTimeoutSec=, default 30 */
        unsigned work_timeout_sec;          /* WorkTimeoutSec=, default 300: a prepare, release or wipe past it fails */
        unsigned max_connections;           /* MaxConnections=, default 256 */
        unsigned max_connections_per_user;  /* MaxConnectionsPerUser=, default 32 */
        char *audit_log;                    /* AuditLog=, JSON lines; NULL: off */
        char *metrics_directory;            /* MetricsDirectory=, node_exporter textfiles; NULL: off */
        JobCheck job_check;                 /* JobCheck=, default none */
        unsigned stale_after_sec;           /* StaleAfterSec=, default 600: gone this long, the volume is stale */
        bool release_stale;                 /* ReleaseStale=, default no: a stale volume is released */
        unsigned records_keep_days;         /* RecordsKeepDays=, default 400: erase records older go; 0: no limit */
        unsigned records_keep_count;        /* RecordsKeepCount=, default 100000: only the newest stay; 0: no limit */
} DaemonConfig;

#define DEFAULT_AUDIT_LOG "/var/log/scratchd/audit.log"

typedef struct Config {
        ScratchConfig *scratch;      /* one per [Scratch] section */
        size_t n_scratch;
        char *read_group;
        char *operator_group;
        DaemonConfig daemon;
} Config;

/* Loads PATH, then PATH's directory's conf.d/\*.conf in lexical order, each
 * overriding what came before (a list key set to empty clears the list).
 * Returns 0, or a negative errno with *ret_error set to one line naming the
 * file, the line and the key, and what to do. */
int config_load(const char *path, Config **ret, char **ret_error);

/* Same, from a string (tests, fuzzers). `name` stands for the file in errors. */
int config_load_string(const char *name, const char *text, Config **ret, char **ret_error);

/* Whether the running daemon can take `new` in place of `old` (a reload):
 * 0, with the keys that differ in `changed` ("Cipher=, WorkTimeoutSec=", or
 * "" when none do); or -EINVAL with *ret_error one line naming the first
 * key that only a restart can change (the volume's name, disks, mount point
 * and mode; SocketMode=). */
int config_compare(const Config *old, const Config *new, char *changed, size_t size, char **ret_error);

Config *config_free(Config *c);
static inline void config_freep(Config **c) {
        config_free(*c);
}
#define _cleanup_config_free_ __attribute__((cleanup(config_freep)))

/* The dm-crypt mapping name of a volume: "scratchd-<name>". */
#define MAPPING_PREFIX "scratchd-"
