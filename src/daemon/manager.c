/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's top: the manager, its socket, signals and the loop. */
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "scratchd/log.h"
#include "scratchd/manager.h"
#include "scratchd/util.h"

Volume *manager_find_volume(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_volumes; i++)
                if (streq(m->volumes[i].sc->name, name))
                        return &m->volumes[i];
        return NULL;
}

void manager_check_ready(Manager *m) {
        bool settled = true;
        for (size_t i = 0; i < m->n_volumes; i++)
                settled = settled && m->volumes[i].settled && !volume_waiting_for_disk(&m->volumes[i]);
        if (settled && m->running && !m->ready) {
                m->ready = true;
                sd_notify(0, "READY=1");
                log_info("every volume's adoption has ended: ready");
        }
}

void manager_volume_changed(Manager *m, Volume *v) {
        /* A job volume's change is its pool's. */
        if (v->pool)
                v = v->pool;
        backend_notify(m, v);

        char status[256] = "STATUS=";
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *x = &m->volumes[i];
                size_t n = strlen(status);
                snprintf(status + n, sizeof(status) - n, "%s%s %s gen %" PRIu64, i ? ", " : "", x->sc->name,
                         lifecycle_state_to_string(volume_visible_state(x)), x->rec.generation);
        }
        /* Ready once every volume's first adoption has ended: a prolog that
         * slurmd runs after that (it is ordered after us) finds the volumes
         * as they are, not being adopted. A disk not there yet is waited
         * for a while (volume_waiting_for_disk(): udev may make its link
         * late); past that, and for a volume FAILED, ended badly counts
         * too: those are for status to say, and waiting on them would only
         * have systemd kill us at TimeoutStartSec=. */
        sd_notify(0, status);
        manager_check_ready(m);

        if (m->config->daemon.metrics_directory) {
                _cleanup_free_ char *text = backend_metrics_text(m);
                int r = text ? metrics_write_textfile(m->config->daemon.metrics_directory, text) : -ENOMEM;
                if (r < 0)
                        log_warning_errno(r, "cannot write metrics into %s: %m", m->config->daemon.metrics_directory);
        }
}

void manager_handle_call(void *userdata, Call *call, const VarlinkCall *message) {
        Manager *m = userdata;
        ApiResult r;

        api_dispatch(&m->api, call, &call->caller, message, &r);
        if (r.deferred)
                return;   /* the backend holds the call and answers it */
        if (r.error)
                call_error(call, r.error, r.parameters);
        else if (r.subscribe)
                call_notify(call, r.parameters);
        else
                call_reply(call, r.parameters);
}

/* Whether `v` is one of ours still: a configured volume or a job volume. */
static bool volume_known(Manager *m, const Volume *v) {
        for (size_t i = 0; i < m->n_volumes; i++) {
                if (&m->volumes[i] == v)
                        return true;
                for (size_t k = 0; k < m->volumes[i].n_jobs; k++)
                        if (m->volumes[i].jobs[k] == v)
                                return true;
        }
        return false;
}

static int on_wake(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        uintptr_t which;
        while (read(fd, &which, sizeof(which)) == sizeof(which)) {
                Volume *v = (Volume *) which;
                if (!volume_known(m, v) || volume_idle(v))
                        continue;
                if (v->pool)
                        job_work_done(v);
                else
                        volume_work_done(v);
        }
        return 0;
}

int manager_new(Config *config, const char *state_dir, const VolumeWorker *worker, Manager **ret) {
        Manager *m = calloc(1, sizeof(Manager));
        int r;

        if (!m)
                return -ENOMEM;
        *m = (Manager) { .config = config, .config_original = config, .listen_fd = -EBADF, .wake = { -EBADF, -EBADF } };
        m->state_dir = strdup(state_dir);
        if (!m->state_dir) {
                r = -ENOMEM;
                goto fail;
        }
        engine_init(&m->engine, config, m->state_dir, NULL);
        m->worker = worker ? *worker : (VolumeWorker) { .run = worker_run, .userdata = &m->engine };

        backend_init(m, &m->api);
        r = auth_resolve_group(config->read_group, &m->api.read_gid);
        if (r < 0) {
                log_error("ReadGroup=%s: no such group; create it or fix the config", config->read_group);
                goto fail;
        }
        r = auth_resolve_group(config->operator_group, &m->api.operator_gid);
        if (r < 0) {
                log_error("OperatorGroup=%s: no such group; create it or fix the config", config->operator_group);
                goto fail;
        }
        r = audit_open(config->daemon.audit_log, &m->audit);
        if (r < 0) {
                log_error_errno(r, "AuditLog=%s: cannot open: %m", config->daemon.audit_log);
                goto fail;
        }

        r = sd_event_default(&m->event);
        if (r < 0)
                goto fail;
        if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = log_error_errno(errno, "cannot create a pipe: %m");
                goto fail;
        }
        r = sd_event_add_io(m->event, &m->wake_source, m->wake[0], EPOLLIN, on_wake, m);
        if (r < 0)
                goto fail;
        r = stale_start(m);
        if (r < 0)
                goto fail;

        m->volumes = calloc(config->n_scratch ?: 1, sizeof(Volume));
        if (!m->volumes) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < config->n_scratch; i++) {
                r = volume_init(&m->volumes[i], m, i, &config->scratch[i]);
                m->n_volumes = i + 1;
                if (r < 0)
                        goto fail;
        }

        *ret = m;
        return 0;
