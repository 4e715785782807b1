/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>

#include "scratchd/safety.h"
#include "scratchd/util.h"

const char *signature_describe(const char *type, char *buf, size_t size) {
        static const struct {
                const char *type, *what;
        } table[] = {
                { "gpt", "a GPT partition table" },
                { "PMBR", "a protective MBR (GPT disk)" },
                { "dos", "an MBR partition table" },
                { "swap", "a swap signature" },
                { "LVM2_member", "an LVM physical volume" },
                { "LVM1_member", "an LVM physical volume" },
                { "linux_raid_member", "an md RAID member superblock" },
                { "isw_raid_member", "an Intel RAID member superblock" },
                { "ddf_raid_member", "a DDF RAID member superblock" },
                { "zfs_member", "a ZFS pool member label" },
                { "crypto_LUKS", "a LUKS header" },
                { "BitLocker", "a BitLocker volume" },
                { "bcache", "a bcache superblock" },
                { "ext2", "an ext2 filesystem" },
                { "ext3", "an ext3 filesystem" },
                { "ext4", "an ext4 filesystem" },
                { "xfs", "an XFS filesystem" },
                { "btrfs", "a btrfs filesystem" },
                { "vfat", "a FAT filesystem" },
                { "exfat", "an exFAT filesystem" },
                { "ntfs", "an NTFS filesystem" },
                { "f2fs", "an F2FS filesystem" },
                { "iso9660", "an ISO 9660 filesystem" },
                { "squashfs", "a squashfs filesystem" },
                { "ceph_bluestore", "a Ceph BlueStore label" },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(type, table[i].type)) {
                        snprintf(buf, size, "%s", table[i].what);
                        return buf;
                }
        /* No article guessing for names we do not know: "a 'minix' signature". */
        snprintf(buf, size, "a '%s' signature", type);
        return buf;
}

static void join_described(char *const *types, char *buf, size_t size) {
        size_t used = 0;
        buf[0] = 0;
        for (char *const *t = types; *t && used < size; t++) {
                char one[128];
                int k = snprintf(buf + used, size - used, "%s%s", t == types ? "" : ", ",
                                 signature_describe(*t, one, sizeof(one)));
                if (k < 0)
                        break;
                used += (size_t) k;
        }
}

SafetyVerdict safety_check(const DiskFacts *f, bool expendable, char *reason, size_t reason_size) {
        /* In use by the running system: never ours, whatever the config says. */
        if (f->holds_root) {
                snprintf(reason, reason_size, "%s holds the root filesystem; refusing to touch it, even with "
                         "Expendable=yes; name another disk in Devices=", f->path);
                return SAFETY_REFUSED;
        }
        if (strv_length(f->swaps) > 0) {
                _cleanup_free_ char *s = strv_join(f->swaps, ", ");
                snprintf(reason, reason_size, "%s is in use as swap (%s); refusing to touch it, even with "
                         "Expendable=yes; swapoff it and remove it from fstab first", f->path, s ?: "?");
                return SAFETY_REFUSED;
        }
        if (strv_length(f->mounts) > 0) {
                _cleanup_free_ char *s = strv_join(f->mounts, ", ");
                snprintf(reason, reason_size, "%s is mounted at %s; refusing to touch it, even with "
                         "Expendable=yes; unmount it and remove it from fstab first", f->path, s ?: "?");
                return SAFETY_REFUSED;
        }
        if (strv_length(f->holders) > 0) {
                _cleanup_free_ char *s = strv_join(f->holders, ", ");
                snprintf(reason, reason_size, "%s is in use by %s; refusing to touch it, even with "
                         "Expendable=yes; stop the array or volume group first", f->path, s ?: "?");
                return SAFETY_REFUSED;
        }

        if (f->our_mapping || f->our_pool)
                return SAFETY_OURS;

        /* A foreign signature wins over our header: someone made a file
         * system or partition table on the disk after scratchd did. */
        if (strv_length(f->signatures) > 0) {
                char list[1024];
                join_described(f->signatures, list, sizeof(list));
                if (expendable) {
                        snprintf(reason, reason_size, "%s carries %s; Expendable=yes, so it will be destroyed",
                                 f->path, list);
                        return SAFETY_EXPENDABLE;
                }
                snprintf(reason, reason_size, "%s carries %s that scratchd did not write; refusing to touch it; "
                         "set Expendable=yes in [Scratch] if its data may be destroyed", f->path, list);
                return SAFETY_REFUSED;
        }

        /* Ours, but not a format this scratchd can read: a newer one's, whose
         * layout (a stripe's other disks, say) only it knows. */
        if (f->label_status == LABEL_UNKNOWN_VERSION) {
                snprintf(reason, reason_size, "%s carries a scratchd header of version %" PRIu32 ", written by a "
                         "newer scratchd; refusing to touch it, even with Expendable=yes; upgrade scratchd on this "
                         "node, or, if the disk is yours to reuse, discard it (blkdiscard %s)", f->path,
                         f->label.version, f->path);
                return SAFETY_REFUSED;
        }

        if (f->label_status == LABEL_VALID) {
                if (label_names_disk(&f->label, f->identity))
                        return SAFETY_LABELLED;
                /* A byte-for-byte copy of another disk's start: taking it
                 * would make two disks claim one place in one pool. */
                snprintf(reason, reason_size, "%s carries a scratchd header written for another disk (this disk "
                         "is %s, the header names %s): it was copied from another disk (a clone, or a disk "
                         "image, or the disk reports another identity since a kernel or firmware update); refusing to "
                         "touch it, even with Expendable=yes; if it is yours to reuse, discard it (blkdiscard %s)", f->path,
                         isempty(f->identity) ? "none" : f->identity,
                         isempty(f->label.identity) ? "none" : f->label.identity, f->path);
                return SAFETY_REFUSED;
        }

        if (f->head_zero && f->tail_zero)
                return SAFETY_BLANK;

        /* Not zeros, and nothing anyone recognises: a headerless encrypted
         * volume or a raw-device application's data looks just like this. */
        const char *what = f->label_status == LABEL_CORRUPT
                ? "no signature, a damaged scratchd header, and not zeros"
                : "no signature, no scratchd header, and not zeros: perhaps a headerless encrypted volume or a "
                  "raw-device application's data";
        if (expendable) {
                snprintf(reason, reason_size, "%s holds data scratchd cannot identify (%s); Expendable=yes, so it "
                         "will be destroyed", f->path, what);
                return SAFETY_EXPENDABLE;
        }
        snprintf(reason, reason_size, "%s holds data scratchd cannot identify (%s); refusing to touch it; set "
                 "Expendable=yes in [Scratch] if its data may be destroyed", f->path, what);
        return SAFETY_REFUSED;
}
