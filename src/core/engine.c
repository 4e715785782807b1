/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "scratchd/disk.h"
#include "scratchd/dm-util.h"
#include "scratchd/fs.h"
#include "scratchd/jobvol.h"
#include "scratchd/kernel-ops.h"
#include "scratchd/lifecycle.h"
#include "scratchd/log.h"
#include "scratchd/engine.h"
#include "scratchd/safety.h"
#include "scratchd/reserve.h"
#include "scratchd/stripe.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"
#include "scratchd/dmcrypt.h"

void engine_init(Engine *e, const Config *config, const char *state_dir, const char *root) {
        *e = (Engine) { .config = config, .state_dir = state_dir, .root = root && !streq(root, "/") ? root : NULL };
        kernel_ops_init(&e->ops, state_dir);
}

/* One scratchd at a time per volume: the initramfs, the daemon and an admin
 * may all try at once. The lock goes with the process, even on kill -9. */
int engine_lock_volume(const Engine *e, const char *name) {
        char path[PATH_MAX];
        if (mkdir(e->state_dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create state directory %s: %m", e->state_dir);
        snprintf(path, sizeof(path), "%s/%s.lock", e->state_dir, name);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(errno, "cannot open lock %s: %m", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int err = errno;
                close(fd);
                if (err == EWOULDBLOCK)
                        return log_error_errno(EBUSY, "%s: another scratchd is working on this volume; try again "
                                               "when it is done", name);
                return log_error_errno(err, "cannot lock %s: %m", path);
        }
        return fd;
}

typedef struct Target {
        const ScratchConfig *vc;
        char mapping[128];
        char data_path[160];      /* the data device: /dev/mapper/scratchd-<name>-data */
        char mount_point[4096];   /* where it is mounted now: Engine.root + MountPoint= */
        DiskFacts facts[STRIPE_DISKS_MAX];   /* each disk, in stripe order */
        size_t n_disks;
        char disk_list[1024];     /* their paths, space-separated, as the record names them */
        DiskFacts data;           /* the disks as one device, for tuning and sizes */
        StripeGeometry geometry;
        bool expendable;          /* some disk carries what Expendable=yes destroys */
        bool ours;                /* our mapping is live on every disk */
        CryptTuning tuning;
        char why[1024];           /* why target_prepare() failed, without the volume's name */
        bool disks_unproven;      /* it failed on the disks themselves (not on the config) */
} Target;

/* target_prepare()'s errors: logged as one line that names the volume, and
 * kept in t->why for the record of a fenced volume. */
static int target_fail(Target *t, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int target_fail(Target *t, int error, const char *fmt, ...) {
        va_list ap;
        errno = error < 0 ? -error : error;   /* for %m */
        va_start(ap, fmt);
        vsnprintf(t->why, sizeof(t->why), fmt, ap);
        va_end(ap);
        return log_error_errno(error, "%s: %s", t->vc->name, t->why);
}

static void target_done(Target *t) {
        for (size_t i = 0; i < t->n_disks; i++)
                disk_facts_done(&t->facts[i]);
        free(t->data.path);
        t->data.path = NULL;
}

/* With Devices=auto, only disks that are blank or already ours (mapped, or
 * carrying our header) qualify; a disk holding anything else is someone
 * else's, and skipped rather than refused. */
static int resolve_auto(const Target *t, char ***ret) {
        _cleanup_strv_free_ char **all = NULL, **out = NULL;
        int r = disk_discover_auto(&all);
        if (r < 0)
                return log_error_errno(r, "%s: Devices=auto: cannot list disks: %m", t->vc->name);

        for (char **p = all; p && *p; p++) {
                DiskFacts f;
                char reason[1024];
                if (disk_probe(*p, t->mapping, &f) < 0)
                        continue;
                SafetyVerdict v = safety_check(&f, false, reason, sizeof(reason));
                disk_facts_done(&f);
                if (v == SAFETY_BLANK || v == SAFETY_OURS || v == SAFETY_LABELLED) {
                        if (strv_extend(&out, *p) < 0)
                                return -ENOMEM;
                } else
                        log_info("%s: Devices=auto: skipping %s", t->vc->name, reason);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* The disk a partition belongs to ("nvme1n1" for "nvme1n1p2"), or NULL. */
static const char *partition_parent(const DiskFacts *f) {
        static _Thread_local char parent[PATH_MAX];
        char p[PATH_MAX], real[PATH_MAX];
        if (!f->is_partition)
                return NULL;
        snprintf(p, sizeof(p), "/sys/class/block/%s/..", f->sysname);
        if (!realpath(p, real))
                return NULL;
        const char *slash = strrchr(real, '/');
        snprintf(parent, sizeof(parent), "%s", slash ? slash + 1 : real);
        return parent;
}

/* The disks as one device, as tuning and the size checks see it: the data
 * device's size, and the most demanding of each disk's limits. */
static int combine_facts(Target *t) {
        DiskFacts *d = &t->data;
        /* One disk keeps its own name in messages; a stripe is named by its device. */
        d->path = strdup(t->n_disks == 1 ? t->facts[0].path : t->data_path);
        if (!d->path)
                return -ENOMEM;
        d->size = t->geometry.size;
        d->discard_max_bytes = UINT64_MAX;
        for (size_t i = 0; i < t->n_disks; i++) {
                const DiskFacts *f = &t->facts[i];
                d->rotational = d->rotational || f->rotational;
                d->logical_sector_size = MAX(d->logical_sector_size, f->logical_sector_size);
                d->physical_sector_size = MAX(d->physical_sector_size, f->physical_sector_size);
                d->discard_max_bytes = MIN(d->discard_max_bytes, f->discard_max_bytes);
        }
        return 0;
}

/* Whether `mounted` is our own mapping, on whichever disks it stands (a
 * Devices= changed while the volume was live): the wipe removes it. */
static bool ours_mounted(const char *mapping, dev_t mounted) {
        char uuid[130];
        dev_t dev;
        return dm_device_info(mapping, &dev, uuid, sizeof(uuid), NULL) > 0 && dev == mounted &&
               startswith(uuid, "CRYPT-PLAIN-");
}

/* target_fail() for the disks themselves: Devices= resolves to other disks
 * than before, a disk cannot be examined, is refused, or cannot be striped. */
#define target_fail_disks(t, error, ...) ((t)->disks_unproven = true, target_fail(t, error, __VA_ARGS__))

static int target_prepare(const Engine *e, Target *t, const ScratchConfig *vc) {
        _cleanup_strv_free_ char **paths = NULL;
        _cleanup_free_ char *error = NULL;
        char reason[1024];
        int r;

        *t = (Target) { .vc = vc };
        snprintf(t->mapping, sizeof(t->mapping), MAPPING_PREFIX "%s", vc->name);
        char data_name[160];
        dmcrypt_path(stripe_name(vc->name, data_name, sizeof(data_name)), t->data_path, sizeof(t->data_path));
        snprintf(t->mount_point, sizeof(t->mount_point), "%s%s", e->root ?: "", vc->mount_point);

        if (strv_contains(vc->devices, "auto"))
                r = resolve_auto(t, &paths);
        else {
                r = disk_resolve(vc->devices, &paths, &error);
                if (r < 0 && error)
                        return target_fail_disks(t, r, "%s", error);
        }
        if (r < 0)
                return target_fail_disks(t, r, "cannot resolve Devices=: %m");

        size_t n = strv_length(paths);
        if (n == 0)
                return target_fail_disks(t, ENODEV, "Devices= names no usable disk; check the config and the "
                                       "disks in /dev/disk/by-id");
        if (n > STRIPE_DISKS_MAX)
                return target_fail_disks(t, E2BIG, "Devices= matches %zu disks; a volume stripes %d at most, so "
                                       "name fewer", n, STRIPE_DISKS_MAX);

        /* Every disk is checked before anything is written to any of them. */
        t->ours = true;
        for (size_t i = 0; i < n; i++) {
                r = disk_probe(paths[i], t->mapping, &t->facts[i]);
                if (r < 0)
                        return target_fail_disks(t, r, "cannot examine %s: %m; nothing was written", paths[i]);
                t->n_disks = i + 1;
                SafetyVerdict v = safety_check(&t->facts[i], vc->expendable, reason, sizeof(reason));
                if (v == SAFETY_REFUSED)
                        return target_fail_disks(t, EPERM, "%s", reason);
                t->expendable = t->expendable || v == SAFETY_EXPENDABLE;
                t->ours = t->ours && v == SAFETY_OURS;
                size_t used = strlen(t->disk_list);
                int k = snprintf(t->disk_list + used, sizeof(t->disk_list) - used, "%s%s", i > 0 ? " " : "",
                                 paths[i]);
                if (k < 0 || (size_t) k >= sizeof(t->disk_list) - used)
                        return target_fail_disks(t, E2BIG, "Devices= names disks whose paths make a list longer "
                                               "than %zu characters; name fewer disks",
                                               sizeof(t->disk_list) - 1);
        }
        /* A disk and a partition of it, both named: two legs of one stripe
         * would overlap. */
        for (size_t i = 0; i < n; i++) {
                const char *parent = partition_parent(&t->facts[i]);
                for (size_t j = 0; parent && j < n; j++)
                        if (streq(parent, t->facts[j].sysname))
                                return target_fail_disks(t, EINVAL, "Devices= names both %s and its partition %s; "
                                                       "name one of them", t->facts[j].path,
                                                       t->facts[i].path);
        }

        uint64_t sizes[STRIPE_DISKS_MAX];
        for (size_t i = 0; i < n; i++)
                sizes[i] = t->facts[i].size;
        r = stripe_plan(sizes, n, STRIPE_CHUNK_DEFAULT, &t->geometry, reason, sizeof(reason));
        if (r < 0)
                return target_fail_disks(t, r, "Devices=%s: %s", t->disk_list, reason);
        r = combine_facts(t);
        if (r < 0)
                return target_fail(t, ENOMEM, "out of memory");

        /* Found now, not by mkfs after the disk was keyed and its head zeroed;
         * before the Expendable= warning, which would be a second line. */
        char what[1100];
        if (n == 1)
                snprintf(what, sizeof(what), "%s, less scratchd's 1 MiB header,", t->facts[0].path);
        else
                snprintf(what, sizeof(what), "the stripe over %s", t->disk_list);
        if (vc->mode == SCRATCH_MODE_SHARED) {
                /* The pool must hold its metadata and one job of the smallest size. */
                ThinPlan plan;
                r = thin_plan(t->data.size, 0, &plan, reason, sizeof(reason));
                if (r >= 0 && plan.data_size < JOB_SIZE_MIN)
                        r = -ENOSPC;
                if (r < 0) {
                        char a[32], b[32];
                        return target_fail(t, r, "%s is %s, too small for a pool of job volumes of %s at "
                                               "least; use larger disks, or Mode=exclusive", what,
                                               format_bytes(a, sizeof(a), t->data.size),
                                               format_bytes(b, sizeof(b), JOB_SIZE_MIN));
                }
        } else {
                char too_small[1536];
                r = fs_check_size(vc->file_system, what, t->data.size, too_small, sizeof(too_small));
                if (r < 0)
                        return target_fail(t, r, "%s", too_small);
        }
        for (size_t i = 0; i < n; i++)
                if (safety_check(&t->facts[i], vc->expendable, reason, sizeof(reason)) == SAFETY_EXPENDABLE)
                        log_warning("%s: %s", vc->name, reason);

        /* The default cipher needs no facts; asking would load the Adiantum
         * modules on every node at every wipe. */
        CryptoFacts crypto = {};
        if (vc->cipher != CIPHER_AES_XTS)
                crypto_probe(&crypto);
        r = tuning_decide(&t->data, &crypto, vc, &t->tuning, reason, sizeof(reason));
        if (r < 0)
                return target_fail(t, r, "%s", reason);

        /* Something that is not ours mounted on MountPoint: unmounting it would
         * be touching what we were not told to own. */
        dev_t mounted;
        r = fs_mounted_device(t->mount_point, &mounted);
        if (r < 0)
                return target_fail(t, r, "cannot read the mount table: %m");
        if (r > 0 && !(t->facts[0].our_mapping && mounted == t->facts[0].our_mapping_devnum) &&
            !ours_mounted(t->mapping, mounted))
                return target_fail(t, EADDRINUSE, "MountPoint=%s already has another filesystem (device %u:%u) "
                                       "mounted; unmount it or choose another MountPoint=",
                                       t->mount_point, major(mounted), minor(mounted));
        return 0;
}

/* Our record is proven only for this very mapping (same device number: not
 * one torn down and made again by someone else), on the recorded disks in the
 * recorded order, still mounted where it should be. */
static bool record_live(const Target *t, const Record *rec) {
        if (!t->ours || !streq(rec->device, t->disk_list) || !streq(rec->mount_point, t->vc->mount_point) ||
            !strv_contains(t->facts[0].our_mounts, t->mount_point))
                return false;
        for (size_t i = 0; i < t->n_disks; i++)
                if (rec->mapping_devnum != t->facts[i].our_mapping_devnum)
                        return false;
        /* scratchd before labels mapped the disk itself: a job's volume stays
         * the job's; a clean one is made again, with labels, so that the disk
         * is still known as ours after the next boot. */
        if (!t->facts[0].our_data && rec->state != STATE_IN_USE)
                return false;
        return true;
}

static int wipe_target(Engine *e, Target *t, Record *rec, WipeReport *report) {
        WipeDisk disks[STRIPE_DISKS_MAX];
        for (size_t i = 0; i < t->n_disks; i++)
                disks[i] = (WipeDisk) {
                        .path = t->facts[i].path,
                        .devnum = t->facts[i].devnum,
                        .diskseq = t->facts[i].diskseq,
                        .identity = t->facts[i].identity,
                };
        WipeRequest req = {
                .name = t->vc->name,
                .mapping = t->mapping,
                .device = t->data_path,
                .size = t->geometry.size,
                .disks = disks,
                .n_disks = t->n_disks,
                .geometry = t->geometry,
                .mount_point = t->mount_point,
                .record_mount_point = t->vc->mount_point,
                .file_system = t->vc->file_system,
                .tuning = t->tuning,
                .erase_signatures = t->expendable,
                .shared = t->vc->mode == SCRATCH_MODE_SHARED,
                /* A released job's (DIRTY: the record still names its user). */
                .kill_uid = t->vc->busy_policy == BUSY_POLICY_KILL && rec->state == STATE_DIRTY ? rec->uid : 0,
                .discard = t->vc->discard,
                .discard_max_bytes = t->data.discard_max_bytes,
                .report = report,
        };
        WipeStep failed;
        return wipe_volume(&e->ops, &req, rec, &failed);
}

/* Whether the disks the record names carry its live mapping, mounted where
 * configured: a volume that stays as it is, even where Devices= now resolves
 * to other disks (a blank disk hot-added under Devices=auto or a glob). Only
 * ever leads to keeping a volume: a wipe always goes by Devices=. */
static bool recorded_disks_live(const Engine *e, const ScratchConfig *vc, const Record *rec) {
        char mapping[128], mount_point[4096];
        size_t n = 0;
        bool live = true;

        snprintf(mapping, sizeof(mapping), MAPPING_PREFIX "%s", vc->name);
        snprintf(mount_point, sizeof(mount_point), "%s%s", e->root ?: "", vc->mount_point);
        if (!streq(rec->mount_point, vc->mount_point))
                return false;
        _cleanup_free_ char *copy = strdup(rec->device);
        char *save = NULL;
        for (char *p = copy ? strtok_r(copy, " ", &save) : NULL; live && p; p = strtok_r(NULL, " ", &save)) {
                DiskFacts f;
                if (disk_probe(p, mapping, &f) < 0)
                        return false;
                live = f.our_mapping && f.our_mapping_devnum == rec->mapping_devnum &&
                       (f.our_data || rec->state == STATE_IN_USE) && strv_contains(f.our_mounts, mount_point);
                disk_facts_done(&f);
                n++;
        }
        return live && n > 0;
}

/* Shared mode: whether the pool the record names is live (our pool, the
 * same device, on our data device over the recorded disks), so that a
 * restarted daemon keeps it and the job volumes on it. */
static bool recorded_pool_live(const ScratchConfig *vc, const Record *rec) {
        char mapping[128];
        dev_t pool;
        size_t n = 0;
        bool live = true;

        if (rec->state != STATE_CLEAN || !streq(rec->mount_point, vc->mount_point) ||
            thin_pool_live(vc->name, &pool) <= 0 || pool != rec->mapping_devnum)
                return false;
        snprintf(mapping, sizeof(mapping), MAPPING_PREFIX "%s", vc->name);
        _cleanup_free_ char *copy = strdup(rec->device);
        char *save = NULL;
        for (char *p = copy ? strtok_r(copy, " ", &save) : NULL; live && p; p = strtok_r(NULL, " ", &save)) {
                DiskFacts f;
                if (disk_probe(p, mapping, &f) < 0)
                        return false;
                live = f.our_data && f.our_pool;
                disk_facts_done(&f);
                n++;
        }
        return live && n > 0;
}

static void log_kept(const ScratchConfig *vc, const Record *rec) {
        if (vc->mode == SCRATCH_MODE_SHARED)
                log_info("%s: pool already built on %s, key generation %" PRIu64 "; kept with its job volumes",
                         vc->name, rec->device, rec->generation);
        else if (rec->state == STATE_IN_USE)
                log_info("%s: in use by job %s (user %s) on %s at %s, key generation %" PRIu64 "; left alone",
                         vc->name, rec->job, rec->user, rec->device, vc->mount_point, rec->generation);
        else
                log_info("%s: already CLEAN on %s at %s, key generation %" PRIu64 "; nothing to do", vc->name,
                         rec->device, vc->mount_point, rec->generation);
}

/* Whether anything of this volume's stack is in the kernel: its mapping,
 * its pool (shared mode) or its data device. */
static bool stack_live(const ScratchConfig *vc) {
        char mapping[128], data[160];
        snprintf(mapping, sizeof(mapping), MAPPING_PREFIX "%s", vc->name);
        return dm_device_info(mapping, NULL, NULL, 0, NULL) != 0 || thin_pool_live(vc->name, NULL) != 0 ||
               dm_device_info(stripe_name(vc->name, data, sizeof(data)), NULL, NULL, 0, NULL) != 0;
}

/* A release or wipe whose disk check failed (a link gone, a glob that now
 * matches another disk), or a release that cannot start its erase (a config
 * the kernel cannot serve): nothing may be written to disks that cannot be
 * proven ours, but what stands on them must not stay live under a state
 * that says nothing is there. So it is fenced: the mount, the job volumes
 * and the pool, the mapping (with it the key) and the data device are
 * removed, which writes to no disk, and the volume is FAILED, with why. */
static int fence_unchecked(Engine *e, const ScratchConfig *vc, Record *rec, int error, const char *why,
                           bool disks, WipeReport *report, char *key_end, size_t key_end_size) {
        const WipeOps *o = &e->ops;
        char mapping[128], mount_point[4096], detail[400] = "", removed[600];
        dev_t mapdev, mounted;
        int r = 0;
        bool shared = vc->mode == SCRATCH_MODE_SHARED;

        snprintf(mapping, sizeof(mapping), MAPPING_PREFIX "%s", vc->name);
        /* The record's checks, as a wipe makes them (wipe.c): a key in the
         * kernel before, none after. Nothing is written to the disks, so
         * no discard either. */
        *report = (WipeReport) { .mapping_was_active = wipe_key_in_kernel(o, mapping, shared),
                                 .mapping_gone = -ENODATA };
        snprintf(report->discard_detail, sizeof(report->discard_detail), "not done: %s, so nothing was written to "
                 "the disks", disks ? "they could not be proven this volume's" : "the erase could not start");
        snprintf(mount_point, sizeof(mount_point), "%s%s", e->root ?: "", vc->mount_point);
        /* Only our own file system is unmounted. */
        if (dm_device_info(mapping, &mapdev, NULL, 0, NULL) > 0 && fs_mounted_device(mount_point, &mounted) > 0 &&
            mounted == mapdev) {
                r = o->unmount(o->userdata, mount_point, false);
                /* Held, or the holders not known (their scan failed):
                 * detached from the tree at once, so no one new gets in;
                 * what holds it keeps only what it holds. */
                if (r < 0)
                        r = o->unmount(o->userdata, mount_point, true);
        }
        if (r >= 0)
                r = o->teardown_pool(o->userdata, vc->name, false, detail, sizeof(detail));
        bool deferred = false;
        if (r >= 0) {
                r = o->deactivate(o->userdata, mapping, false);
                /* Still open: the kernel removes it, and the key with it, when
                 * the last holder lets go. */
                if (r == -EBUSY && (r = o->deactivate(o->userdata, mapping, true)) >= 0)
                        deferred = true;
        }
        /* Deferred is not gone: the key stays until the last holder closes. */
        if (deferred)
                report->mapping_gone = 0;
        else if (r >= 0) {
                int k = wipe_key_in_kernel(o, mapping, shared);
                report->mapping_gone = k < 0 ? k : !k;
        }
        /* How the key ended, for the record: only what was seen. */
        if (deferred)
                snprintf(key_end, key_end_size, "the mapping's removal was deferred: the kernel drops and wipes the "
                         "key when the last holder closes /dev/mapper/%s; no new key was made", mapping);
        else if (r < 0)
                snprintf(key_end, key_end_size, "the mapping could not be removed (%s): the key may still be in the "
                         "kernel; no new key was made", strerror(-r));
        else if (report->mapping_was_active == 0)
                snprintf(key_end, key_end_size, "no mapping of this volume held a key in the running kernel, so none "
                         "was destroyed here; nothing was re-keyed (the volume is fenced)");
        else
                snprintf(key_end, key_end_size, "the dm-crypt mapping%s removed, so the kernel dropped and wiped the "
                         "key%s; nothing was re-keyed (the volume is fenced)", shared ? "s of the job volumes were"
                         : " was", shared ? "s" : "");
        if (r >= 0 && deferred)
                snprintf(removed, sizeof(removed), "its mapping is still open, so it and its key go when the last "
                         "holder closes it ('fuser -vm /dev/mapper/%s' names them)", mapping);
        else if (r >= 0) {
                int k = o->disassemble(o->userdata, vc->name);
                if (k >= 0)
                        snprintf(removed, sizeof(removed), "its mapping and key were removed");
                else
                        snprintf(removed, sizeof(removed), "its mapping and key were removed, its data device "
                                 "could not be (%s)", strerror(-k));
        } else
                snprintf(removed, sizeof(removed), "its mapping could not be removed (%s%s%s)", strerror(-r),
                         detail[0] ? ": " : "", detail);

        (void) lifecycle_apply(rec, EVENT_WIPE_START, NULL);
        char reason[sizeof(rec->reason)];
        snprintf(reason, sizeof(reason), "%s (%s); %s; fix %s",
                 disks ? "the disks could not be checked before the erase" : "the erase could not start",
                 why[0] ? why : strerror(-error), removed, disks ? "Devices= or the disk" : "the config");
        (void) lifecycle_apply(rec, EVENT_WIPE_FAILED, &(LifecycleArgs) { .reason = reason });
        int k = o->save_state(o->userdata, vc->name, rec);
        if (k < 0)
                log_error_errno(k, "%s: cannot record the fenced state: %m", vc->name);
        log_error("%s: %s", vc->name, reason);
        return error;
}

/* The erase's record (erasure.h): what was destroyed (the state before),
 * what came of it, and the checks after. `have_record`: a state record named
 * the key (after a reboot none does). */
static void record_erase(Engine *e, const Target *t, const char *trigger, bool have_record, const Record *before,
                         const Record *after, int r, uint64_t start, const WipeReport *report,
                         const char *key_end, ErasureOutcome *ret) {
        const ScratchConfig *vc = t->vc;
        bool shared = vc->mode == SCRATCH_MODE_SHARED;
        /* No key in this kernel: it died with an earlier one (a reboot or a
         * power loss); this erase destroyed nothing itself, and says so. */
        bool no_key = report->mapping_was_active == 0;
        char gone[400], generation[160];
        const char *check = no_key ? "no-key-in-kernel" : "mapping-removed";

        if (report->mapping_gone == 1 && no_key)
                snprintf(gone, sizeof(gone), "no %s was in the kernel's device-mapper table before the erase (its "
                         "key went with an earlier kernel), nor after", shared ? "job volume of the pool" : "mapping");
        else if (report->mapping_gone == 1 && shared)
                snprintf(gone, sizeof(gone), "the pool's job volumes, each with its key, were removed: none was in "
                         "the kernel's device-mapper table after");
        else if (report->mapping_gone == 1)
                snprintf(gone, sizeof(gone), "/dev/mapper/%s, and the key in it, was not in the kernel's "
                         "device-mapper table after its removal", t->mapping);
        else if (report->mapping_gone == 0)
                snprintf(gone, sizeof(gone), "%s still in the kernel's table after the removal",
                         shared ? "a job volume of the pool was" : "the mapping was");
        else if (report->mapping_gone == -ENODATA)
                snprintf(gone, sizeof(gone), "not checked: the erase stopped before the mapping was removed");
        else
                snprintf(gone, sizeof(gone), "cannot read the kernel's device-mapper table: %s",
                         strerror(-report->mapping_gone));
        bool changed = r >= 0 && after->generation != before->generation;
        if (r >= 0)
                snprintf(generation, sizeof(generation), "the new key is generation %" PRIu64 "%s", after->generation,
                         have_record ? ", not the destroyed one's" : "");
        else
                snprintf(generation, sizeof(generation), "no new key: the erase failed");
        ErasureCheck checks[] = {
                { check, report->mapping_gone == 1, gone },
                { "key-generation-changed", changed, generation },
        };

        /* The destroyed key's settings, from the state that named it; none
         * after a reboot. */
        const Record *keyed = have_record && before->cipher[0] ? before : NULL;
        const char *job = before->job[0] ? before->job : NULL;
        ErasureRecord rec = {
                .volume = vc->name,
                .mode = shared ? "shared" : "exclusive",
                .trigger = trigger,
                .cipher = keyed ? keyed->cipher : NULL,
                .key_bits = keyed ? keyed->key_bits : 0,
                .sector_size = keyed ? keyed->sector_size : t->tuning.sector_size,
                .key_generation_unknown = !have_record,
                .key_destruction = key_end ? key_end : no_key ? "no mapping held a key of this volume in the running kernel: the key of "
                                            "what was on the disks went when an earlier kernel stopped (a reboot or "
                                            "power loss) and was never on any disk; the disks were then re-keyed"
                                          : NULL,
                .discard_done = report->discard_done,
                .discard_detail = report->discard_detail[0] ? report->discard_detail : NULL,
                .scope = ERASURE_SCOPE_VOLUME,
                .scope_size_bytes = before->data_size ?: t->geometry.size,
                .job = job,
                .user = job && before->user[0] ? before->user : NULL,
                .key_generation = before->generation,
                .next_key_generation = r >= 0 ? after->generation : 0,
                .start_usec = start,
                .end_usec = erasure_now_usec(),
                .result = r >= 0 ? "ok" : after->reason[0] ? after->reason : strerror(-r),
                .verification = checks,
                .n_verification = ELEMENTSOF(checks),
        };
        /* Disks not proven the volume's: named, their identity not read. */
        erasure_sink_write(&e->records, &rec, t->disk_list, t->disks_unproven, ret);
}

int engine_run_volume(Engine *e, const ScratchConfig *vc, bool force_wipe, const char *trigger, Record *ret_rec,
                      ErasureOutcome *ret_record) {
        _cleanup_(target_done) Target t = {};
        Record rec = {};
        int r;

        if (ret_record)
                *ret_record = (ErasureOutcome) {};
        int load = record_load(e->state_dir, vc->name, &rec);
        bool have_record = load >= 0;
        if (!have_record)
                rec = (Record) {};

        /* Kept by what the record names, before Devices= is resolved again:
         * its next wipe takes the disks Devices= names then. */
        bool shared = vc->mode == SCRATCH_MODE_SHARED;
        if (!force_wipe && have_record && rec.device[0] &&
            (shared ? recorded_pool_live(vc, &rec) : recorded_disks_live(e, vc, &rec)) &&
            lifecycle_adopt(true, &rec, true) == ADOPT_KEEP) {
                log_kept(vc, &rec);
                *ret_rec = rec;
                return 0;
        }

        r = target_prepare(e, &t, vc);
        if (r < 0) {
                /* Nothing was written. What we knew stands, but for the state:
                 * a volume whose disk we cannot take is no one's to use. A
                 * release or wipe fences what stands on the disks instead. */
                if (!have_record)
                        *ret_rec = (Record) {};
                else
                        *ret_rec = rec;
                /* The erase of a released job's volume, or any erase over
                 * disks that cannot be proven ours: fenced. A config error
                 * (a cipher the kernel lacks) leaves a volume no job holds as
                 * it was. */
                if (force_wipe && (t.disks_unproven || rec.state == STATE_DIRTY) && stack_live(vc)) {
                        /* Its key is destroyed all the same: an erase, with
                         * its record (failed, and why), over the disks the
                         * state names. */
                        Record before = *ret_rec;
                        uint64_t start = erasure_now_usec();
                        WipeReport report;
                        char key_end[300];
                        r = fence_unchecked(e, vc, ret_rec, r, t.why, t.disks_unproven, &report, key_end,
                                            sizeof(key_end));
                        snprintf(t.disk_list, sizeof(t.disk_list), "%s", before.device);
                        ErasureOutcome ignored;
                        record_erase(e, &t, trigger ?: "wipe", have_record, &before, ret_rec, r, start, &report,
                                     key_end, ret_record ?: &ignored);
                        return r;
                }
                (void) lifecycle_apply(ret_rec, EVENT_DISK_LOST, &(LifecycleArgs) { .reason = t.why });
                return r;
        }

        if (load == -EBADMSG)
                log_warning("%s: state file in %s is not one scratchd wrote; wiping", vc->name, e->state_dir);

        if (!force_wipe && lifecycle_adopt(have_record, &rec, !shared && record_live(&t, &rec)) == ADOPT_KEEP) {
                log_kept(vc, &rec);
                *ret_rec = rec;
                return 0;
        }
        if (!force_wipe && (t.facts[0].our_mapping || t.facts[0].our_pool))
                log_info("%s: found an active mapping on %s that cannot be proven clean (state %s); wiping",
                         vc->name, t.disk_list, have_record ? lifecycle_state_to_string(rec.state) : "unknown");

        Record before = rec;
        uint64_t start = erasure_now_usec();
        WipeReport report = { .mapping_was_active = -ENODATA, .mapping_gone = -ENODATA };
        r = wipe_target(e, &t, &rec, &report);
        /* What the record needs ends here; a record not written is the
         * caller's to show, and does not undo the erase. */
        ErasureOutcome ignored;
        record_erase(e, &t, trigger ?: (force_wipe ? "wipe" : "startup"), have_record, &before, &rec,
                     r, start, &report, NULL, ret_record ?: &ignored);
        *ret_rec = rec;
        return r;
}

static int for_each_volume(Engine *e, bool force_wipe) {
        int ret = 0;
        for (size_t i = 0; i < e->config->n_scratch; i++) {
                const ScratchConfig *vc = &e->config->scratch[i];
                _cleanup_close_ int lock = engine_lock_volume(e, vc->name);
                Record rec;
                int r = lock < 0 ? lock : engine_run_volume(e, vc, force_wipe, NULL, &rec, NULL);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int engine_setup(Engine *e) {
        return for_each_volume(e, false);
}

int engine_wipe(Engine *e) {
        return for_each_volume(e, true);
}

int engine_status(Engine *e, FILE *out) {
        for (size_t i = 0; i < e->config->n_scratch; i++) {
                const ScratchConfig *vc = &e->config->scratch[i];
                Record rec;
                char a[32];

                if (i > 0)
                        fputc('\n', out);
                int r = record_load(e->state_dir, vc->name, &rec);
                if (r < 0) {
                        _cleanup_free_ char *devs = strv_join(vc->devices, " ");
                        fprintf(out, "%s: %s\n", vc->name, r == -ENOENT ? "ABSENT (not set up since boot)" : "UNKNOWN (unreadable state file)");
                        fprintf(out, "  devices:         %s\n  mount point:     %s\n", devs ?: "?", vc->mount_point);
                        continue;
                }

                fprintf(out, "%s: %s\n", vc->name, lifecycle_state_to_string(rec.state));
                if (rec.state == STATE_FAILED)
                        fprintf(out, "  reason:          %s\n", rec.reason);
                if (rec.chunk_size > 0) {
                        char b[32];
                        fprintf(out, "  devices:         %s, striped in %s chunks, %s\n", rec.device,
                                format_bytes(a, sizeof(a), rec.chunk_size), format_bytes(b, sizeof(b), rec.data_size));
                } else
                        fprintf(out, "  device:          %s\n", rec.device);
                fprintf(out, "  key generation:  %" PRIu64 "\n", rec.generation);
                /* A record from before the data-path settings were kept has
                 * only the cipher and sector: show no guesses for the rest. */
                if (rec.cipher[0] && rec.tuning[0]) {
                        fprintf(out, "  cipher:          %s, %u-bit key, %u-byte sectors\n", rec.cipher, rec.key_bits,
                                rec.sector_size);
                        fprintf(out, "  data path:       workqueues %s, discards %s\n",
                                rec.bypass_workqueues ? "bypassed" : "used",
                                rec.allow_discards ? "passed to the disk" : "not passed");
                        fprintf(out, "  tuning:          %s\n", rec.tuning);
                } else if (rec.cipher[0])
                        fprintf(out, "  cipher:          %s, %u-byte sectors\n", rec.cipher, rec.sector_size);

                if (vc->mode == SCRATCH_MODE_SHARED) {
                        _cleanup_free_ Record *jobs = NULL;
                        size_t n = 0;
                        (void) jobvol_list(e->state_dir, vc->name, &jobs, &n);
                        fprintf(out, "  mode:            shared, job volumes under %s\n", vc->mount_point);
                        for (size_t k = 0; k < n; k++)
                                fprintf(out, "  %-16s %s, %s, key generation %" PRIu64 "%s%s\n",
                                        jobs[k].job[0] ? jobs[k].job : "(spare)",
                                        lifecycle_state_to_string(jobs[k].state),
                                        format_bytes(a, sizeof(a), jobs[k].data_size), jobs[k].generation,
                                        jobs[k].user[0] ? ", user " : "", jobs[k].user);
                        continue;
                }
                struct statvfs sv;
                if ((rec.state == STATE_CLEAN || rec.state == STATE_IN_USE) && statvfs(vc->mount_point, &sv) == 0) {
                        uint64_t total = (uint64_t) sv.f_blocks * sv.f_frsize;
                        uint64_t used = total - (uint64_t) sv.f_bfree * sv.f_frsize;
                        char b[32];
                        fprintf(out, "  mount point:     %s (%s), %s, %s used\n", vc->mount_point,
                                file_system_to_string(vc->file_system), format_bytes(a, sizeof(a), total),
                                format_bytes(b, sizeof(b), used));
                } else
                        fprintf(out, "  mount point:     %s (not mounted)\n", vc->mount_point);
                if (rec.last_wipe) {
                        struct tm tm;
                        char t[32];
                        strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&rec.last_wipe, &tm));
                        fprintf(out, "  last wipe:       %s, ready in %s\n", t,
                                format_duration(a, sizeof(a), rec.last_wipe_usec));
                }
        }
        return 0;
}
