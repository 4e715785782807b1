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
        WipeOps ops;
} Manager;

void manager_init(Manager *m, const Config *config, const char *state_dir);

/* Brings every volume to CLEAN: keeps one the state file proves CLEAN and
 * untouched, wipes anything else. Refuses (nothing written) disks that
 * safety_check() refuses. Returns 0 if every volume ended CLEAN. */
int manager_setup(Manager *m);

/* Crypto-erases and re-keys every volume now. */
int manager_wipe(Manager *m);

/* Prints a table of every volume's state. */
int manager_status(Manager *m, FILE *out);
