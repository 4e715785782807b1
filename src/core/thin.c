/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/dm-ioctl.h>
#include <stdarg.h>
#include <sys/sysmacros.h>

#include "scratchd/dm-util.h"
#include "scratchd/log.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"

#define SECTOR_SIZE UINT64_C(512)
/* dm-thin's data block: 128 sectors to 2^21 sectors, in steps of 128. */
#define THIN_BLOCK_MIN (UINT64_C(64) << 10)
#define THIN_BLOCK_MAX (UINT64_C(1) << 30)
/* dm-thin's metadata block: what its status counts metadata in. */
#define THIN_META_BLOCK UINT64_C(4096)
/* The kernel's guide for a mapping's share of the metadata
 * (Documentation/admin-guide/device-mapper/thin-provisioning.rst). */
#define THIN_MAPPING_BYTES UINT64_C(48)
#define THIN_META_MIN (UINT64_C(4) << 20)
/* The most metadata dm-thin uses: its space map's one index block holds 255
 * entries of 16320 metadata blocks each (DM_SM_METADATA_MAX_BLOCKS, in
 * drivers/md/persistent-data/dm-space-map-metadata.h), 15.875 GiB; a larger
 * metadata device gets the rest left unused. */
#define THIN_META_MAX (UINT64_C(255) * 16320 * THIN_META_BLOCK)
/* The superblock, at the metadata's start: the kernel formats the metadata
 * anew where this reads as zeros. */
#define THIN_SUPERBLOCK_SIZE 4096

