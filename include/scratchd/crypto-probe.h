/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* What the kernel's crypto API offers for the ciphers scratchd can choose. */
typedef struct CryptoFacts {
        char aes_driver[64];       /* the driver that serves xts(aes) ("xts-aes-aesni"), or else aes; "" unknown */
        bool aes_accelerated;      /* that driver uses AES instructions or a crypto engine */
        bool adiantum_available;   /* adiantum(xchacha12,aes) can be instantiated */
        bool probed;               /* AF_ALG could be asked; if not, what /proc/crypto does not
                                    * list is unknown rather than "no" */
} CryptoFacts;

/* Asks the kernel: instantiates xts(aes) and adiantum(xchacha12,aes) through
 * AF_ALG (as dm-crypt would, so /proc/crypto lists the driver the kernel picks,
 * and loads the modules for both), then reads /proc/crypto. Where AF_ALG is
 * not allowed (the hardened unit), /proc/crypto alone still lists the AES
 * drivers that modules register (aesni, the ARMv8 "-ce" ones, NEON), but not
 * Adiantum before its first use, and `probed` is false. Never fails. Only
 * worth it for a Cipher= other than the default. */
void crypto_probe(CryptoFacts *ret);

/* From the text of /proc/crypto: the driver with the highest priority for the
 * algorithm `name` (internal ones aside). Returns 1 and fills `driver`, or 0
 * when no driver serves it. */
int crypto_best_driver(const char *proc_crypto, const char *name, char *driver, size_t size);

/* Whether a driver uses AES instructions or a crypto engine: not one of the
 * kernel's software implementations ("aes-generic", "aes-fixed-time", scalar
 * assembly such as "aes-arm64", the NEON "xts-aes-neonbs"), which run several
 * times slower than Adiantum on the same CPU. */
bool crypto_driver_accelerated(const char *driver);

/* The pure decision behind crypto_probe(), from /proc/crypto's text. */
void crypto_facts_from_text(const char *proc_crypto, bool adiantum_instantiated, CryptoFacts *ret);
