/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <limits.h>
#include <libdevmapper.h>
#include <linux/dm-ioctl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/sysmacros.h>

#include "scratchd/dm-util.h"
#include "scratchd/log.h"
#include "scratchd/util.h"

/* libdevmapper is not thread-safe: the control fd, the queue of /dev/mapper
 * node operations (made by the library itself when udev is off), the udev
 * cookie semaphores' bookkeeping and the log function are process-wide
 * globals, unlocked. Worker threads make and remove devices side by side
 * (the data device, the thin pool, thin volumes), so every use of
 * libdevmapper here holds this one lock, from the first dm_task_create() to
 * dm_lib_release(). libcryptsetup (dmcrypt.c) drives libdevmapper from the
 * same threads without this lock, and sets libdevmapper's log function and
 * calls dm_lib_release() itself (crypt_free()); hence the log function is
 * set again under the lock before each use. */
static pthread_mutex_t dm_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void dm_task_destroyp(struct dm_task **dmt) {
        if (*dmt)
                dm_task_destroy(*dmt);
}

__attribute__((format(printf, 5, 6)))
static void dm_log(int level, const char *file, int line, int dm_errno_or_class, const char *fmt, ...) {
        char msg[LINE_MAX];
        va_list ap;

        if (log_get_max_level() < LOG_DEBUG)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* The library's own call stack, at each failure: noise. */
        if (startswith(msg, "<backtrace>"))
                return;
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                n--;
        log_debug("libdevmapper: %.*s", (int) n, msg);
}

void dm_lock_acquire(void) {
        (void) pthread_mutex_lock(&dm_lock);
}

void dm_lock_release(void) {
        (void) pthread_mutex_unlock(&dm_lock);
}

static void dm_begin(void) {
        (void) pthread_mutex_lock(&dm_lock);
        dm_log_with_errno_init(dm_log);
}

static void dm_end(void) {
        /* Closes the control fd and makes what node operations are still
         * queued; the next use opens it again. */
        dm_lib_release();
        (void) pthread_mutex_unlock(&dm_lock);
}

/* What a failed dm_task_run() says, as a negative errno. */
static int dm_task_error(struct dm_task *dmt) {
        int e = dm_task_get_errno(dmt);
        return e > 0 ? -e : -EIO;
}

static int check_name(const char *name) {
        if (isempty(name))
                return -EINVAL;
        return strlen(name) >= DM_NAME_LEN ? -ENAMETOOLONG : 0;
}

static int check_uuid(const char *uuid) {
        if (isempty(uuid))
                return -EINVAL;
        return strlen(uuid) >= DM_UUID_LEN ? -ENAMETOOLONG : 0;
}

/* Looks the device up by name. Returns 1 and fills *ret (and, where given,
 * its dm uuid into uuid) if it exists, 0 if not. Called with the lock held. */
static int lookup_locked(const char *name, struct dm_info *ret, char *uuid, size_t uuid_size) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = NULL;

        dmt = dm_task_create(DM_DEVICE_INFO);
        if (!dmt)
                return -ENOMEM;
        if (!dm_task_set_name(dmt, name))
                return -EINVAL;
        if (!dm_task_run(dmt))
                return dm_task_error(dmt);
        if (!dm_task_get_info(dmt, ret))
                return -EIO;
        if (!ret->exists)
                return 0;
        if (uuid) {
                const char *u = dm_task_get_uuid(dmt);
                snprintf(uuid, uuid_size, "%s", u ? u : "");
        }
        return 1;
}

