/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "scratchd/config.h"
#include "scratchd/key.h"
#include "scratchd/record.h"
#include "scratchd/stripe.h"
#include "scratchd/tuning.h"

/* The crypto-erase, step by step (docs/design.md, "The wipe, step by step"). */
typedef enum WipeStep {
        WIPE_STEP_CHECK_USERS,
        WIPE_STEP_UNMOUNT,
        WIPE_STEP_DEACTIVATE,
        WIPE_STEP_ERASE_SIGNATURES,
        WIPE_STEP_ASSEMBLE,
        WIPE_STEP_DISCARD,
        WIPE_STEP_POOL,
        WIPE_STEP_REKEY,
        WIPE_STEP_ZERO_HEAD,
        WIPE_STEP_MKFS,
        WIPE_STEP_MOUNT,
        _WIPE_STEP_MAX,
        _WIPE_STEP_INVALID = -EINVAL,
} WipeStep;

const char *wipe_step_to_string(WipeStep s);

/* Everything a wipe does to the kernel and the disk goes through here, so the
 * sequence and its failure handling are tested with fakes (tests/unit) and
 * run for real with kernel_ops (kernel-ops.c). Each returns 0 or a negative
 * errno; `detail` (where given) receives a one-line explanation on failure. */
typedef struct WipeRequest WipeRequest;
typedef struct WipeDisk WipeDisk;

typedef struct WipeOps {
        int (*find_users)(void *userdata, const char *mount_point, char **ret_users);
        /* SIGKILLs the processes of `uid` that hold what is mounted at
         * `mount_point` (holders.h), naming them in `killed`; how many. */
        int (*kill_holders)(void *userdata, const char *mount_point, uid_t uid, char *killed, size_t size);
        int (*unmount)(void *userdata, const char *mount_point, bool detach);
        int (*deactivate)(void *userdata, const char *mapping, bool deferred);
        /* Removes the data device (stripe.h); not there is success. */
        int (*disassemble)(void *userdata, const char *volume);
        /* Of one disk, checked to be the one the request names first. */
        int (*erase_signatures)(void *userdata, const char *volume, const WipeDisk *disk);
        /* Writes each disk's label where it is not already right, then makes
         * the data device over the disks' data areas, at req->device. */
        int (*assemble)(void *userdata, const WipeRequest *req);
        int (*discard)(void *userdata, const char *device);
        /* Shared mode: removes every job volume and the thin pool (jobvol.h);
         * not there is success. `force`: fencing, busy mounts go lazily. */
        int (*teardown_pool)(void *userdata, const char *volume, bool force, char *detail, size_t detail_size);
        /* Shared mode: makes the thin pool over the data device, with fresh
         * metadata (thin.h); its device number to *ret_devnum. */
        int (*build_pool)(void *userdata, const WipeRequest *req, dev_t *ret_devnum);
        int (*new_key)(void *userdata, size_t size, Secret **ret);
        int (*activate)(void *userdata, const char *device, const char *mapping, const CryptTuning *t,
                        const Secret *key, dev_t *ret_devnum);
        int (*zero_head)(void *userdata, const char *mapping);
        int (*mkfs)(void *userdata, FileSystem fs, const char *mapping, uint64_t size, char **ret_output);
        int (*mount)(void *userdata, const char *mapping, const char *mount_point, FileSystem fs);
        int (*save_state)(void *userdata, const char *name, const Record *rec);
        /* Whether the mapping is in the kernel's dm table: 1, 0, or a
         * negative errno; for the erase record's check that the old one is
         * gone. NULL: not checked. */
        int (*mapping_exists)(void *userdata, const char *mapping);
        /* How many dm devices' names start with `prefix` (a pool's job
         * volumes), or a negative errno when they cannot be listed. NULL:
         * not checked. */
        int (*mappings_with_prefix)(void *userdata, const char *prefix);
        void *userdata;
} WipeOps;

/* One of the disks under a volume. */
struct WipeDisk {
        const char *path;          /* the raw disk, "/dev/nvme1n1" */
        dev_t devnum;
        uint64_t diskseq;          /* as it was checked (disk_seq()); 0: the kernel has none */
        const char *identity;      /* for its label; NULL: the disk reports none */
};

/* What a wipe did, for its erase record (erasure.h). */
typedef struct WipeReport {
        /* Looked up right before the old mapping's removal (a pool: its job
         * volumes'): 1 there (so a key was in the kernel), 0 not there (the
         * key died with an earlier kernel: a reboot), negative: not checked. */
        int mapping_was_active;
        /* Looked up right after the old mapping was removed (before the new
         * one is made under the same name): 1 gone from the kernel's table,
         * 0 still there, negative: not checked (the wipe stopped before, or
         * the table could not be read). */
        int mapping_gone;
        bool discard_done;
        char discard_detail[200];   /* how, or why skipped */
} WipeReport;

struct WipeRequest {
        const char *name;          /* volume name, for logs and state */
        const char *mapping;       /* "scratchd-<name>" */
        const char *device;        /* the data device: "/dev/mapper/scratchd-<name>-data" */
        uint64_t size;             /* of the data device, bytes */
        const WipeDisk *disks;     /* in stripe order */
        size_t n_disks;
        StripeGeometry geometry;
        const char *mount_point;
        const char *record_mount_point;  /* as the record names it (MountPoint=); NULL: mount_point */
        FileSystem file_system;
        CryptTuning tuning;
        bool erase_signatures;     /* Expendable=yes and foreign signatures found */
        bool shared;               /* Mode=shared: a thin pool, no key, file system or mount of its own */
        uid_t kill_uid;            /* BusyPolicy=kill: the finished job's user, whose holders go; 0: none
                                    * (root's processes are never killed) */
        Tristate discard;       /* as configured, for the log */
        uint64_t discard_max_bytes;  /* as the device says, for the log */
        WipeReport *report;        /* filled in as the wipe goes; or NULL */
};

/* The request's disks, space-separated, as the record names them. */
void wipe_disk_list(const WipeRequest *req, char *buf, size_t size);

/* Whether a key of the volume whose mapping is `mapping` is in the kernel,
 * for the erase record's checks: its mapping (exclusive mode), or any of its
 * job volumes' (`shared`, MAPPING-vol-*). 1 yes, 0 no, a negative errno when
 * the table cannot be read, -ENODATA when `o` cannot tell. */
int wipe_key_in_kernel(const WipeOps *o, const char *mapping, bool shared);

/* Crypto-erases and re-keys the volume: from whatever state it is in to CLEAN
 * under generation rec->generation + 1, recording progress in `rec` through
 * ops->save_state. On failure at any step the volume is fenced (unmounted,
 * deactivated, FAILED with the reason in rec->reason) and the step is returned
 * in *ret_failed_step. Never leaves it half-ready. */
int wipe_volume(const WipeOps *ops, const WipeRequest *req, Record *rec, WipeStep *ret_failed_step);
