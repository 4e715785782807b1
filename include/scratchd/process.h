/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The one way scratchd runs another program (mkfs.*): no shell, a clean
 * environment, stdin from /dev/null, its output kept and logged only if it
 * fails. Returns 0 on exit status 0, -EPROTO on another status (with the line
 * of its output that says why, see process_reason_line(), in *ret_output if
 * non-NULL), or a negative errno. */
int process_run(char *const argv[], char **ret_output);

/* The line of a failed mkfs's output that says why: its first non-blank line,
 * without surrounding blanks; "" for an output of blanks only. NULL: out of
 * memory. */
char *process_reason_line(const char *output);
