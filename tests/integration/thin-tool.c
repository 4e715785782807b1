/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Drives stripe.h and thin.h from a shell, for test-thin.sh (in a UML guest,
 * as root): one call a command, numbers on stdout, a failure's errno as the
 * exit status (17 EEXIST, 16 EBUSY, 1 EPERM, 19 ENODEV, 36 ENAMETOOLONG),
 * so the guest checks what the kernel answered. Built for the tests only.
 *
 *   thin-tool stripe-up VOLUME DISK...          MAJ:MIN BYTES
 *   thin-tool stripe-down VOLUME
 *   thin-tool plan BYTES [BLOCK]                META DATA BLOCK
 *   thin-tool pool-up VOLUME DEVICE [BLOCK]     MAJ:MIN META DATA BLOCK
 *   thin-tool pool-down VOLUME
 *   thin-tool pool-live VOLUME                  MAJ:MIN, or "no"
 *   thin-tool usage VOLUME                      DATA_USED DATA_TOTAL META_USED META_TOTAL rw|ro
 *   thin-tool create VOLUME ID BYTES            MAJ:MIN
 *   thin-tool live VOLUME ID                    MAJ:MIN BYTES, or "no"
 *   thin-tool remove VOLUME ID
 *   thin-tool parallel VOLUME THREADS ROUNDS [STRIPE-VOLUME DISK]
 *       THREADS threads each make and remove their own thin volume ROUNDS
 *       times, side by side (and one more the data device of STRIPE-VOLUME
 *       over DISK): the one libdevmapper lock under real contention.
 *
 * THIN_TOOL_DEBUG=1: libdevmapper's own messages on stderr. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "scratchd/log.h"
#include "scratchd/stripe.h"
#include "scratchd/thin.h"
#include "scratchd/util.h"

static int device_size(const char *path, uint64_t *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, BLKGETSIZE64, ret) < 0)
                return -errno;
        return 0;
}

