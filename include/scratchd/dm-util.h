/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The few libdevmapper calls scratchd makes itself (the data device,
 * stripe.c; the thin pool and its volumes, thin.c), behind one lock:
 * libdevmapper is not thread-safe, and worker threads make and remove
 * devices side by side. Each function takes the lock for its whole use of
 * the library. Names longer than the kernel takes (DM_NAME_LEN, DM_UUID_LEN,
 * counting the NUL) are -ENAMETOOLONG; a device of `name` that is not there
 * is -ENODEV, where it is an error. */

/* One line of a dm table, without its start: the targets of a device follow
 * one another from sector 0. */
typedef struct DmTarget {
        uint64_t sectors;
        const char *type;       /* "linear", "striped", "thin-pool", "thin" */
        const char *params;     /* what follows the type in the table line */
} DmTarget;

/* Creates device `name` with dm uuid `uuid` and the `n` targets, and returns
 * its device number. Its /dev/mapper node is there on return. -EEXIST if a
 * device of that name (or uuid) exists already. */
int dm_device_create(const char *name, const char *uuid, const DmTarget *targets, size_t n, dev_t *ret_devnum);

/* Removes device `name`; not there is success. Refuses (-EPERM, with a
 * logged one-line error that names both uuids) a device whose dm uuid is not
 * `uuid`: one that took our name is someone else's. -EBUSY at once if it is
 * open (no retries). */
int dm_device_remove(const char *name, const char *uuid);

/* 1 if device `name` exists, with its device number, its dm uuid ("" when it
 * has none) into `uuid` and its length in sectors (the sum of its targets'),
 * each where asked for (NULL: not wanted); 0 if it does not exist. */
int dm_device_info(const char *name, dev_t *ret_devnum, char *uuid, size_t uuid_size, uint64_t *ret_sectors);

/* Sends `message` to device `name`'s target at sector 0. What the target
 * answers, as a negative errno (-EEXIST for dm-thin's "create_thin" of a
 * taken id, -ENODATA for its "delete" of an unknown one). */
int dm_device_message(const char *name, const char *message);

/* The first target's status (DM_DEVICE_STATUS) or table (DM_DEVICE_TABLE)
 * parameters: what follows "<start> <length> <type> " in `dmsetup status`
 * or `dmsetup table`. The type into `type`, where given. -ENOBUFS if a
 * buffer is too small, -ENODATA if the device has no table loaded. */
int dm_device_status(const char *name, char *type, size_t type_size, char *buf, size_t size);
int dm_device_table(const char *name, char *type, size_t type_size, char *buf, size_t size);

/* The lock itself, for libcryptsetup's calls (dmcrypt.c): libcryptsetup
 * drives libdevmapper too, and its crypt_free() calls dm_lib_release(), which
 * closes the control fd another thread may be using. */
void dm_lock_acquire(void);
void dm_lock_release(void);
