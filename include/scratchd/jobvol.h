/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "scratchd/config.h"
#include "scratchd/record.h"
#include "scratchd/tuning.h"

/* Shared mode's job volumes: a thin volume of the pool (thin.h), plain
 * dm-crypt on it under a fresh random key, a file system of its own, mounted
 * at MountPoint/JOB with its root the job user's, 0700. Each has a record of
 * its own, "<volume>.<thin id>", saved before anything is made (so that a
 * crash leaves nothing the next start cannot find and erase) and removed
 * once its volume is erased.
 *
 * Names: the thin volume "scratchd-<volume>-thin-<id>", its dm-crypt mapping
 * "scratchd-<volume>-vol-<id>": by thin id, not by job id, so that no job id
 * ever reaches a device name. */

/* "scratchd-<volume>-vol-<id>", "<volume>.<id>". */
const char *jobvol_mapping(const char *volume, uint32_t id, char *buf, size_t size);
const char *jobvol_record_name(const char *volume, uint32_t id, char *buf, size_t size);

typedef struct JobVolSpec {
        const char *state_dir;
        const ScratchConfig *sc;   /* the pool's [Scratch]: name, MountPoint=, FileSystem= */
        const Record *pool;        /* the pool's record: the data path's cipher and settings */
        uint32_t id;               /* thin id, from the pool's record */
        uint64_t size;             /* bytes, whole pool blocks */
        uint64_t generation;       /* the key generation, from the pool's record */
        const char *job, *user;  /* job NULL or "": a spare */
        uid_t uid;
        gid_t gid;
} JobVolSpec;

/* Makes the job's volume, from nothing to IN_USE and mounted, recording each
 * step in *rec. On failure undoes what it made; where that fails too the
 * volume is fenced (FAILED on file: its space stays reserved until the pool
 * is wiped) and *rec says so; `reason` gets one line either way. Returns 0
 * or a negative errno. A record that ends other than FAILED is removed on
 * failure: then rec->state is ABSENT. */
int jobvol_create(const JobVolSpec *s, Record *rec, char *reason, size_t reason_size);

/* With no job (s->job NULL or ""), jobvol_create() makes a spare: keyed and
 * formatted, CLEAN, not mounted, so that a Prepare of the default size only
 * mounts it. jobvol_assign() gives a spare to a job: mounted at
 * MountPoint/JOB, its root the user's, IN_USE. On failure the spare is
 * erased (ABSENT) or fenced. */
int jobvol_assign(const char *state_dir, const ScratchConfig *sc, Record *rec, const char *job, const char *user,
                  uid_t uid, gid_t gid, char *reason, size_t reason_size);

/* Crypto-erases a job's volume: unmount, key dropped (mapping removed), the
 * thin volume's blocks discarded where the disks take discards, the thin
 * volume deleted, its record removed (rec->state ABSENT). On failure it is
 * fenced (lazy unmount, deferred removal of the mapping) and FAILED on file
 * with the reason. `force`: a volume found busy is fenced at once rather than
 * waited for. Returns 0 or a negative errno. */
int jobvol_erase(const char *state_dir, const ScratchConfig *sc, Record *rec, char *reason, size_t reason_size);

/* Whether a job volume's record is proven by the kernel: IN_USE, its thin
 * volume live with the recorded size, its dm-crypt mapping live with the
 * recorded device number and standing on that thin volume, mounted at the
 * recorded place. */
bool jobvol_live(const ScratchConfig *sc, const Record *rec);

/* The records of the pool's job volumes, in thin id order. */
int jobvol_list(const char *state_dir, const char *volume, Record **ret, size_t *ret_n);

/* Removes every job volume of the pool and the pool itself, whatever their
 * records say, for a wipe of the pool: job mounts unmounted (a busy one is
 * -EBUSY, naming it, unless `force`: then unmounted lazily and its mapping
 * removed deferred), mappings and thin volumes removed, the pool removed, and
 * the job volumes' records deleted. What is not there is success. `detail`
 * gets one line on failure. */
int pool_teardown(const char *state_dir, const char *volume, bool force, char *detail, size_t detail_size);

/* The data path's settings of the pool's record as a CryptTuning, with the
 * strings it points to. -EINVAL if the record has none. */
typedef struct CryptTuningBuf {
        CryptTuning t;
        char cipher[64], mode[64], spec[64];
} CryptTuningBuf;

int jobvol_tuning(const Record *pool, CryptTuningBuf *ret);
