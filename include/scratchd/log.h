/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>
#include <syslog.h>

/* One logging path for the whole program: stderr, or the journal with
 * structured fields when stderr is connected to it (JOURNAL_STREAM). Keys
 * never go through here: callers log key generations, never key bytes. */

void log_open(const char *program);
void log_set_max_level(int level);   /* LOG_ERR ... LOG_DEBUG */
int log_get_max_level(void);

/* Logs and returns -|error| (or 0 when error is 0): `return log_error_errno(r, ...)`.
 * errno is set to |error| while formatting, so "%m" works. */
int log_internal(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_ERR, (e), __VA_ARGS__)

/* One step of a volume's life: what ran, on which device, how long it took, and
 * how it ended. Goes to the journal with VOLUME=, STEP=, DEVICE=, DURATION_USEC=. */
void log_step(const char *volume, const char *step, const char *device, uint64_t usec, int result,
              const char *detail);
