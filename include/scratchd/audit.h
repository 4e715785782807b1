/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The audit trail: every transition and every state-changing call, to the
 * journal with structured fields (SCRATCHD_EVENT=, VOLUME=, JOB=, ...) and as
 * one JSON object per line to the audit log file. Key generations, never keys. */
typedef struct AuditEvent {
        /* What the daemon emits (src/daemon/volume.c, backend.c): "prepare"
         * (its end, or its refusal), "release" (the call; also for a job it
         * does not know), "wipe-requested" (a wipe call), "wipe" (a wipe's
         * end, after a wipe call or a release) and "adopt" (an adoption's end);
         * in shared mode also "job-prepare", "job-release", "spare-release",
         * "job-adopt" and "job-erase" (a job volume a pool's adoption could not
         * vouch for, erased). */
        const char *event;
        const char *volume;
        const char *job;          /* or NULL */
        const char *user;         /* the job's user, or NULL */
        uid_t caller_uid;         /* (uid_t) -1: scratchd itself */
        pid_t caller_pid;         /* 0: scratchd itself */
        const char *from, *to;    /* states, for transitions; or NULL */
        uint64_t generation;
        uint64_t duration_usec;
        const char *result;       /* "ok" or an error name */
        const char *detail;       /* or NULL */
        const char *killed;       /* processes killed (BusyPolicy=kill), each "pid (comm, uid N, why)"; or NULL */
        /* An erase's: its record's file name (erasure.h), and the generation
         * of the key it destroyed, as the record has them; NULL / 0 otherwise. */
        const char *record;
        uint64_t erased_generation;
        bool erased_generation_unknown;   /* written as null: no state named the key (after a reboot) */
        const char *record_error; /* an erase whose record could not be written: why; or NULL */
} AuditEvent;

typedef struct Audit Audit;

/* Opens the audit log for appending (its directory made 0750); NULL path:
 * journal only. A log rotated away (renamed or removed, as logrotate does)
 * is noticed at the next event, which goes to a new file at the path. */
int audit_open(const char *path, Audit **ret);
Audit *audit_close(Audit *a);
void audit_log(Audit *a, const AuditEvent *e);

/* The JSON line for `e` (tests); malloc'd, no newline. */
char *audit_format(const AuditEvent *e);
