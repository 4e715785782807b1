/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "scratchd/config.h"
#include "scratchd/log.h"
#include "scratchd/engine.h"
#include "scratchd/fs.h"
#include "scratchd/manager.h"
#include "scratchd/util.h"

/* Exit codes, as documented in --help. */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,     /* an operation failed or a disk was refused */
        EXIT_USAGE = 2,      /* bad command line or config */
};

static void help(void) {
        printf("Usage: scratchd [OPTIONS] [COMMAND]\n"
               "\n"
               "Keeps the node's scratch disk encrypted under a key that exists only in\n"
               "the kernel, and crypto-erases it between jobs. Without a command, runs\n"
               "the daemon, which serves scratchctl and scheduler hooks on its socket.\n"
               "\n"
               "Commands:\n"
               "  setup      bring every configured volume to CLEAN (keyed, formatted, mounted);\n"
               "             keeps a volume its state file proves clean, wipes anything else\n"
               "  wipe       crypto-erase and re-key every volume now\n"
               "  status     show every volume's state\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE     config file (default %s)\n"
               "      --state-dir DIR   state directory (default %s)\n"
               "      --root DIR        the real root is mounted at DIR (initramfs): mount\n"
               "                        the volumes below it, record them as seen from it\n"
               "      --socket PATH     the daemon's socket, unless systemd passes one\n"
               "                        (default " DEFAULT_SOCKET_PATH ")\n"
               "  -v, --verbose         log debug messages\n"
               "  -h, --help            show this help\n"
               "      --version         show the version\n"
               "\n"
               "Exit status: 0 success; 1 an operation failed or a disk was refused\n"
               "(nothing was written to a refused disk); 2 bad command line or config.\n",
               SCRATCHD_CONFIG, SCRATCHD_STATE_DIR);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "state-dir", required_argument, NULL, 'S' },
                { "socket", required_argument, NULL, 's' },
                { "root", required_argument, NULL, 'R' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        const char *config_path = SCRATCHD_CONFIG, *state_dir = SCRATCHD_STATE_DIR;
        const char *socket_path = DEFAULT_SOCKET_PATH, *root = NULL;
        int c;

        log_open("scratchd");

        /* Keys pass through this process: no core dumps, no ptrace by non-root. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        umask(0022);

        while ((c = getopt_long(argc, argv, "c:vh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'S':
                        state_dir = optarg;
                        break;
                case 's':
                        socket_path = optarg;
                        break;
                case 'R':
                        if (optarg[0] != '/') {
                                log_error("--root %s: not an absolute path", optarg);
                                return EXIT_USAGE;
                        }
                        root = optarg;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case 'V':
                        printf("scratchd %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                default:
                        fprintf(stderr, "scratchd: see 'scratchd --help' for usage\n");
                        return EXIT_USAGE;
                }

        if (optind + 1 < argc) {
                log_error("unexpected argument '%s'; see 'scratchd --help'", argv[optind + 1]);
                return EXIT_USAGE;
        }
        const char *verb = optind < argc ? argv[optind] : "daemon";
        if (!streq(verb, "daemon") && !streq(verb, "setup") && !streq(verb, "wipe") && !streq(verb, "status")) {
                log_error("unknown command '%s'; use setup, wipe or status (see 'scratchd --help')", verb);
                return EXIT_USAGE;
        }

        _cleanup_config_free_ Config *config = NULL;
        _cleanup_free_ char *error = NULL;
        int r = config_load(config_path, &config, &error);
        if (r < 0) {
                if (error)
                        log_error("%s", error);
                else
                        log_error_errno(r, "cannot load %s: %m", config_path);
                return EXIT_USAGE;
        }

        if (!streq(verb, "status") && geteuid() != 0) {
                log_error("'scratchd %s' drives device-mapper and must run as root", verb);
                return EXIT_FAILED;
        }

        if (streq(verb, "daemon")) {
                /* Run by systemd (its unit, which cannot join PID 1's mount
                 * namespace): PID 1 makes our mounts. */
                if (getenv("INVOCATION_ID") && sd_booted() > 0)
                        fs_mount_through_pid1(true);
                Manager *m = NULL;
                r = manager_new(config, state_dir, NULL, &m);
                if (r >= 0 && !(m->config_path = strdup(config_path)))
                        r = -ENOMEM;
                /* Not fatal: erases go on unrecorded, and say so. */
                char pending[4096];
                snprintf(pending, sizeof(pending), "%s/" ERASURE_PENDING_SUBDIR, state_dir);
                if (r >= 0 && manager_records_open(m, erasure_state_dir(), pending) == -ENOMEM)
                        r = -ENOMEM;
                if (r >= 0)
                        r = manager_run(m, socket_path);
                manager_free(m);
                return r < 0 ? EXIT_FAILED : EXIT_OK;
        }

        Engine e;
        engine_init(&e, config, state_dir, root);
        /* Erase records: signed here; in the initramfs (--root), left
         * unsigned in /run for the daemon to sign at its start. */
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = NULL;
        char records_dir[4096];
        const char *lib = erasure_state_dir();
        if (root)
                snprintf(records_dir, sizeof(records_dir), "%s/" ERASURE_PENDING_SUBDIR, state_dir);
        else
                snprintf(records_dir, sizeof(records_dir), "%s/records", lib);
        if (root)
                /* Not pruned there: the daemon moves them. */
                e.records = (ErasureSink) { .dir = records_dir };
        else if (!streq(verb, "status")) {
                e.records = (ErasureSink) {
                        .dir = records_dir,
                        .keep_days = config->daemon.records_keep_days,
                        .keep_count = config->daemon.records_keep_count,
                };
                int k = mkdir(lib, 0700) < 0 && errno != EEXIST ? -errno : 0;
                if (k >= 0)
                        k = erasure_key_load_or_create(lib, &key);
                if (k < 0)
                        log_error("cannot load or make the node key in %s: %s; erases go on, unrecorded", lib,
                                  strerror(-k));
                e.records.key = key;
                e.records.unavailable = k < 0 ? k : 0;
        }
        if (streq(verb, "setup"))
                r = engine_setup(&e);
        else if (streq(verb, "wipe"))
                r = engine_wipe(&e);
        else
                r = engine_status(&e, stdout);
        return r < 0 ? EXIT_FAILED : EXIT_OK;
}
