/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <blkid/blkid.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <libudev.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "scratchd/config.h"
#include "scratchd/disk.h"
#include "scratchd/stripe.h"
#include "scratchd/util.h"

#ifndef BLKGETDISKSEQ   /* kernel headers before 5.15 (RHEL 8) */
#define BLKGETDISKSEQ _IOR(0x12, 128, __u64)
#endif

static inline void udev_unrefp(struct udev **u) {
        if (*u)
                udev_unref(*u);
}
static inline void udev_device_unrefp(struct udev_device **d) {
        if (*d)
                udev_device_unref(*d);
}
static inline void udev_enumerate_unrefp(struct udev_enumerate **e) {
        if (*e)
                udev_enumerate_unref(*e);
}
static inline void blkid_free_probep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

void disk_facts_done(DiskFacts *f) {
        free(f->path);
        free(f->sysname);
        strv_free(f->swaps);
        strv_free(f->mounts);
        strv_free(f->holders);
        strv_free(f->signatures);
        free(f->our_data);
        free(f->identity);
        free(f->our_mapping);
        strv_free(f->our_mounts);
        *f = (DiskFacts) {};
}

int disk_resolve(char *const *patterns, char ***ret_paths, char **ret_error) {
        _cleanup_strv_free_ char **out = NULL;

        for (char *const *p = patterns; p && *p; p++) {
                glob_t g = {};
                int k = glob(*p, GLOB_NOSORT | GLOB_BRACE, NULL, &g);
                if (k == GLOB_NOMATCH) {
                        globfree(&g);
                        return errorf(ret_error, -ENOENT, "Devices=%s: no such disk; check the path, or that udev has "
                                        "created the /dev/disk/by-id link", *p);
                }
                if (k != 0) {
                        globfree(&g);
                        return -ENOMEM;
                }
                /* Sorted, so that a glob resolves the same way on every boot. */
                qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), (int (*)(const void *, const void *)) strcmp);
                for (size_t i = 0; i < g.gl_pathc; i++) {
                        char real[PATH_MAX];
                        struct stat st;
                        if (!realpath(g.gl_pathv[i], real) || stat(real, &st) < 0) {
                                int e = errno;
                                (void) errorf(ret_error, 0, "Devices=%s: %s: %s", *p, g.gl_pathv[i], strerror(e));
                                globfree(&g);
                                return -e;
                        }
                        if (!S_ISBLK(st.st_mode)) {
                                (void) errorf(ret_error, 0, "Devices=%s: %s is not a block device; name a disk", *p,
                                         g.gl_pathv[i]);
                                globfree(&g);
                                return -ENOTBLK;
                        }
                        if (!strv_contains(out, real) && strv_extend(&out, real) < 0) {
                                globfree(&g);
                                return -ENOMEM;
                        }
                }
                globfree(&g);
        }
        *ret_paths = TAKE_PTR(out);
        return 0;
}

/* Mountinfo escapes blanks and backslashes as \ooo. */
static void unoctal(char *s) {
        char *w = s;
        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 3;
                } else
                        *w++ = *r;
        }
        *w = 0;
}

typedef struct Related {
        dev_t devs[256];
        char names[256][64];
        size_t n;
        dev_t ours[256];          /* shared mode's stack on our data device: pool, thin and job volumes */
        size_t n_ours;
} Related;

static bool related_has(const Related *r, dev_t d, size_t *ret_index) {
        for (size_t i = 0; i < r->n; i++)
                if (r->devs[i] == d) {
                        if (ret_index)
                                *ret_index = i;
                        return true;
                }
        return false;
}

static void related_add(Related *r, dev_t d, const char *name) {
        if (r->n >= ELEMENTSOF(r->devs) || related_has(r, d, NULL))
                return;
        r->devs[r->n] = d;
        snprintf(r->names[r->n], sizeof(r->names[0]), "%s", name);
        r->n++;
}

static int sysfs_dev(const char *sysname, dev_t *ret) {
        char p[PATH_MAX];
        _cleanup_free_ char *s = NULL;
        snprintf(p, sizeof(p), "/sys/class/block/%s/dev", sysname);
        int r = read_one_line(p, &s);
        if (r < 0)
                return r;
        return parse_dev(s, ret);
}

