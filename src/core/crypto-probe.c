/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <linux/if_alg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scratchd/cipher.h"
#include "scratchd/crypto-probe.h"
#include "scratchd/util.h"

#ifndef AF_ALG
#define AF_ALG 38
#endif

/* Reads "key : value" on one line of /proc/crypto; returns the value, or NULL. */
static const char *field(const char *line, size_t len, const char *key, size_t *ret_len) {
        size_t k = strlen(key);
        if (len <= k || strncmp(line, key, k) != 0 || (line[k] != ' ' && line[k] != '\t'))
                return NULL;
        const char *v = line + k;
        const char *end = line + len;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        if (v >= end || *v != ':')
                return NULL;
        v++;
        while (v < end && *v == ' ')
                v++;
        *ret_len = (size_t) (end - v);
        return v;
}

int crypto_best_driver(const char *text, const char *name, char *driver, size_t size) {
        /* One entry per paragraph: name, driver, module, priority, ..., internal. */
        char cur_driver[128] = "";
        bool cur_match = false, cur_internal = false;
        long cur_priority = -1, best = -1;
        const char *p = text;

        if (size > 0)
                driver[0] = 0;
        for (;;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                const char *v;
                size_t vlen;

                if (len == 0) {  /* end of an entry */
                        if (cur_match && !cur_internal && cur_driver[0] && cur_priority > best && size > 0) {
                                best = cur_priority;
                                snprintf(driver, size, "%s", cur_driver);
                        }
                        cur_driver[0] = 0;
                        cur_match = cur_internal = false;
                        cur_priority = -1;
                } else if ((v = field(p, len, "name", &vlen)))
                        cur_match = vlen == strlen(name) && strncmp(v, name, vlen) == 0;
                else if ((v = field(p, len, "driver", &vlen)) && vlen < sizeof(cur_driver)) {
                        memcpy(cur_driver, v, vlen);
                        cur_driver[vlen] = 0;
                } else if ((v = field(p, len, "priority", &vlen))) {
                        char num[16];
                        if (vlen < sizeof(num)) {
                                memcpy(num, v, vlen);
                                num[vlen] = 0;
                                cur_priority = strtol(num, NULL, 10);
                        }
                } else if ((v = field(p, len, "internal", &vlen)))
                        cur_internal = vlen == 3 && strncmp(v, "yes", 3) == 0;

                if (!nl) {
                        if (len > 0) {  /* the last entry, without a blank line after it */
                                p += len;
                                continue;
                        }
                        break;
                }
                p = nl + 1;
        }
        return best >= 0;
}

bool crypto_driver_accelerated(const char *driver) {
        /* The kernel's AES drivers that use no AES instructions, alone or
         * under the xts and ecb templates: the portable C ones
         * (crypto/aes_generic.c, crypto/aes_ti.c), scalar assembly (arm,
         * arm64, old x86) and the NEON ones for ARM cores without the crypto
         * extensions (xts-aes-neon, xts-aes-neonbs), where Adiantum is several
         * times as fast (its paper measures a Cortex-A7). Everything else
         * (aesni, vaes, the ARMv8 "-ce" drivers, s390, POWER8, RISC-V Zvkned,
         * crypto engines) has hardware help. */
        static const char *const software[] = {
                "aes-generic", "aes-fixed-time", "aes-arm", "neon", "aes-x86_64", "aes-586", "aes-ppc-spe",
        };
        if (!driver[0])
                return false;
        for (size_t i = 0; i < ELEMENTSOF(software); i++)
                if (strstr(driver, software[i]))
                        return false;
        return true;
}

/* The kernel's names of the two ciphers that Cipher=auto chooses between. */
static const char *auto_kernel_name(CipherForAuto f) {
        return cipher_get(cipher_for_auto(f))->kernel_name;
}

void crypto_facts_from_text(const char *text, bool adiantum_instantiated, CryptoFacts *ret) {
        CryptoFacts f = {};
        if (!crypto_best_driver(text, auto_kernel_name(CIPHER_FOR_AUTO_AES_INSTRUCTIONS), f.aes_driver,
                                sizeof(f.aes_driver)))
                crypto_best_driver(text, "aes", f.aes_driver, sizeof(f.aes_driver));
        f.aes_accelerated = crypto_driver_accelerated(f.aes_driver);
        char adiantum[64];
        f.adiantum_available = adiantum_instantiated ||
                               crypto_best_driver(text, auto_kernel_name(CIPHER_FOR_AUTO_NO_AES_INSTRUCTIONS), adiantum,
                                                  sizeof(adiantum));
        *ret = f;
}

/* Binding an AF_ALG socket makes the kernel instantiate the algorithm with its
 * best driver, loading modules as needed, exactly as dm-crypt's table load
 * would. Returns 1 if it could, 0 if the kernel has no such algorithm, or
 * -errno when AF_ALG itself is not there to ask (a kernel without
 * CRYPTO_USER_API_SKCIPHER, a seccomp or address-family filter). */
static int instantiate(const char *name) {
        struct sockaddr_alg sa = {
                .salg_family = AF_ALG,
                .salg_type = "skcipher",
        };
        snprintf((char *) sa.salg_name, sizeof(sa.salg_name), "%s", name);
        int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int r = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
        close(fd);
        return r;
}

void crypto_probe(CryptoFacts *ret) {
        instantiate(auto_kernel_name(CIPHER_FOR_AUTO_AES_INSTRUCTIONS));
        int adiantum = instantiate(auto_kernel_name(CIPHER_FOR_AUTO_NO_AES_INSTRUCTIONS));
        _cleanup_free_ char *text = NULL;
        if (read_full_file("/proc/crypto", &text) < 0)
                text = NULL;
        crypto_facts_from_text(text ?: "", adiantum > 0, ret);
        ret->probed = adiantum >= 0;
}
