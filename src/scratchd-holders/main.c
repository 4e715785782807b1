/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scratchd-holders: finds, and for BusyPolicy=kill kills, the processes
 * that still hold a scratch volume. It needs ptrace rights over every
 * process and CAP_KILL, so that scratchd's own unit need neither: under
 * systemd, scratchd-holders.socket starts it on the first call and passes
 * it the listening socket; --listen PATH makes a socket of its own (no
 * systemd: tests). Each call is answered by a child of its own, so that
 * releases in parallel do not wait on each other; root's calls only. After
 * ten idle minutes it exits, and the socket starts it again when needed. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "scratchd/holders.h"
#include "scratchd/log.h"

/* A call that takes longer than this is cut short (its caller gives up at 60 s). */
#define CALL_TIMEOUT_SEC 50
#define IDLE_EXIT_MSEC (10 * 60 * 1000)

static int serve_peer(int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (cred.uid != 0) {
                log_error("a call from uid %u (pid %d) refused: only root's are answered", (unsigned) cred.uid,
                          (int) cred.pid);
                static const char no[] = "end -1\n";
                (void) !send(fd, no, sizeof(no) - 1, MSG_NOSIGNAL);
                return -EPERM;
        }
        return holders_serve(fd, fd);
}

static int serve(int listener) {
        /* Children are reaped by the kernel. */
        (void) signal(SIGCHLD, SIG_IGN);
        for (;;) {
                struct pollfd p = { .fd = listener, .events = POLLIN };
                int k = poll(&p, 1, IDLE_EXIT_MSEC);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        log_error("poll on the listening socket: %m");
                        return 1;
                }
                if (k == 0)
                        return 0;   /* idle: the socket starts us again */
                int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                                continue;
                        log_error("accept: %m");
                        return 1;
                }
                pid_t pid = fork();
                if (pid == 0) {
                        close(listener);
                        alarm(CALL_TIMEOUT_SEC);
                        _exit(serve_peer(c) < 0 ? 1 : 0);
                }
                if (pid < 0) {
                        log_error("cannot fork for a call: %m");
                        static const char no[] = "end -12\n";
                        (void) !send(c, no, sizeof(no) - 1, MSG_NOSIGNAL);
                }
                close(c);
        }
}

static int listen_on(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path)) {
                log_error("--listen %s: the path is too long for a socket", path);
                return -1;
        }
        strcpy(sa.sun_path, path);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        (void) unlink(path);
        if (s < 0 || bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(s, 64) < 0) {
                log_error("cannot listen on %s: %m", path);
                return -1;
        }
        return s;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "listen", required_argument, NULL, 'l' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *listen_path = NULL;
        int c;
        log_open("scratchd-holders");
        /* A caller that gave up must not end us. */
        (void) signal(SIGPIPE, SIG_IGN);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'l':
                        listen_path = optarg;
                        break;
                case 'h':
                        printf("Usage: scratchd-holders [--listen PATH]\n"
                               "\n"
                               "Answers scratchd's calls to find or kill what holds a scratch volume,\n"
                               "on the socket systemd passes (scratchd-holders.socket), or with\n"
                               "--listen PATH on a socket of its own.\n");
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                log_error("unexpected argument \"%s\"; see --help", argv[optind]);
                return 2;
        }
        int listener;
        if (listen_path)
                listener = listen_on(listen_path);
        else if (sd_listen_fds(1) == 1)
                listener = SD_LISTEN_FDS_START;
        else {
                log_error("no socket: start it through scratchd-holders.socket, or with --listen PATH");
                return 2;
        }
        return listener < 0 ? 1 : serve(listener);
}
