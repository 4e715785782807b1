/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "scratchd/config.h"
#include "scratchd/wipe.h"

/* The operations on every configured volume that `scratchd setup`, `scratchd
 * wipe` and `scratchd status` run, and that the daemon will call from its loop. */
typedef struct Manager {
        const Config *config;
        const char *state_dir;
        const char *root;    /* NULL, or where the real root is mounted (initramfs): mounts go below it */
        WipeOps ops;
} Manager;

void manager_init(Manager *m, const Config *config, const char *state_dir, const char *root);

/* Brings every volume to CLEAN: keeps one the state file proves CLEAN and
 * untouched, wipes anything else. Refuses (nothing written) disks that
 * safety_check() refuses. Returns 0 if every volume ended CLEAN. */
int manager_setup(Manager *m);

/* Crypto-erases and re-keys every volume now. */
int manager_wipe(Manager *m);

/* Takes the volume's lock (a file under the state directory): one scratchd at
 * a time per volume. Returns the fd that holds it, or a logged negative errno
 * (-EBUSY when another process holds it). */
int manager_lock_volume(const Manager *m, const char *name);

/* The work behind setup and wipe for one volume, without taking its lock:
 * the caller holds it. Keeps a volume whose record is proven (CLEAN, or
 * IN_USE by a job) unless `force_wipe`; wipes anything else. The volume's
 * record as it ends up goes to *ret_rec, also on failure. Safe to call from a
 * worker thread. */
int manager_run_volume(Manager *m, const VolumeConfig *vc, bool force_wipe, VolumeRecord *ret_rec);

/* Prints every volume's state, a block each, for people. */
int manager_status(Manager *m, FILE *out);
