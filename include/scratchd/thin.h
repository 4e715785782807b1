/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Shared mode's pool: dm-thin over the data device (stripe.h), through
 * libdevmapper. The data device is cut in two with dm-linear: the pool's
 * metadata at its start, the pool's data after it; the thin pool stands on
 * both. Each job gets a thin volume of the pool, dm-crypt goes on that.
 *
 * Names (each within DM_NAME_LEN) and dm uuids, so that nothing of anyone
 * else's is ever taken for ours:
 *   scratchd-<volume>-tmeta     SCRATCHD-TMETA-<volume>
 *   scratchd-<volume>-tdata     SCRATCHD-TDATA-<volume>
 *   scratchd-<volume>-pool      SCRATCHD-POOL-<volume>
 *   scratchd-<volume>-thin-<id> SCRATCHD-THIN-<volume>-<id>
 *
 * The pool's metadata is built from nothing at every start (its superblock
 * zeroed before the pool is made): the disks held only ciphertext under keys
 * that died with the last boot. It says which blocks belong to which thin
 * id, nothing of their content, which is ciphertext under the job's key. */

#define THIN_BLOCK_DEFAULT (UINT64_C(256) << 10)   /* the stripe's chunk: one block, one chunk */
#define THIN_ID_MAX ((UINT32_C(1) << 24) - 1)        /* dm-thin's device ids are 24 bits */

typedef struct ThinPlan {
        uint64_t meta_size;     /* bytes at the data device's start: the pool's metadata */
        uint64_t data_size;     /* bytes after it: the pool's data, whole blocks */
        uint64_t block_size;    /* bytes: a multiple of 64 KiB, 64 KiB to 1 GiB */
} ThinPlan;

/* Plans a pool over a data device of `device_size` bytes with blocks of
 * `block` bytes (0: THIN_BLOCK_DEFAULT). The metadata gets room for every
 * block of the device mapped twice over (dm-thin needs about 48 bytes a
 * mapping; snapshots never happen here), at least 4 MiB, rounded up to whole
 * blocks, and at most what dm-thin uses of a metadata device, 15.875 GiB
 * (255 x 16320 blocks of 4 KiB; the kernel leaves the rest of a larger one
 * unused), rounded down to whole blocks. The data is the rest, rounded down
 * to whole blocks. -EINVAL with `why` (one line) when the device is too small
 * for metadata and one block, or `block` is not valid. */
int thin_plan(uint64_t device_size, uint64_t block, ThinPlan *ret, char *why, size_t why_size);

/* The dm tables, for tests and logs: the metadata and data parts over the
 * data device `data_dev` ("0 SECTORS linear MAJ:MIN OFFSET"), and the pool's
 * over the two parts once made ("0 SECTORS thin-pool TMETA TDATA
 * BLOCK_SECTORS 0 1 skip_block_zeroing": low water mark 0, since the pool is
 * never overcommitted; blocks need no zeroing, since each job reads through
 * its own fresh key, so an old block reads as noise, and a block never
 * written reads as zeros). */
int thin_part_tables(const ThinPlan *p, dev_t data_dev, char *meta, size_t meta_size, char *data, size_t data_size);
int thin_pool_table(const ThinPlan *p, dev_t tmeta_dev, dev_t tdata_dev, char *buf, size_t size);

/* "scratchd-<volume>-pool", "scratchd-<volume>-thin-<id>" into buf. */
const char *thin_pool_name(const char *volume, char *buf, size_t size);
const char *thin_name(const char *volume, uint32_t id, char *buf, size_t size);

/* 0 if every name and dm uuid above fits what the kernel takes for
 * `volume` (with any id), -ENAMETOOLONG if not. Every function below that
 * makes or finds a device answers -ENAMETOOLONG for such a volume too. */
int thin_names_check(const char *volume);

/* Makes the pool over `data_dev` with fresh metadata: the metadata and data
 * parts, the metadata's first 4 KiB zeroed (so the kernel formats it anew),
 * then the pool. -EEXIST if any of the three exists already. On failure,
 * removes what it made. */
int thin_pool_create(const char *volume, dev_t data_dev, const ThinPlan *p, dev_t *ret_pool_devnum);

/* Removes the pool and its two parts; what is not there is success. -EBUSY
 * if a thin volume (or anyone) still holds the pool. */
int thin_pool_remove(const char *volume);

/* 1 and the pool's device number if our pool (by name and uuid) is live; 0
 * if not; negative on error. */
int thin_pool_live(const char *volume, dev_t *ret_devnum);

/* The pool's use, from its status line: data and metadata blocks used and in
 * all, as bytes. -ENODEV if it is not live. A pool that failed (status
 * "Fail": a metadata or data device error) says nothing more: read_only,
 * and all four 0. */
typedef struct ThinPoolUsage {
        uint64_t data_used, data_total;
        uint64_t meta_used, meta_total;
        bool read_only;          /* the pool switched to read-only or failed: out of space, metadata error */
} ThinPoolUsage;
int thin_pool_usage(const char *volume, ThinPoolUsage *ret);

/* The parsing behind thin_pool_usage(), for tests: a thin-pool status line
 * ("<transaction> <meta used>/<meta total> <data used>/<data total>
 * <held root> rw|ro|out_of_data_space ...", or "Fail"), with data blocks of
 * `block_size` bytes. -EBADMSG for a line it cannot read, -EIO for "Error"
 * (the kernel could not read the metadata for it). */
int thin_pool_status_parse(const char *status, uint64_t block_size, ThinPoolUsage *ret);

/* Makes thin volume `id` in the pool ("create_thin" message), and its device
 * of `size` bytes (a multiple of 512). -EEXIST if the id is taken or the
 * device exists (then the pool is not told anything); -ENODEV if our pool is
 * not live. On failure, deletes what it made. */
int thin_create(const char *volume, uint32_t id, uint64_t size, dev_t *ret_devnum);

/* 1 and the device number and size (bytes) if thin volume `id`'s device is
 * live and ours; 0 if not. */
int thin_live(const char *volume, uint32_t id, dev_t *ret_devnum, uint64_t *ret_size);

/* Removes thin volume `id`'s device (not there: fine; -EBUSY if open) and
 * deletes the id from the pool ("delete" message; an id the pool does not
 * know is fine; so is no pool of ours, since the next one starts empty), so
 * that its blocks go back to the pool. */
int thin_remove(const char *volume, uint32_t id);

/* Removes thin volume `id`'s device only, leaving its id in the pool's
 * metadata: for a teardown that removes the pool next (a failed pool, which
 * answers every message EOPNOTSUPP, must still come down). */
int thin_remove_device(const char *volume, uint32_t id);
