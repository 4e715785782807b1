/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scratchd/config.h"

/* Shared mode's space accounting. A job volume's size is a reservation: the
 * sum of the live job volumes' sizes never exceeds the pool, so no job can
 * fill another's space (the thin pool is never overcommitted), and MaxJobs=
 * bounds their count. Pure functions: the daemon owns the numbers. */

/* The smallest job volume: what XFS and ext4 both format with room to spare. */
#define JOB_SIZE_MIN (UINT64_C(300) << 20)

/* Parses a size as JobSize= and `scratchctl prepare --size` take it: a
 * number of bytes with an optional binary suffix K, M, G, T or P (KiB ...;
 * "100G"; "1.5T" is refused: whole numbers only, and no blanks, signs or
 * lower case), or, where `allow_percent`, "N%" with N from 1 to 100. Sets
 * *ret to bytes or to a percent, never both. Returns 0; -ERANGE for a number
 * out of range (negative, zero, 16 EiB or more, "0%", "101%"); -EINVAL for
 * anything else (junk, a fraction, a percent where not allowed). `why` gets
 * one line quoting `s` and saying what to write ("'12X' is not a size; write
 * bytes, or a whole number with K, M, G, T or P (such as 100G)", "'1.5T' is
 * not a whole number; write 1536G"). It does not know JOB_SIZE_MIN: callers
 * refuse a size below it, and reserve_check() does. */
int job_size_parse(const char *s, bool allow_percent, JobSize *ret, char *why, size_t why_size);

/* "100 GiB" or "25%" into buf: exact, in the largest unit that divides the
 * bytes ("1536 GiB", "12345 bytes"); "not set" for neither. */
const char *job_size_format(const JobSize *js, char *buf, size_t size);

/* A job's size in bytes for a pool of `pool_bytes`, rounded down to whole
 * `granule`s (the thin pool's block; 0: no rounding): JobSize= as bytes, as
 * a share of the pool, or, when not set (or `js` is NULL), the pool divided by
 * `max_jobs` (0: MAX_JOBS_DEFAULT). Neither bounded by the pool nor by
 * JOB_SIZE_MIN: reserve_check() says so. */
uint64_t job_size_resolve(const JobSize *js, uint64_t pool_bytes, unsigned max_jobs, uint64_t granule);

typedef struct Reservations {
        uint64_t pool_bytes;       /* what job volumes may take in all */
        uint64_t reserved_bytes;   /* the sizes of the live job volumes (fenced ones too), and the spare */
        unsigned n_jobs;           /* live job volumes, fenced ones too */
        unsigned max_jobs;         /* MaxJobs= */
} Reservations;

/* Whether a job volume of `want` bytes may be made now. Returns 0 if it
 * fits (exactly the free space fits); else, the first that holds of:
 * -EINVAL if `want` is below JOB_SIZE_MIN or above the whole pool (it could
 * never fit); -EUSERS if MaxJobs= job volumes are live; -ENOSPC if the pool
 * has too little unreserved space. `why` gets one line saying what is free
 * and what to do, the numbers as format_bytes() writes them and a size to
 * ask for as --size takes it. With -ENOSPC it starts with what is free, so
 * that it reads after "no space for 100 GiB on scratch: ": "40.0 GiB free of
 * 1.8 TiB (3 job volumes live); ask for 40G or less, or wait for a job to
 * end"; with -EUSERS: "8 job volumes are live, MaxJobs=8; wait for a job to
 * end, or raise MaxJobs= in scratchd.conf". */
int reserve_check(const Reservations *r, uint64_t want, char *why, size_t why_size);

/* What is left: pool less reserved, 0 if none. */
uint64_t reserve_free(const Reservations *r);
