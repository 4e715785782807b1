/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "scratchd/config.h"

/* The smallest disk (bytes) that fs_make() makes `fs` on. */
uint64_t file_system_min_size(FileSystem fs);

/* 0 if `fs` can be made on a disk of `size` bytes; otherwise -ENOSPC and, in
 * `reason`, one line that names `device`, its size, the minimum and the
 * FileSystem= that would fit. */
int fs_check_size(FileSystem fs, const char *device, uint64_t size, char *reason, size_t reason_size);

/* Makes a filesystem for scratch: no discard pass (the key change already
 * erased everything), lazy metadata init, a log/journal small enough that
 * making it does not grow with the disk. */
int fs_make(FileSystem fs, const char *device, uint64_t size, char **ret_output);

/* Under systemd, mounts are made and unmounted by PID 1 (transient mount
 * units); otherwise by a child of ours that joins PID 1's namespace. */
void fs_mount_through_pid1(bool on);

/* Mounts `device` at `where` (created 0755 if missing) nodev,nosuid. */
int fs_mount(const char *device, const char *where, FileSystem fs);

/* The file system `device` carries (xfs or ext4), as libblkid reads it; or
 * `fallback` where it reads none of those. A job volume made before a
 * reload or restart changed FileSystem= is mounted as what it is. */
FileSystem fs_probe_type(const char *device, FileSystem fallback);

/* Unmounts `where`; not mounted is success. `detach`: lazily, if busy. */
int fs_unmount(const char *where, bool detach);
/* The same for the file system of `dev` (0: whatever is on top at `where`):
 * what a user mounted over it there is detached first. */
int fs_unmount_device(const char *where, dev_t dev, bool detach);

/* Removes the empty directory `where` in PID 1's mount namespace, where
 * fs_mount() made it (the unit's own namespace sees / read-only); not there
 * is success. */
int fs_remove_mount_point(const char *where);

/* Under systemd, a mount that was there before our mount namespace was
 * made (by the initramfs, or by us before a restart) is read-only in it,
 * as ProtectSystem=strict makes everything then mounted; this makes our
 * view of `where` writable again (ours only). 1 if it did, 0 if there was
 * nothing to do (or no systemd), -errno. */
int fs_writable_here(const char *where);

/* Where job volumes are mounted below `where` and mounts are PID 1's:
 * a small tmpfs at `where` (0711), unless something is mounted at or below
 * it, so that their mount points can be removed again (our own view of the
 * root file system is read-only). Otherwise nothing. */
int fs_prepare_mount_root(const char *where);

/* What is mounted at `where`: 1 and its device, 0 if nothing. */
int fs_mounted_device(const char *where, dev_t *ret);

/* Processes whose cwd, root, open files or mappings are on the filesystem of
 * device `dev`: "123 (bash), 456 (python3)" into *ret, or NULL if none. */
int fs_find_users(dev_t dev, char **ret);
