/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "scratchd/api.h"
#include "scratchd/audit.h"
#include "scratchd/config.h"
#include "scratchd/engine.h"
#include "scratchd/transport.h"
#include "scratchd/volume.h"
#include "scratchd/worker.h"

/* The daemon's top object: the event loop, the volumes, the backend that
 * answers io.scratchd, the transport and its socket. */
struct Manager {
        sd_event *event;
        Config *config;
        char *state_dir;
        Engine engine;             /* what the real worker runs */
        VolumeWorker worker;
        Volume *volumes;
        size_t n_volumes;
        Audit *audit;
        ApiBackend api;
        Call **subscribers;        /* Subscribe calls, each a reference */
        size_t n_subscribers;

        int wake[2];               /* workers write their volume's index here */
        sd_event_source *wake_source;

        bool running;              /* manager_run(): READY=1 is for systemd */
        bool ready;                /* READY=1 sent: every volume's first adoption has ended */

        uint64_t watchdog_usec;    /* WatchdogSec=, 0: none */
        bool watchdog_withheld;    /* overdue work holds the watchdog back */

        Transport *transport;
        int listen_fd;
        char *socket_path;         /* ours to unlink; NULL when systemd passed the socket */
};

/* READY=1 to systemd, once: when every volume's first adoption has ended
 * and the loop runs. */
void manager_check_ready(Manager *m);

/* The manager, its volumes (each locked for the daemon's life) and the
 * backend, on the default event loop. `worker`: NULL for the real one. */
int manager_new(Config *config, const char *state_dir, const VolumeWorker *worker, Manager **ret);
Manager *manager_free(Manager *m);

/* Starts adopting every volume, each in its own worker. */
void manager_startup(Manager *m);

/* Listens (the socket systemd passed, else `socket_path`), handles SIGTERM
 * and SIGINT, reports READY=1 and runs the loop until told to stop. */
int manager_run(Manager *m, const char *socket_path);

/* Where the transport hands each call (a fake transport in the unit tests too). */
void manager_handle_call(void *userdata, Call *call, const VarlinkCall *message);

/* After any change of a volume: subscribers, systemd's STATUS=, the metrics textfile. */
void manager_volume_changed(Manager *m, Volume *v);

Volume *manager_find_volume(Manager *m, const char *name);

/* The backend (backend.c): the io.scratchd methods over the manager's volumes. */
void backend_init(Manager *m, ApiBackend *ret);
void backend_notify(Manager *m, const Volume *v);
char *backend_metrics_text(Manager *m);

