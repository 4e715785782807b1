/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "scratchd/label.h"

/* What the kernel (sysfs, mountinfo, /proc/swaps) and libblkid say about one
 * disk and everything stacked on it. Gathered without writing a byte; the
 * decisions made from it are pure functions (safety.c, tuning.c). */
typedef struct DiskFacts {
        char *path;                  /* canonical node, "/dev/nvme1n1" */
        char *sysname;               /* "nvme1n1" */
        dev_t devnum;
        uint64_t diskseq;            /* the kernel's sequence number of this very disk; 0: none */
        bool is_partition;
        uint64_t size;               /* bytes */
        bool rotational;
        uint64_t discard_max_bytes;  /* largest single discard; 0: none */
        unsigned logical_sector_size;
        unsigned physical_sector_size;

        bool holds_root;             /* "/" lives on it, or on something stacked on it */
        char **swaps;                /* active swap areas on it */
        char **mounts;               /* foreign mounts on it: "/data (sdb1)" */
        char **holders;              /* foreign holders: "md0", "dm-3 (vg0-home)" */
        char **signatures;           /* what libblkid found: "ext4", "gpt", "LVM2_member" */

        char *identity;              /* "wwn:... serial:...", or NULL: the disk reports neither */
        LabelStatus label_status;    /* scratchd's header at its start (label.h) */
        DiskLabel label;             /* when label_status is LABEL_VALID */
        bool head_zero;              /* the first LABEL_AREA bytes read as zeros */
        bool tail_zero;              /* and the last LABEL_AREA bytes */

        char *our_data;              /* our data device (stripe.h) is active on it */
        dev_t our_data_devnum;
        char *our_mapping;           /* our dm-crypt mapping is active on it (on our data device,
                                      * or, as scratchd before labels made it, on the disk itself) */
        dev_t our_mapping_devnum;
        bool our_pool;               /* shared mode's pool (or job volumes) stands on our data device */
        char **our_mounts;           /* where our mapping, or a job volume of our pool, is mounted */
} DiskFacts;

void disk_facts_done(DiskFacts *f);

/* Expands paths and globs to canonical block device nodes, in order, without
 * duplicates. On error *ret_error names the pattern and what to do. */
int disk_resolve(char *const *patterns, char ***ret_paths, char **ret_error);

/* Local, non-rotational, non-removable whole disks that hold neither / nor swap
 * nor anything mounted: the candidates for Devices=auto. */
int disk_discover_auto(char ***ret_paths);

/* Gathers the facts about `path`. `mapping` is the name our dm-crypt mapping of
 * it would have (and `mapping`-data our data device's), so that our own
 * devices are told apart from foreign holders. A disk that cannot be read
 * fails the probe: a check that cannot see is not a pass. */
int disk_probe(const char *path, const char *mapping, DiskFacts *ret);

/* The disk's sequence number (BLKGETDISKSEQ, Linux 5.15): unique to one
 * disk for the kernel's life, so a disk swapped in under the same name and
 * device number has another. 0 where the kernel has none. */
uint64_t disk_seq(int fd);

/* The disk's identity from the kernel: "wwn:<WWN or NVMe EUI/NGUID>" and
 * "serial:<serial>[/n<NVMe namespace id>]", blank-separated, whichever it
 * has; NULL (and 0) when it reports neither. */
int disk_identity(const char *sysname, char **ret);

/* What an erase record says of a disk (erasure.h): its model, serial and
 * WWN as sysfs has them (udev's ID_MODEL, ID_SERIAL_SHORT and ID_WWN where
 * sysfs says nothing), "" where neither knows; its size in bytes. `path`: the
 * disk's node ("/dev/nvme1n1") or a link to it. */
typedef struct DiskMedia {
        char model[128];
        char serial[128];
        char wwn[128];
        uint64_t size;
} DiskMedia;
int disk_media(const char *path, DiskMedia *ret);
