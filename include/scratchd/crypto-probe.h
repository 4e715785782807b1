/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* What the kernel's crypto API offers for the ciphers scratchd can choose. */
typedef struct CryptoFacts {
        char aes_driver[64];       /* the driver that serves xts(aes) ("xts-aes-aesni"), or else aes; "" unknown */
        bool aes_accelerated;      /* that driver uses AES instructions or a crypto engine */
        bool adiantum_available;   /* adiantum(xchacha12,aes) can be instantiated */
} CryptoFacts;

/* Asks the kernel: instantiates xts(aes) and adiantum(xchacha12,aes) through
 * AF_ALG (as dm-crypt would, so /proc/crypto lists the driver the kernel picks),
 * then reads /proc/crypto. Never fails: what cannot be learned reads as
 * "not accelerated", "not available". */
void crypto_probe(CryptoFacts *ret);

/* From the text of /proc/crypto: the driver with the highest priority for the
 * algorithm `name` (internal ones aside). Returns 1 and fills `driver`, or 0
 * when no driver serves it. */
int crypto_best_driver(const char *proc_crypto, const char *name, char *driver, size_t size);

/* Whether a driver name is one of the kernel's portable C implementations
 * ("aes-generic", "aes-fixed-time", "xts(ecb(aes-generic))"), which run
 * several times slower than AES instructions. */
bool crypto_driver_accelerated(const char *driver);

/* The pure decision behind crypto_probe(), from /proc/crypto's text. */
void crypto_facts_from_text(const char *proc_crypto, bool adiantum_instantiated, CryptoFacts *ret);