static int create_locked(const char *name, const char *uuid, const DmTarget *targets, size_t n, dev_t *ret_devnum) {
        struct dm_info info;
        uint32_t cookie = 0;
        uint64_t start = 0;
        int r;

        r = lookup_locked(name, &info, NULL, 0);
        if (r < 0)
                return r;
        if (r > 0)
                return -EEXIST;

        _cleanup_(dm_task_destroyp) struct dm_task *dmt = dm_task_create(DM_DEVICE_CREATE);
        if (!dmt)
                return -ENOMEM;
        if (!dm_task_set_name(dmt, name) || !dm_task_set_uuid(dmt, uuid))
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!dm_task_add_target(dmt, start, targets[i].sectors, targets[i].type, targets[i].params))
                        return -ENOMEM;
                start += targets[i].sectors;
        }
        /* The /dev/mapper node is there when this returns: udev makes it and
         * dm_udev_wait() waits for it, or, without udev (DM_DISABLE_UDEV=1),
         * libdevmapper makes it itself at dm_udev_wait(). */
        if (!dm_task_set_cookie(dmt, &cookie, 0))
                return -EIO;
        if (!dm_task_run(dmt)) {
                r = dm_task_error(dmt);
                (void) dm_udev_wait(cookie);
                /* Made by someone else since the lookup (by name or uuid). */
                return r == -EBUSY ? -EEXIST : r;
        }
        (void) dm_udev_wait(cookie);

        if (!dm_task_get_info(dmt, &info) || !info.exists)
                return -EIO;
        if (ret_devnum)
                *ret_devnum = makedev(info.major, info.minor);
        return 0;
}

int dm_device_create(const char *name, const char *uuid, const DmTarget *targets, size_t n, dev_t *ret_devnum) {
        int r;

        r = check_name(name);
        if (r < 0)
                return r;
        r = check_uuid(uuid);
        if (r < 0)
                return r;
        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (targets[i].sectors == 0 || isempty(targets[i].type) || !targets[i].params)
                        return -EINVAL;

        dm_begin();
        r = create_locked(name, uuid, targets, n, ret_devnum);
        dm_end();
        return r;
}

static int remove_locked(const char *name, const char *uuid) {
        char found[DM_UUID_LEN];
        struct dm_info info;
        uint32_t cookie = 0;
        int r;

        r = lookup_locked(name, &info, found, sizeof(found));
        if (r <= 0)
                return r;
        /* Never remove a device that took our name but is not ours. */
        if (!streq(found, uuid))
                return log_error_errno(-EPERM, "%s has the dm uuid \"%s\", not %s, so it is not scratchd's; remove it by hand (dmsetup remove %s)",
                                       name, found, uuid, name);
        if (info.open_count > 0)
                return -EBUSY;

        _cleanup_(dm_task_destroyp) struct dm_task *dmt = dm_task_create(DM_DEVICE_REMOVE);
        if (!dmt)
                return -ENOMEM;
        if (!dm_task_set_name(dmt, name))
                return -EINVAL;
        /* No dm_task_retry_remove() (off unless called): a device in use
         * answers -EBUSY at once, not after libdevmapper's retries (25 of
         * them, 0.2 s apart). */
        if (!dm_task_set_cookie(dmt, &cookie, 0))
                return -EIO;
        if (!dm_task_run(dmt)) {
                r = dm_task_error(dmt);
                (void) dm_udev_wait(cookie);
                /* Removed by someone else since the lookup. */
                return r == -ENXIO ? 0 : r;
        }
        (void) dm_udev_wait(cookie);
        return 0;
}

int dm_device_remove(const char *name, const char *uuid) {
        int r;

        r = check_name(name);
        if (r < 0)
                return r;
        r = check_uuid(uuid);
        if (r < 0)
                return r;

        dm_begin();
        r = remove_locked(name, uuid);
        dm_end();
        return r;
}

/* Runs a DM_DEVICE_STATUS or DM_DEVICE_TABLE task on `name`. Returns 1 and
 * the task, 0 if the device is not there. Called with the lock held. */