static int plan_fail(char *why, size_t why_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int plan_fail(char *why, size_t why_size, const char *fmt, ...) {
        if (why && why_size > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(why, why_size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static bool block_valid(uint64_t block) {
        return block >= THIN_BLOCK_MIN && block <= THIN_BLOCK_MAX && block % THIN_BLOCK_MIN == 0;
}

int thin_plan(uint64_t device_size, uint64_t block, ThinPlan *ret, char *why, size_t why_size) {
        /* The default grows with the pool: beyond about 80 TiB, 256 KiB
         * blocks are more than the largest metadata dm-thin uses can map
         * once (48 bytes a mapping), so the block doubles until it fits. */
        if (block == 0) {
                block = THIN_BLOCK_DEFAULT;
                while (block < THIN_BLOCK_MAX && device_size / block * THIN_MAPPING_BYTES > THIN_META_MAX)
                        block *= 2;
        }
        if (!block_valid(block))
                return plan_fail(why, why_size, "thin pool block of %" PRIu64 " bytes is not a multiple of 64 KiB from 64 KiB to 1 GiB; use the default of 256 KiB",
                                 block);

        /* Every block the whole device holds, mapped twice over: a little
         * more than the data part will hold, which is the device less the
         * metadata. No overflow: at most 2^64 / 64 KiB blocks of 96 bytes. */
        uint64_t meta = device_size / block * 2 * THIN_MAPPING_BYTES;
        if (meta < THIN_META_MIN)
                meta = THIN_META_MIN;
        meta = (meta + block - 1) / block * block;
        /* Whole blocks within what the kernel uses: rounded down. */
        uint64_t cap = THIN_META_MAX / block * block;
        if (meta > cap)
                meta = cap;

        if (device_size < meta || device_size - meta < block) {
                char a[32], b[32], c[32];
                return plan_fail(why, why_size, "the data device is %s, less than the pool's %s of metadata and one %s block; use a larger disk",
                                 format_bytes(a, sizeof(a), device_size), format_bytes(b, sizeof(b), meta),
                                 format_bytes(c, sizeof(c), block));
        }

        *ret = (ThinPlan) {
                .meta_size = meta,
                .data_size = (device_size - meta) / block * block,
                .block_size = block,
        };
        return 0;
}

static bool plan_valid(const ThinPlan *p) {
        return p && block_valid(p->block_size) &&
                p->meta_size >= THIN_META_MIN && p->meta_size <= THIN_META_MAX && p->meta_size % p->block_size == 0 &&
                p->data_size > 0 && p->data_size % p->block_size == 0;
}

static int format_checked(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int format_checked(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        int m = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        return m < 0 || (size_t) m >= size ? -ENOBUFS : 0;
}

/* The parts' dm-linear parameters: "MAJ:MIN OFFSET". */
static int part_params(const ThinPlan *p, dev_t data_dev, char *meta, size_t meta_size, char *data, size_t data_size) {
        int r;

        r = format_checked(meta, meta_size, "%u:%u 0", major(data_dev), minor(data_dev));
        if (r < 0)
                return r;
        return format_checked(data, data_size, "%u:%u %" PRIu64, major(data_dev), minor(data_dev), p->meta_size / SECTOR_SIZE);
}

/* The pool's thin-pool parameters: "TMETA TDATA BLOCK_SECTORS 0 1 skip_block_zeroing". */
static int pool_params(const ThinPlan *p, dev_t tmeta_dev, dev_t tdata_dev, char *buf, size_t size) {
        return format_checked(buf, size, "%u:%u %u:%u %" PRIu64 " 0 1 skip_block_zeroing",
                              major(tmeta_dev), minor(tmeta_dev), major(tdata_dev), minor(tdata_dev),
                              p->block_size / SECTOR_SIZE);
}

/* "4095:1048575 18446744073709551615": twice that is plenty. */
#define PARAMS_MAX 128

int thin_part_tables(const ThinPlan *p, dev_t data_dev, char *meta, size_t meta_size, char *data, size_t data_size) {
        char mp[PARAMS_MAX], dp[PARAMS_MAX];
        int r;

        if (!plan_valid(p))
                return -EINVAL;
        r = part_params(p, data_dev, mp, sizeof(mp), dp, sizeof(dp));
        if (r < 0)
                return r;
        r = format_checked(meta, meta_size, "0 %" PRIu64 " linear %s", p->meta_size / SECTOR_SIZE, mp);
        if (r < 0)
                return r;
        return format_checked(data, data_size, "0 %" PRIu64 " linear %s", p->data_size / SECTOR_SIZE, dp);
}

int thin_pool_table(const ThinPlan *p, dev_t tmeta_dev, dev_t tdata_dev, char *buf, size_t size) {
        char params[PARAMS_MAX];
        int r;

        if (!plan_valid(p))
                return -EINVAL;
        r = pool_params(p, tmeta_dev, tdata_dev, params, sizeof(params));
        if (r < 0)
                return r;
        return format_checked(buf, size, "0 %" PRIu64 " thin-pool %s", p->data_size / SECTOR_SIZE, params);
}

const char *thin_pool_name(const char *volume, char *buf, size_t size) {
        snprintf(buf, size, "scratchd-%s-pool", volume);
        return buf;
}

const char *thin_name(const char *volume, uint32_t id, char *buf, size_t size) {
        snprintf(buf, size, "scratchd-%s-thin-%" PRIu32, volume, id);
        return buf;
}

/* The pool's parts, each with its dm name and uuid. */
typedef enum ThinPart {
        THIN_PART_TMETA,
        THIN_PART_TDATA,
        THIN_PART_POOL,
        _THIN_PART_MAX,
} ThinPart;

static const char *const part_name_table[_THIN_PART_MAX] = {
        [THIN_PART_TMETA] = "tmeta",
        [THIN_PART_TDATA] = "tdata",
        [THIN_PART_POOL] = "pool",
};

static const char *const part_uuid_table[_THIN_PART_MAX] = {
        [THIN_PART_TMETA] = "TMETA",
        [THIN_PART_TDATA] = "TDATA",
        [THIN_PART_POOL] = "POOL",
};

int thin_names_check(const char *volume) {
        char name[DM_NAME_LEN], uuid[DM_UUID_LEN];

        if (isempty(volume))
                return -EINVAL;
        /* The longest of them all, both ways: the thin volume with the
         * largest id. So that a volume either has every name or none. */
        if (format_checked(name, sizeof(name), "scratchd-%s-thin-%" PRIu32, volume, THIN_ID_MAX) < 0 ||
            format_checked(uuid, sizeof(uuid), "SCRATCHD-THIN-%s-%" PRIu32, volume, THIN_ID_MAX) < 0)
                return -ENAMETOOLONG;
        return 0;
}

/* "scratchd-<volume>-<part>" and "SCRATCHD-<PART>-<volume>". */
static int part_names(const char *volume, ThinPart part, char name[static DM_NAME_LEN], char uuid[static DM_UUID_LEN]) {
        int r;

        r = thin_names_check(volume);
        if (r < 0)
                return r;
        snprintf(name, DM_NAME_LEN, "scratchd-%s-%s", volume, part_name_table[part]);
        snprintf(uuid, DM_UUID_LEN, "SCRATCHD-%s-%s", part_uuid_table[part], volume);
        return 0;
}

/* "scratchd-<volume>-thin-<id>" and "SCRATCHD-THIN-<volume>-<id>". */
static int thin_names(const char *volume, uint32_t id, char name[static DM_NAME_LEN], char uuid[static DM_UUID_LEN]) {
        int r;

        r = thin_names_check(volume);
        if (r < 0)
                return r;
        if (id > THIN_ID_MAX)
                return -EINVAL;
        snprintf(name, DM_NAME_LEN, "scratchd-%s-thin-%" PRIu32, volume, id);
        snprintf(uuid, DM_UUID_LEN, "SCRATCHD-THIN-%s-%" PRIu32, volume, id);
        return 0;
}

/* 1 and its device number if device `name` is there with dm uuid `uuid`; 0
 * if not there, or not ours (someone else's under our name). */
static int live(const char *name, const char *uuid, dev_t *ret_devnum, uint64_t *ret_sectors) {
        char found[DM_UUID_LEN];
        int r;

        r = dm_device_info(name, ret_devnum, found, sizeof(found), ret_sectors);
        if (r <= 0)
                return r;
        if (!streq(found, uuid)) {
                log_debug("%s has the dm uuid \"%s\", not %s: not ours", name, found, uuid);
                return 0;
        }
        return 1;
}

/* Makes the kernel format the metadata anew: dm-thin takes a superblock of
 * zeros for no metadata at all. Through the page cache, then to the disk,
 * which is where the pool reads it from. */
static int zero_superblock(const char *name) {
        static const uint8_t zeros[THIN_SUPERBLOCK_SIZE];
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "/dev/mapper/%s", name);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = pwrite(fd, zeros, sizeof(zeros), 0);
        if (n < 0)
                return -errno;
        if ((size_t) n != sizeof(zeros))
                return -EIO;
        if (fdatasync(fd) < 0)
                return -errno;
        return 0;
}

/* After a failure: whatever it was, what was made goes, or is named. */
static void remove_made(const char *name, const char *uuid) {
        int r = dm_device_remove(name, uuid);
        if (r < 0)
                log_warning_errno(r, "could not remove %s after the pool failed to come up: %m; remove it by hand (dmsetup remove %s)",
                                  name, name);
}

int thin_pool_create(const char *volume, dev_t data_dev, const ThinPlan *p, dev_t *ret_pool_devnum) {
        char names[_THIN_PART_MAX][DM_NAME_LEN], uuids[_THIN_PART_MAX][DM_UUID_LEN];
        char meta_params[PARAMS_MAX], data_params[PARAMS_MAX], params[PARAMS_MAX];
        dev_t tmeta_dev, tdata_dev;
        int r;

        if (!plan_valid(p))
                return -EINVAL;
        for (ThinPart part = 0; part < _THIN_PART_MAX; part++) {
                r = part_names(volume, part, names[part], uuids[part]);
                if (r < 0)
                        return r;
        }
        r = part_params(p, data_dev, meta_params, sizeof(meta_params), data_params, sizeof(data_params));
        if (r < 0)
                return r;

        /* Each is checked first, so that nothing is made, and then removed,
         * next to something of ours (or anyone's) already there. */
        for (ThinPart part = 0; part < _THIN_PART_MAX; part++) {
                r = dm_device_info(names[part], NULL, NULL, 0, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        return -EEXIST;
        }

        const DmTarget tmeta = { p->meta_size / SECTOR_SIZE, "linear", meta_params };
        r = dm_device_create(names[THIN_PART_TMETA], uuids[THIN_PART_TMETA], &tmeta, 1, &tmeta_dev);
        if (r < 0)
                return r;

        const DmTarget tdata = { p->data_size / SECTOR_SIZE, "linear", data_params };
        r = dm_device_create(names[THIN_PART_TDATA], uuids[THIN_PART_TDATA], &tdata, 1, &tdata_dev);
        if (r < 0)
                goto fail_tmeta;

        r = zero_superblock(names[THIN_PART_TMETA]);
        if (r < 0) {
                log_internal(LOG_DEBUG, r, "zeroing the start of %s failed: %m", names[THIN_PART_TMETA]);
                goto fail_tdata;
        }

        r = pool_params(p, tmeta_dev, tdata_dev, params, sizeof(params));
        if (r < 0)
                goto fail_tdata;
        const DmTarget pool = { p->data_size / SECTOR_SIZE, "thin-pool", params };
        r = dm_device_create(names[THIN_PART_POOL], uuids[THIN_PART_POOL], &pool, 1, ret_pool_devnum);
        if (r < 0)
                goto fail_tdata;
        return 0;

fail_tdata:
        remove_made(names[THIN_PART_TDATA], uuids[THIN_PART_TDATA]);
fail_tmeta:
        remove_made(names[THIN_PART_TMETA], uuids[THIN_PART_TMETA]);
        return r;
}

int thin_pool_remove(const char *volume) {
        char name[DM_NAME_LEN], uuid[DM_UUID_LEN];
        int r, ret = 0;

        /* The pool first: it holds both parts. */
        r = part_names(volume, THIN_PART_POOL, name, uuid);
        if (r < 0)
                return r;
        r = dm_device_remove(name, uuid);
        if (r < 0)
                return r;

        /* Both parts, even where the first fails: each is free of the pool. */
        static const ThinPart parts[] = { THIN_PART_TDATA, THIN_PART_TMETA };
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                r = part_names(volume, parts[i], name, uuid);
                if (r >= 0)
                        r = dm_device_remove(name, uuid);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int thin_pool_live(const char *volume, dev_t *ret_devnum) {
        char name[DM_NAME_LEN], uuid[DM_UUID_LEN];
        int r;

        r = part_names(volume, THIN_PART_POOL, name, uuid);
        if (r < 0)
                return r;
        return live(name, uuid, ret_devnum, NULL);
}

int thin_pool_status_parse(const char *status, uint64_t block_size, ThinPoolUsage *ret) {
        uint64_t transaction, meta_used, meta_total, data_used, data_total;
        char held_root[32], mode[32];
        int consumed = 0;

        if (!status || !block_valid(block_size))
                return -EINVAL;

        /* The pool gave up (a metadata or data device error): it maps and
         * allocates nothing more, and says nothing else. */
        if (streq(status, "Fail")) {
                *ret = (ThinPoolUsage) { .read_only = true };
                return 0;
        }
        /* "Error": reading the metadata for the status failed this time. */
        if (streq(status, "Error"))
                return -EIO;

        if (sscanf(status, "%" SCNu64 " %" SCNu64 "/%" SCNu64 " %" SCNu64 "/%" SCNu64 " %31s %31s%n",
                   &transaction, &meta_used, &meta_total, &data_used, &data_total, held_root, mode, &consumed) != 7 ||
            consumed == 0)
                return -EBADMSG;
        if (meta_used > meta_total || data_used > data_total ||
            meta_total > UINT64_MAX / THIN_META_BLOCK || data_total > UINT64_MAX / block_size)
                return -EBADMSG;
        if (!streq(mode, "rw") && !streq(mode, "ro") && !streq(mode, "out_of_data_space"))
                return -EBADMSG;

        *ret = (ThinPoolUsage) {
                .data_used = data_used * block_size,
                .data_total = data_total * block_size,
                .meta_used = meta_used * THIN_META_BLOCK,
                .meta_total = meta_total * THIN_META_BLOCK,
                /* Out of data space: no new block for anyone, as good as
                 * read-only to a job that writes. */
                .read_only = !streq(mode, "rw"),
        };
        return 0;
}

/* A pool's status is a line of a dozen fields; its table, two devices and
 * four numbers and a feature. */
#define POOL_LINE_MAX 512

int thin_pool_usage(const char *volume, ThinPoolUsage *ret) {
        char name[DM_NAME_LEN], uuid[DM_UUID_LEN], type[32], line[POOL_LINE_MAX];
        uint64_t block_sectors;
        int r;

        r = part_names(volume, THIN_PART_POOL, name, uuid);
        if (r < 0)
                return r;
        r = live(name, uuid, NULL, NULL);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENODEV;

        /* The block size, from the pool's own table: "TMETA TDATA BLOCK_SECTORS ...". */
        r = dm_device_table(name, type, sizeof(type), line, sizeof(line));
        if (r < 0)
                return r == -ENODATA ? -ENODEV : r;
        if (!streq(type, "thin-pool") || sscanf(line, "%*s %*s %" SCNu64, &block_sectors) != 1 ||
            block_sectors > UINT64_MAX / SECTOR_SIZE)
                return -EBADMSG;

        /* A status commits the pool's metadata first (no DM_NOFLUSH_FLAG),
         * so what a "delete" gave back counts as free already. */
        r = dm_device_status(name, type, sizeof(type), line, sizeof(line));
        if (r < 0)
                return r == -ENODATA ? -ENODEV : r;
        if (!streq(type, "thin-pool"))
                return -EBADMSG;
        return thin_pool_status_parse(line, block_sectors * SECTOR_SIZE, ret);
}

/* Sends "<verb> <id>" to the pool. */
static int pool_message(const char *pool, const char *verb, uint32_t id) {
        char message[32];

        snprintf(message, sizeof(message), "%s %" PRIu32, verb, id);
        return dm_device_message(pool, message);
}

int thin_create(const char *volume, uint32_t id, uint64_t size, dev_t *ret_devnum) {
        char pool[DM_NAME_LEN], pool_uuid[DM_UUID_LEN], name[DM_NAME_LEN], uuid[DM_UUID_LEN], params[PARAMS_MAX];
        dev_t pool_dev;
        int r;

        if (size == 0 || size % SECTOR_SIZE != 0)
                return -EINVAL;
        r = thin_names(volume, id, name, uuid);
        if (r < 0)
                return r;
        r = part_names(volume, THIN_PART_POOL, pool, pool_uuid);
        if (r < 0)
                return r;

        r = live(pool, pool_uuid, &pool_dev, NULL);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENODEV;
        /* Before the pool is told anything: a device of that name, ours or
         * not, is left alone, and so is the id it may stand on. */
        r = dm_device_info(name, NULL, NULL, 0, NULL);
        if (r < 0)
                return r;
        if (r > 0)
                return -EEXIST;

        r = pool_message(pool, "create_thin", id);
        if (r < 0)
                return r;

        r = format_checked(params, sizeof(params), "%u:%u %" PRIu32, major(pool_dev), minor(pool_dev), id);
        if (r >= 0) {
                const DmTarget thin = { size / SECTOR_SIZE, "thin", params };
                r = dm_device_create(name, uuid, &thin, 1, ret_devnum);
        }
        if (r < 0) {
                int k = pool_message(pool, "delete", id);
                if (k < 0)
                        log_warning_errno(k, "could not delete thin id %" PRIu32 " from %s after its device failed to come up: %m",
                                          id, pool);
                return r;
        }
        return 0;
}

int thin_live(const char *volume, uint32_t id, dev_t *ret_devnum, uint64_t *ret_size) {
        char name[DM_NAME_LEN], uuid[DM_UUID_LEN];
        uint64_t sectors;
        int r;

        r = thin_names(volume, id, name, uuid);
        if (r < 0)
                return r;
        r = live(name, uuid, ret_devnum, &sectors);
        if (r <= 0)
                return r;
        if (ret_size)
                *ret_size = sectors * SECTOR_SIZE;
        return 1;
}

int thin_remove_device(const char *volume, uint32_t id) {
        char name[DM_NAME_LEN], uuid[DM_UUID_LEN];
        int r = thin_names(volume, id, name, uuid);
        return r < 0 ? r : dm_device_remove(name, uuid);
}

int thin_remove(const char *volume, uint32_t id) {
        char pool[DM_NAME_LEN], pool_uuid[DM_UUID_LEN], name[DM_NAME_LEN], uuid[DM_UUID_LEN];
        int r;

        r = thin_names(volume, id, name, uuid);
        if (r < 0)
                return r;
        r = part_names(volume, THIN_PART_POOL, pool, pool_uuid);
        if (r < 0)
                return r;

        r = dm_device_remove(name, uuid);
        if (r < 0)
                return r;

        /* No pool of ours: no id to delete (the next pool starts empty). */
        r = live(pool, pool_uuid, NULL, NULL);
        if (r <= 0)
                return r;
        r = pool_message(pool, "delete", id);
        /* An id the pool does not know: the kernel's lookup says ENODATA. */
        if (r == -ENODATA)
                return 0;
        return r;
}
