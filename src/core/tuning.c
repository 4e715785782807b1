/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "scratchd/tuning.h"
#include "scratchd/util.h"

/* dm-crypt's largest sector. */
#define CRYPT_SECTOR_MAX 4096u

/* dm-crypt needs the mapping to be a whole number of its sectors, and
 * libcryptsetup's plain format checks that against the whole disk. */
static bool can_use_sector(const DiskFacts *f, unsigned sector) {
        return f->logical_sector_size <= sector && f->size % sector == 0;
}

static bool is_crypt_sector(unsigned s) {
        return s >= 512 && s <= CRYPT_SECTOR_MAX && (s & (s - 1)) == 0;
}

static int decide_cipher(const CryptoFacts *c, const ScratchConfig *v, const char *path, CipherChoice *ret,
                         char *why, size_t why_size, char *reason, size_t reason_size) {
        const char *driver = c->aes_driver[0] ? c->aes_driver : "unknown";

        switch (v->cipher) {
        case CIPHER_AUTO:
                /* The cipher table says which cipher is for which CPU (cipher.c). */
                if (c->aes_accelerated) {
                        *ret = cipher_for_auto(CIPHER_FOR_AUTO_AES_INSTRUCTIONS);
                        snprintf(why, why_size, "Cipher=auto, AES instructions (%s)", driver);
                } else if (c->adiantum_available) {
                        *ret = cipher_for_auto(CIPHER_FOR_AUTO_NO_AES_INSTRUCTIONS);
                        snprintf(why, why_size, "Cipher=auto, no AES instructions (%s)", driver);
                } else if (c->probed) {
                        *ret = cipher_for_auto(CIPHER_FOR_AUTO_AES_INSTRUCTIONS);
                        snprintf(why, why_size, "Cipher=auto, no AES instructions (%s) but no Adiantum in the kernel",
                                 driver);
                } else {
                        *ret = cipher_for_auto(CIPHER_FOR_AUTO_AES_INSTRUCTIONS);
                        snprintf(why, why_size, "Cipher=auto, no AES instructions (%s) but Adiantum unknown: "
                                 "AF_ALG not allowed", driver);
                }
                return 0;
        case CIPHER_ADIANTUM_XCHACHA12:
        case CIPHER_ADIANTUM_XCHACHA20:
                if (c->probed && !c->adiantum_available) {
                        snprintf(reason, reason_size, "%s: Cipher=%s, but the kernel has no Adiantum; load the "
                                 "adiantum module or use Cipher=%s", path, cipher_choice_to_string(v->cipher),
                                 cipher_choice_to_string(CIPHER_DEFAULT));
                        return -EINVAL;
                }
                *ret = v->cipher;
                /* Unasked, dm-crypt's table load is the judge. */
                snprintf(why, why_size, c->adiantum_available ? "configured" : "configured, unchecked (no AF_ALG)");
                return 0;
        default:
                *ret = CIPHER_AES_XTS;
                snprintf(why, why_size, "default");
                return 0;
        }
}

