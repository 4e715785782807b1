/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "scratchd/block.h"
#include "scratchd/dmcrypt.h"
#include "scratchd/fault.h"
#include "scratchd/fs.h"
#include "scratchd/holders.h"
#include "scratchd/jobvol.h"
#include "scratchd/key.h"
#include "scratchd/lifecycle.h"
#include "scratchd/log.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"

/* The mapping's first MiB: every signature blkid and mkfs look for. */
#define ZERO_HEAD_BYTES (1 << 20)

const char *jobvol_mapping(const char *volume, uint32_t id, char *buf, size_t size) {
        snprintf(buf, size, MAPPING_PREFIX "%s-vol-%" PRIu32, volume, id);
        return buf;
}

const char *jobvol_record_name(const char *volume, uint32_t id, char *buf, size_t size) {
        snprintf(buf, size, "%s.%" PRIu32, volume, id);
        return buf;
}

int jobvol_tuning(const Record *pool, CryptTuningBuf *ret) {
        *ret = (CryptTuningBuf) {};
        /* "aes-xts-plain64", "xchacha12,aes-adiantum-plain64": the cipher
         * up to the first dash, the mode after it. */
        const char *dash = strchr(pool->cipher, '-');
        if (!dash || dash == pool->cipher || !dash[1] || pool->key_bits == 0 || pool->key_bits % 8 || pool->sector_size == 0 ||
            (size_t) (dash - pool->cipher) >= sizeof(ret->cipher))
                return -EINVAL;
        snprintf(ret->cipher, sizeof(ret->cipher), "%.*s", (int) (dash - pool->cipher), pool->cipher);
        snprintf(ret->mode, sizeof(ret->mode), "%s", dash + 1);
        snprintf(ret->spec, sizeof(ret->spec), "%s", pool->cipher);
        ret->t = (CryptTuning) {
                .cipher = ret->cipher,
                .mode = ret->mode,
                .cipher_spec = ret->spec,
                .key_size = pool->key_bits / 8,
                .sector_size = pool->sector_size,
                .bypass_workqueues = pool->bypass_workqueues,
                .allow_discards = pool->allow_discards,
        };
        return 0;
}

static int save(const char *state_dir, const char *volume, const Record *rec) {
        char name[128];
        return record_save(state_dir, jobvol_record_name(volume, rec->thin_id, name, sizeof(name)), rec);
}

