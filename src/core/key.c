/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <sys/mman.h>
#include <sys/random.h>

#include "scratchd/key.h"
#include "scratchd/util.h"

int secret_new_random(size_t size, Secret **ret) {
        long page = sysconf(_SC_PAGESIZE);
        size_t mapped = (size + (size_t) page - 1) / (size_t) page * (size_t) page;

        Secret *s = calloc(1, sizeof(Secret));
        if (!s)
                return -ENOMEM;

        void *p = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                free(s);
                return -errno;
        }
        s->data = p;
        s->size = size;
        s->mapped = mapped;

        /* Never to swap, never into a core dump, never into a forked child. */
        int r = 0;
        if (mlock(p, mapped) < 0 || madvise(p, mapped, MADV_DONTDUMP) < 0 || madvise(p, mapped, MADV_WIPEONFORK) < 0)
                r = -errno;

        for (size_t done = 0; r == 0 && done < size;) {
                ssize_t k = getrandom(s->data + done, size - done, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                } else
                        done += (size_t) k;
        }
        if (r < 0) {
                secret_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

Secret *secret_free(Secret *s) {
        if (!s)
                return NULL;
        explicit_bzero(s->data, s->mapped);
        munlock(s->data, s->mapped);
        munmap(s->data, s->mapped);
        free(s);
        return NULL;
}