static int device_number(const char *path, dev_t *ret) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        *ret = st.st_rdev;
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno != 0 || end == s || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_id(const char *s, uint32_t *ret) {
        uint64_t v;
        int r = parse_u64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

static int stripe_up(const char *volume, char **disks, size_t n, bool print) {
        uint64_t sizes[STRIPE_DISKS_MAX];
        dev_t devs[STRIPE_DISKS_MAX];
        StripeGeometry g;
        char why[256];
        dev_t d;
        int r;

        if (n == 0 || n > STRIPE_DISKS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                r = device_size(disks[i], &sizes[i]);
                if (r < 0)
                        return r;
                r = device_number(disks[i], &devs[i]);
                if (r < 0)
                        return r;
        }
        r = stripe_plan(sizes, n, STRIPE_CHUNK_DEFAULT, &g, why, sizeof(why));
        if (r < 0) {
                fprintf(stderr, "thin-tool: %s\n", why);
                return r;
        }
        r = stripe_activate(volume, &g, devs, &d);
        if (r < 0)
                return r;
        if (print)
                printf("%u:%u %" PRIu64 "\n", major(d), minor(d), g.size);
        return 0;
}

static int plan(const char *bytes, const char *block_arg, ThinPlan *ret) {
        uint64_t size, block = 0;
        char why[256];
        int r;

        r = parse_u64(bytes, &size);
        if (r < 0)
                return r;
        if (block_arg) {
                r = parse_u64(block_arg, &block);
                if (r < 0)
                        return r;
        }
        r = thin_plan(size, block, ret, why, sizeof(why));
        if (r < 0)
                fprintf(stderr, "thin-tool: %s\n", why);
        return r;
}

static int pool_up(const char *volume, const char *device, const char *block_arg) {
        char size[32];
        uint64_t bytes;
        ThinPlan p;
        dev_t data = 0, d = 0;
        int r;

        r = device_size(device, &bytes);
        if (r < 0)
                return r;
        r = device_number(device, &data);
        if (r < 0)
                return r;
        snprintf(size, sizeof(size), "%" PRIu64, bytes);
        r = plan(size, block_arg, &p);
        if (r < 0)
                return r;
        r = thin_pool_create(volume, data, &p, &d);
        if (r < 0)
                return r;
        printf("%u:%u %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", major(d), minor(d), p.meta_size, p.data_size, p.block_size);
        return 0;
}

typedef struct Worker {
        pthread_t thread;
        const char *volume;
        uint32_t id;
        unsigned rounds;
        const char *disk;       /* the stripe worker's: NULL for a thin one */
        int result;
} Worker;

static void *work(void *userdata) {
        Worker *w = userdata;
        int r = 0;

        for (unsigned i = 0; i < w->rounds && r >= 0; i++) {
                if (w->disk) {
                        char *disks[] = { (char *) w->disk };
                        r = stripe_up(w->volume, disks, 1, false);
                        if (r >= 0)
                                r = stripe_deactivate(w->volume);
                        continue;
                }
                dev_t d;
                uint64_t size;
                r = thin_create(w->volume, w->id, UINT64_C(64) << 20, &d);
                if (r >= 0)
                        r = thin_live(w->volume, w->id, &d, &size) == 1 && size == UINT64_C(64) << 20 ? 0 : -EIO;
                if (r >= 0)
                        r = thin_remove(w->volume, w->id);
        }
        w->result = r;
        return NULL;
}

static int parallel(const char *volume, const char *threads, const char *rounds, const char *stripe_volume, const char *disk) {
        uint64_t n, k;
        Worker w[33] = {};
        size_t m = 0;
        int r;

        if (parse_u64(threads, &n) < 0 || n == 0 || n > 32 || parse_u64(rounds, &k) < 0 || k == 0 || k > 1000)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                w[m++] = (Worker) { .volume = volume, .id = 100 + (uint32_t) i, .rounds = (unsigned) k };
        if (stripe_volume && disk)
                w[m++] = (Worker) { .volume = stripe_volume, .rounds = (unsigned) k, .disk = disk };
        for (size_t i = 0; i < m; i++) {
                r = -pthread_create(&w[i].thread, NULL, work, &w[i]);
                if (r < 0) {
                        m = i;
                        break;
                }
        }
        r = 0;
        for (size_t i = 0; i < m; i++) {
                (void) pthread_join(w[i].thread, NULL);
                if (w[i].result < 0 && r == 0)
                        r = w[i].result;
        }
        return r;
}

static int run(int argc, char **argv) {
        const char *cmd = argv[1];
        ThinPoolUsage u;
        ThinPlan p;
        uint64_t size;
        uint32_t id;
        dev_t d;
        int r;

        if (streq(cmd, "stripe-up") && argc >= 4)
                return stripe_up(argv[2], argv + 3, (size_t) argc - 3, true);
        if (streq(cmd, "stripe-down") && argc == 3)
                return stripe_deactivate(argv[2]);
        if (streq(cmd, "plan") && (argc == 3 || argc == 4)) {
                r = plan(argv[2], argc == 4 ? argv[3] : NULL, &p);
                if (r < 0)
                        return r;
                printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", p.meta_size, p.data_size, p.block_size);
                return 0;
        }
        if (streq(cmd, "pool-up") && (argc == 4 || argc == 5))
                return pool_up(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
        if (streq(cmd, "pool-down") && argc == 3)
                return thin_pool_remove(argv[2]);
        if (streq(cmd, "pool-live") && argc == 3) {
                r = thin_pool_live(argv[2], &d);
                if (r < 0)
                        return r;
                if (r == 0)
                        printf("no\n");
                else
                        printf("%u:%u\n", major(d), minor(d));
                return 0;
        }
        if (streq(cmd, "usage") && argc == 3) {
                r = thin_pool_usage(argv[2], &u);
                if (r < 0)
                        return r;
                printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n",
                       u.data_used, u.data_total, u.meta_used, u.meta_total, u.read_only ? "ro" : "rw");
                return 0;
        }
        if (streq(cmd, "create") && argc == 5) {
                if (parse_id(argv[3], &id) < 0 || parse_u64(argv[4], &size) < 0)
                        return -EINVAL;
                r = thin_create(argv[2], id, size, &d);
                if (r < 0)
                        return r;
                printf("%u:%u\n", major(d), minor(d));
                return 0;
        }
        if (streq(cmd, "live") && argc == 4) {
                if (parse_id(argv[3], &id) < 0)
                        return -EINVAL;
                r = thin_live(argv[2], id, &d, &size);
                if (r < 0)
                        return r;
                if (r == 0)
                        printf("no\n");
                else
                        printf("%u:%u %" PRIu64 "\n", major(d), minor(d), size);
                return 0;
        }
        if (streq(cmd, "remove") && argc == 4) {
                if (parse_id(argv[3], &id) < 0)
                        return -EINVAL;
                return thin_remove(argv[2], id);
        }
        if (streq(cmd, "parallel") && (argc == 5 || argc == 7))
                return parallel(argv[2], argv[3], argv[4], argc == 7 ? argv[5] : NULL, argc == 7 ? argv[6] : NULL);

        fprintf(stderr, "thin-tool: unknown command or wrong arguments (see tests/integration/thin-tool.c)\n");
        return -EINVAL;
}

int main(int argc, char **argv) {
        log_open("thin-tool");
        if (getenv("THIN_TOOL_DEBUG"))
                log_set_max_level(LOG_DEBUG);
        if (argc < 2) {
                fprintf(stderr, "thin-tool: no command (see tests/integration/thin-tool.c)\n");
                return EINVAL;
        }
        int r = run(argc, argv);
        if (r < 0) {
                fprintf(stderr, "thin-tool: %s: %s\n", argv[1], strerror(-r));
                return -r < 256 ? -r : 255;
        }
        return 0;
}
