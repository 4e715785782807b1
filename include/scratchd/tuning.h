/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "scratchd/config.h"
#include "scratchd/crypto-probe.h"
#include "scratchd/disk.h"

/* How many discard requests Discard=auto allows for a whole-disk discard.
 * Real NVMe and SATA SSDs take a whole disk in a handful of requests; a device
 * that can discard only a few KiB at a time (UML's ubd: 32 KiB, a 4 TiB disk is
 * 134 million requests) would make a wipe take hours, and the key change has
 * already made the data unreadable. */
#define DISCARD_AUTO_MAX_REQUESTS 65536

typedef struct CryptTuning {
        const char *cipher;       /* "aes", "xchacha12,aes" */
        const char *mode;         /* "xts-plain64", "adiantum-plain64" */
        const char *cipher_spec;  /* both, as dm-crypt and Cipher= write it: "aes-xts-plain64" */
        unsigned key_size;        /* bytes */
        unsigned sector_size;     /* dm-crypt sector: 512, 1024, 2048 or 4096 */
        bool bypass_workqueues;   /* no_read_workqueue, no_write_workqueue */
        bool allow_discards;      /* the file system's discards reach the disk */
        bool discard_on_wipe;     /* BLKDISCARD the raw disk during a wipe */
        char why[320];            /* one line: where each choice came from, for status */
} CryptTuning;

/* Chooses the dm-crypt settings for one disk from what the disk and the
 * kernel's crypto say and what the config asks. Returns 0, or -EINVAL with a
 * one-line reason when the config asks for something the disk or the kernel
 * cannot do. */
int tuning_decide(const DiskFacts *f, const CryptoFacts *c, const ScratchConfig *v, CryptTuning *ret, char *reason,
                  size_t reason_size);