fail:
        manager_free(m);
        return r;
}

void manager_startup(Manager *m) {
        /* Whatever the volumes hold, adopt what our records prove and wipe the
         * rest, each in its own worker; the loop answers from the start. */
        for (size_t i = 0; i < m->n_volumes; i++)
                if (volume_start(&m->volumes[i], WORK_ADOPT, &volume_self_caller, NULL, NULL) < 0)
                        m->volumes[i].settled = true;   /* no adoption to wait for (no thread) */
        manager_check_ready(m);
}

static int open_socket(Manager *m, const char *path) {
        int n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "cannot read the sockets systemd passed: %m");
        if (n > 1)
                return log_error_errno(EINVAL, "systemd passed %d sockets; scratchd.socket should have one", n);
        if (n == 1) {
                if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
                        return log_error_errno(EINVAL, "the socket systemd passed is not a listening AF_UNIX stream "
                                               "socket; check scratchd.socket");
                m->listen_fd = SD_LISTEN_FDS_START;
                (void) fcntl(m->listen_fd, F_SETFL, fcntl(m->listen_fd, F_GETFL) | O_NONBLOCK);
                return 0;
        }

        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "socket path %s is too long", path);
        strcpy(sa.sun_path, path);

        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        const char *dir = dirname(copy);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create %s: %m", dir);

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "cannot create a socket: %m");
        (void) unlink(path);   /* a stale one from a killed daemon */
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            chmod(path, m->config->daemon.socket_mode) < 0 || listen(fd, SOMAXCONN) < 0) {
                int e = errno;
                close(fd);
                return log_error_errno(e, "cannot listen on %s: %m", path);
        }
        m->listen_fd = fd;
        m->socket_path = strdup(path);
        return 0;
}

/* One descriptor per client: make room for MaxConnections of them
 * (systemd's default soft limit is 1024, its hard limit far higher). */
static void raise_fd_limit(unsigned max_connections) {
        struct rlimit rl;
        rlim_t want = (rlim_t) max_connections + 64;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
                rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
                        log_warning("MaxConnections=%u needs %llu file descriptors, only %llu allowed; raise "
                                    "LimitNOFILE=", max_connections, (unsigned long long) want,
                                    (unsigned long long) rl.rlim_cur);
        }
}

/* Overdue, and at the same step for WorkTimeoutSec= more: stuck, not slow. */
static bool stuck(const Volume *v) {
        uint64_t since = atomic_load(&v->progress.since);
        return v->overdue && now_usec() - since >= (uint64_t) v->manager->config->daemon.work_timeout_sec * USEC_PER_SEC;
}

/* The first stuck work found, or NULL. */
static Volume *stuck_work(Manager *m) {
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                if (stuck(v))
                        return v;
                for (size_t k = 0; k < v->n_jobs; k++)
                        if (stuck(v->jobs[k]))
                                return v->jobs[k];
        }
        return NULL;
}

/* systemd's watchdog (WatchdogSec=) is fed while the loop runs and no
 * worker is stuck: overdue (past WorkTimeoutSec=, its callers answered) and
 * then at one step for WorkTimeoutSec= more. One stuck for good (an NSS
 * lookup that never returns, a disk that no longer answers) gets the daemon
 * restarted by systemd, which the journal and `systemctl status` show. */
static int on_watchdog(sd_event_source *es, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        Volume *s = stuck_work(m);
        if (!s)
                (void) sd_notify(0, "WATCHDOG=1");
        else if (!m->watchdog_withheld)
                log_error("%s: holding the watchdog back: %s", s->sc->name, volume_reason(s));
        m->watchdog_withheld = s != NULL;
        (void) sd_event_source_set_time_relative(es, m->watchdog_usec / 2);
        return sd_event_source_set_enabled(es, SD_EVENT_ON);
}

static int watchdog_start(Manager *m) {
        uint64_t usec;
        if (sd_watchdog_enabled(false, &usec) <= 0)
                return 0;
        m->watchdog_usec = usec;
        return sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, usec / 2, usec / 10, on_watchdog, m);
}

