/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The holder scan and kills, here or through scratchd-holders.
 *
 * One call per connection, lines of text:
 *   request  "find MAJ:MIN"  or  "kill MAJ:MIN UID WAIT_USEC"
 *   answer   "holder PID UID WHY COMM" for each holder found (find) or
 *            killed (kill), then "end R": 0 or the number killed, or -errno.
 * COMM is the rest of its line (a command may have blanks in its name). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "scratchd/holders.h"
#include "scratchd/log.h"
#include "scratchd/util.h"

/* The helper reads /proc and never a file system, so it answers within
 * seconds; the kills wait at most what the caller asked, and the helper
 * cuts any call short at 50 s. */
#define HELPER_TIMEOUT_SEC 60
#define ANSWER_MAX ((size_t) 1024 * 1024)

static const char *helper_socket(void) {
        const char *e = getenv("SCRATCHD_HOLDERS_SOCKET");
        return e ? e : HOLDERS_SOCKET;
}

/* A connection to the helper; -ENOENT where there is none (scan here). */
static int helper_connect(void) {
        const char *path = helper_socket();
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (!path[0])
                return -ENOENT;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct timeval tv = { .tv_sec = HELPER_TIMEOUT_SEC };
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = -errno;
                close(fd);
                if (e != -ENOENT)
                        log_error("the holder scan's helper at %s does not answer: %s; start it with "
                                  "\"systemctl start scratchd-holders.socket\"", path, strerror(-e));
                return e;
        }
        return fd;
}

/* Sends `request`, reads the answer into *ret_h; the answer's R. */
static int helper_call(int fd, const char *request, Holder **ret_h, size_t *ret_n) {
        /* send(), not write(): a helper gone meanwhile is an error here, not
         * a SIGPIPE that ends a scratchd run by hand. */
        size_t len = strlen(request);
        if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t) len)
                return -errno;
        int r;
        (void) shutdown(fd, SHUT_WR);
        _cleanup_free_ char *buf = malloc(ANSWER_MAX + 1);
        if (!buf)
                return -ENOMEM;
        size_t used = 0;
        for (;;) {
                ssize_t k = read(fd, buf + used, ANSWER_MAX - used);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                if (k == 0 || (used += (size_t) k) == ANSWER_MAX)
                        break;
        }
        buf[used] = 0;

        _cleanup_free_ Holder *h = NULL;
        size_t n = 0;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                int pid, k = 0;
                unsigned uid, why;
                if (sscanf(line, "end %d", &r) == 1) {
                        if (r >= 0) {
                                *ret_h = TAKE_PTR(h);
                                *ret_n = n;
                        }
                        return r;
                }
                if (sscanf(line, "holder %d %u %u %n", &pid, &uid, &why, &k) != 3 || k == 0)
                        return -EBADMSG;
                Holder *grown = realloc(h, sizeof(Holder) * (n + 1));
                if (!grown)
                        return -ENOMEM;
                h = grown;
                h[n] = (Holder) { .pid = pid, .uid = uid, .why = why };
                snprintf(h[n].comm, sizeof(h[n].comm), "%s", line + k);
                n++;
        }
        return -EBADMSG;   /* no "end": the helper died or was cut short */
}

/* A scan here that cannot see (root without CAP_SYS_PTRACE: scratchd's unit
 * with the helper's socket missing) says what to do. */
static int here(int r) {
        if (r == -EPERM)
                log_error("cannot look for what holds a volume: no ptrace rights here and no helper at %s; "
                          "enable it with \"systemctl enable --now scratchd-holders.socket\"", helper_socket());
        return r;
}

int holders_find(dev_t dev, Holder **ret, size_t *ret_n) {
        int fd = helper_connect();
        if (fd == -ENOENT)
                return here(holders_find_local(dev, ret, ret_n));
        if (fd < 0)
                return fd;
        char request[64];
        snprintf(request, sizeof(request), "find %u:%u\n", major(dev), minor(dev));
        int r = helper_call(fd, request, ret, ret_n);
        close(fd);
        return r < 0 ? r : 0;
}

static _Thread_local char killed_log[1024];

void holders_killed_reset(void) {
        killed_log[0] = 0;
}

const char *holders_killed(void) {
        return killed_log;
}

int holders_kill(dev_t dev, uid_t uid, unsigned long long wait_usec, char *killed, size_t size) {
        _cleanup_free_ Holder *h = NULL;
        size_t n = 0;
        int r;
        killed[0] = 0;
        int fd = helper_connect();
        if (fd == -ENOENT)
                r = here(holders_kill_local(dev, uid, wait_usec, &h, &n));
        else if (fd < 0)
                return fd;
        else {
                char request[96];
                snprintf(request, sizeof(request), "kill %u:%u %u %llu\n", major(dev), minor(dev), (unsigned) uid,
                         wait_usec);
                r = helper_call(fd, request, &h, &n);
                close(fd);
        }
        if (r < 0)
                return r;
        holders_format(h, n, killed, size);
        if (n > 0) {
                size_t used = strlen(killed_log);
                snprintf(killed_log + used, sizeof(killed_log) - used, "%s%s", used ? ", " : "", killed);
        }
        return (int) n;
}

int holders_serve(int in, int out) {
        char request[128];
        size_t used = 0;
        while (used < sizeof(request) - 1) {
                ssize_t k = read(in, request + used, sizeof(request) - 1 - used);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                used += (size_t) k;
                if (memchr(request, '\n', used))
                        break;
        }
        request[used] = 0;
        if (used == 0)
                return 0;   /* a caller that only looked whether we listen */

        unsigned ma, mi, uid;
        unsigned long long wait_usec;
        _cleanup_free_ Holder *h = NULL;
        size_t n = 0;
        int r;
        if (sscanf(request, "find %u:%u", &ma, &mi) == 2)
                r = holders_find_local(makedev(ma, mi), &h, &n);
        else if (sscanf(request, "kill %u:%u %u %llu", &ma, &mi, &uid, &wait_usec) == 4)
                /* At most 30 s: the call as a whole is cut short at 50. */
                r = holders_kill_local(makedev(ma, mi), uid, wait_usec > 30000000ULL ? 30000000ULL : wait_usec, &h,
                                       &n);
        else {
                log_error("a request it does not know: \"%.*s\"", (int) strcspn(request, "\n"),
                          request);
                r = -EINVAL;
        }

        FILE *f = fdopen(dup(out), "we");
        if (!f)
                return -errno;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                /* comm is printable ASCII (holders.c): nothing in it may
                 * end or forge a line. */
                fprintf(f, "holder %d %u %u %s\n", (int) h[i].pid, (unsigned) h[i].uid, h[i].why, h[i].comm);
        }
        fprintf(f, "end %d\n", r);
        int e = fclose(f) == 0 ? 0 : -errno;
        return r < 0 ? r : e;
}
