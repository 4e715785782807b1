/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <linux/if_alg.h>
#include <sys/socket.h>
#include <unistd.h>

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
        /* The portable implementations: crypto/aes_generic.c ("aes-generic")
         * and crypto/aes_ti.c ("aes-fixed-time"), alone or under the xts and
         * ecb templates. Everything else (aesni, vaes, ce, neonbs, s390, vmx,
         * crypto engines) is hardware help. */
        return driver[0] && !strstr(driver, "aes-generic") && !strstr(driver, "aes-fixed-time");
}

void crypto_facts_from_text(const char *text, bool adiantum_instantiated, CryptoFacts *ret) {
        CryptoFacts f = {};
        if (!crypto_best_driver(text, "xts(aes)", f.aes_driver, sizeof(f.aes_driver)))
                crypto_best_driver(text, "aes", f.aes_driver, sizeof(f.aes_driver));
        f.aes_accelerated = crypto_driver_accelerated(f.aes_driver);
        char adiantum[64];
        f.adiantum_available = adiantum_instantiated ||
                               crypto_best_driver(text, "adiantum(xchacha12,aes)", adiantum, sizeof(adiantum));
        *ret = f;
}

/* Binding an AF_ALG socket makes the kernel instantiate the algorithm with its
 * best driver, loading modules as needed, exactly as dm-crypt's table load
 * would. Returns whether it could. */
static bool instantiate(const char *name) {
        struct sockaddr_alg sa = {
                .salg_family = AF_ALG,
                .salg_type = "skcipher",
        };
        snprintf((char *) sa.salg_name, sizeof(sa.salg_name), "%s", name);
        int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        bool ok = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

void crypto_probe(CryptoFacts *ret) {
        instantiate("xts(aes)");
        bool adiantum = instantiate("adiantum(xchacha12,aes)");
        _cleanup_free_ char *text = NULL;
        if (read_full_file("/proc/crypto", &text) < 0)
                text = NULL;
        crypto_facts_from_text(text ?: "", adiantum, ret);
}