TransportLimits manager_transport_limits(const Manager *m) {
        const DaemonConfig *d = &m->config->daemon;
        return (TransportLimits) {
                .max_connections = d->max_connections,
                .max_connections_per_user = d->max_connections_per_user,
                .reserved = d->max_connections / 4,
                .idle_usec = (uint64_t) d->idle_timeout_sec * USEC_PER_SEC,
                .read_gid = m->api.read_gid,
                .operator_gid = m->api.operator_gid,
        };
}

static int on_sighup(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        char changed[512];
        _cleanup_free_ char *error = NULL;
        if (manager_reload(m, NULL, changed, sizeof(changed), &error) < 0)
                log_error("reload refused: %s", error ?: "out of memory");
        return 0;
}

int manager_run(Manager *m, const char *socket_path) {
        const DaemonConfig *d = &m->config->daemon;
        int r;

        /* Blocked before any worker thread exists: they inherit the mask. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0 ||
            (r = watchdog_start(m)) < 0)
                return log_error_errno(r, "cannot set up the event loop: %m");

        raise_fd_limit(d->max_connections);
        r = open_socket(m, socket_path);
        if (r < 0)
                return r;
        TransportLimits limits = manager_transport_limits(m);
        r = transport_new(m->event, m->listen_fd, &limits, manager_handle_call, m, &m->transport);
        if (r < 0)
                return log_error_errno(r, "cannot serve the socket: %m");

        m->running = true;
        /* READY=1 comes once every adoption has ended, and one may take up
         * to WorkTimeoutSec= (up to an hour) before it is answered FAILED:
         * systemd's start timeout is moved past that, whatever the unit's. */
        sd_notifyf(0, "STATUS=adopting volumes\nEXTEND_TIMEOUT_USEC=%llu",
                   (unsigned long long) (d->work_timeout_sec + 120) * USEC_PER_SEC);
        manager_startup(m);
        log_info("serving io.scratchd on %s", m->socket_path ?: "the socket systemd passed");
        r = sd_event_loop(m->event);
        sd_notify(0, "STOPPING=1");
        return r;
}

/* At stop, work in flight may finish for STOP_WAIT_USEC (or its own
 * deadline, if sooner): a wipe cut short is done again at the next start,
 * from the record it left. */
#define STOP_WAIT_USEC (15 * USEC_PER_SEC)

/* Whether every worker has ended; those that have not are named. */
static bool wait_workers(Manager *m) {
        uint64_t until = now_usec() + STOP_WAIT_USEC;
        bool all = true;
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                Volume *each[1 + v->n_jobs];
                each[0] = v;
                for (size_t k = 0; k < v->n_jobs; k++)
                        each[1 + k] = v->jobs[k];
                for (size_t k = 0; k < 1 + v->n_jobs; k++)
                        if (!volume_wait_work(each[k], until)) {
                                all = false;
                                log_error("%s%s%s: leaving its %s running (at step %s); the next start erases "
                                          "what it leaves", v->sc->name, k ? " job " : "", k ? each[k]->rec.job : "",
                                          work_kind_to_string(each[k]->work),
                                          atomic_load(&each[k]->progress.step) ?: "start");
                        }
        }
        return all;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* The transport first: no call comes in while the volumes wind down. */
        m->transport = transport_free(m->transport);
        if (!wait_workers(m)) {
                /* A thread still runs and uses what the rest would free: the
                 * process ends here, the kernel takes it all. */
                if (m->socket_path)
                        (void) unlink(m->socket_path);
                audit_close(m->audit);
                _exit(EXIT_FAILURE);
        }
        for (size_t i = 0; i < m->n_volumes; i++)
                volume_done(&m->volumes[i]);
        free(m->volumes);
        for (size_t i = 0; i < m->n_subscribers; i++)
                call_unref(m->subscribers[i]);
        free(m->subscribers);
        if (m->listen_fd >= 0)
                close(m->listen_fd);
        if (m->socket_path) {
                (void) unlink(m->socket_path);
                free(m->socket_path);
        }
        sd_event_source_disable_unref(m->wake_source);
        sd_event_source_disable_unref(m->stale_timer);
        /* The configs reloads replaced, and the one now in use, but not
         * the caller's (manager_new()'s), which is its to free. */
        for (size_t i = 0; i < m->n_retired; i++)
                if (m->retired[i] != m->config_original)
                        config_free(m->retired[i]);
        free(m->retired);
        if (m->config != m->config_original)
                config_free(m->config);
        free(m->config_path);
        if (m->wake[0] >= 0)
                close(m->wake[0]);
        if (m->wake[1] >= 0)
                close(m->wake[1]);
        sd_event_unref(m->event);
        audit_close(m->audit);
        EVP_PKEY_free(m->node_key);
        free(m->records_dir);
        free(m->state_dir);
        free(m);
        return NULL;
}