/* Walks /sys/class/block/NAME/holders recursively: md arrays, LVM and dm
 * targets stacked on the disk. Our own mapping is recorded apart. */
static int collect_holders(DiskFacts *f, Related *rel, const char *sysname, const char *mapping, int depth) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "/sys/class/block/%s/holders", sysname);

        DIR *d = opendir(p);
        if (!d)
                return 0;
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                dev_t dev;
                if (sysfs_dev(de->d_name, &dev) < 0)
                        continue;

                _cleanup_free_ char *dm_name = NULL, *dm_uuid = NULL;
                snprintf(p, sizeof(p), "/sys/class/block/%s/dm/name", de->d_name);
                (void) read_one_line(p, &dm_name);
                snprintf(p, sizeof(p), "/sys/class/block/%s/dm/uuid", de->d_name);
                (void) read_one_line(p, &dm_uuid);

                /* Ours: the data device right on the disk, our dm-crypt
                 * mapping on that (or, as scratchd made it before labels,
                 * right on the disk), each known by its name and its uuid. */
                char data_name[160];
                snprintf(data_name, sizeof(data_name), "%s-data", mapping ?: "");
                char data_uuid[192];
                snprintf(data_uuid, sizeof(data_uuid), STRIPE_UUID_PREFIX "%s",
                         mapping && startswith(mapping, MAPPING_PREFIX) ? mapping + strlen(MAPPING_PREFIX) : "");
                bool our_data = depth == 0 && mapping && dm_name && streq(dm_name, data_name) && dm_uuid &&
                                streq(dm_uuid, data_uuid);
                bool our_crypt = (depth == 0 || (depth == 1 && f->our_data)) && mapping && dm_name &&
                                 streq(dm_name, mapping) && dm_uuid && startswith(dm_uuid, "CRYPT-PLAIN-");
                /* Shared mode's pool and job volumes (thin.h, jobvol.h), on
                 * our data device: named after the mapping, with our uuids. */
                char stack_prefix[160];
                snprintf(stack_prefix, sizeof(stack_prefix), "%s-", mapping ?: "");
                bool our_stack = depth >= 1 && f->our_data && mapping && dm_name &&
                                 startswith(dm_name, stack_prefix) && dm_uuid &&
                                 (startswith(dm_uuid, "SCRATCHD-") || startswith(dm_uuid, "CRYPT-PLAIN-"));
                if (our_stack) {
                        f->our_pool = true;
                        if (rel->n_ours < ELEMENTSOF(rel->ours))
                                rel->ours[rel->n_ours++] = dev;
                } else if (our_data) {
                        free(f->our_data);
                        f->our_data = strdup(dm_name);
                        f->our_data_devnum = dev;
                } else if (our_crypt) {
                        free(f->our_mapping);
                        f->our_mapping = strdup(dm_name);
                        f->our_mapping_devnum = dev;
                } else {
                        char desc[256];
                        if (dm_name)
                                snprintf(desc, sizeof(desc), "%s (device-mapper %s)", de->d_name, dm_name);
                        else if (startswith(de->d_name, "md"))
                                snprintf(desc, sizeof(desc), "%s (md RAID)", de->d_name);
                        else
                                snprintf(desc, sizeof(desc), "%s", de->d_name);
                        if (!strv_contains(f->holders, desc) && strv_extend(&f->holders, desc) < 0)
                                r = -ENOMEM;
                }
                related_add(rel, dev, de->d_name);
                if (r >= 0 && depth < 8)
                        r = collect_holders(f, rel, de->d_name, mapping, depth + 1);
        }
        closedir(d);
        return r;
}

