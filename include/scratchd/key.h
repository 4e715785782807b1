/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A volume key: random bytes from getrandom() in their own mlock()ed pages,
 * excluded from core dumps and from children, erased with explicit_bzero() on
 * free. The only place a key lives in scratchd's memory. */
typedef struct Secret {
        uint8_t *data;
        size_t size;
        size_t mapped;
} Secret;

/* Returns 0 and a new secret of `size` random bytes, or a negative errno. */
int secret_new_random(size_t size, Secret **ret);
Secret *secret_free(Secret *s);
static inline void secret_freep(Secret **s) {
        secret_free(*s);
}
#define _cleanup_secret_free_ __attribute__((cleanup(secret_freep)))
