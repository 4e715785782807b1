/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* The mount unit's name for `where` ("/scratch/job 1" -> "scratch-job\x201.mount"). */
int pid1_unit_name(const char *where, char *buf, size_t size);

/* Mounts `what` at `where` through PID 1 (a transient mount unit, made
 * with LazyUnmount=) and waits for it; `where` is made 0755 if missing.
 * -errno, and one line in `error`. */
int pid1_mount(const char *what, const char *where, const char *type, const char *options, char *error, size_t size);

/* Stops the mount unit of `where` (its lazy unmount detaches everything
 * below it) and waits for it. Nothing mounted there is success. */
int pid1_unmount(const char *where, char *error, size_t size);

/* Has PID 1 run "umount --lazy -- `where`" (a transient oneshot service):
 * for a mount of `where` that is no mount unit of ours (made before systemd
 * ran us: the initramfs, an older scratchd), which a stop would unmount
 * without detaching what is below it. */
int pid1_lazy_unmount(const char *where, char *error, size_t size);
