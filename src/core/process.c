/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "scratchd/process.h"
#include "scratchd/util.h"

/* mkfs.xfs and mke2fs say why they failed on the first line they print and
 * then, for most errors, a usage or help text that fills the rest (mkfs.xfs
 * ends it with "<value> is xxx (512 byte blocks)."); a warning they print on
 * the way ("Filesystem too small for a journal") comes first too, and says
 * more to an admin than the error that follows it. */
char *process_reason_line(const char *output) {
        const char *p = output + strspn(output, " \t\n");
        size_t n = strcspn(p, "\n");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
        return strndup(p, n);
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

        /* Keep the head of what it printed, where the reason is (see
         * process_reason_line()); read the rest to the end, so that the
         * program never blocks on a full pipe. */
        char buf[4096], rest[4096];
        size_t used = 0;
        for (;;) {
                bool full = used == sizeof(buf) - 1;
                ssize_t k = full ? read(pipefd[0], rest, sizeof(rest))
                                 : read(pipefd[0], buf + used, sizeof(buf) - 1 - used);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (!full)
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
                *ret_output = process_reason_line(buf);
        return -EPROTO;
}
