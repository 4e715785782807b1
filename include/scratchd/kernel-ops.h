/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "scratchd/wipe.h"

/* The real WipeOps: libcryptsetup, ioctls, mkfs, mount(2), and state files
 * under `state_dir`. */
void kernel_ops_init(WipeOps *ops, const char *state_dir);
