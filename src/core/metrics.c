/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>

#include "config.h"
#include "scratchd/metrics.h"
#include "scratchd/util.h"

/* Label values are our own volume names ([A-Za-z0-9_-]) and state names, so
 * they need no escaping; names are checked when the config is read. */

static void header(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* From a second (the quickest crypto-erase) to ten minutes (a release that
 * kills and waits, on a slow disk): where the alerts' thresholds fall. */
const double duration_buckets[DURATION_BUCKETS] = { 1, 2, 5, 10, 20, 30, 60, 120, 300, 600 };

void duration_observe(DurationHistogram *h, uint64_t usec) {
        double s = (double) usec / 1e6;
        for (size_t i = 0; i < DURATION_BUCKETS; i++)
                if (s <= duration_buckets[i]) {
                        h->buckets[i]++;
                        break;
                }
        h->count++;
        h->sum += s;
}

static void histogram(FILE *f, const char *name, const char *volume, const DurationHistogram *h) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i < DURATION_BUCKETS; i++) {
                cumulative += h->buckets[i];
                fprintf(f, "%s_bucket{volume=\"%s\",le=\"%g\"} %" PRIu64 "\n", name, volume, duration_buckets[i],
                        cumulative);
        }
        fprintf(f, "%s_bucket{volume=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, volume, h->count);
        fprintf(f, "%s_sum{volume=\"%s\"} %.6f\n", name, volume, h->sum);
        fprintf(f, "%s_count{volume=\"%s\"} %" PRIu64 "\n", name, volume, h->count);
}

