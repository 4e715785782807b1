/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Benchmark (not a test): GetStatus throughput and latency against a running
 * scratchd, with C concurrent clients, each on its own connection, for S
 * seconds.
 *
 *   status-bench SOCKET CLIENTS SECONDS LABEL
 *
 * Prints one line: label, clients, calls/s, p50 and p99 latency in µs. */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "scratchd/util.h"
#include "scratchd/varlink.h"

typedef struct Worker {
        pthread_t thread;
        const char *socket;
        uint64_t until;
        uint64_t *lat;      /* microseconds, one per call */
        size_t n, cap;
        int error;
} Worker;

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static void *run(void *userdata) {
        Worker *w = userdata;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->socket);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                w->error = errno;
                return NULL;
        }
        size_t mlen;
        char *msg = varlink_encode_call("io.scratchd.GetStatus", NULL, false, &mlen);
        static __thread char buf[65536];

        while (now_usec() < w->until) {
                uint64_t start = now_usec();
                if (send(fd, msg, mlen, MSG_NOSIGNAL) != (ssize_t) mlen) {
                        w->error = errno;
                        break;
                }
                size_t len = 0;
                for (;;) {
                        ssize_t k = recv(fd, buf + len, sizeof(buf) - len, 0);
                        if (k <= 0) {
                                w->error = k < 0 ? errno : EPIPE;
                                goto out;
                        }
                        len += (size_t) k;
                        if (memchr(buf, 0, len))
                                break;
                }
                if (strstr(buf, "\"error\"")) {
                        w->error = EPROTO;
                        break;
                }
                if (w->n == w->cap) {
                        w->cap = w->cap ? w->cap * 2 : 4096;
                        w->lat = realloc(w->lat, w->cap * sizeof(uint64_t));
                }
                w->lat[w->n++] = now_usec() - start;
        }
out:
        free(msg);
        close(fd);
        return NULL;
}

int main(int argc, char *argv[]) {
        if (argc != 5) {
                fprintf(stderr, "usage: status-bench SOCKET CLIENTS SECONDS LABEL\n");
                return 2;
        }
        int clients = atoi(argv[2]);
        double seconds = atof(argv[3]);
        if (clients < 1 || clients > 1024 || seconds <= 0) {
                fprintf(stderr, "status-bench: CLIENTS must be 1-1024 and SECONDS positive\n");
                return 2;
        }
        Worker *w = calloc((size_t) clients, sizeof(Worker));
        uint64_t start = now_usec(), until = start + (uint64_t) (seconds * 1e6);
        for (int i = 0; i < clients; i++) {
                w[i] = (Worker) { .socket = argv[1], .until = until };
                pthread_create(&w[i].thread, NULL, run, &w[i]);
        }
        size_t total = 0;
        for (int i = 0; i < clients; i++) {
                pthread_join(w[i].thread, NULL);
                if (w[i].error) {
                        fprintf(stderr, "status-bench: client %d failed: %s\n", i, strerror(w[i].error));
                        return 1;
                }
                total += w[i].n;
        }
        double elapsed = (double) (now_usec() - start) / 1e6;
        uint64_t *all = malloc((total ?: 1) * sizeof(uint64_t));
        size_t k = 0;
        for (int i = 0; i < clients; i++) {
                memcpy(all + k, w[i].lat, w[i].n * sizeof(uint64_t));
                k += w[i].n;
                free(w[i].lat);
        }
        qsort(all, total, sizeof(uint64_t), cmp_u64);
        printf("%-8s %7d %10.0f %10llu %10llu\n", argv[4], clients, (double) total / elapsed,
               total ? (unsigned long long) all[total / 2] : 0ULL,
               total ? (unsigned long long) all[(size_t) ((double) total * 0.99)] : 0ULL);
        free(all);
        free(w);
        return total ? 0 : 1;
}