static int forget(const char *state_dir, const char *volume, uint32_t id) {
        char name[128], file[160];
        snprintf(file, sizeof(file), "%s/%s.state", state_dir, jobvol_record_name(volume, id, name, sizeof(name)));
        if (unlink(file) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Makes the file system's root the job's: its user's, 0700. Opened without
 * following links, and checked to be the mount's root (the file system we
 * just made), so nothing else is ever changed. */
static int own_root(const char *where, dev_t mapping, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = open(where, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (st.st_dev != mapping)
                return -ESTALE;
        /* Mode first: once the directory is the user's, changing it would
         * need CAP_FOWNER, which the unit does not grant. */
        if (fchmod(fd, 0700) < 0 || fchown(fd, uid, gid) < 0)
                return -errno;
        return 0;
}

static int mounts_of(dev_t dev, char ***ret);

/* Undoes a job volume that failed on its way up, or one being erased: each
 * step whatever the last one did, so that as much goes as can. `force`: a
 * busy mount goes lazily and a busy mapping deferred (fencing). Returns the
 * first error; `detail` names what stays. */
static int take_down(const ScratchConfig *sc, const Record *rec, bool force, char *detail, size_t detail_size) {
        char mapping[128], path[PATH_MAX];
        int r, ret = 0;

        jobvol_mapping(sc->name, rec->thin_id, mapping, sizeof(mapping));
        dmcrypt_path(mapping, path, sizeof(path));

        /* Wherever it is mounted: at the job's directory, and anywhere a
         * crash left it (a spare mounted for a job whose record said so
         * not yet). */
        struct stat st;
        dev_t dev = 0;
        _cleanup_strv_free_ char **mounts = NULL;
        if (stat(path, &st) == 0 && S_ISBLK(st.st_mode)) {
                dev = st.st_rdev;
                if (mounts_of(dev, &mounts) < 0)
                        mounts = NULL;
        }
        if (rec->mount_point[0] && !strv_contains(mounts, rec->mount_point))
                (void) strv_extend(&mounts, rec->mount_point);
        for (char **m = mounts; ret >= 0 && m && *m; m++) {
                /* Ours, by its device: the user owns the job's directory and
                 * may have mounted something over it. */
                r = fs_unmount_device(*m, dev, force);
                if (r < 0) {
                        snprintf(detail, detail_size, "cannot unmount %s: %s", *m, strerror(-r));
                        ret = r;
                } else if (!streq(*m, rec->mount_point))
                        (void) fs_remove_mount_point(*m);
        }
        fault_point("job-unmounted");
        if (ret >= 0) {
                r = dmcrypt_deactivate(mapping, force);
                if (r < 0) {
                        snprintf(detail, detail_size, "cannot remove %s: %s", path, strerror(-r));
                        ret = r;
                }
        }
        /* The key is gone with the mapping: what follows frees the space. */
        fault_point("job-key-dropped");
        if (ret >= 0) {
                dev_t thin_dev;
                uint64_t size;
                if (thin_live(sc->name, rec->thin_id, &thin_dev, &size) > 0) {
                        char thin[128], thin_path[PATH_MAX];
                        /* Its blocks go back to the disks as discarded where
                         * they pass discards down (dm-thin passes them on). */
                        r = block_discard(dmcrypt_path(thin_name(sc->name, rec->thin_id, thin, sizeof(thin)),
                                                       thin_path, sizeof(thin_path)), NULL);
                        if (r < 0 && r != -EOPNOTSUPP)
                                log_debug("%s: discard of %s: %s; the key change alone erased it", sc->name,
                                          thin_path, strerror(-r));
                }
                /* Just freed by the mapping, the thin volume may still be
                 * open a moment: udev's blkid looks at every device that
                 * changed. Two seconds at most. */
                r = thin_remove(sc->name, rec->thin_id);
                for (unsigned i = 0; r == -EBUSY && i < 20; i++) {
                        (void) usleep(100 * 1000);
                        r = thin_remove(sc->name, rec->thin_id);
                }
                if (r < 0) {
                        /* A pool that stopped taking changes answers every
                         * message EOPNOTSUPP: what it says alone does not
                         * name the cause. */
                        ThinPoolUsage u;
                        int k = thin_pool_usage(sc->name, &u);
                        bool stopped = k == -EIO || (k >= 0 && u.read_only);
                        snprintf(detail, detail_size, "cannot delete thin volume %" PRIu32 ": %s%s", rec->thin_id,
                                 strerror(-r),
                                 stopped ? "; the pool is read-only or failed (an I/O error on its disks, or its "
                                           "metadata full: the kernel log says which)" : "");
                        ret = r;
                }
        }
        if (ret >= 0 && rec->mount_point[0])
                (void) fs_remove_mount_point(rec->mount_point);
        return ret;
}

static void fence(const char *state_dir, const ScratchConfig *sc, Record *rec, const char *why) {
        char ignored[256];
        (void) take_down(sc, rec, true, ignored, sizeof(ignored));
        (void) lifecycle_apply(rec, EVENT_WIPE_FAILED, &(LifecycleArgs) { .reason = why });
        int r = save(state_dir, sc->name, rec);
        if (r < 0)
                log_error_errno(r, "%s: cannot record job %s's volume as FAILED: %m", sc->name, rec->job);
        log_error("%s: job %s's volume (thin %" PRIu32 ") fenced (FAILED): %s; its space stays reserved until "
                  "'scratchctl wipe' wipes the pool", sc->name, rec->job, rec->thin_id, why);
}

/* Mounts a made volume (CLEAN: keyed and formatted) at MountPoint/JOB, its
 * root the job user's, and records it IN_USE. */
static int assign(const char *state_dir, const ScratchConfig *sc, Record *rec, const char *job, const char *user,
                  uid_t uid, gid_t gid, const char **step) {
        char mapping[128], path[PATH_MAX];
        int r;

        jobvol_mapping(sc->name, rec->thin_id, mapping, sizeof(mapping));
        dmcrypt_path(mapping, path, sizeof(path));
        snprintf(rec->job, sizeof(rec->job), "%s", job);
        snprintf(rec->user, sizeof(rec->user), "%s", user);
        rec->uid = (uint32_t) uid;
        snprintf(rec->mount_point, sizeof(rec->mount_point), "%s/%s", sc->mount_point, job);

        *step = "mount";
        r = fs_prepare_mount_root(sc->mount_point);
        if (r >= 0)
                r = fs_mount(path, rec->mount_point, fs_probe_type(path, sc->file_system));
        if (r >= 0) {
                *step = "owner";
                r = own_root(rec->mount_point, rec->mapping_devnum, uid, gid);
                fault_point("job-mounted");
        }
        if (r >= 0) {
                *step = "record";
                rec->state = STATE_IN_USE;
                r = save(state_dir, sc->name, rec);
        }
        return r;
}

int jobvol_assign(const char *state_dir, const ScratchConfig *sc, Record *rec, const char *job, const char *user,
                  uid_t uid, gid_t gid, char *reason, size_t reason_size) {
        const char *step = "mount";
        int r = assign(state_dir, sc, rec, job, user, uid, gid, &step);
        if (r >= 0)
                return 0;
        snprintf(reason, reason_size, "job %s's volume (the spare): %s failed: %s", job, step, strerror(-r));
        log_error("%s: %s", sc->name, reason);
        /* The spare goes: erased, or fenced. */
        char why[256];
        if (take_down(sc, rec, false, why, sizeof(why)) >= 0 && forget(state_dir, sc->name, rec->thin_id) >= 0) {
                rec->state = STATE_ABSENT;
                return r;
        }
        char fenced[sizeof(rec->reason)];
        snprintf(fenced, sizeof(fenced), "%s failed: %s", step, strerror(-r));
        fence(state_dir, sc, rec, fenced);
        return r;
}

int jobvol_create(const JobVolSpec *s, Record *rec, char *reason, size_t reason_size) {
        const ScratchConfig *sc = s->sc;
        bool spare = isempty(s->job);
        char mapping[128], path[PATH_MAX], thin[128], thin_path[PATH_MAX], detail[400] = "";
        CryptTuningBuf tb;
        const char *step = "record";
        dev_t thin_dev = 0, crypt_dev = 0;
        int r;

        *rec = (Record) {
                .state = STATE_WIPING,
                .generation = s->generation,
                .data_size = s->size,
                .thin_id = s->id,
                .uid = (uint32_t) s->uid,
                .created = time(NULL),
        };
        /* Named while it is made, so that a fenced one says whose it was. */
        snprintf(rec->job, sizeof(rec->job), "%s", spare ? "" : s->job);
        snprintf(rec->user, sizeof(rec->user), "%s", spare ? "" : s->user);
        dmcrypt_path(thin_name(sc->name, s->id, thin, sizeof(thin)), thin_path, sizeof(thin_path));
        snprintf(rec->device, sizeof(rec->device), "%s", thin_path);
        jobvol_mapping(sc->name, s->id, mapping, sizeof(mapping));
        dmcrypt_path(mapping, path, sizeof(path));

        r = jobvol_tuning(s->pool, &tb);
        if (r < 0) {
                snprintf(reason, reason_size, "the pool's record has no data path settings; wipe the pool");
                rec->state = STATE_ABSENT;
                return r;
        }
        snprintf(rec->cipher, sizeof(rec->cipher), "%s", s->pool->cipher);
        rec->key_bits = s->pool->key_bits;
        rec->sector_size = s->pool->sector_size;
        rec->bypass_workqueues = s->pool->bypass_workqueues;
        rec->allow_discards = s->pool->allow_discards;

        /* On file before anything is made: whatever a crash leaves, the next
         * start finds it by this record and erases it. */
        r = save(s->state_dir, sc->name, rec);
        fault_point("job-saved");
        if (r >= 0) {
                step = "thin volume";
                r = thin_create(sc->name, s->id, s->size, &thin_dev);
                fault_point("job-thin");
        }
        if (r >= 0) {
                _cleanup_secret_free_ Secret *key = NULL;
                step = "key";
                r = secret_new_random(tb.t.key_size, &key);
                if (r >= 0)
                        r = dmcrypt_activate(thin_path, mapping, &tb.t, key);
                /* The key leaves our memory here; only the kernel holds it now. */
                struct stat st;
                if (r >= 0)
                        r = stat(path, &st) < 0 ? -errno : 0;
                if (r >= 0)
                        crypt_dev = st.st_rdev;
                fault_point("job-key");
        }
        if (r >= 0) {
                step = "zero-head";
                r = block_zero_head(path, ZERO_HEAD_BYTES);
        }
        if (r >= 0) {
                _cleanup_free_ char *out = NULL;
                step = "mkfs";
                r = fs_make(sc->file_system, path, s->size, &out);
                if (r < 0 && out)
                        snprintf(detail, sizeof(detail), "mkfs.%s: %s", file_system_to_string(sc->file_system), out);
                fault_point("job-mkfs");
        }
        /* Made: a spare waits here, CLEAN (keyed, formatted, unmounted). */
        if (r >= 0) {
                step = "record";
                rec->state = STATE_CLEAN;
                rec->mapping_devnum = crypt_dev;
                if (spare)
                        r = save(s->state_dir, sc->name, rec);
        }
        if (r >= 0 && spare)
                return 0;
        if (r >= 0)
                r = assign(s->state_dir, sc, rec, s->job, s->user, s->uid, s->gid, &step);
        if (r >= 0)
                return 0;

        if (!detail[0])
                snprintf(detail, sizeof(detail), "%s", strerror(-r));
        snprintf(reason, reason_size, "%s's volume: %s failed: %s", spare ? "the spare" : s->job, step, detail);
        log_error("%s: %s", sc->name, reason);

        /* Undone, nothing stays: as if never asked. Else fenced. */
        char why[256];
        if (take_down(sc, rec, false, why, sizeof(why)) >= 0 && forget(s->state_dir, sc->name, s->id) >= 0) {
                rec->state = STATE_ABSENT;
                return r;
        }
        char fenced[sizeof(rec->reason)];
        snprintf(fenced, sizeof(fenced), "%s failed: %s", step, detail);
        rec->state = STATE_WIPING;
        fence(s->state_dir, sc, rec, fenced);
        return r;
}

int jobvol_erase(const char *state_dir, const ScratchConfig *sc, Record *rec, char *reason, size_t reason_size) {
        char detail[400] = "";
        int r;

        /* WIPING, and still the job's (not lifecycle's wipe, which makes a
         * volume no one's): a fenced job volume stays its job's, so that
         * status names it and a repeated Release is answered for it. */
        rec->state = STATE_WIPING;
        rec->reason[0] = 0;
        r = save(state_dir, sc->name, rec);
        fault_point("job-release-saved");
        if (r < 0)
                snprintf(detail, sizeof(detail), "cannot record state: %s", strerror(-r));

        /* The holders of ours, by its device, not of whatever the user may
         * have mounted over its directory. */
        dev_t dev = 0;
        if (r >= 0 && rec->mount_point[0]) {
                char mapping[128], path[PATH_MAX];
                struct stat st;
                _cleanup_strv_free_ char **mounts = NULL;
                jobvol_mapping(sc->name, rec->thin_id, mapping, sizeof(mapping));
                if (stat(dmcrypt_path(mapping, path, sizeof(path)), &st) == 0 && S_ISBLK(st.st_mode) &&
                    mounts_of(st.st_rdev, &mounts) >= 0 && strv_length(mounts) > 0)
                        dev = st.st_rdev;
        }
        if (dev) {
                _cleanup_free_ char *users = NULL;
                /* The finished job's own processes that still hold its volume
                 * go first (BusyPolicy=kill); anyone else's make it fence. */
                if (sc->busy_policy == BUSY_POLICY_KILL && rec->job[0] && rec->uid != 0) {
                        char killed[300];
                        if (holders_kill(dev, rec->uid, 2 * 1000000ULL, killed, sizeof(killed)) > 0)
                                log_notice("%s: killed what job %s's user (uid %u) left holding %s: %s", sc->name,
                                           rec->job, (unsigned) rec->uid, rec->mount_point, killed);
                }
                /* A scan that cannot see is not a pass. */
                int u = fs_find_users(dev, &users);
                if (u < 0) {
                        snprintf(detail, sizeof(detail), "cannot check what holds %s: %s; wipe the pool once "
                                 "the cause is fixed", rec->mount_point, strerror(-u));
                        r = u;
                } else if (users) {
                        snprintf(detail, sizeof(detail), "%s is in use by %s; stop them, then wipe the pool",
                                 rec->mount_point, users);
                        r = -EBUSY;
                }
        }
        if (r >= 0)
                r = take_down(sc, rec, false, detail, sizeof(detail));
        if (r >= 0)
                r = forget(state_dir, sc->name, rec->thin_id);
        if (r >= 0) {
                rec->state = STATE_ABSENT;
                return 0;
        }
        if (!detail[0])
                snprintf(detail, sizeof(detail), "%s", strerror(-r));
        snprintf(reason, reason_size, "%s%s's volume: %s", rec->job[0] ? "job " : "", rec->job[0] ? rec->job : "the spare",
                 detail);
        fence(state_dir, sc, rec, detail);
        return r;
}

bool jobvol_live(const ScratchConfig *sc, const Record *rec) {
        char mapping[128], path[PATH_MAX], slaves[PATH_MAX];
        struct stat st;
        dev_t thin_dev, mounted;
        uint64_t size;

        bool spare = rec->state == STATE_CLEAN && !rec->job[0] && !rec->mount_point[0];
        if (!spare && (rec->state != STATE_IN_USE || !job_id_valid(rec->job)))
                return false;
        if (thin_live(sc->name, rec->thin_id, &thin_dev, &size) <= 0 || size != rec->data_size)
                return false;
        jobvol_mapping(sc->name, rec->thin_id, mapping, sizeof(mapping));
        if (dmcrypt_is_active(mapping) <= 0 || stat(dmcrypt_path(mapping, path, sizeof(path)), &st) < 0 ||
            st.st_rdev != rec->mapping_devnum)
                return false;
        /* The mapping stands on this very thin volume. */
        snprintf(slaves, sizeof(slaves), "/sys/dev/block/%u:%u/slaves", major(st.st_rdev), minor(st.st_rdev));
        _cleanup_(closedirp) DIR *d = opendir(slaves);
        bool on_thin = false;
        for (struct dirent *de; d && (de = readdir(d));) {
                char p[PATH_MAX];
                _cleanup_free_ char *s = NULL;
                dev_t dev;
                snprintf(p, sizeof(p), "/sys/class/block/%s/dev", de->d_name);
                if (de->d_name[0] != '.' && read_one_line(p, &s) >= 0 && parse_dev(s, &dev) >= 0 && dev == thin_dev)
                        on_thin = true;
        }
        /* A spare is mounted nowhere: one that a crash left mounted for a
         * job (its record not yet the job's) is no spare. */
        if (spare) {
                _cleanup_strv_free_ char **mounts = NULL;
                return on_thin && mounts_of(st.st_rdev, &mounts) >= 0 && strv_length(mounts) == 0;
        }
        char expected[sizeof(rec->mount_point)];
        snprintf(expected, sizeof(expected), "%s/%s", sc->mount_point, rec->job);
        return on_thin && streq(rec->mount_point, expected) && fs_mounted_device(rec->mount_point, &mounted) > 0 &&
               mounted == rec->mapping_devnum;
}

static int by_thin_id(const void *a, const void *b) {
        const Record *x = a, *y = b;
        return x->thin_id < y->thin_id ? -1 : x->thin_id > y->thin_id;
}

int jobvol_list(const char *state_dir, const char *volume, Record **ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = opendir(state_dir);
        _cleanup_free_ Record *list = NULL;
        size_t n = 0;
        char prefix[128];

        *ret = NULL;
        *ret_n = 0;
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        snprintf(prefix, sizeof(prefix), "%s.", volume);
        for (struct dirent *de; (de = readdir(d));) {
                if (!startswith(de->d_name, prefix))
                        continue;
                const char *rest = de->d_name + strlen(prefix);
                char *end;
                if (rest[0] < '0' || rest[0] > '9')
                        continue;
                errno = 0;
                unsigned long id = strtoul(rest, &end, 10);
                if (errno || !streq(end, ".state") || id == 0 || id > THIN_ID_MAX)
                        continue;
                char name[128];
                Record rec;
                snprintf(name, sizeof(name), "%s%lu", prefix, id);
                if (record_load(state_dir, name, &rec) < 0) {
                        /* Not ours to trust; its thin id still goes with the pool. */
                        log_warning("%s: job volume record %s/%s.state cannot be read; its volume is erased",
                                    volume, state_dir, name);
                        rec = (Record) { .state = STATE_FAILED };
                }
                rec.thin_id = (uint32_t) id;
                Record *l = realloc(list, sizeof(Record) * (n + 1));
                if (!l)
                        return -ENOMEM;
                list = l;
                list[n++] = rec;
        }
        if (n > 0)
                qsort(list, n, sizeof(Record), by_thin_id);
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

/* Our devices of the pool, by dm name prefix (with our uuids), from sysfs. */
typedef struct PoolDevice {
        char name[128];
        dev_t devnum;
} PoolDevice;

static int list_devices(const char *prefix, const char *uuid_prefix, PoolDevice **ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = opendir("/sys/block");
        _cleanup_free_ PoolDevice *list = NULL;
        size_t n = 0;

        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                char p[PATH_MAX];
                _cleanup_free_ char *name = NULL, *uuid = NULL, *dev = NULL;
                if (!startswith(de->d_name, "dm-"))
                        continue;
                snprintf(p, sizeof(p), "/sys/block/%s/dm/name", de->d_name);
                if (read_one_line(p, &name) < 0 || !startswith(name, prefix))
                        continue;
                snprintf(p, sizeof(p), "/sys/block/%s/dm/uuid", de->d_name);
                if (read_one_line(p, &uuid) < 0 || !startswith(uuid, uuid_prefix))
                        continue;
                snprintf(p, sizeof(p), "/sys/block/%s/dev", de->d_name);
                PoolDevice *l = realloc(list, sizeof(PoolDevice) * (n + 1));
                if (!l)
                        return -ENOMEM;
                list = l;
                if (read_one_line(p, &dev) < 0 || parse_dev(dev, &list[n].devnum) < 0)
                        continue;
                snprintf(list[n].name, sizeof(list[n].name), "%s", name);
                n++;
        }
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

/* Every mount of `dev`, in the order mountinfo lists them. */
static int mounts_of(dev_t dev, char ***ret) {
        _cleanup_fclose_ FILE *m = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        _cleanup_strv_free_ char **out = NULL;
        size_t n = 0;

        if (!m)
                return -errno;
        while (getline(&line, &n, m) > 0) {
                unsigned ma, mi;
                char where[PATH_MAX];
                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, where) != 3 || makedev(ma, mi) != dev)
                        continue;
                /* Blanks in mount points are written as \040: ours never have any. */
                if (strv_extend(&out, where) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int pool_teardown(const char *state_dir, const char *volume, bool force, char *detail, size_t detail_size) {
        _cleanup_free_ PoolDevice *vols = NULL, *thins = NULL;
        size_t n_vols = 0, n_thins = 0;
        char prefix[160], uuid[200];
        int r, ret = 0;

        snprintf(prefix, sizeof(prefix), MAPPING_PREFIX "%s-vol-", volume);
        snprintf(uuid, sizeof(uuid), "CRYPT-PLAIN-" MAPPING_PREFIX "%s-vol-", volume);
        r = list_devices(prefix, uuid, &vols, &n_vols);
        if (r < 0) {
                snprintf(detail, detail_size, "cannot list device-mapper devices: %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; i < n_vols; i++) {
                _cleanup_strv_free_ char **mounts = NULL;
                r = mounts_of(vols[i].devnum, &mounts);
                for (char **m = mounts; r >= 0 && m && *m; m++) {
                        if (!force) {
                                _cleanup_free_ char *users = NULL;
                                int u = fs_find_users(vols[i].devnum, &users);
                                if (u < 0) {
                                        snprintf(detail, detail_size, "cannot check what holds %s: %s; wipe "
                                                 "again once the cause is fixed", *m, strerror(-u));
                                        return u;
                                }
                                if (users) {
                                        snprintf(detail, detail_size, "%s is in use by %s; stop them, then wipe "
                                                 "again", *m, users);
                                        return -EBUSY;
                                }
                        }
                        r = fs_unmount_device(*m, vols[i].devnum, force);
                        if (r < 0)
                                snprintf(detail, detail_size, "cannot unmount %s: %s", *m, strerror(-r));
                        else
                                (void) fs_remove_mount_point(*m);
                }
                if (r >= 0) {
                        r = dmcrypt_deactivate(vols[i].name, force);
                        if (r < 0)
                                snprintf(detail, detail_size, "cannot remove /dev/mapper/%s: %s", vols[i].name,
                                         strerror(-r));
                }
                if (r < 0 && ret >= 0)
                        ret = r;
        }

        snprintf(prefix, sizeof(prefix), MAPPING_PREFIX "%s-thin-", volume);
        snprintf(uuid, sizeof(uuid), "SCRATCHD-THIN-%s-", volume);
        r = list_devices(prefix, uuid, &thins, &n_thins);
        for (size_t i = 0; r >= 0 && i < n_thins; i++) {
                char *end;
                unsigned long id = strtoul(thins[i].name + strlen(prefix), &end, 10);
                /* The pool goes next, its metadata with it: no id is deleted
                 * one by one (a failed pool would refuse). */
                int k = *end ? -EINVAL : thin_remove_device(volume, (uint32_t) id);
                if (k < 0 && ret >= 0) {
                        snprintf(detail, detail_size, "cannot remove /dev/mapper/%s: %s", thins[i].name,
                                 strerror(-k));
                        ret = k;
                }
        }
        if (ret < 0)
                return ret;
        r = thin_pool_remove(volume);
        if (r < 0) {
                snprintf(detail, detail_size, "cannot remove the thin pool " MAPPING_PREFIX "%s-pool: %s", volume,
                         strerror(-r));
                return r;
        }
        /* The pool is gone, and every job volume with it. */
        _cleanup_free_ Record *recs = NULL;
        size_t n = 0;
        if (jobvol_list(state_dir, volume, &recs, &n) >= 0)
                for (size_t i = 0; i < n; i++)
                        (void) forget(state_dir, volume, recs[i].thin_id);
        return 0;
}
