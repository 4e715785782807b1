/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The data device under dm-crypt: the disks' data areas (each after its
 * label, label.h) as one block device, through libdevmapper. One disk is
 * mapped with dm-linear, several with dm-striped. Named
 * "scratchd-<name>-data", with the dm uuid "SCRATCHD-DATA-<name>", so that
 * disk_probe() tells it from anyone else's holder. */

#define STRIPE_CHUNK_DEFAULT (UINT64_C(256) << 10)   /* XFS caps its log stripe unit at 256 KiB */
#define STRIPE_DISKS_MAX 32
#define STRIPE_UUID_PREFIX "SCRATCHD-DATA-"

typedef struct StripeGeometry {
        size_t n_disks;
        uint64_t data_offset;   /* bytes from each disk's start: LABEL_AREA */
        uint64_t chunk;         /* bytes; 0 with one disk (dm-linear) */
        uint64_t leg_size;      /* bytes used on each disk: the smallest data area, whole chunks */
        uint64_t size;          /* of the data device: n_disks * leg_size */
} StripeGeometry;

/* Plans the data device over disks of the given sizes (bytes). `chunk`: a
 * power of two, at least 4 KiB. One disk: its whole data area, unrounded but
 * to 512-byte sectors. Several: each disk contributes the smallest disk's data
 * area, rounded down to whole chunks. -EINVAL with `why` (one line) when it
 * cannot be done: no disk, too many, a disk no larger than its label area or
 * than one chunk, a bad chunk. */
int stripe_plan(const uint64_t *sizes, size_t n, uint64_t chunk, StripeGeometry *ret, char *why, size_t why_size);

/* "scratchd-<name>-data" into buf. */
const char *stripe_name(const char *volume, char *buf, size_t size);

/* The dm table line for `disks` (major:minor of each, in stripe order). */
int stripe_table(const StripeGeometry *g, const dev_t *disks, char *buf, size_t size);

/* Creates /dev/mapper/scratchd-<volume>-data over `disks` (in order), and
 * returns its device number. Fails with -EEXIST if it exists already. */
int stripe_activate(const char *volume, const StripeGeometry *g, const dev_t *disks, dev_t *ret_devnum);

/* Removes it; not there is success. -EBUSY if something still holds it. */
int stripe_deactivate(const char *volume);
