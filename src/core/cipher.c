/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "scratchd/cipher.h"
#include "scratchd/util.h"

static const Cipher cipher_table[_CIPHER_MAX] = {
        /* AES-256 in XTS: two 256-bit keys. With AES instructions it is
         * faster than Adiantum, and the standard choice. */
        [CIPHER_AES_XTS] = { "aes-xts-plain64", "aes", "xts-plain64", 64, "xts(aes)",
                             CIPHER_FOR_AUTO_AES_INSTRUCTIONS },
        /* Adiantum is built for CPUs without AES instructions: XChaCha and
         * NH run fast in plain C, where AES-XTS in generic C crawls. */
        [CIPHER_ADIANTUM_XCHACHA12] = { "xchacha12,aes-adiantum-plain64", "xchacha12,aes", "adiantum-plain64", 32,
                                        "adiantum(xchacha12,aes)", CIPHER_FOR_AUTO_NO_AES_INSTRUCTIONS },
        [CIPHER_ADIANTUM_XCHACHA20] = { "xchacha20,aes-adiantum-plain64", "xchacha20,aes", "adiantum-plain64", 32,
                                        "adiantum(xchacha20,aes)", CIPHER_FOR_AUTO_NEVER },
        [CIPHER_AUTO] = { "auto", NULL, NULL, 0, NULL, CIPHER_FOR_AUTO_NEVER },
};

const Cipher *cipher_get(CipherChoice c) {
        return (int) c >= 0 && c < _CIPHER_MAX ? &cipher_table[c] : NULL;
}

CipherChoice cipher_for_auto(CipherForAuto f) {
        for (CipherChoice c = 0; c < _CIPHER_MAX; c++)
                if (f != CIPHER_FOR_AUTO_NEVER && cipher_table[c].for_auto == f)
                        return c;
        return _CIPHER_INVALID;
}

/* Not DEFINE_STRING_TABLE_LOOKUP: the names are a column of the rows above. */
const char *cipher_choice_to_string(CipherChoice c) {
        const Cipher *row = cipher_get(c);
        return row ? row->name : NULL;
}

CipherChoice cipher_choice_from_string(const char *s) {
        for (CipherChoice c = 0; s && c < _CIPHER_MAX; c++)
                if (streq(s, cipher_table[c].name))
                        return c;
        return _CIPHER_INVALID;
}
