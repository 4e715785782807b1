/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "scratchd/tuning.h"
#include "scratchd/util.h"

static bool can_use_sector(const DiskFacts *f, unsigned sector) {
        return f->logical_sector_size <= sector && f->size % sector == 0;
}

int tuning_decide(const DiskFacts *f, const VolumeConfig *v, CryptTuning *ret, char *reason, size_t reason_size) {
        CryptTuning t = {
                .cipher = "aes",
                .mode = "xts-plain64",
                .key_size = 64,          /* AES-256 in XTS: two 256-bit keys */
                .allow_discards = true,  /* lets the filesystem's own discards reach the disk */
        };

        /* 4096-byte crypto sectors cost an eighth of the per-sector IV and
         * setup work of 512-byte ones. Any device whose logical block is at
         * most 4096 can take them when its size is a multiple; torn 4 KiB
         * writes on 512-byte-physical disks do not matter here, since a power
         * loss is a reboot and a reboot is a crypto-erase. */
        if (v->sector_size) {
                if (!can_use_sector(f, v->sector_size)) {
                        snprintf(reason, reason_size, "%s: SectorSize=%u does not fit a disk with %u-byte logical "
                                 "sectors and %llu bytes; use SectorSize=auto", f->path, v->sector_size,
                                 f->logical_sector_size, (unsigned long long) f->size);
                        return -EINVAL;
                }
                t.sector_size = v->sector_size;
        } else
                t.sector_size = can_use_sector(f, 4096) ? 4096 : f->logical_sector_size;

        /* On SSDs the kcryptd workqueues only add latency: do the crypto in
         * the submitting context. On spinning disks they let the elevator
         * sort what dm-crypt hands down. */
        t.bypass_workqueues = !f->rotational;

        switch (v->discard) {
        case DISCARD_NO:
                t.discard_on_wipe = false;
                break;
        case DISCARD_YES:
                t.discard_on_wipe = f->discard_max_bytes > 0;
                break;
        default:
                t.discard_on_wipe = f->discard_max_bytes > 0 &&
                                    (f->size + f->discard_max_bytes - 1) / f->discard_max_bytes <=
                                            DISCARD_AUTO_MAX_REQUESTS;
        }

        *ret = t;
        return 0;
}
