/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* scratchctl verify FILE... [--pubkey FILE]: one line per file ("FILE: OK,
 * ..." or "FILE: FAILED: why"); exits 0 when every record verifies, 1 when
 * one does not, 2 on a bad command line or key. */
int cmd_verify(char *const *files, size_t n_files, const char *pubkey_path);
