/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "scratchd/block.h"
#include "scratchd/disk.h"
#include "scratchd/dm-util.h"
#include "scratchd/fs.h"
#include "scratchd/jobvol.h"
#include "scratchd/kernel-ops.h"
#include "scratchd/holders.h"
#include "scratchd/label.h"
#include "scratchd/log.h"
#include "scratchd/stripe.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"
#include "scratchd/dmcrypt.h"

static int k_find_users(void *userdata, const char *mount_point, char **ret_users) {
        dev_t dev;
        int r = fs_mounted_device(mount_point, &dev);
        if (r <= 0) {
                *ret_users = NULL;
                return r;
        }
        return fs_find_users(dev, ret_users);
}

/* Killed processes are gone within this; a zombie's files and namespaces
 * are released before it is one. */
#define KILL_WAIT_USEC (2 * 1000000ULL)

static int k_kill_holders(void *userdata, const char *mount_point, uid_t uid, char *killed, size_t size) {
        dev_t dev;
        killed[0] = 0;
        int r = fs_mounted_device(mount_point, &dev);
        if (r <= 0)
                return r;
        return holders_kill(dev, uid, KILL_WAIT_USEC, killed, size);
}

static int k_unmount(void *userdata, const char *mount_point, bool detach) {
        return fs_unmount(mount_point, detach);
}

static int k_deactivate(void *userdata, const char *mapping, bool deferred) {
        /* A file system just unmounted, or the last process of a mount
         * namespace that held a copy of it just killed, lets go of the device
         * a moment later (the kernel puts the last mount from a work item). */
        int r = dmcrypt_deactivate(mapping, deferred);
        for (int i = 0; r == -EBUSY && !deferred && i < 20; i++) {
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100000000 }, NULL);
                r = dmcrypt_deactivate(mapping, false);
        }
        return r;
}

static int k_disassemble(void *userdata, const char *volume) {
        return stripe_deactivate(volume);
}

/* The label disk `i` of `req` should carry, but for the pool id. */
static void wanted_label(const WipeRequest *req, size_t i, DiskLabel *ret) {
        *ret = (DiskLabel) {
                .version = LABEL_VERSION,
                .index = (uint32_t) i,
                .count = (uint32_t) req->n_disks,
                .data_offset = req->geometry.data_offset,
                .chunk_size = req->geometry.chunk,
                .created = (uint64_t) time(NULL),
        };
        snprintf(ret->identity, sizeof(ret->identity), "%s", req->disks[i].identity ?: "");
}

/* Whether every disk already carries the label this layout wants, all of one
 * pool: then nothing is written. */
static int labels_current(const WipeRequest *req) {
        uint8_t pool[16];
        for (size_t i = 0; i < req->n_disks; i++) {
                DiskLabel have, want;
                int r = label_read(req->disks[i].path, &have);
                if (r < 0)
                        return r;
                wanted_label(req, i, &want);
                if (r != LABEL_VALID || have.index != want.index || have.count != want.count ||
                    have.data_offset != want.data_offset || have.chunk_size != want.chunk_size ||
                    !streq(have.identity, want.identity))
                        return 0;
                if (i == 0)
                        memcpy(pool, have.pool_id, sizeof(pool));
                else if (memcmp(pool, have.pool_id, sizeof(pool)) != 0)
                        return 0;
        }
        return 1;
}

/* Opens disk `d` for writing, exclusively, and checks that it is still the
 * disk that was probed and checked: its path leads to the same device number,
 * and the disk there reports the same identity. A controller reset or a hot
 * swap between the check and now may have given the name, or the number, to
 * another disk; then nothing is written. Returns the fd. */