static int run_query_locked(int type, const char *name, struct dm_task **ret) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = NULL;
        struct dm_info info;

        dmt = dm_task_create(type);
        if (!dmt)
                return -ENOMEM;
        if (!dm_task_set_name(dmt, name))
                return -EINVAL;
        if (!dm_task_run(dmt)) {
                /* libdevmapper takes ENXIO for "not there" on a status,
                 * not on a table: the same answer for both. */
                int r = dm_task_error(dmt);
                return r == -ENXIO ? 0 : r;
        }
        if (!dm_task_get_info(dmt, &info))
                return -EIO;
        if (!info.exists)
                return 0;
        *ret = TAKE_PTR(dmt);
        return 1;
}

static int sectors_locked(const char *name, uint64_t *ret) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = NULL;
        void *next = NULL;
        uint64_t sum = 0;
        int r;

        r = run_query_locked(DM_DEVICE_TABLE, name, &dmt);
        if (r <= 0)
                return r;
        do {
                uint64_t start, length;
                char *type = NULL, *params = NULL;

                next = dm_get_next_target(dmt, next, &start, &length, &type, &params);
                if (type)
                        sum += length;
        } while (next);
        *ret = sum;
        return 1;
}

int dm_device_info(const char *name, dev_t *ret_devnum, char *uuid, size_t uuid_size, uint64_t *ret_sectors) {
        struct dm_info info;
        uint64_t sectors = 0;
        int r;

        r = check_name(name);
        if (r < 0)
                return r;

        dm_begin();
        r = lookup_locked(name, &info, uuid, uuid_size);
        /* Removed between the two: not there. */
        if (r > 0 && ret_sectors)
                r = sectors_locked(name, &sectors);
        dm_end();
        if (r <= 0)
                return r;

        if (ret_devnum)
                *ret_devnum = makedev(info.major, info.minor);
        if (ret_sectors)
                *ret_sectors = sectors;
        return 1;
}

static int message_locked(const char *name, const char *message) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = NULL;

        dmt = dm_task_create(DM_DEVICE_TARGET_MSG);
        if (!dmt)
                return -ENOMEM;
        if (!dm_task_set_name(dmt, name) || !dm_task_set_sector(dmt, 0) || !dm_task_set_message(dmt, message))
                return -ENOMEM;
        if (!dm_task_run(dmt)) {
                int r = dm_task_error(dmt);
                /* The device is not there: that is ENXIO from the ioctl. */
                return r == -ENXIO ? -ENODEV : r;
        }
        return 0;
}

int dm_device_message(const char *name, const char *message) {
        int r;

        r = check_name(name);
        if (r < 0)
                return r;
        if (isempty(message))
                return -EINVAL;

        dm_begin();
        r = message_locked(name, message);
        dm_end();
        return r;
}

static int first_target_locked(int task, const char *name, char *type, size_t type_size, char *buf, size_t size) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = NULL;
        uint64_t start, length;
        char *t = NULL, *params = NULL;
        int r;

        r = run_query_locked(task, name, &dmt);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENODEV;
        (void) dm_get_next_target(dmt, NULL, &start, &length, &t, &params);
        if (!t)
                return -ENODATA;   /* no table loaded */
        if (type && (size_t) snprintf(type, type_size, "%s", t) >= type_size)
                return -ENOBUFS;
        if ((size_t) snprintf(buf, size, "%s", params ? params : "") >= size)
                return -ENOBUFS;
        return 0;
}

static int first_target(int task, const char *name, char *type, size_t type_size, char *buf, size_t size) {
        int r;

        r = check_name(name);
        if (r < 0)
                return r;
        if (size == 0 || (type && type_size == 0))
                return -ENOBUFS;

        dm_begin();
        r = first_target_locked(task, name, type, type_size, buf, size);
        dm_end();
        return r;
}

int dm_device_status(const char *name, char *type, size_t type_size, char *buf, size_t size) {
        return first_target(DM_DEVICE_STATUS, name, type, type_size, buf, size);
}

int dm_device_table(const char *name, char *type, size_t type_size, char *buf, size_t size) {
        return first_target(DM_DEVICE_TABLE, name, type, type_size, buf, size);
}
