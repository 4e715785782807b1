/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <time.h>

#include "scratchd/fault.h"
#include "scratchd/lifecycle.h"
#include "scratchd/log.h"
#include "scratchd/util.h"
#include "scratchd/wipe.h"

static const char *const wipe_step_table[_WIPE_STEP_MAX] = {
        [WIPE_STEP_CHECK_USERS] = "check-users",
        [WIPE_STEP_UNMOUNT] = "unmount",
        [WIPE_STEP_DEACTIVATE] = "deactivate",
        [WIPE_STEP_ERASE_SIGNATURES] = "erase-signatures",
        [WIPE_STEP_ASSEMBLE] = "assemble",
        [WIPE_STEP_DISCARD] = "discard",
        [WIPE_STEP_POOL] = "pool",
        [WIPE_STEP_REKEY] = "rekey",
        [WIPE_STEP_ZERO_HEAD] = "zero-head",
        [WIPE_STEP_MKFS] = "mkfs",
        [WIPE_STEP_MOUNT] = "mount",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(wipe_step, WipeStep, _WIPE_STEP_MAX);

/* The mapping's first MiB: covers every signature blkid and mkfs look for at
 * the start of a device. */
#define ZERO_HEAD_BYTES (UINT64_C(1) << 20)

typedef struct Wipe {
        const WipeOps *ops;
        const WipeRequest *req;
        Record *rec;
        char detail[400];
        dev_t devnum;
} Wipe;

static int run_step(Wipe *w, WipeStep step) {
        const WipeOps *o = w->ops;
        const WipeRequest *q = w->req;
        _cleanup_free_ char *out = NULL;
        const char *target = q->device;
        uint64_t start = now_usec();
        int r = 0;

        w->detail[0] = 0;
        /* A pool has no key, file system or mount of its own; a volume no pool. */
        if (q->shared ? step >= WIPE_STEP_REKEY : step == WIPE_STEP_POOL)
                return 0;
        fault_point(wipe_step_to_string(step));
        switch (step) {
        case WIPE_STEP_CHECK_USERS:
                target = q->mount_point;
                /* The finished job's own processes that still hold its volume
                 * go first (BusyPolicy=kill); anyone else's makes it refuse. */
                if (q->kill_uid != 0 && o->kill_holders) {
                        char killed[300];
                        int k = o->kill_holders(o->userdata, q->mount_point, q->kill_uid, killed, sizeof(killed));
                        if (k > 0)
                                log_notice("%s: killed what job's user (uid %u) left holding %s: %s", q->name,
                                           (unsigned) q->kill_uid, q->mount_point, killed);
                }
                r = o->find_users(o->userdata, q->mount_point, &out);
                if (r < 0)
                        /* A scan that cannot see is not a pass. */
                        snprintf(w->detail, sizeof(w->detail), "cannot check what holds %s: %s; wipe again once "
                                 "the cause is fixed", q->mount_point, strerror(-r));
                else if (out) {
                        snprintf(w->detail, sizeof(w->detail), "%s is in use by %s; stop them, then wipe again",
                                 q->mount_point, out);
                        r = -EBUSY;
                }
                break;
        case WIPE_STEP_UNMOUNT:
                target = q->mount_point;
                r = o->unmount(o->userdata, q->mount_point, false);
                break;
        case WIPE_STEP_DEACTIVATE: {
                target = q->mapping;
                /* The record's checks: whether a key was in the kernel
                 * before, and that the mapping, and the key in it, is gone
                 * from it after (not merely deferred); a pool's, after its
                 * job volumes went. */
                if (q->report)
                        q->report->mapping_was_active = wipe_key_in_kernel(o, q->mapping, q->shared);
                r = o->deactivate(o->userdata, q->mapping, false);
                if (r >= 0 && q->report && !q->shared) {
                        int k = wipe_key_in_kernel(o, q->mapping, false);
                        q->report->mapping_gone = k < 0 ? k : !k;
                }
                if (r == -EBUSY)
                        snprintf(w->detail, sizeof(w->detail), "/dev/mapper/%s is still open (a process holds "
                                 "files on the old volume: 'fuser -vm /dev/mapper/%s' names it)", q->mapping,
                                 q->mapping);
                /* Shared mode's job volumes and pool (or what a change of
                 * Mode= left of them): each job's key goes with its mapping. */
                if (r >= 0) {
                        target = q->name;
                        r = o->teardown_pool(o->userdata, q->name, false, w->detail, sizeof(w->detail));
                        if (r >= 0 && q->report && q->shared) {
                                int k = wipe_key_in_kernel(o, q->mapping, true);
                                q->report->mapping_gone = k < 0 ? k : !k;
                        }
                }
                /* With the key gone, the data device under it goes too: the
                 * disks' labels are rewritten, and their layout may change. */
                if (r >= 0) {
                        target = q->device;
                        r = o->disassemble(o->userdata, q->name);
                        if (r == -EBUSY)
                                snprintf(w->detail, sizeof(w->detail), "%s is still open; 'fuser -v %s' names who "
                                         "holds it", q->device, q->device);
                }
                break;
        }
        case WIPE_STEP_ERASE_SIGNATURES:
                if (!q->erase_signatures)
                        return 0;
                for (size_t i = 0; r >= 0 && i < q->n_disks; i++) {
                        target = q->disks[i].path;
                        r = o->erase_signatures(o->userdata, q->name, &q->disks[i]);
                }
                if (r == -ESTALE)
                        snprintf(w->detail, sizeof(w->detail), "%s is no longer the disk that was checked (swapped "
                                 "or attached anew); nothing was written to it; run 'scratchctl wipe' to check the "
                                 "disks again", target);
                break;
        case WIPE_STEP_ASSEMBLE:
                r = o->assemble(o->userdata, q);
                if (r == -ESTALE)
                        snprintf(w->detail, sizeof(w->detail), "a disk is no longer the one that was checked "
                                 "(swapped or attached anew; the journal names it); nothing was written to it; run "
                                 "'scratchctl wipe' to check the disks again");
                break;
        case WIPE_STEP_DISCARD:
                if (!q->tuning.discard_on_wipe) {
                        if (q->report)
                                snprintf(q->report->discard_detail, sizeof(q->report->discard_detail),
                                         "skipped: Discard=%s (the device discards %llu bytes at most per request)",
                                         tristate_to_string(q->discard), (unsigned long long) q->discard_max_bytes);
                        log_info("%s: discard %s: skipped (Discard=%s, device discards %llu bytes at most per "
                                 "request); the key change alone made the old data unreadable", q->name,
                                 q->device, tristate_to_string(q->discard), (unsigned long long) q->discard_max_bytes);
                        return 0;
                }
                r = o->discard(o->userdata, q->device);
                if (q->report) {
                        q->report->discard_done = r >= 0;
                        snprintf(q->report->discard_detail, sizeof(q->report->discard_detail), "%s",
                                 r >= 0 ? "BLKDISCARD of the whole data area of every disk, after the key was destroyed"
                                 : r == -EOPNOTSUPP ? "skipped: the device does not support discard"
                                                    : "failed");
                }
                if (r == -EOPNOTSUPP) {
                        snprintf(w->detail, sizeof(w->detail), "not supported; the key change alone erased it");
                        log_step(q->name, "discard", q->device, now_usec() - start, 0, w->detail);
                        return 0;
                }
                break;
        case WIPE_STEP_POOL:
                r = o->build_pool(o->userdata, q, &w->devnum);
                break;
        case WIPE_STEP_REKEY: {
                _cleanup_secret_free_ Secret *key = NULL;
                target = q->mapping;
                r = o->new_key(o->userdata, q->tuning.key_size, &key);
                fault_point("key-made");   /* tests look at the key's pages here */
                if (r >= 0)
                        r = o->activate(o->userdata, q->device, q->mapping, &q->tuning, key, &w->devnum);
                /* The key leaves our memory here; only the kernel holds it now. */
                break;
        }
        case WIPE_STEP_ZERO_HEAD:
                target = q->mapping;
                r = o->zero_head(o->userdata, q->mapping);
                break;
        case WIPE_STEP_MKFS:
                target = q->mapping;
                r = o->mkfs(o->userdata, q->file_system, q->mapping, q->size, &out);
                if (r < 0 && out)
                        snprintf(w->detail, sizeof(w->detail), "mkfs.%s: %s", file_system_to_string(q->file_system),
                                 out);
                break;
        case WIPE_STEP_MOUNT:
                target = q->mount_point;
                r = o->mount(o->userdata, q->mapping, q->mount_point, q->file_system);
                break;
        default:
                return -EINVAL;
        }

        log_step(q->name, wipe_step_to_string(step), target, now_usec() - start, r, w->detail[0] ? w->detail : NULL);
        return r;
}

int wipe_key_in_kernel(const WipeOps *o, const char *mapping, bool shared) {
        int k;
        if (!shared && o->mapping_exists)
                k = o->mapping_exists(o->userdata, mapping);
        else if (shared && o->mappings_with_prefix) {
                char job_prefix[160];
                snprintf(job_prefix, sizeof(job_prefix), "%s-vol-", mapping);
                k = o->mappings_with_prefix(o->userdata, job_prefix);
        } else
                return -ENODATA;
        return k < 0 ? k : k > 0;
}

void wipe_disk_list(const WipeRequest *req, char *buf, size_t size) {
        size_t used = 0;
        buf[0] = 0;
        for (size_t i = 0; i < req->n_disks && used < size; i++) {
                int k = snprintf(buf + used, size - used, "%s%s", i > 0 ? " " : "", req->disks[i].path);
                if (k < 0)
                        break;
                used += (size_t) k;
        }
}

static int save(Wipe *w) {
        return w->ops->save_state(w->ops->userdata, w->req->name, w->rec);
}

/* Fail closed: whatever broke, no job may get this volume. Unmount (lazily if
 * something still holds it, so the path no longer leads to old data) and
 * drop the mapping (deferred if still open, so the key goes when the last
 * user lets go). Best effort: FAILED is recorded whatever these return. */
static void fence(Wipe *w, WipeStep failed, int error) {
        const WipeOps *o = w->ops;
        const WipeRequest *q = w->req;

        (void) o->unmount(o->userdata, q->mount_point, true);
        (void) o->deactivate(o->userdata, q->mapping, true);
        char ignored[256];
        (void) o->teardown_pool(o->userdata, q->name, true, ignored, sizeof(ignored));

        char reason[sizeof(w->rec->reason)];
        snprintf(reason, sizeof(reason), "%s failed: %s", wipe_step_to_string(failed),
                 w->detail[0] ? w->detail : strerror(-error));
        (void) lifecycle_apply(w->rec, EVENT_WIPE_FAILED, &(LifecycleArgs) { .reason = reason });
        int r = save(w);
        if (r < 0)
                log_error_errno(r, "%s: cannot record FAILED state: %m", q->name);
        log_error("%s: fenced (FAILED): %s; run 'scratchctl wipe' once the cause is fixed "
                  "('scratchd wipe' where the daemon does not run)", q->name, w->rec->reason);
}

int wipe_volume(const WipeOps *ops, const WipeRequest *req, Record *rec, WipeStep *ret_failed_step) {
        Wipe w = { .ops = ops, .req = req, .rec = rec };
        uint64_t start = now_usec();
        int r;

        /* Record WIPING before touching anything: a crash from here on leaves a
         * record that no one can mistake for CLEAN. */
        (void) lifecycle_apply(rec, EVENT_WIPE_START, NULL);
        wipe_disk_list(req, rec->device, sizeof(rec->device));
        snprintf(rec->mount_point, sizeof(rec->mount_point), "%s", req->record_mount_point ?: req->mount_point);
        r = save(&w);
        if (r < 0) {
                snprintf(w.detail, sizeof(w.detail), "cannot record state: %s", strerror(-r));
                fence(&w, WIPE_STEP_CHECK_USERS, r);
                if (ret_failed_step)
                        *ret_failed_step = WIPE_STEP_CHECK_USERS;
                return r;
        }

        for (WipeStep s = 0; s < _WIPE_STEP_MAX; s++) {
                if (s == WIPE_STEP_REKEY)
                        rec->generation++;   /* a new key is a new generation, even if activation fails */
                r = run_step(&w, s);
                /* The new generation is on file as soon as its key exists: a
                 * crash after this point never lets the number be used twice. */
                if (r >= 0 && s == WIPE_STEP_REKEY) {
                        r = save(&w);
                        if (r < 0)
                                snprintf(w.detail, sizeof(w.detail), "cannot record the new key generation: %s",
                                         strerror(-r));
                }
                if (r < 0) {
                        fence(&w, s, r);
                        if (ret_failed_step)
                                *ret_failed_step = s;
                        return r;
                }
        }

        /* CLEAN goes on file first; only then is it ours to report. */
        Record clean = *rec;
        (void) lifecycle_apply(&clean, EVENT_WIPE_OK, NULL);
        clean.mapping_devnum = w.devnum;
        snprintf(clean.cipher, sizeof(clean.cipher), "%s", req->tuning.cipher_spec);
        clean.key_bits = req->tuning.key_size * 8;
        clean.sector_size = req->tuning.sector_size;
        clean.bypass_workqueues = req->tuning.bypass_workqueues;
        clean.allow_discards = req->tuning.allow_discards;
        clean.data_size = req->geometry.size;
        clean.thin_id = req->shared ? 1 : 0;   /* a new pool hands out thin ids from 1 */
        clean.chunk_size = req->geometry.chunk;
        snprintf(clean.tuning, sizeof(clean.tuning), "%s", req->tuning.why);
        clean.last_wipe = time(NULL);
        clean.last_wipe_usec = now_usec() - start;
        r = w.ops->save_state(w.ops->userdata, req->name, &clean);
        if (r < 0) {
                snprintf(w.detail, sizeof(w.detail), "cannot record CLEAN state: %s", strerror(-r));
                fence(&w, WIPE_STEP_MOUNT, r);
                if (ret_failed_step)
                        *ret_failed_step = WIPE_STEP_MOUNT;
                return r;
        }
        *rec = clean;

        char dur[32];
        log_info("%s: CLEAN, key generation %llu, ready in %s", req->name, (unsigned long long) rec->generation,
                 format_duration(dur, sizeof(dur), rec->last_wipe_usec));
        return 0;
}
