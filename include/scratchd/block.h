/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Raw block device operations. Each opens the device O_EXCL, so the kernel
 * itself refuses if anything (a mounted filesystem, md, dm) holds it. */

/* BLKDISCARD the whole device. -EOPNOTSUPP if it cannot discard. */
int block_discard(const char *device, uint64_t *ret_bytes);

/* Writes `bytes` of zeros at the start and syncs: a fresh key can make random
 * ciphertext look like some old signature to blkid and mkfs. */
int block_zero_head(const char *device, size_t bytes);

/* Erases every signature libblkid finds (wipefs), for Expendable=yes disks. */
int block_erase_signatures(const char *device);
/* The same through a descriptor open for writing. */
int block_erase_signatures_fd(int fd);
