/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The one way scratchd runs another program (mkfs.*): no shell, a clean
 * environment, stdin from /dev/null, its output kept and logged only if it
 * fails. Returns 0 on exit status 0, -EPROTO on another status (with the
 * program's last output line in *ret_output if non-NULL), or a negative errno. */
int process_run(char *const argv[], char **ret_output);
