/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "scratchd/config.h"

/* The daemon: an sd-event loop serving io.scratchd on a Unix socket, the
 * lifecycle of every volume, wipes in worker threads so the loop always
 * answers, audit and metrics. */
typedef struct Server Server;

/* `socket_path` is used when systemd passed no socket (sd_listen_fds()). */
int server_new(Config *config, const char *state_dir, const char *socket_path, Server **ret);

/* Adopts the volumes, reports READY=1 and runs until SIGTERM or SIGINT. */
int server_run(Server *s);

Server *server_free(Server *s);

#define DEFAULT_SOCKET_PATH "/run/scratchd/io.scratchd"
