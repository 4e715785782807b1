/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scratchd-holders: finds, and for BusyPolicy=kill kills, the processes
 * that still hold a scratch volume. It needs ptrace rights over every
 * process and CAP_KILL, so that scratchd's own unit need neither: under
 * systemd, scratchd-holders.socket starts one per call (Accept=yes), with
 * the connection on stdin and stdout; root's calls only. --listen PATH
 * serves a socket of its own, one call after another (no systemd: tests). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "scratchd/holders.h"
#include "scratchd/log.h"

/* A call that takes longer than this is cut short (its caller gave up). */
#define CALL_TIMEOUT_SEC 90

static int serve_peer(int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_error("stdin is not a socket: run it through scratchd-holders.socket, "
                          "or with --listen PATH");
                return -ENOTSOCK;
        }
        if (cred.uid != 0) {
                log_error("a call from uid %u refused: only root's are answered",
                          (unsigned) cred.uid);
                static const char no[] = "end -1\n";
                (void) !write(fd, no, sizeof(no) - 1);
                return -EPERM;
        }
        return holders_serve(fd, fd);
}

static int listen_on(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path)) {
                log_error("--listen %s: the path is too long for a socket", path);
                return 2;
        }
        strcpy(sa.sun_path, path);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        (void) unlink(path);
        if (s < 0 || bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
                log_error("cannot listen on %s: %m", path);
                return 1;
        }
        for (;;) {
                int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("accept on %s: %m", path);
                        return 1;
                }
                (void) serve_peer(c);
                close(c);
        }
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
        /* A caller that gave up must not end a --listen helper. */
        (void) signal(SIGPIPE, SIG_IGN);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'l':
                        listen_path = optarg;
                        break;
                case 'h':
                        printf("Usage: scratchd-holders [--listen PATH]\n"
                               "\n"
                               "Answers scratchd's calls to find or kill what holds a scratch volume.\n"
                               "Started by scratchd-holders.socket, one call per connection on stdin;\n"
                               "--listen PATH serves a socket of its own instead.\n");
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                log_error("unexpected argument \"%s\"; see --help", argv[optind]);
                return 2;
        }
        if (listen_path)
                return listen_on(listen_path);
        alarm(CALL_TIMEOUT_SEC);
        return serve_peer(STDIN_FILENO) < 0 ? 1 : 0;
}
