/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "scratchd/config.h"
#include "scratchd/erasure.h"
#include "scratchd/wipe.h"

/* The engine: brings a configured volume to CLEAN (its disk resolved, checked
 * by the safety rules, tuned, wiped through WipeOps). The one-shot commands
 * `scratchd setup|wipe|status` run it over every volume; the daemon's worker
 * threads run engine_run_volume() for one. */
typedef struct Engine {
        const Config *config;
        const char *state_dir;
        const char *root;    /* NULL, or where the real root is mounted (initramfs): mounts go below it */
        WipeOps ops;
        ErasureSink records;   /* where each erase's record goes */
} Engine;

void engine_init(Engine *e, const Config *config, const char *state_dir, const char *root);

/* Brings every volume to CLEAN: keeps one the state file proves CLEAN and
 * untouched, wipes anything else. Refuses (nothing written) disks that
 * safety_check() refuses. Returns 0 if every volume ended CLEAN. */
int engine_setup(Engine *e);

/* Crypto-erases and re-keys every volume now. */
int engine_wipe(Engine *e);

/* Takes the volume's lock (a file under the state directory): one scratchd at
 * a time per volume. Returns the fd that holds it, or a logged negative errno
 * (-EBUSY when another process holds it). */
int engine_lock_volume(const Engine *e, const char *name);

/* The work behind setup and wipe for one volume, without taking its lock:
 * the caller holds it. Keeps a volume whose record is proven (CLEAN, or
 * IN_USE by a job) unless `force_wipe`; wipes anything else. The volume's
 * record as it ends up goes to *ret_rec, also on failure. Each erase writes
 * its record to e->records: `trigger` is what it says asked for the erase
 * ("release", "wipe", "startup"; NULL: "wipe" when forced, else "startup"),
 * and how the writing went goes to *ret_record (NULL: not wanted; its name
 * "" when nothing was erased). Safe to call from a worker thread. */
int engine_run_volume(Engine *e, const ScratchConfig *vc, bool force_wipe, const char *trigger, Record *ret_rec,
                      ErasureOutcome *ret_record);

/* Prints every volume's state, a block each, for people. */
int engine_status(Engine *e, FILE *out);
