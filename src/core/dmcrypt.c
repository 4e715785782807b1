/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <libcryptsetup.h>

#include "scratchd/dm-util.h"
#include "scratchd/log.h"
#include "scratchd/util.h"
#include "scratchd/dmcrypt.h"

/* libcryptsetup drives libdevmapper itself: it sets libdevmapper's log
 * function and calls dm_lib_release() (crypt_free()), so each call here holds
 * dm-util.c's lock, and dm-util.c sets its own log function again at each use. */

static inline void crypt_freep(struct crypt_device **cd) {
        if (*cd)
                crypt_free(*cd);
}

static void cryptsetup_log(int level, const char *msg, void *usrptr) {
        /* libcryptsetup's messages end with a newline; ours do not. */
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                n--;
        log_debug("libcryptsetup: %.*s", (int) n, msg);
}

const char *dmcrypt_path(const char *name, char *buf, size_t size) {
        snprintf(buf, size, "/dev/mapper/%s", name);
        return buf;
}

static int activate_locked(const char *device, const char *name, const CryptTuning *t, const Secret *key) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        int r;

        r = crypt_init(&cd, device);
        if (r < 0)
                return r;
        crypt_set_log_callback(cd, cryptsetup_log, NULL);

        struct crypt_params_plain params = {
                .sector_size = t->sector_size,
        };
        r = crypt_format(cd, CRYPT_PLAIN, t->cipher, t->mode, NULL, NULL, t->key_size, &params);
        if (r < 0)
                return r;

        uint32_t flags = 0;
        if (t->allow_discards)
                flags |= CRYPT_ACTIVATE_ALLOW_DISCARDS;
        if (t->bypass_workqueues)
                flags |= CRYPT_ACTIVATE_NO_READ_WORKQUEUE | CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE;

        return crypt_activate_by_volume_key(cd, name, (const char *) key->data, key->size, flags);
}

int dmcrypt_activate(const char *device, const char *name, const CryptTuning *t, const Secret *key) {
        dm_lock_acquire();
        int r = activate_locked(device, name, t, key);   /* crypt_free() too, under the lock */
        dm_lock_release();
        return r;
}

static int is_active_locked(const char *name) {
        crypt_status_info s = crypt_status(NULL, name);
        if (s == CRYPT_INVALID)
                return -EIO;
        return s == CRYPT_ACTIVE || s == CRYPT_BUSY;
}

int dmcrypt_is_active(const char *name) {
        dm_lock_acquire();
        int r = is_active_locked(name);
        dm_lock_release();
        return r;
}

static int deactivate_locked(const char *name, bool deferred) {
        int r = is_active_locked(name);
        if (r <= 0)
                return r;
        r = crypt_deactivate_by_name(NULL, name, 0);
        if (r == -EBUSY && deferred)
                r = crypt_deactivate_by_name(NULL, name, CRYPT_DEACTIVATE_DEFERRED);
        if (r == -ENODEV)
                return 0;
        return r;
}

int dmcrypt_deactivate(const char *name, bool deferred) {
        dm_lock_acquire();
        int r = deactivate_locked(name, deferred);
        dm_lock_release();
        return r;
}
