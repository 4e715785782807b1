/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "scratchd/config.h"
#include "scratchd/disk.h"

/* How many discard requests Discard=auto allows for a whole-disk discard.
 * Real NVMe and SATA SSDs take a whole disk in a handful of requests; a device
 * that can discard only a few KiB at a time (UML's ubd: 32 KiB, a 4 TiB disk is
 * 134 million requests) would make a wipe take hours, and the key change has
 * already made the data unreadable. */
#define DISCARD_AUTO_MAX_REQUESTS 65536

typedef struct CryptTuning {
        const char *cipher;       /* "aes" */
        const char *mode;         /* "xts-plain64" */
        unsigned key_size;        /* bytes */
        unsigned sector_size;     /* dm-crypt sector: 512 or 4096 */
        bool bypass_workqueues;   /* no_read_workqueue, no_write_workqueue */
        bool allow_discards;
        bool discard_on_wipe;     /* BLKDISCARD the raw disk during a wipe */
} CryptTuning;

/* Chooses the dm-crypt settings for one disk from what the disk says and what
 * the config asks. Returns 0, or -EINVAL with a one-line reason when the
 * config asks for something the disk cannot do. */
int tuning_decide(const DiskFacts *f, const VolumeConfig *v, CryptTuning *ret, char *reason, size_t reason_size);