static int collect_mounts(DiskFacts *f, const Related *rel) {
        _cleanup_fclose_ FILE *m = fopen("/proc/self/mountinfo", "re");
        if (!m)
                return -errno;

        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        while (getline(&line, &n, m) > 0) {
                unsigned ma, mi;
                char where[PATH_MAX];
                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, where) != 3)
                        continue;
                size_t i;
                if (!related_has(rel, makedev(ma, mi), &i))
                        continue;
                unoctal(where);
                if (streq(where, "/"))
                        f->holds_root = true;
                bool ours = f->our_mapping && makedev(ma, mi) == f->our_mapping_devnum;
                for (size_t k = 0; !ours && k < rel->n_ours; k++)
                        ours = rel->ours[k] == makedev(ma, mi);
                if (ours) {
                        if (strv_extend(&f->our_mounts, where) < 0)
                                return -ENOMEM;
                        continue;
                }
                char desc[PATH_MAX + 80];
                snprintf(desc, sizeof(desc), "%s (%s)", where, rel->names[i]);
                if (strv_extend(&f->mounts, desc) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int collect_swaps(DiskFacts *f, const Related *rel) {
        _cleanup_fclose_ FILE *s = fopen("/proc/swaps", "re");
        if (!s)
                return errno == ENOENT ? 0 : -errno;

        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        bool header = true;
        while (getline(&line, &n, s) > 0) {
                char name[PATH_MAX];
                struct stat st;
                if (header) {
                        header = false;
                        continue;
                }
                if (sscanf(line, "%4095s", name) != 1)
                        continue;
                unoctal(name);
                if (stat(name, &st) < 0 || !S_ISBLK(st.st_mode) || !related_has(rel, st.st_rdev, NULL))
                        continue;
                if (strv_extend(&f->swaps, name) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int collect_partitions(struct udev *udev, struct udev_device *disk, Related *rel) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = udev_enumerate_new(udev);
        if (!e)
                return -ENOMEM;
        if (udev_enumerate_add_match_parent(e, disk) < 0 || udev_enumerate_add_match_subsystem(e, "block") < 0 ||
            udev_enumerate_add_match_property(e, "DEVTYPE", "partition") < 0 || udev_enumerate_scan_devices(e) < 0)
                return -EIO;

        struct udev_list_entry *i;
        udev_list_entry_foreach(i, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d =
                        udev_device_new_from_syspath(udev, udev_list_entry_get_name(i));
                if (d)
                        related_add(rel, udev_device_get_devnum(d), udev_device_get_sysname(d));
        }
        return 0;
}

static int collect_signatures(DiskFacts *f) {
        _cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe_from_filename(f->path);
        if (!pr)
                return errno > 0 ? -errno : -EIO;

        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE | BLKID_SUBLKS_BADCSUM);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);

        f->size = (uint64_t) blkid_probe_get_size(pr);

        /* blkid_do_probe() steps through every signature, not just the first
         * unambiguous one: a disk with both an MBR and an ext4 reports both. */
        int r;
        while ((r = blkid_do_probe(pr)) == 0) {
                const char *type = NULL;
                if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) < 0 &&
                    blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) < 0)
                        continue;
                if (type && !strv_contains(f->signatures, type) && strv_extend(&f->signatures, type) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return -EIO;

        blkid_reset_probe(pr);
        blkid_probe_enable_superblocks(pr, 0);
        blkid_probe_enable_partitions(pr, 0);
        blkid_probe_enable_topology(pr, 1);
        blkid_topology tp = blkid_probe_get_topology(pr);
        if (tp) {
                f->logical_sector_size = (unsigned) blkid_topology_get_logical_sector_size(tp);
                f->physical_sector_size = (unsigned) blkid_topology_get_physical_sector_size(tp);
        }
        if (f->logical_sector_size == 0)
                f->logical_sector_size = 512;
        if (f->physical_sector_size < f->logical_sector_size)
                f->physical_sector_size = f->logical_sector_size;
        return 0;
}

static uint64_t queue_attr(struct udev_device *d, const char *attr) {
        /* A partition's queue is its disk's. */
        struct udev_device *q = d;
        if (streq_ptr(udev_device_get_devtype(d), "partition"))
                q = udev_device_get_parent_with_subsystem_devtype(d, "block", "disk") ?: d;
        const char *v = udev_device_get_sysattr_value(q, attr);
        return v ? strtoull(v, NULL, 10) : 0;
}

/* "wwn:" or "serial:" and the value with surrounding blanks trimmed, cut to
 * fit a label's identity field; NULL (and 0) for a value that is empty, or
 * that a driver printed from a NULL pointer (a ubd disk given no serial
 * shows "(null)"). */