char *metrics_format(const MetricsVolume *v, size_t n) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;

        header(f, "scratchd_build_info", "gauge", "Always 1; the running scratchd's version as a label.");
        fprintf(f, "scratchd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);

        header(f, "scratchd_volume_state", "gauge", "1 for the state the volume is in, 0 for the others.");
        for (size_t i = 0; i < n; i++)
                for (int s = 0; s < _STATE_MAX; s++)
                        fprintf(f, "scratchd_volume_state{volume=\"%s\",state=\"%s\"} %d\n", v[i].name,
                                lifecycle_state_to_string(s), v[i].rec->state == (LifecycleState) s);

        header(f, "scratchd_key_generation", "gauge", "Key generation of the volume (never the key).");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "scratchd_key_generation{volume=\"%s\"} %" PRIu64 "\n", v[i].name, v[i].rec->generation);

        static const struct {
                const char *name, *help;
                size_t offset;
        } counters[] = {
                { "scratchd_prepares_total", "Volumes handed to jobs.", offsetof(VolumeCounters, prepares) },
                { "scratchd_prepare_failures_total", "Prepare calls that failed.",
                  offsetof(VolumeCounters, prepare_failures) },
                { "scratchd_releases_total", "Volumes released by jobs and wiped.", offsetof(VolumeCounters, releases) },
                { "scratchd_release_failures_total", "Release calls that failed.",
                  offsetof(VolumeCounters, release_failures) },
                { "scratchd_wipes_total", "Crypto-erase wipes that completed.", offsetof(VolumeCounters, wipes) },
                { "scratchd_wipe_failures_total", "Crypto-erase wipes that failed and fenced the volume.",
                  offsetof(VolumeCounters, wipe_failures) },
                { "scratchd_erase_records_total", "Signed erase records written (one per erase).",
                  offsetof(VolumeCounters, erase_records) },
                { "scratchd_erase_record_failures_total",
                  "Erases whose record could not be written (disk full, no node key); the erase stood.",
                  offsetof(VolumeCounters, erase_record_failures) },
        };
        for (size_t k = 0; k < ELEMENTSOF(counters); k++) {
                header(f, counters[k].name, "counter", counters[k].help);
                for (size_t i = 0; i < n; i++)
                        fprintf(f, "%s{volume=\"%s\"} %" PRIu64 "\n", counters[k].name, v[i].name,
                                *(const uint64_t *) ((const char *) v[i].counters + counters[k].offset));
        }

        header(f, "scratchd_wipe_duration_seconds", "histogram",
               "How long each wipe took, failed or not (in shared mode, each job volume's erase).");
        for (size_t i = 0; i < n; i++)
                histogram(f, "scratchd_wipe_duration_seconds", v[i].name, &v[i].counters->wipe_seconds);
        header(f, "scratchd_release_duration_seconds", "histogram",
               "How long each release took, from the call to its answer's work done, failed or not.");
        for (size_t i = 0; i < n; i++)
                histogram(f, "scratchd_release_duration_seconds", v[i].name, &v[i].counters->release_seconds);

        header(f, "scratchd_last_wipe_duration_seconds", "gauge", "How long the last wipe took to make the volume ready.");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "scratchd_last_wipe_duration_seconds{volume=\"%s\"} %.6f\n", v[i].name,
                        (double) v[i].rec->last_wipe_usec / 1e6);

        header(f, "scratchd_last_wipe_timestamp_seconds", "gauge", "When the last wipe finished (Unix time).");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "scratchd_last_wipe_timestamp_seconds{volume=\"%s\"} %lld\n", v[i].name,
                        (long long) v[i].rec->last_wipe);

        header(f, "scratchd_volume_size_bytes", "gauge", "Size of the volume's filesystem.");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "scratchd_volume_size_bytes{volume=\"%s\"} %" PRIu64 "\n", v[i].name, v[i].size_bytes);

        header(f, "scratchd_volume_used_bytes", "gauge", "Bytes in use on the volume's filesystem.");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "scratchd_volume_used_bytes{volume=\"%s\"} %" PRIu64 "\n", v[i].name, v[i].used_bytes);

        /* The layout, from the record: how many disks stand under the
         * volume, and the size of the data device they make. */
        header(f, "scratchd_volume_disks", "gauge", "Disks under the volume (striped when more than one).");
        for (size_t i = 0; i < n; i++) {
                unsigned disks = 0;
                for (const char *p = v[i].rec->device; *p; p++)
                        if (*p != ' ' && (p == v[i].rec->device || p[-1] == ' '))
                                disks++;
                fprintf(f, "scratchd_volume_disks{volume=\"%s\"} %u\n", v[i].name, disks);
        }

        header(f, "scratchd_volume_data_bytes", "gauge", "Size of the data device under dm-crypt (the disks, less headers).");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "scratchd_volume_data_bytes{volume=\"%s\"} %" PRIu64 "\n", v[i].name, v[i].rec->data_size);

        bool any_check = false;
        for (size_t i = 0; i < n; i++)
                any_check = any_check || v[i].job_check;
        if (any_check) {
                header(f, "scratchd_stale_volumes", "gauge",
                       "Volumes (in shared mode, job volumes) held by a job gone from the node for StaleAfterSec=.");
                for (size_t i = 0; i < n; i++)
                        if (v[i].job_check)
                                fprintf(f, "scratchd_stale_volumes{volume=\"%s\"} %u\n", v[i].name, v[i].stale);
                header(f, "scratchd_job_check_blind", "gauge",
                       "1 while JobCheck= cannot see the scheduler's jobs (so no volume can be found stale).");
                for (size_t i = 0; i < n; i++)
                        if (v[i].job_check)
                                fprintf(f, "scratchd_job_check_blind{volume=\"%s\"} %d\n", v[i].name,
                                        v[i].job_check_blind);
        }

        static const struct {
                const char *name, *help;
                size_t offset;
                bool u64;
        } pool[] = {
                { "scratchd_pool_size_bytes", "Shared mode: the pool's space for job volumes.",
                  offsetof(MetricsPool, size_bytes), true },
                { "scratchd_pool_reserved_bytes", "Shared mode: the sizes of the live job volumes, in all.",
                  offsetof(MetricsPool, reserved_bytes), true },
                { "scratchd_pool_written_bytes", "Shared mode: the pool's blocks that job volumes have written.",
                  offsetof(MetricsPool, written_bytes), true },
                { "scratchd_pool_jobs", "Shared mode: live job volumes, fenced ones included.",
                  offsetof(MetricsPool, jobs), false },
                { "scratchd_pool_jobs_failed", "Shared mode: job volumes fenced (FAILED), their space reserved.",
                  offsetof(MetricsPool, jobs_failed), false },
                { "scratchd_pool_max_jobs", "Shared mode: MaxJobs=.", offsetof(MetricsPool, max_jobs), false },
                { "scratchd_pool_spare_ready", "Shared mode: 1 while a spare job volume is ready.",
                  offsetof(MetricsPool, spare_ready), false },
        };
        bool any_pool = false;
        for (size_t i = 0; i < n; i++)
                any_pool = any_pool || v[i].pool;
        for (size_t k = 0; any_pool && k < ELEMENTSOF(pool); k++) {
                header(f, pool[k].name, "gauge", pool[k].help);
                for (size_t i = 0; i < n; i++) {
                        if (!v[i].pool)
                                continue;
                        const char *p = (const char *) v[i].pool + pool[k].offset;
                        fprintf(f, "%s{volume=\"%s\"} %" PRIu64 "\n", pool[k].name, v[i].name,
                                pool[k].u64 ? *(const uint64_t *) p : (uint64_t) *(const unsigned *) p);
                }
        }

        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

int metrics_write_textfile(const char *dir, const char *text) {
        /* The temporary name does not end in .prom, so node_exporter skips it. */
        return write_file_atomic(dir, "scratchd.prom", text, strlen(text), 0644, false);
}
