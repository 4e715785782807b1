/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scratchctl verify: an auditor's check of erase records, offline, with
 * the node's public key (or, without one, only that each record is intact
 * under the key it carries). No daemon, no root. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scratchd/erasure.h"
#include "scratchd/util.h"
#include "verify.h"

/* A whole file, NUL-terminated (records are small: at most 1 MiB). */
static int slurp(const char *path, char **ret) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        size_t size = 1 << 20;
        char *buf = malloc(size + 1);
        int r = 0;
        if (!buf)
                r = -ENOMEM;
        else {
                size_t n = fread(buf, 1, size, f);
                if (ferror(f))
                        r = -EIO;
                else if (n == size && fgetc(f) != EOF)
                        r = -EFBIG;
                else if (memchr(buf, 0, n))
                        r = -EBADMSG;   /* a NUL: what follows it would count for nothing */
                else
                        buf[n] = 0;
        }
        fclose(f);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

int cmd_verify(char *const *files, size_t n_files, const char *pubkey_path) {
        EVP_PKEY *pinned = NULL;
        int r;

        if (n_files == 0) {
                fprintf(stderr, "scratchctl: verify needs one or more record files (scratchctl verify FILE... "
                        "[--pubkey FILE])\n");
                return 2;
        }
        if (pubkey_path) {
                _cleanup_free_ char *text = NULL;
                r = slurp(pubkey_path, &text);
                if (r >= 0)
                        r = erasure_key_parse_public(text, &pinned);
                if (r < 0) {
                        fprintf(stderr, "scratchctl: --pubkey %s: %s; give the node's public key as PEM or as base64 "
                                "of its 32 bytes ('scratchctl pubkey' on the node)\n", pubkey_path,
                                r == -EBADMSG || r == -EINVAL ? "not an Ed25519 public key" : strerror(-r));
                        return 2;
                }
        }

        unsigned bad = 0;
        for (size_t i = 0; i < n_files; i++) {
                _cleanup_free_ char *text = NULL, *error = NULL;
                bool was_pinned = false;
                r = slurp(files[i], &text);
                if (r < 0) {
                        printf("%s: FAILED: cannot read: %s\n", files[i], strerror(-r));
                        bad++;
                        continue;
                }
                r = erasure_verify(text, pinned, &was_pinned, &error);
                if (r < 0) {
                        printf("%s: FAILED: %s\n", files[i], error ?: strerror(-r));
                        bad++;
                } else
                        printf("%s: OK%s\n", files[i],
                               was_pinned ? ", signed by the given key"
                                          : ", intact under the key it carries (not pinned: give --pubkey)");
        }
        EVP_PKEY_free(pinned);
        return bad ? 1 : 0;
}