/* One token of an identity: PREFIX + the value, trimmed, inner blanks made
 * '_' (tokens are blank-separated), NULL for no value. */
static int identity_token(const char *prefix, const char *value, const char *suffix, char **ret) {
        *ret = NULL;
        if (!value)
                return 0;
        while (isspace((unsigned char) *value))
                value++;
        size_t n = strlen(value);
        while (n > 0 && isspace((unsigned char) value[n - 1]))
                n--;
        /* ubd prints "(null)" for a disk given no serial. */
        if (n == 0 || (n == 6 && strncmp(value, "(null)", n) == 0))
                return 0;

        char buf[LABEL_IDENTITY_MAX];
        snprintf(buf, sizeof(buf), "%s%.*s%s", prefix, (int) n, value, suffix ?: "");
        for (char *c = buf; *c; c++)
                if (isspace((unsigned char) *c))
                        *c = '_';
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* The first value of these sysfs attributes of the disk, as a token. */
static int identity_from_sysfs(const char *sysname, const char *const *attrs, const char *prefix, const char *suffix,
                               char **ret) {
        *ret = NULL;
        for (const char *const *a = attrs; *a; a++) {
                _cleanup_free_ char *v = NULL;
                char p[PATH_MAX];
                snprintf(p, sizeof(p), "/sys/class/block/%s/%s", sysname, *a);
                /* Absent, or present but unreadable (a SCSI disk without VPD
                 * page 0x83 fails the read of its wwid): not this source. */
                int r = read_one_line(p, &v);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                r = identity_token(prefix, v, suffix, ret);
                if (r < 0 || *ret)
                        return r;
        }
        return 0;
}

int disk_identity(const char *sysname, char **ret) {
        /* Two tokens where the disk has both, and a label matches a disk when
         * any token agrees: a kernel update has changed how NVMe WWNs are
         * spelled before (quirks for bogus namespace ids), and a disk must
         * not turn foreign over that. A WWN (SCSI/SATA VPD page 0x83, NVMe
         * EUI-64 or NGUID) names the namespace. A serial is the controller's
         * for NVMe, so the namespace id goes with it; it lives on the device
         * for NVMe and SCSI, on the block device itself for virtio-blk and
         * User-Mode Linux's ubd. */
        static const char *const wwn_attrs[] = { "wwid", "device/wwid", NULL };
        static const char *const serial_attrs[] = { "device/serial", "serial", NULL };
        _cleanup_free_ char *wwn = NULL, *serial = NULL, *nsid = NULL;
        char p[PATH_MAX], suffix[32] = "";
        int r;

        *ret = NULL;
        snprintf(p, sizeof(p), "/sys/class/block/%s/nsid", sysname);
        if (read_one_line(p, &nsid) >= 0 && nsid[0])
                snprintf(suffix, sizeof(suffix), "/n%s", nsid);
        r = identity_from_sysfs(sysname, wwn_attrs, "wwn:", NULL, &wwn);
        if (r >= 0)
                r = identity_from_sysfs(sysname, serial_attrs, "serial:", suffix, &serial);
        if (r < 0)
                return r;

        /* What udev found (ID_WWN, ID_SERIAL), when its database is there and
         * sysfs said nothing. */
        if (!wwn && !serial) {
                _cleanup_(udev_unrefp) struct udev *udev = udev_new();
                _cleanup_(udev_device_unrefp) struct udev_device *d =
                        udev ? udev_device_new_from_subsystem_sysname(udev, "block", sysname) : NULL;
                if (d) {
                        r = identity_token("wwn:", udev_device_get_property_value(d, "ID_WWN"), NULL, &wwn);
                        if (r >= 0)
                                r = identity_token("serial:", udev_device_get_property_value(d, "ID_SERIAL"), NULL,
                                                   &serial);
                        if (r < 0)
                                return r;
                }
        }
        if (!wwn && !serial)
                return 0;

        /* Both if they fit in a label, else the WWN alone. */
        char buf[LABEL_IDENTITY_MAX];
        int k = snprintf(buf, sizeof(buf), "%s%s%s", wwn ?: "", wwn && serial ? " " : "", serial ?: "");
        if (k < 0 || (size_t) k >= sizeof(buf))
                snprintf(buf, sizeof(buf), "%s", wwn ?: serial);
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* `value` trimmed into buf; false for none (empty, or "(null)" as ubd prints). */
static bool media_value(const char *value, char *buf, size_t size) {
        if (!value)
                return false;
        while (isspace((unsigned char) *value))
                value++;
        size_t n = strlen(value);
        while (n > 0 && isspace((unsigned char) value[n - 1]))
                n--;
        if (n == 0 || (n == 6 && strncmp(value, "(null)", n) == 0))
                return false;
        snprintf(buf, size, "%.*s", (int) n, value);
        return true;
}

/* The first of `attrs` that sysfs has for the disk; else udev's property;
 * "" when neither has it. */
static void media_field(const char *sysname, struct udev_device *d, const char *const *attrs, const char *property,
                        char *buf, size_t size) {
        buf[0] = 0;
        for (const char *const *a = attrs; *a; a++) {
                _cleanup_free_ char *v = NULL;
                char p[PATH_MAX];
                snprintf(p, sizeof(p), "/sys/class/block/%s/%s", sysname, *a);
                if (read_one_line(p, &v) >= 0 && media_value(v, buf, size))
                        return;
        }
        if (d)
                (void) media_value(udev_device_get_property_value(d, property), buf, size);
}

int disk_media(const char *path, DiskMedia *ret) {
        static const char *const model_attrs[] = { "device/model", NULL };
        static const char *const serial_attrs[] = { "device/serial", "serial", NULL };
        static const char *const wwn_attrs[] = { "wwid", "device/wwid", NULL };
        struct stat st;

        *ret = (DiskMedia) {};
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        char link[PATH_MAX], target[PATH_MAX];
        snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = 0;
        const char *sysname = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;

        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(udev_device_unrefp) struct udev_device *d =
                udev ? udev_device_new_from_devnum(udev, 'b', st.st_rdev) : NULL;
        media_field(sysname, d, model_attrs, "ID_MODEL", ret->model, sizeof(ret->model));
        media_field(sysname, d, serial_attrs, "ID_SERIAL_SHORT", ret->serial, sizeof(ret->serial));
        media_field(sysname, d, wwn_attrs, "ID_WWN", ret->wwn, sizeof(ret->wwn));

        _cleanup_free_ char *sectors = NULL;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/size", major(st.st_rdev), minor(st.st_rdev));
        if (read_one_line(p, &sectors) >= 0)
                ret->size = strtoull(sectors, NULL, 10) * 512;
        return 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* pread() of exactly `n` bytes: a device that ends early is an error here,
 * since `offset` and `n` come from its own size. */
static int pread_full(int fd, uint8_t *buf, size_t n, uint64_t offset) {
        for (size_t done = 0; done < n;) {
                ssize_t k = pread(fd, buf + done, n - done, (off_t) (offset + done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                done += (size_t) k;
        }
        return 0;
}

/* Whether the first and the last LABEL_AREA bytes read as zeros, where
 * partition tables and superblocks live (GPT keeps its backup at the end;
 * md 0.90 and 1.0 put theirs there). A disk under 2 * LABEL_AREA is read
 * whole, and both ends are what the whole says. */
static int collect_zeros(DiskFacts *f) {
        _cleanup_close_ int fd = open(f->path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *buf = NULL;
        int r;

        if (fd < 0)
                return -errno;
        if (f->size < 2 * LABEL_AREA) {
                buf = malloc(f->size ?: 1);
                if (!buf)
                        return -ENOMEM;
                r = pread_full(fd, buf, (size_t) f->size, 0);
                if (r < 0)
                        return r;
                f->head_zero = f->tail_zero = all_zero(buf, (size_t) f->size);
                return 0;
        }

        buf = malloc(LABEL_AREA);
        if (!buf)
                return -ENOMEM;
        r = pread_full(fd, buf, LABEL_AREA, 0);
        if (r < 0)
                return r;
        f->head_zero = all_zero(buf, LABEL_AREA);
        r = pread_full(fd, buf, LABEL_AREA, f->size - LABEL_AREA);
        if (r < 0)
                return r;
        f->tail_zero = all_zero(buf, LABEL_AREA);
        return 0;
}

/* Who the disk says it is, and what scratchd's header at its start says. */
static int collect_label(DiskFacts *f) {
        int r = disk_identity(f->sysname, &f->identity);
        if (r < 0)
                return r;
        r = label_read(f->path, &f->label);
        if (r < 0)
                return r;
        f->label_status = (LabelStatus) r;
        return collect_zeros(f);
}

uint64_t disk_seq(int fd) {
        uint64_t seq;
        return ioctl(fd, BLKGETDISKSEQ, &seq) < 0 ? 0 : seq;
}

int disk_probe(const char *path, const char *mapping, DiskFacts *ret) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
        DiskFacts f = {};
        struct stat st;
        int r;

        if (!udev)
                return -ENOMEM;
        /* A block device first (a FIFO or a tape named by mistake is not
         * opened); then the device number and sequence number from one
         * descriptor: the identity every destructive step checks again
         * (kernel-ops.c). */
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        f.diskseq = disk_seq(fd);

        d = udev_device_new_from_devnum(udev, 'b', st.st_rdev);
        if (!d)
                return -ENODEV;

        f.path = strdup(path);
        f.sysname = strdup(udev_device_get_sysname(d));
        if (!f.path || !f.sysname) {
                disk_facts_done(&f);
                return -ENOMEM;
        }
        f.devnum = st.st_rdev;
        f.is_partition = streq_ptr(udev_device_get_devtype(d), "partition");
        f.rotational = queue_attr(d, "queue/rotational") != 0;
        f.discard_max_bytes = queue_attr(d, "queue/discard_max_hw_bytes");

        Related *rel = calloc(1, sizeof(Related));
        if (!rel) {
                disk_facts_done(&f);
                return -ENOMEM;
        }
        related_add(rel, f.devnum, f.sysname);
        r = f.is_partition ? 0 : collect_partitions(udev, d, rel);
        for (size_t i = 0, n = rel->n; r >= 0 && i < n; i++)
                r = collect_holders(&f, rel, rel->names[i], mapping, 0);
        if (r >= 0)
                r = collect_mounts(&f, rel);
        if (r >= 0)
                r = collect_swaps(&f, rel);
        free(rel);
        if (r >= 0)
                r = collect_signatures(&f);
        if (r >= 0)
                r = collect_label(&f);
        if (r < 0) {
                disk_facts_done(&f);
                return r;
        }
        *ret = f;
        return 0;
}

int disk_discover_auto(char ***ret_paths) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        _cleanup_strv_free_ char **out = NULL;

        if (!udev || !(e = udev_enumerate_new(udev)))
                return -ENOMEM;
        if (udev_enumerate_add_match_subsystem(e, "block") < 0 ||
            udev_enumerate_add_match_property(e, "DEVTYPE", "disk") < 0 || udev_enumerate_scan_devices(e) < 0)
                return -EIO;

        struct udev_list_entry *i;
        udev_list_entry_foreach(i, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d =
                        udev_device_new_from_syspath(udev, udev_list_entry_get_name(i));
                if (!d || !udev_device_get_devnode(d))
                        continue;
                const char *name = udev_device_get_sysname(d);
                /* Virtual and stacked devices are never scratch disks. */
                static const char *const skip[] = { "loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd" };
                bool skipped = false;
                for (size_t k = 0; k < ELEMENTSOF(skip); k++)
                        skipped = skipped || startswith(name, skip[k]);
                /* Nor a USB disk (a UAS SSD says it is neither removable
                 * nor rotational): plugged in, not part of the node. */
                skipped = skipped || strstr(udev_device_get_syspath(d) ?: "", "/usb");
                if (skipped || queue_attr(d, "removable") != 0 || queue_attr(d, "queue/rotational") != 0 ||
                    queue_attr(d, "size") == 0)
                        continue;
                if (strv_extend(&out, udev_device_get_devnode(d)) < 0)
                        return -ENOMEM;
        }
        *ret_paths = TAKE_PTR(out);
        return 0;
}
