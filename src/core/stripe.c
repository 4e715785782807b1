/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <linux/dm-ioctl.h>
#include <stdarg.h>
#include <sys/sysmacros.h>

#include "scratchd/dm-util.h"
#include "scratchd/label.h"
#include "scratchd/stripe.h"
#include "scratchd/util.h"

#define SECTOR_SIZE UINT64_C(512)
#define STRIPE_CHUNK_MIN UINT64_C(4096)
/* dm-stripe reads its chunk size (in sectors) as an unsigned int. */
#define STRIPE_CHUNK_MAX ((UINT64_C(1) << 31) * SECTOR_SIZE)
/* One disk: at least this much data after the label area. */
#define STRIPE_LINEAR_MIN (UINT64_C(1) << 20)

static bool is_power_of_two(uint64_t x) {
        return x != 0 && (x & (x - 1)) == 0;
}

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

int stripe_plan(const uint64_t *sizes, size_t n, uint64_t chunk, StripeGeometry *ret, char *why, size_t why_size) {
        char a[32], b[32];

        if (n == 0)
                return plan_fail(why, why_size, "no disk given; list at least one in Devices=");
        if (n > STRIPE_DISKS_MAX)
                return plan_fail(why, why_size, "%zu disks given, more than the %d a stripe can hold; list fewer in Devices=",
                                 n, STRIPE_DISKS_MAX);

        for (size_t i = 0; i < n; i++)
                if (sizes[i] <= LABEL_AREA)
                        return plan_fail(why, why_size, "disk %zu of %zu is %s, no larger than the %s label area; use a larger disk",
                                         i + 1, n, format_bytes(a, sizeof(a), sizes[i]),
                                         format_bytes(b, sizeof(b), LABEL_AREA));

        if (n == 1) {
                uint64_t leg = (sizes[0] - LABEL_AREA) / SECTOR_SIZE * SECTOR_SIZE;
                if (leg < STRIPE_LINEAR_MIN)
                        return plan_fail(why, why_size, "the disk is %" PRIu64 " bytes, leaving %" PRIu64 " after its label area, less than 1 MiB; use a larger disk",
                                         sizes[0], sizes[0] - LABEL_AREA);
                *ret = (StripeGeometry) {
                        .n_disks = 1,
                        .data_offset = LABEL_AREA,
                        .chunk = 0,
                        .leg_size = leg,
                        .size = leg,
                };
                return 0;
        }

        if (chunk < STRIPE_CHUNK_MIN || chunk > STRIPE_CHUNK_MAX || !is_power_of_two(chunk))
                return plan_fail(why, why_size, "stripe chunk of %" PRIu64 " bytes is not a power of two from 4096 to 1 TiB; use the default of 256 KiB",
                                 chunk);

        size_t smallest = 0;
        for (size_t i = 1; i < n; i++)
                if (sizes[i] < sizes[smallest])
                        smallest = i;

        uint64_t data = sizes[smallest] - LABEL_AREA;
        uint64_t leg = data / chunk * chunk;
        if (leg < chunk)
                return plan_fail(why, why_size, "disk %zu of %zu leaves %s after its label area, less than one %s stripe chunk; use a larger disk or a smaller chunk",
                                 smallest + 1, n, format_bytes(a, sizeof(a), data), format_bytes(b, sizeof(b), chunk));
        if (leg > UINT64_MAX / n)
                return plan_fail(why, why_size, "%zu disks of %s each are more than 16 EiB together; list fewer in Devices=",
                                 n, format_bytes(a, sizeof(a), leg));

        *ret = (StripeGeometry) {
                .n_disks = n,
                .data_offset = LABEL_AREA,
                .chunk = chunk,
                .leg_size = leg,
                .size = n * leg,
        };
        return 0;
}

const char *stripe_name(const char *volume, char *buf, size_t size) {
        snprintf(buf, size, "scratchd-%s-data", volume);
        return buf;
}

