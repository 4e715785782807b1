/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* scratchd's own header at the start of every disk it owns: positive evidence
 * that the disk is scratchd's, written in the clear and holding nothing
 * secret. The data area (what dm-linear or dm-stripe maps, and dm-crypt
 * encrypts) begins LABEL_AREA bytes in, so no wipe, discard or file system
 * ever reaches the header.
 *
 * On-disk layout, little-endian, LABEL_SIZE bytes at offset 0 (the rest of
 * the LABEL_AREA is zeros):
 *     0  magic "SCRATCHD-LABEL\0\0" (16 bytes)
 *    16  version (u32)          20  header size in bytes (u32)
 *    24  crc32 of the LABEL_SIZE bytes with this field zero (u32)
 *    28  index in the stripe (u32)   32  disks in the stripe (u32)
 *    36  reserved, zero (u32)
 *    40  data offset, bytes (u64)    48  chunk size, bytes (u64)
 *    56  created, realtime seconds (u64)
 *    64  pool id (16 random bytes, the same on every disk of one stripe)
 *    80  the disk's identity, NUL-padded (LABEL_IDENTITY_MAX bytes):
 *        blank-separated tokens "wwn:..." and "serial:...[/nNSID]", or
 *        empty when the disk reports neither
 * A version other than LABEL_VERSION is never parsed past the version field. */

#define LABEL_MAGIC "SCRATCHD-LABEL\0\0"
#define LABEL_MAGIC_SIZE 16
#define LABEL_VERSION 1
#define LABEL_SIZE 4096
#define LABEL_AREA (UINT64_C(1) << 20)
#define LABEL_IDENTITY_MAX 128

typedef struct DiskLabel {
        uint32_t version;
        uint32_t index;                        /* place in the stripe, from 0 */
        uint32_t count;                        /* disks in the stripe */
        uint64_t data_offset;                  /* bytes; LABEL_AREA */
        uint64_t chunk_size;                   /* bytes; 0 for a single disk */
        uint64_t created;                      /* realtime seconds */
        uint8_t pool_id[16];
        char identity[LABEL_IDENTITY_MAX];     /* "wwn:... serial:...", either, or "" */
} DiskLabel;

typedef enum LabelStatus {
        LABEL_NONE,             /* no magic: not scratchd's header */
        LABEL_VALID,            /* ours, this version, checksum right */
        LABEL_CORRUPT,          /* our magic, but a bad checksum or impossible fields */
        LABEL_UNKNOWN_VERSION,  /* our magic, another version: a newer scratchd wrote it */
} LabelStatus;

/* Encodes `l` into LABEL_SIZE bytes at `buf` (version and magic filled in). */
void label_encode(const DiskLabel *l, uint8_t buf[static LABEL_SIZE]);

/* Decodes the first `size` bytes of a disk (at least LABEL_SIZE for anything
 * but LABEL_NONE). *ret is filled for LABEL_VALID, and its version for
 * LABEL_UNKNOWN_VERSION. */
LabelStatus label_decode(const uint8_t *buf, size_t size, DiskLabel *ret);

/* Whether the label of a disk whose identity is `identity` (NULL or "": it
 * reports none) names this very disk: one token in common (a WWN, or a
 * serial), or neither has any. */
bool label_names_disk(const DiskLabel *l, const char *identity);

/* Reads the label of `device` (opened read-only). Returns the status, or a
 * negative errno when the device cannot be read: a check that cannot see is
 * not a pass. */
int label_read(const char *device, DiskLabel *ret);

/* Writes `l` at the start of `device` (O_EXCL) followed by zeros to
 * LABEL_AREA, and syncs. */
int label_write(const char *device, const DiskLabel *l);
/* The same, through `fd` (open for writing). */
int label_write_fd(int fd, const DiskLabel *l);