static int open_checked_disk(const char *volume, const WipeDisk *d) {
        int fd = open(d->path, O_RDWR | O_EXCL | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "%s: cannot open %s exclusively: %m; 'lsblk %s' shows what holds it",
                                       volume, d->path, d->path);
        struct stat st;
        _cleanup_free_ char *identity = NULL;
        int r = fstat(fd, &st) < 0 ? -errno : 0;
        if (r >= 0) {
                char sys[64], real[PATH_MAX];
                snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
                r = realpath(sys, real) ? disk_identity(basename(real), &identity) : -errno;
                if (r < 0)
                        log_error_errno(r, "%s: cannot read the identity of %s: %m", volume, d->path);
        }
        /* The sequence number tells apart two disks that had the same name,
         * device number and identity (a loop device, or a disk without
         * serial, replaced). */
        uint64_t seq = r >= 0 ? disk_seq(fd) : 0;
        if (r >= 0 && (!S_ISBLK(st.st_mode) || st.st_rdev != d->devnum || !streq(identity ?: "", d->identity ?: "") ||
                       seq != d->diskseq))
                r = log_error_errno(ESTALE, "%s: %s is no longer the disk that was checked (device %u:%u, diskseq "
                                    "%" PRIu64 ", identity %s; it was %u:%u, diskseq %" PRIu64 ", %s); nothing "
                                    "written; run 'scratchctl wipe' to check the disks again", volume, d->path,
                                    major(st.st_rdev), minor(st.st_rdev), seq, identity ?: "none", major(d->devnum),
                                    minor(d->devnum), d->diskseq, d->identity ?: "none");
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

static int k_assemble(void *userdata, const WipeRequest *req) {
        int fds[STRIPE_DISKS_MAX];
        dev_t devs[STRIPE_DISKS_MAX];
        size_t n_open = 0;
        int r = 0;

        if (req->n_disks == 0 || req->n_disks > STRIPE_DISKS_MAX)
                return -EINVAL;
        /* Held open (O_EXCL) while the labels are checked and written. */
        for (; n_open < req->n_disks; n_open++) {
                fds[n_open] = open_checked_disk(req->name, &req->disks[n_open]);
                if (fds[n_open] < 0) {
                        r = fds[n_open];
                        break;
                }
        }
        if (r >= 0)
                r = labels_current(req);
        if (r == 0) {
                /* A new layout is a new pool: its id says which disks were
                 * striped together, nothing more. */
                uint8_t pool[16];
                if (getrandom(pool, sizeof(pool), 0) != (ssize_t) sizeof(pool))
                        r = -EIO;
                for (size_t i = 0; r >= 0 && i < req->n_disks; i++) {
                        DiskLabel l;
                        wanted_label(req, i, &l);
                        memcpy(l.pool_id, pool, sizeof(pool));
                        r = label_write_fd(fds[i], &l);
                        if (r < 0)
                                log_error_errno(r, "%s: cannot write scratchd's header on %s: %m", req->name,
                                                req->disks[i].path);
                }
        }
        for (size_t i = 0; i < n_open; i++)
                close(fds[i]);
        if (r < 0)
                return r;

        for (size_t i = 0; i < req->n_disks; i++)
                devs[i] = req->disks[i].devnum;
        dev_t data;
        r = stripe_activate(req->name, &req->geometry, devs, &data);
        if (r == -EEXIST)
                log_error("%s: %s exists already, made by someone else since the last step; 'dmsetup info' "
                          "shows it", req->name, req->device);
        return r;
}

static int k_teardown_pool(void *userdata, const char *volume, bool force, char *detail, size_t detail_size) {
        return pool_teardown(userdata, volume, force, detail, detail_size);
}

static int k_build_pool(void *userdata, const WipeRequest *req, dev_t *ret_devnum) {
        ThinPlan plan;
        char why[256];
        struct stat st;
        int r = thin_plan(req->geometry.size, 0, &plan, why, sizeof(why));
        if (r < 0)
                return log_error_errno(r, "%s: %s", req->name, why);
        if (stat(req->device, &st) < 0)
                return log_error_errno(errno, "%s: cannot find %s: %m", req->name, req->device);
        r = thin_pool_create(req->name, st.st_rdev, &plan, ret_devnum);
        if (r == -EEXIST)
                log_error("%s: a thin pool of this name exists already, made by someone else since the last "
                          "step; 'dmsetup info' shows it", req->name);
        return r;
}

static int k_erase_signatures(void *userdata, const char *volume, const WipeDisk *disk) {
        _cleanup_close_ int fd = open_checked_disk(volume, disk);
        if (fd < 0)
                return fd;
        return block_erase_signatures_fd(fd);
}

static int k_discard(void *userdata, const char *device) {
        return block_discard(device, NULL);
}

static int k_new_key(void *userdata, size_t size, Secret **ret) {
        return secret_new_random(size, ret);
}

static int k_activate(void *userdata, const char *device, const char *mapping, const CryptTuning *t,
                      const Secret *key, dev_t *ret_devnum) {
        char path[PATH_MAX];
        struct stat st;
        int r = dmcrypt_activate(device, mapping, t, key);
        if (r < 0)
                return r;
        if (stat(dmcrypt_path(mapping, path, sizeof(path)), &st) < 0)
                return -errno;
        *ret_devnum = st.st_rdev;
        return 0;
}

static int k_zero_head(void *userdata, const char *mapping) {
        char path[PATH_MAX];
        return block_zero_head(dmcrypt_path(mapping, path, sizeof(path)), 1 << 20);
}

static int k_mkfs(void *userdata, FileSystem fs, const char *mapping, uint64_t size, char **ret_output) {
        char path[PATH_MAX];
        return fs_make(fs, dmcrypt_path(mapping, path, sizeof(path)), size, ret_output);
}

static int k_mount(void *userdata, const char *mapping, const char *mount_point, FileSystem fs) {
        char path[PATH_MAX];
        return fs_mount(dmcrypt_path(mapping, path, sizeof(path)), mount_point, fs);
}

static int k_save_state(void *userdata, const char *name, const Record *rec) {
        return record_save(userdata, name, rec);
}

static int k_mapping_exists(void *userdata, const char *mapping) {
        return dm_device_info(mapping, NULL, NULL, 0, NULL);
}

/* Every dm device's name, from sysfs (/sys/block/dm-N/dm/name). */
static int k_mappings_with_prefix(void *userdata, const char *prefix) {
        DIR *d = opendir("/sys/block");
        if (!d)
                return -errno;
        int n = 0, r = 0;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                if (!startswith(de->d_name, "dm-"))
                        continue;
                char p[PATH_MAX];
                _cleanup_free_ char *name = NULL;
                snprintf(p, sizeof(p), "/sys/block/%s/dm/name", de->d_name);
                r = read_one_line(p, &name);
                if (r == -ENOENT) {
                        r = 0;      /* removed meanwhile */
                        continue;
                }
                if (r >= 0)
                        n += startswith(name, prefix);
        }
        closedir(d);
        return r < 0 ? r : n;
}

void kernel_ops_init(WipeOps *ops, const char *state_dir) {
        *ops = (WipeOps) {
                .find_users = k_find_users,
                .kill_holders = k_kill_holders,
                .unmount = k_unmount,
                .deactivate = k_deactivate,
                .disassemble = k_disassemble,
                .assemble = k_assemble,
                .erase_signatures = k_erase_signatures,
                .discard = k_discard,
                .teardown_pool = k_teardown_pool,
                .build_pool = k_build_pool,
                .new_key = k_new_key,
                .activate = k_activate,
                .zero_head = k_zero_head,
                .mkfs = k_mkfs,
                .mount = k_mount,
                .save_state = k_save_state,
                .mapping_exists = k_mapping_exists,
                .mappings_with_prefix = k_mappings_with_prefix,
                .userdata = (void *) state_dir,
        };
}
