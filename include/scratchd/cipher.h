/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>

/* The values of Cipher=. The order is that of the cipher table (cipher.c),
 * which is the order every list of them is written in: the config error,
 * scratchd.conf(5). */
typedef enum CipherChoice {
        /* In the order the config error and the man page list them. */
        CIPHER_AES_XTS,
        CIPHER_AUTO,                 /* not a cipher: tuning.c picks one by `Cipher.for_auto` */
        CIPHER_ADIANTUM_XCHACHA12,
        CIPHER_ADIANTUM_XCHACHA20,
        _CIPHER_MAX,
        _CIPHER_INVALID = -EINVAL,
} CipherChoice;

/* What Cipher= is when the config does not say. */
#define CIPHER_DEFAULT CIPHER_AES_XTS

/* When Cipher=auto takes a cipher. */
typedef enum CipherForAuto {
        CIPHER_FOR_AUTO_NEVER,
        /* Where AES runs on AES instructions or a crypto engine, and wherever
         * the cipher for CPUs without them is not there. */
        CIPHER_FOR_AUTO_AES_INSTRUCTIONS,
        /* Where AES has no hardware help and the kernel has `kernel_name`. */
        CIPHER_FOR_AUTO_NO_AES_INSTRUCTIONS,
} CipherForAuto;

/* One row of the cipher table: everything scratchd knows of one Cipher= value. */
typedef struct Cipher {
        const char *name;          /* as Cipher= takes it and dm-crypt's table shows it: "aes-xts-plain64" */
        const char *cipher;        /* libcryptsetup's cipher part: "aes"; NULL for auto */
        const char *mode;          /* and its mode part: "xts-plain64" */
        unsigned key_size;         /* bytes */
        const char *kernel_name;   /* the crypto API algorithm dm-crypt instantiates: "xts(aes)" */
        CipherForAuto for_auto;
} Cipher;

/* The row of `c`; NULL for a value out of range. */
const Cipher *cipher_get(CipherChoice c);

/* The row that Cipher=auto takes in the case `f`; there is exactly one. */
CipherChoice cipher_for_auto(CipherForAuto f);

const char *cipher_choice_to_string(CipherChoice c);
CipherChoice cipher_choice_from_string(const char *s);
