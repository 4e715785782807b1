/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

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
 * "100G", "1.5T" is refused: whole numbers only), or, where `allow_percent`,
 * "N%" with N from 1 to 100. Returns 0, or -EINVAL / -ERANGE with a one-line
 * reason in `why` ("'12X': not a size; write bytes, or a number with K, M, G,
 * T or P"). */
int job_size_parse(const char *s, bool allow_percent, JobSize *ret, char *why, size_t why_size);

/* "100 GiB" or "25%" into buf. */
const char *job_size_format(const JobSize *js, char *buf, size_t size);

/* A job's size in bytes for a pool of `pool_bytes`, rounded down to whole
 * `granule`s (the thin pool's block): JobSize= as bytes, as a share of the
 * pool, or, when not set, the pool divided by `max_jobs`. */
uint64_t job_size_resolve(const JobSize *js, uint64_t pool_bytes, unsigned max_jobs, uint64_t granule);

typedef struct Reservations {
        uint64_t pool_bytes;       /* what job volumes may take in all */
        uint64_t reserved_bytes;   /* the sizes of the live job volumes (fenced ones too), and the spare */
        unsigned n_jobs;           /* live job volumes, fenced ones too */
        unsigned max_jobs;         /* MaxJobs= */
} Reservations;

/* Whether a job volume of `want` bytes may be made now. Returns 0 if it
 * fits; -EINVAL if `want` is below JOB_SIZE_MIN or above the whole pool
 * (it could never fit); -ENOSPC if the pool has too little unreserved space;
 * -EUSERS if MaxJobs= job volumes are live. `why` gets one line saying what
 * is free and what to do. */
int reserve_check(const Reservations *r, uint64_t want, char *why, size_t why_size);

/* What is left: pool less reserved, 0 if none. */
uint64_t reserve_free(const Reservations *r);