int tuning_decide(const DiskFacts *f, const CryptoFacts *c, const ScratchConfig *v, CryptTuning *ret, char *reason,
                  size_t reason_size) {
        CryptTuning t = {};
        char why_cipher[160], why_sector[128];
        CipherChoice cipher;
        int r;

        r = decide_cipher(c, v, f->path, &cipher, why_cipher, sizeof(why_cipher), reason, reason_size);
        if (r < 0)
                return r;
        const Cipher *row = cipher_get(cipher);
        t.cipher = row->cipher;
        t.mode = row->mode;
        t.key_size = row->key_size;
        t.cipher_spec = row->name;

        /* Larger crypto sectors cost less per byte: one IV and one cipher
         * setup per sector (Adiantum on 4096-byte sectors runs about 1.3 times
         * as fast as on 512-byte ones, see bench/datapath.sh), so auto takes
         * 4096, the largest dm-crypt has, wherever the disk's size and
         * logical block allow. That is never smaller than a physical block of
         * up to 4 KiB, so the disk never has to read-modify-write; where it
         * is larger (512-byte physical blocks), a power loss could tear a
         * 4 KiB write, which is moot for scratch: a reboot crypto-erases the
         * volume. Where the size forbids 4096, the physical block, else the
         * logical one. */
        if (f->logical_sector_size > CRYPT_SECTOR_MAX) {
                snprintf(reason, reason_size, "%s: the disk's %u-byte logical blocks are larger than dm-crypt's "
                         "largest sector (%u); it cannot be a scratch disk, take it out of Devices=", f->path,
                         f->logical_sector_size, CRYPT_SECTOR_MAX);
                return -EINVAL;
        }
        int k;
        if (v->sector_size) {
                if (!can_use_sector(f, v->sector_size)) {
                        snprintf(reason, reason_size, "%s: SectorSize=%u does not fit a disk with %u-byte logical "
                                 "sectors and %llu bytes; use SectorSize=auto", f->path, v->sector_size,
                                 f->logical_sector_size, (unsigned long long) f->size);
                        return -EINVAL;
                }
                t.sector_size = v->sector_size;
                k = snprintf(why_sector, sizeof(why_sector), "configured");
        } else if (can_use_sector(f, CRYPT_SECTOR_MAX)) {
                t.sector_size = CRYPT_SECTOR_MAX;
                k = snprintf(why_sector, sizeof(why_sector), "the largest (physical block %u)", f->physical_sector_size);
        } else if (is_crypt_sector(f->physical_sector_size) && can_use_sector(f, f->physical_sector_size)) {
                t.sector_size = f->physical_sector_size;
                k = snprintf(why_sector, sizeof(why_sector), "physical block (size not a multiple of 4096)");
        } else {
                t.sector_size = f->logical_sector_size;
                k = snprintf(why_sector, sizeof(why_sector), "logical block (size not a multiple of 4096 or %u)",
                             f->physical_sector_size);
        }
        if (t.sector_size < f->physical_sector_size && f->physical_sector_size <= CRYPT_SECTOR_MAX && k > 0 &&
            (size_t) k < sizeof(why_sector))
                snprintf(why_sector + k, sizeof(why_sector) - (size_t) k,
                         ", below the %u-byte physical block: the disk reads-modifies-writes", f->physical_sector_size);

        /* On SSDs the kcryptd workqueues only add latency and a context
         * switch: do the crypto in the submitting context. On spinning disks
         * they let the elevator sort what dm-crypt hands down. */
        t.bypass_workqueues = v->bypass_workqueues == TRISTATE_AUTO ? !f->rotational
                                                                     : v->bypass_workqueues == TRISTATE_YES;

        /* Pass the file system's discards (fstrim, online discard) through
         * where the disk can do something with them. */
        t.allow_discards = v->allow_discards == TRISTATE_AUTO ? f->discard_max_bytes > 0
                                                               : v->allow_discards == TRISTATE_YES;

        switch (v->discard) {
        case TRISTATE_NO:
                t.discard_on_wipe = false;
                break;
        case TRISTATE_YES:
                t.discard_on_wipe = f->discard_max_bytes > 0;
                break;
        default:
                t.discard_on_wipe = f->discard_max_bytes > 0 &&
                                    (f->size + f->discard_max_bytes - 1) / f->discard_max_bytes <=
                                            DISCARD_AUTO_MAX_REQUESTS;
        }

        snprintf(t.why, sizeof(t.why), "cipher: %s; sectors: %s; workqueues: %s; discards: %s", why_cipher,
                 why_sector,
                 v->bypass_workqueues != TRISTATE_AUTO ? "configured"
                 : f->rotational                       ? "rotational disk"
                                                       : "non-rotational disk",
                 v->allow_discards != TRISTATE_AUTO ? "configured"
                 : f->discard_max_bytes > 0         ? "the disk discards"
                                                    : "the disk cannot discard");
        *ret = t;
        return 0;
}
