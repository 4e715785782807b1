/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <sys/stat.h>

#include "scratchd/api.h"
#include "scratchd/dm-util.h"
#include "scratchd/engine.h"
#include "scratchd/fault.h"
#include "scratchd/fs.h"
#include "scratchd/jobvol.h"
#include "scratchd/log.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"
#include "scratchd/worker.h"

/* Makes MountPoint/JOB, 0700, owned by the user, without following links. */
static int make_job_dir(const char *mount_point, const char *job, uid_t uid, gid_t gid) {
        _cleanup_close_ int dfd = open(mount_point, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        int k = mkdirat(dfd, job, 0700);
        /* Mounted before our namespace was made (the initramfs; us, before
         * a restart): read-only here until made writable, here only. */
        if (k < 0 && errno == EROFS && fs_writable_here(mount_point) > 0)
                k = mkdirat(dfd, job, 0700);
        if (k < 0) {
                int e = -errno;
                /* Made by a Prepare whose state could not be recorded: the
                 * same job's, if it is that user's and private. */
                struct stat st;
                if (e == -EEXIST && fstatat(dfd, job, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
                    st.st_uid == uid && (st.st_mode & 07777) == 0700)
                        return 0;
                return e;
        }
        _cleanup_close_ int fd = openat(dfd, job, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* Mode first: once the directory is the user's, changing it would
         * need CAP_FOWNER, which the unit does not grant. */
        if (fd < 0 || fchmod(fd, 0700) < 0 || fchown(fd, uid, gid) < 0) {
                int e = -errno;
                (void) unlinkat(dfd, job, AT_REMOVEDIR);
                return e;
        }
        return 0;
}

/* The job's user through NSS (which may be LDAP or SSSD, and may take its
 * time: this is why it runs here). */
static int lookup_user(const WorkOrder *o, WorkResult *ret) {
        struct passwd pw, *found = NULL;
        char buf[4096];
        int e;

        if (o->user[0])
                e = getpwnam_r(o->user, &pw, buf, sizeof(buf), &found);
        else
                e = getpwuid_r(o->uid, &pw, buf, sizeof(buf), &found);
        if (e != 0 || !found) {
                ret->r = -ENOENT;
                ret->error = API_ERROR_NO_SUCH_USER;
                if (o->user[0])
                        snprintf(ret->reason, sizeof(ret->reason), "%s", o->user);
                else
                        snprintf(ret->reason, sizeof(ret->reason), "%u", (unsigned) o->uid);
                return ret->r;
        }
        snprintf(ret->user, sizeof(ret->user), "%s", found->pw_name);
        ret->uid = found->pw_uid;
        ret->gid = found->pw_gid;
        return 0;
}

void worker_prepare(const WorkOrder *o, WorkResult *ret) {
        int e = lookup_user(o, ret);
        if (e < 0)
                return;
        e = make_job_dir(o->sc->mount_point, o->job, ret->uid, ret->gid);
        fault_point("prepare-dir-made");
        if (e < 0) {
                ret->r = e;
                ret->error = API_ERROR_INTERNAL;
                snprintf(ret->reason, sizeof(ret->reason), "cannot make %s/%s: %s", o->sc->mount_point, o->job,
                         strerror(-e));
                return;
        }
        ret->r = 0;
}

static void job_create(Engine *engine, const WorkOrder *o, WorkResult *ret) {
        /* A spare (no job) has no user yet. */
        if (o->job[0] && lookup_user(o, ret) < 0) {
                ret->rec = (Record) { .state = STATE_ABSENT };
                return;
        }
        JobVolSpec s = {
                .state_dir = engine->state_dir,
                .sc = o->sc,
                .pool = &o->pool,
                .id = o->thin_id,
                .size = o->size,
                .generation = o->generation,
                .job = o->job,
                .user = ret->user,
                .uid = ret->uid,
                .gid = ret->gid,
        };
        ret->r = jobvol_create(&s, &ret->rec, ret->reason, sizeof(ret->reason));
        if (ret->r < 0)
                ret->error = API_ERROR_INTERNAL;
}

/* A job volume's erase, and its record: the volume "<pool>.<thin id>", on
 * the pool's disks (`disks`). `rec`: the job volume's record before. */
static int job_erase(Engine *engine, const ScratchConfig *sc, const char *disks, const char *trigger, Record *rec,
                     char *reason, size_t reason_size, WorkResult *ret) {
        Record before = *rec;
        uint64_t start = erasure_now_usec();
        int r = jobvol_erase(engine->state_dir, sc, rec, reason, reason_size);

        char volume[160], mapping[128], gone[300] = "not checked: the erase failed", thin[200] = "";
        snprintf(volume, sizeof(volume), "%s.%" PRIu32, sc->name, before.thin_id);
        jobvol_mapping(sc->name, before.thin_id, mapping, sizeof(mapping));
        int k = r >= 0 ? dm_device_info(mapping, NULL, NULL, 0, NULL) : -ENODATA;
        int t = r >= 0 ? thin_live(sc->name, before.thin_id, NULL, NULL) : -ENODATA;
        if (k >= 0)
                snprintf(gone, sizeof(gone), "/dev/mapper/%s, and the key in it, %s in the kernel's device-mapper "
                         "table after its removal", mapping, k ? "was still" : "was not");
        else if (r >= 0)
                snprintf(gone, sizeof(gone), "cannot read the kernel's device-mapper table: %s", strerror(-k));
        snprintf(thin, sizeof(thin), "thin volume %" PRIu32 "'s device %s", before.thin_id,
                 t == 0 ? "is gone from the kernel's table" : t > 0 ? "is still in the kernel's table"
                                                               : "cannot be looked up");
        ErasureCheck checks[] = {
                { "mapping-removed", k == 0, gone },
                { "thin-device-removed", t == 0, thin },
        };
        /* The thin device is checked only after an erase that went through. */
        size_t n = r >= 0 ? 2 : 1;
        const char *job = before.job[0] ? before.job : NULL;
        ErasureRecord er = {
                .volume = volume,
                .mode = "shared",
                .trigger = trigger,
                .cipher = before.cipher[0] ? before.cipher : "unknown",
                .key_bits = before.key_bits,
                .sector_size = before.sector_size,
                .discard_done = false,
                .discard_detail = "the thin volume was deleted; its blocks went back to the pool, unreadable without "
                                  "the destroyed key (the disks are discarded at the pool's next wipe where "
                                  "Discard= allows)",
                .scope = ERASURE_SCOPE_JOB_VOLUME,
                .scope_size_bytes = before.data_size,
                .job = job,
                .user = job && before.user[0] ? before.user : NULL,
                .key_generation = before.generation,
                .start_usec = start,
                .end_usec = erasure_now_usec(),
                .result = r >= 0 ? "ok" : reason[0] ? reason : strerror(-r),
                .verification = checks,
                .n_verification = n,
        };
        ErasureOutcome outcome;
        erasure_sink_write(&engine->records, &er, disks, false, &outcome);
        if (outcome.error < 0)
                ret->erasure_failures++;
        else if (outcome.name[0])
                ret->erasures_recorded++;
        /* A pool's adoption erases any number: each its own audit event. */
        if (streq(trigger, "startup")) {
                struct ErasedJob *e = realloc(ret->erased, (ret->n_erased + 1) * sizeof(*e));
                if (e) {
                        ret->erased = e;
                        e = &e[ret->n_erased++];
                        *e = (struct ErasedJob) { .r = r, .erasure = outcome };
                        snprintf(e->job, sizeof(e->job), "%s", before.job);
                        snprintf(e->user, sizeof(e->user), "%s", before.user);
                }
        } else
                ret->erasure = outcome;
        return r;
}

/* After the pool's own work: its job volumes. A pool kept as it was keeps
 * the job volumes the kernel proves; any other is erased (fenced if that
 * fails: its space stays reserved). A pool built anew has none. */
static void pool_jobs_adopt(Engine *engine, const WorkOrder *o, WorkResult *ret) {
        Record *list = NULL;
        size_t n = 0;
        int r = jobvol_list(engine->state_dir, o->sc->name, &list, &n);
        if (r < 0) {
                log_error_errno(r, "%s: cannot list the job volumes' records in %s: %m", o->sc->name,
                                engine->state_dir);
                return;
        }
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
                char reason[256];
                if (ret->r >= 0 && jobvol_live(o->sc, &list[i])) {
                        log_info("%s: job %s's volume (user %s, thin %" PRIu32 ", key generation %" PRIu64
                                 ") is live; kept", o->sc->name, list[i].job, list[i].user, list[i].thin_id,
                                 list[i].generation);
                        list[kept++] = list[i];
                        continue;
                }
                if (list[i].state == STATE_FAILED) {
                        list[kept++] = list[i];   /* fenced before: stays so until a wipe of the pool */
                        continue;
                }
                log_info("%s: job %s's volume (thin %" PRIu32 ", state %s) cannot be proven; erasing it",
                         o->sc->name, list[i].job[0] ? list[i].job : "?", list[i].thin_id,
                         lifecycle_state_to_string(list[i].state));
                if (job_erase(engine, o->sc, ret->rec.device, "startup", &list[i], reason, sizeof(reason), ret) < 0)
                        list[kept++] = list[i];
        }
        ret->jobs = list;
        ret->n_jobs = kept;
}

void worker_run(void *userdata, const WorkOrder *o, WorkResult *ret) {
        Engine *engine = userdata;

        switch (o->kind) {
        case WORK_PREPARE:
                worker_prepare(o, ret);
                return;
        case WORK_JOB_CREATE:
                job_create(engine, o, ret);
                return;
        case WORK_JOB_ASSIGN:
                ret->rec = o->job_rec;
                if (lookup_user(o, ret) < 0)
                        return;   /* the spare stays as it was */
                ret->r = jobvol_assign(engine->state_dir, o->sc, &ret->rec, o->job, ret->user, ret->uid, ret->gid,
                                       ret->reason, sizeof(ret->reason));
                if (ret->r < 0)
                        ret->error = API_ERROR_INTERNAL;
                return;
        case WORK_JOB_RELEASE:
                ret->rec = o->job_rec;
                ret->r = job_erase(engine, o->sc, o->pool.device, o->job[0] ? "release" : "spare-release",
                                   &ret->rec, ret->reason, sizeof(ret->reason), ret);
                return;
        default:
                ret->r = engine_run_volume(engine, o->sc, o->kind != WORK_ADOPT,
                                           o->kind == WORK_ADOPT ? "startup" : o->kind == WORK_RELEASE ? "release" : "wipe",
                                           &ret->rec, &ret->erasure);
                if (ret->erasure.error < 0)
                        ret->erasure_failures++;
                else if (ret->erasure.name[0])
                        ret->erasures_recorded++;
                if (o->sc->mode == SCRATCH_MODE_SHARED)
                        pool_jobs_adopt(engine, o, ret);
                return;
        }
}
