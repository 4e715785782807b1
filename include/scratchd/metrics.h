/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>
#include <stddef.h>

#include "scratchd/record.h"

/* What the daemon counts per volume since it started. */
/* A Prometheus histogram of durations, with fixed buckets (seconds). */
#define DURATION_BUCKETS 10
extern const double duration_buckets[DURATION_BUCKETS];   /* upper bounds; +Inf is count */
typedef struct DurationHistogram {
        uint64_t buckets[DURATION_BUCKETS];   /* observations <= each bound (not cumulative) */
        uint64_t count;
        double sum;
} DurationHistogram;
void duration_observe(DurationHistogram *h, uint64_t usec);

typedef struct VolumeCounters {
        uint64_t prepares, prepare_failures;
        uint64_t releases, release_failures;
        uint64_t wipes, wipe_failures;
        uint64_t erase_records, erase_record_failures;   /* erasure.h */
        /* Every wipe and release, failed or not, from start to answer. */
        DurationHistogram wipe_seconds, release_seconds;
} VolumeCounters;

/* Shared mode: a pool's numbers (labels stay the volume's name alone: no
 * per-job series that grow without bound). */
typedef struct MetricsPool {
        uint64_t size_bytes, reserved_bytes, written_bytes;
        unsigned jobs, jobs_failed, max_jobs, spare_ready;
} MetricsPool;

typedef struct MetricsVolume {
        const char *name;
        const Record *rec;
        const VolumeCounters *counters;
        uint64_t size_bytes, used_bytes;   /* 0 when not mounted */
        const MetricsPool *pool;           /* NULL: exclusive mode */
        bool job_check;                    /* JobCheck= is set: the two below are shown */
        unsigned stale;                    /* its volume or job volumes whose job is gone (StaleAfterSec=) */
        bool job_check_blind;              /* the check could not see the jobs (no Slurm cgroups) */
} MetricsVolume;

/* The Prometheus text exposition format (version 0.0.4) of these volumes.
 * Returns a malloc'd string, or NULL when out of memory. */
char *metrics_format(const MetricsVolume *v, size_t n);

/* Writes `text` atomically as DIR/scratchd.prom (node_exporter's textfile
 * collector reads every *.prom there). */
int metrics_write_textfile(const char *dir, const char *text);
