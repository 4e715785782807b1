/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <limits.h>
#include <sys/stat.h>

#include "scratchd/block.h"
#include "scratchd/fs.h"
#include "scratchd/kernel-ops.h"
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

static int k_unmount(void *userdata, const char *mount_point, bool detach) {
        return fs_unmount(mount_point, detach);
}

static int k_deactivate(void *userdata, const char *mapping, bool deferred) {
        return dmcrypt_deactivate(mapping, deferred);
}

static int k_erase_signatures(void *userdata, const char *device) {
        return block_erase_signatures(device);
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

void kernel_ops_init(WipeOps *ops, const char *state_dir) {
        *ops = (WipeOps) {
                .find_users = k_find_users,
                .unmount = k_unmount,
                .deactivate = k_deactivate,
                .erase_signatures = k_erase_signatures,
                .discard = k_discard,
                .new_key = k_new_key,
                .activate = k_activate,
                .zero_head = k_zero_head,
                .mkfs = k_mkfs,
                .mount = k_mount,
                .save_state = k_save_state,
                .userdata = (void *) state_dir,
        };
}
