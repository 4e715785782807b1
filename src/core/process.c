/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "scratchd/process.h"
#include "scratchd/util.h"

static char *last_line(char *buf) {
        size_t n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        char *nl = strrchr(buf, '\n');
        return strdup(nl ? nl + 1 : buf);
}

int process_run(char *const argv[], char **ret_output) {
        static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
        posix_spawn_file_actions_t fa;
        int pipefd[2];
        pid_t pid;
        int r;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
        r = -posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        if (r < 0) {
                close(pipefd[0]);
                return r;
        }

        /* Keep the tail of what it printed: enough for the one line we log. */
        char buf[4096];
        size_t used = 0;
        for (;;) {
                if (used == sizeof(buf) - 1) {
                        memmove(buf, buf + sizeof(buf) / 2, used - sizeof(buf) / 2);
                        used -= sizeof(buf) / 2;
                }
                ssize_t k = read(pipefd[0], buf + used, sizeof(buf) - 1 - used);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                used += (size_t) k;
        }
        buf[used] = 0;
        close(pipefd[0]);

        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (ret_output)
                *ret_output = last_line(buf);
        return -EPROTO;
}