static bool geometry_valid(const StripeGeometry *g) {
        if (g->n_disks == 0 || g->n_disks > STRIPE_DISKS_MAX)
                return false;
        if (g->size == 0 || g->size % SECTOR_SIZE != 0 || g->data_offset % SECTOR_SIZE != 0)
                return false;
        if (g->n_disks == 1)
                return true;
        return g->chunk >= STRIPE_CHUNK_MIN && g->chunk <= STRIPE_CHUNK_MAX && is_power_of_two(g->chunk) &&
                g->leg_size % g->chunk == 0 && g->size == g->n_disks * g->leg_size;
}

/* The target's type and its parameters: what follows "<start> <length> " in
 * a table line. */
static int stripe_target(const StripeGeometry *g, const dev_t *disks, const char **ret_type, char *buf, size_t size) {
        size_t k = 0;
        int m;

        if (!geometry_valid(g))
                return -EINVAL;

        uint64_t offset = g->data_offset / SECTOR_SIZE;
        if (g->n_disks == 1) {
                *ret_type = "linear";
                m = snprintf(buf, size, "%u:%u %" PRIu64, major(disks[0]), minor(disks[0]), offset);
                return m < 0 || (size_t) m >= size ? -ENOBUFS : 0;
        }

        *ret_type = "striped";
        m = snprintf(buf, size, "%zu %" PRIu64, g->n_disks, g->chunk / SECTOR_SIZE);
        if (m < 0 || (size_t) m >= size)
                return -ENOBUFS;
        k = (size_t) m;
        for (size_t i = 0; i < g->n_disks; i++) {
                m = snprintf(buf + k, size - k, " %u:%u %" PRIu64, major(disks[i]), minor(disks[i]), offset);
                if (m < 0 || (size_t) m >= size - k)
                        return -ENOBUFS;
                k += (size_t) m;
        }
        return 0;
}

/* Longest target parameters: "32 4294967296" and 32 times " 4095:1048575 2048". */
#define STRIPE_PARAMS_MAX (32 + STRIPE_DISKS_MAX * 48)

int stripe_table(const StripeGeometry *g, const dev_t *disks, char *buf, size_t size) {
        char params[STRIPE_PARAMS_MAX];
        const char *type;
        int r;

        r = stripe_target(g, disks, &type, params, sizeof(params));
        if (r < 0)
                return r;
        int m = snprintf(buf, size, "0 %" PRIu64 " %s %s", g->size / SECTOR_SIZE, type, params);
        if (m < 0 || (size_t) m >= size)
                return -ENOBUFS;
        return 0;
}

/* "scratchd-<volume>-data" and "SCRATCHD-DATA-<volume>", each within what
 * the kernel takes. */
static int dm_names(const char *volume, char name[static DM_NAME_LEN], char uuid[static DM_UUID_LEN]) {
        if (!volume || !*volume)
                return -EINVAL;
        if (strlen("scratchd--data") + strlen(volume) >= DM_NAME_LEN ||
            strlen(STRIPE_UUID_PREFIX) + strlen(volume) >= DM_UUID_LEN)
                return -ENAMETOOLONG;
        stripe_name(volume, name, DM_NAME_LEN);
        snprintf(uuid, DM_UUID_LEN, STRIPE_UUID_PREFIX "%s", volume);
        return 0;
}

int stripe_activate(const char *volume, const StripeGeometry *g, const dev_t *disks, dev_t *ret_devnum) {
        char name[DM_NAME_LEN], uuid[DM_UUID_LEN], params[STRIPE_PARAMS_MAX];
        const char *type;
        int r;

        r = dm_names(volume, name, uuid);
        if (r < 0)
                return r;
        r = stripe_target(g, disks, &type, params, sizeof(params));
        if (r < 0)
                return r;

        DmTarget target = {
                .sectors = g->size / SECTOR_SIZE,
                .type = type,
                .params = params,
        };
        return dm_device_create(name, uuid, &target, 1, ret_devnum);
}

int stripe_deactivate(const char *volume) {
        char name[DM_NAME_LEN], uuid[DM_UUID_LEN];
        int r;

        r = dm_names(volume, name, uuid);
        if (r < 0)
                return r;

        return dm_device_remove(name, uuid);
}
