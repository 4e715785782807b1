/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "scratchd/key.h"
#include "scratchd/tuning.h"

/* dm-crypt through libcryptsetup, in plain mode: no header, no keyslot,
 * nothing on the disk that could unlock anything. */

/* Maps `device` as /dev/mapper/`name` under `key`. */
int dmcrypt_activate(const char *device, const char *name, const CryptTuning *t, const Secret *key);

/* Removes the mapping; the kernel drops the key. Not active is success.
 * `deferred`: if it is still open, remove it when the last user closes it. */
int dmcrypt_deactivate(const char *name, bool deferred);

/* 1 if the mapping exists, 0 if not, negative errno on error. */
int dmcrypt_is_active(const char *name);

/* "/dev/mapper/<name>" into buf. */
const char *dmcrypt_path(const char *name, char *buf, size_t size);
