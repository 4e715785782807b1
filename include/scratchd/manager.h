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

        /* Reload (reload.c): the file to read again, and the configs it
         * replaced, kept until the end (a worker may still read one). */
        char *config_path;
        Config *config_original;             /* manager_new()'s, its caller's to free */
        Config **retired;
        size_t n_retired;

        /* JobCheck= (stale.c). */
        sd_event_source *stale_timer;
        const char *cgroup_root;             /* CGROUP_ROOT; tests give their own */
        char job_check_blind[320];           /* why the last check could not see the jobs; "" when it could */

        /* Erase records (erasure.h, erasures.c): where they go (NULL: none
         * written, as in most unit tests), the node key that signs them, and
         * how writing them went. The engine's sink points here. */
        char *records_dir;
        EVP_PKEY *node_key;
        char record_error[320];              /* why the node key cannot be had (no record is written); "" */

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

/* The transport's limits from the config in use. */
TransportLimits manager_transport_limits(const Manager *m);

/* Where the transport hands each call (a fake transport in the unit tests too). */
void manager_handle_call(void *userdata, Call *call, const VarlinkCall *message);

/* After any change of a volume: subscribers, systemd's STATUS=, the metrics textfile. */
void manager_volume_changed(Manager *m, Volume *v);

/* Erase records from here on: the node key in `state_dir` (made at the
 * first start), the records in state_dir/records, and the records the
 * initramfs left unsigned (in `pending_dir`) signed and moved there. A key
 * that cannot be had is not fatal: erases go on, unrecorded, and status,
 * metrics and the journal say why. */
int manager_records_open(Manager *m, const char *state_dir, const char *pending_dir);

Volume *manager_find_volume(Manager *m, const char *name);

/* Reads the config file again (reload.c; `caller` for the audit log, NULL:
 * SIGHUP): 0, with the keys that changed in
 * `changed`, or a negative errno with *ret_error one line saying why the
 * file was refused; the running config then stays. */
int manager_reload(Manager *m, const Caller *caller, char *changed, size_t size, char **ret_error);

/* JobCheck= (stale.c): the timer that looks for volumes whose job is gone. */
int stale_start(Manager *m);
/* One look now (the timer's; tests). */
void stale_check(Manager *m);
/* Whether the job holding `v` (a volume or a job volume) has been gone for
 * StaleAfterSec=. */
bool volume_stale(const Volume *v);

/* The backend (backend.c): the io.scratchd methods over the manager's volumes. */
void backend_init(Manager *m, ApiBackend *ret);
void backend_notify(Manager *m, const Volume *v);
char *backend_metrics_text(Manager *m);
/* io.scratchd.GetRecords and GetNodeKey (records.c): the erase records kept
 * in records_dir, and the node key's public half. */
void backend_get_records(void *userdata, const char *job, uint64_t since_usec, const char *before, ApiResult *r);
void backend_get_node_key(void *userdata, ApiResult *r);

