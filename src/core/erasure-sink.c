/* SPDX-License-Identifier: GPL-2.0-or-later */
/* erasure-sink.c: the record of one erase, as the engine writes it: the
 * node's and the disks' facts added, written, retention applied. */
#include <inttypes.h>
#include <string.h>

#include "scratchd/disk.h"
#include "scratchd/erasure.h"
#include "scratchd/log.h"
#include "scratchd/stripe.h"
#include "scratchd/util.h"

uint64_t erasure_now_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

const char *erasure_state_dir(void) {
        static char dir[4096];
        const char *e = getenv("STATE_DIRECTORY");
        if (!e || e[0] != '/')
                return ERASURE_STATE_DIR;
        snprintf(dir, sizeof(dir), "%.*s", (int) strcspn(e, ":"), e);
        /* Only a directory of ours: `scratchd wipe` run from another unit
         * (with a StateDirectory= of its own) must not make a second key. */
        if (!endswith(dir, "/scratchd"))
                return ERASURE_STATE_DIR;
        return dir;
}

static const char *or_null(const char *s) {
        return s && *s ? s : NULL;
}

void erasure_sink_write(const ErasureSink *s, ErasureRecord *r, const char *disks, bool media_unverified,
                        ErasureOutcome *ret) {
        *ret = (ErasureOutcome) { .key_generation = r->key_generation,
                                  .key_generation_unknown = r->key_generation_unknown };
        if (!s || !s->dir)
                return;
        if (s->unavailable < 0) {
                ret->error = s->unavailable;
                log_error("%s: its erase (key generation %" PRIu64 ") has no record: the node key cannot be had "
                          "(%s); the erase stands; see the journal at scratchd's start", r->volume,
                          r->key_generation, strerror(-s->unavailable));
                return;
        }

        ErasureNode node;
        erasure_node_read(s->node_root ?: "/", &node);
        r->node = &node;

        /* Each disk as it is now: the erase does not change what a disk is.
         * Unverified (a fence: the paths are the state's, and what is there
         * now could not be proven the volume's): named, not identified. */
        DiskMedia facts[STRIPE_DISKS_MAX];
        ErasureMedia media[STRIPE_DISKS_MAX];
        char paths[STRIPE_DISKS_MAX][256];
        size_t n = 0;
        _cleanup_free_ char *copy = strdup(disks ?: "");
        char *save = NULL;
        for (char *p = copy ? strtok_r(copy, " ", &save) : NULL; p && n < STRIPE_DISKS_MAX;
             p = strtok_r(NULL, " ", &save), n++) {
                snprintf(paths[n], sizeof(paths[n]), "%s", p);
                facts[n] = (DiskMedia) {};
                int k = media_unverified ? 0 : disk_media(p, &facts[n]);
                if (k < 0)
                        log_warning_errno(k, "%s: erase record: cannot read what %s is: %m; its model, serial and "
                                          "WWN are written as not known", r->volume, p);
                media[n] = (ErasureMedia) {
                        .path = paths[n],
                        .model = or_null(facts[n].model),
                        .serial = or_null(facts[n].serial),
                        .wwn = or_null(facts[n].wwn),
                        .size_bytes = facts[n].size,
                };
        }
        r->media = media;
        r->n_media = n;

        _cleanup_free_ char *name = NULL;
        int e = erasure_write(s->dir, r, s->key, &name);
        /* Retention, even when the write failed: a full file system may
         * have room for the next one after it. */
        int k = erasure_prune(s->dir, s->keep_days, s->keep_count, (time_t) (r->end_usec / USEC_PER_SEC));
        if (k > 0)
                log_info("%s: %d erase record%s past RecordsKeepDays=/RecordsKeepCount= removed", s->dir, k,
                         k == 1 ? "" : "s");
        else if (k < 0)
                log_warning_errno(k, "%s: cannot apply the records' retention: %m", s->dir);
        if (e < 0) {
                ret->error = e;
                log_error_errno(e, "%s: cannot write the record of its erase (key generation %" PRIu64 ") in %s: %m; "
                                "the erase stands; %s so that the next erase is recorded", r->volume,
                                r->key_generation, s->dir,
                                e == -ENOSPC || e == -EDQUOT ? "free space there" : "fix the directory (root's, 0700)");
                return;
        }
        snprintf(ret->name, sizeof(ret->name), "%s", name);
        log_info("%s: erase record %s/%s written", r->volume, s->dir, name);
}
