/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "scratchd/api.h"
#include "scratchd/audit.h"
#include "scratchd/fault.h"
#include "scratchd/lifecycle.h"
#include "scratchd/log.h"
#include "scratchd/engine.h"
#include "scratchd/metrics.h"
#include "scratchd/server.h"
#include "scratchd/util.h"

/* A subscriber that stops reading is dropped once this much waits for it. */
#define OUTPUT_MAX ((size_t) 4 * 1024 * 1024)

typedef struct Connection Connection;

struct Connection {
        Server *server;
        Connection *prev, *next;
        int fd;
        Caller caller;
        sd_event_source *io_source, *idle_source;
        char *in;                 /* VARLINK_MESSAGE_MAX + 1 bytes */
        size_t in_len;
        char *out;
        size_t out_len;
        bool pending;             /* a call awaits a deferred reply */
        bool pending_oneway;
        unsigned pending_volumes; /* Wipe: how many volumes are still being wiped */
        char pending_error[512];  /* Wipe: the first failure */
        bool subscribed;
        bool closing;             /* close once the output is flushed */
};

typedef enum Work {
        WORK_NONE,
        WORK_ADOPT,
        WORK_RELEASE,
        WORK_WIPE,
} Work;

typedef struct Volume {
        Server *server;
        size_t index;
        const ScratchConfig *vc;
        Record rec;
        VolumeCounters counters;
        int lock_fd;

        /* The work a worker thread does on it, if any. The thread reads only
         * `vc` and writes only `result` and `result_r`; the loop reads those
         * after joining it. */
        Work work;
        pthread_t thread;
        Record result;
        int result_r;
        uint64_t work_start;
        Caller work_caller;       /* uid (uid_t) -1: scratchd itself */
        char work_job[65];
        Connection **waiters;
        size_t n_waiters;

        /* Adoption that found no usable disk is tried again, sooner at first:
         * disks appear late (drivers, udev), and an admin may fix the config
         * or the disk without restarting us. */
        sd_event_source *retry_source;
        uint64_t retry_usec;
} Volume;

#define ADOPT_RETRY_FIRST_USEC (1 * USEC_PER_SEC)
#define ADOPT_RETRY_MAX_USEC (60 * USEC_PER_SEC)

struct Server {
        sd_event *event;
        Config *config;
        Engine engine;
        Volume *volumes;
        size_t n_volumes;
        int listen_fd;
        char *socket_path;        /* ours to unlink; NULL when systemd passed the socket */
        sd_event_source *listen_source;
        Connection *connections;
        unsigned n_connections;
        int wake[2];              /* workers write their volume's index here */
        Connection **finishing;   /* waiters being answered (see volume_work_done) */
        size_t n_finishing;
        sd_event_source *wake_source;
        Audit *audit;
        ApiBackend backend;
};

static const Caller self_caller = { .uid = (uid_t) -1 };

/* ---- connections ---- */

static void connection_free(Connection *c) {
        Server *s = c->server;
        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *v = &s->volumes[i];
                for (size_t k = 0; k < v->n_waiters; k++)
                        if (v->waiters[k] == c)
                                v->waiters[k] = NULL;
        }
        for (size_t k = 0; k < s->n_finishing; k++)
                if (s->finishing[k] == c)
                        s->finishing[k] = NULL;
        if (c->prev)
                c->prev->next = c->next;
        else
                s->connections = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_connections--;

        sd_event_source_disable_unref(c->io_source);
        sd_event_source_disable_unref(c->idle_source);
        close(c->fd);
        free(c->in);
        free(c->out);
        free(c);
}

static void connection_update_events(Connection *c) {
        uint32_t events = 0;
        if (!c->pending && !c->closing && c->in_len <= VARLINK_MESSAGE_MAX)
                events |= EPOLLIN;
        if (c->out_len > 0)
                events |= EPOLLOUT;
        sd_event_source_set_io_events(c->io_source, events);
}

/* Returns false if the connection was freed. */
static bool connection_flush(Connection *c) {
        while (c->out_len > 0) {
                ssize_t k = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        connection_free(c);
                        return false;
                }
                memmove(c->out, c->out + k, c->out_len - (size_t) k);
                c->out_len -= (size_t) k;
        }
        if (c->out_len == 0 && c->closing) {
                connection_free(c);
                return false;
        }
        connection_update_events(c);
        return true;
}

/* Queues an encoded message (NUL included) and tries to send it. Takes `msg`. */
static bool connection_send(Connection *c, char *msg, size_t len) {
        if (!msg) {
                connection_free(c);
                return false;
        }
        if (c->out_len + len > OUTPUT_MAX) {
                log_warning("client pid %d (uid %u) does not read its replies; dropping it", (int) c->caller.pid,
                            (unsigned) c->caller.uid);
                free(msg);
                connection_free(c);
                return false;
        }
        char *n = realloc(c->out, c->out_len + len);
        if (!n) {
                free(msg);
                connection_free(c);
                return false;
        }
        memcpy(n + c->out_len, msg, len);
        c->out = n;
        c->out_len += len;
        free(msg);
        return connection_flush(c);
}

static bool connection_reply(Connection *c, json_object *params, bool continues) {
        size_t len;
        char *m = varlink_encode_reply(params, continues, &len);
        return connection_send(c, m, len);
}

static bool connection_error(Connection *c, const char *error, json_object *params) {
        size_t len;
        char *m = varlink_encode_error(error, params, &len);
        return connection_send(c, m, len);
}

static void connection_reset_idle(Connection *c) {
        uint64_t usec = (uint64_t) c->server->config->daemon.idle_timeout_sec * USEC_PER_SEC;
        sd_event_source_set_time_relative(c->idle_source, usec);
        sd_event_source_set_enabled(c->idle_source, SD_EVENT_ONESHOT);
}

static int on_idle(sd_event_source *es, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        /* Waiting for a wipe or for state changes is not idling. */
        if ((c->pending || c->subscribed) && c->in_len == 0) {
                connection_reset_idle(c);
                return 0;
        }
        log_debug("dropping idle client pid %d (uid %u)", (int) c->caller.pid, (unsigned) c->caller.uid);
        connection_free(c);
        return 0;
}

static bool connection_process(Connection *c);

/* Handles one call; returns false if `c` was freed (a failed send). */
static bool connection_handle(Connection *c, const char *msg, size_t len) {
        Server *s = c->server;
        _cleanup_free_ char *why = NULL;
        VarlinkCall call;

        if (varlink_parse_call(msg, len, &call, &why) < 0) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "reason", json_object_new_string(why ?: "malformed message"));
                c->closing = true;
                return connection_error(c, API_ERROR_INVALID_MESSAGE, p);
        }

        ApiResult r;
        api_dispatch(&s->backend, c, &c->caller, &call, &r);
        bool oneway = call.oneway;
        varlink_call_done(&call);

        if (r.deferred) {
                c->pending = true;
                c->pending_oneway = oneway;
                return true;
        }
        if (r.subscribe)
                c->subscribed = true;
        if (oneway) {
                json_object_put(r.parameters);
                return true;
        }
        if (r.error)
                return connection_error(c, r.error, r.parameters);
        return connection_reply(c, r.parameters, r.subscribe);
}

/* Handles every complete message buffered; returns false if `c` was freed. */
static bool connection_process(Connection *c) {
        while (!c->pending && !c->closing) {
                char *nul = memchr(c->in, 0, c->in_len);
                if (!nul) {
                        if (c->in_len > VARLINK_MESSAGE_MAX) {
                                json_object *p = json_object_new_object();
                                json_object_object_add(p, "reason", json_object_new_string(
                                        "message exceeds 65536 bytes"));
                                c->closing = true;
                                c->in_len = 0;
                                return connection_error(c, API_ERROR_INVALID_MESSAGE, p);
                        }
                        break;
                }
                size_t len = (size_t) (nul - c->in);
                connection_reset_idle(c);

                /* A copy, so that the buffer may move while the call is handled. */
                _cleanup_free_ char *msg = malloc(len + 1);
                if (!msg) {
                        connection_free(c);
                        return false;
                }
                memcpy(msg, c->in, len + 1);
                memmove(c->in, nul + 1, c->in_len - len - 1);
                c->in_len -= len + 1;

                if (!connection_handle(c, msg, len))
                        return false;
        }
        connection_update_events(c);
        return true;
}

static int on_connection_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;

        if (revents & EPOLLOUT && !connection_flush(c))
                return 0;
        if (revents & EPOLLIN) {
                while (c->in_len <= VARLINK_MESSAGE_MAX) {
                        ssize_t k = recv(fd, c->in + c->in_len, VARLINK_MESSAGE_MAX + 1 - c->in_len, MSG_DONTWAIT);
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN)
                                        break;
                                connection_free(c);
                                return 0;
                        }
                        if (k == 0) {   /* the client hung up */
                                connection_free(c);
                                return 0;
                        }
                        c->in_len += (size_t) k;
                }
                if (!connection_process(c))
                        return 0;
        }
        /* Hung up while we were not reading (a call pending): level-triggered
         * HUP would spin the loop, and there is no one left to answer. */
        if (revents & (EPOLLHUP | EPOLLERR) && !(revents & EPOLLIN))
                connection_free(c);
        return 0;
}

static unsigned connections_of(Server *s, uid_t uid) {
        unsigned n = 0;
        for (Connection *c = s->connections; c; c = c->next)
                n += c->caller.uid == uid;
        return n;
}

/* Refuses a connection past the limits: one error message, best effort, then close. */
static void refuse_connection(int fd, const Caller *caller) {
        size_t len;
        char *m = varlink_encode_error(API_ERROR_TOO_MANY_CONNECTIONS, NULL, &len);
        if (m)
                (void) send(fd, m, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        free(m);
        close(fd);
        log_debug("refused a connection from pid %d (uid %u): too many connections", (int) caller->pid,
                  (unsigned) caller->uid);
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Server *s = userdata;
        const DaemonConfig *d = &s->config->daemon;

        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno != EAGAIN)
                                log_warning_errno(errno, "accept failed: %m");
                        return 0;
                }
                Caller caller;
                if (auth_get_caller(cfd, &caller) < 0) {
                        close(cfd);
                        continue;
                }
                if (s->n_connections >= d->max_connections ||
                    (caller.uid != 0 && connections_of(s, caller.uid) >= d->max_connections_per_user)) {
                        refuse_connection(cfd, &caller);
                        continue;
                }

                Connection *c = calloc(1, sizeof(Connection));
                if (c)
                        c->in = malloc(VARLINK_MESSAGE_MAX + 1);
                if (!c || !c->in) {
                        if (c)
                                free(c);
                        close(cfd);
                        continue;
                }
                c->server = s;
                c->fd = cfd;
                c->caller = caller;
                c->next = s->connections;
                if (s->connections)
                        s->connections->prev = c;
                s->connections = c;
                s->n_connections++;

                if (sd_event_add_io(s->event, &c->io_source, cfd, EPOLLIN, on_connection_io, c) < 0 ||
                    sd_event_add_time_relative(s->event, &c->idle_source, CLOCK_MONOTONIC,
                                               (uint64_t) d->idle_timeout_sec * USEC_PER_SEC, 100 * USEC_PER_MSEC,
                                               on_idle, c) < 0) {
                        connection_free(c);
                        continue;
                }
        }
}

/* ---- volumes ---- */

static json_object *volume_json(const Volume *v) {
        const Record *r = &v->rec;
        json_object *o = json_object_new_object(), *devs = json_object_new_array();

        json_object_object_add(o, "name", json_object_new_string(v->vc->name));
        for (char **d = v->vc->devices; d && *d; d++)
                json_object_array_add(devs, json_object_new_string(*d));
        json_object_object_add(o, "devices", devs);
        if (r->device[0])
                json_object_object_add(o, "device", json_object_new_string(r->device));
        /* While a worker has it, it is being wiped, whatever it was before. */
        LifecycleState state = v->work != WORK_NONE && v->work != WORK_ADOPT ? STATE_WIPING : r->state;
        json_object_object_add(o, "state", json_object_new_string(lifecycle_state_to_string(state)));
        /* Being adopted: shown in its recorded state, but not to be had yet. */
        if (v->work == WORK_ADOPT)
                json_object_object_add(o, "adopting", json_object_new_boolean(true));
        if (r->job[0] && state == STATE_IN_USE) {
                json_object_object_add(o, "job", json_object_new_string(r->job));
                json_object_object_add(o, "user", json_object_new_string(r->user));
                json_object_object_add(o, "uid", json_object_new_int64(r->uid));
        }
        json_object_object_add(o, "key_generation", json_object_new_uint64(r->generation));
        if (r->cipher[0]) {
                json_object_object_add(o, "cipher", json_object_new_string(r->cipher));
                json_object_object_add(o, "sector_size", json_object_new_int64(r->sector_size));
        }
        /* Only a record that kept the data-path settings can tell them. */
        if (r->cipher[0] && r->tuning[0]) {
                json_object_object_add(o, "key_bits", json_object_new_int64(r->key_bits));
                json_object_object_add(o, "bypass_workqueues", json_object_new_boolean(r->bypass_workqueues));
                json_object_object_add(o, "allow_discards", json_object_new_boolean(r->allow_discards));
                json_object_object_add(o, "tuning", json_object_new_string(r->tuning));
        }
        json_object_object_add(o, "mount_point", json_object_new_string(v->vc->mount_point));

        struct statvfs sv;
        if ((state == STATE_CLEAN || state == STATE_IN_USE) && statvfs(v->vc->mount_point, &sv) == 0) {
                uint64_t total = (uint64_t) sv.f_blocks * sv.f_frsize;
                json_object_object_add(o, "size_bytes", json_object_new_uint64(total));
                json_object_object_add(o, "used_bytes",
                                       json_object_new_uint64(total - (uint64_t) sv.f_bfree * sv.f_frsize));
        }
        if (r->last_wipe) {
                json_object_object_add(o, "last_wipe", json_object_new_int64(r->last_wipe));
                json_object_object_add(o, "last_wipe_usec", json_object_new_uint64(r->last_wipe_usec));
        }
        if (state == STATE_FAILED)
                json_object_object_add(o, "reason", json_object_new_string(r->reason));
        return o;
}

static json_object *status_json(Server *s) {
        json_object *p = json_object_new_object(), *a = json_object_new_array();
        for (size_t i = 0; i < s->n_volumes; i++)
                json_object_array_add(a, volume_json(&s->volumes[i]));
        json_object_object_add(p, "volumes", a);
        return p;
}

static char *metrics_text(Server *s) {
        MetricsVolume mv[s->n_volumes ?: 1];
        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *v = &s->volumes[i];
                struct statvfs sv;
                mv[i] = (MetricsVolume) { .name = v->vc->name, .rec = &v->rec, .counters = &v->counters };
                if ((v->rec.state == STATE_CLEAN || v->rec.state == STATE_IN_USE) && v->work == WORK_NONE &&
                    statvfs(v->vc->mount_point, &sv) == 0) {
                        mv[i].size_bytes = (uint64_t) sv.f_blocks * sv.f_frsize;
                        mv[i].used_bytes = mv[i].size_bytes - (uint64_t) sv.f_bfree * sv.f_frsize;
                }
        }
        return metrics_format(mv, s->n_volumes);
}

/* After any change: subscribers, systemd's STATUS=, the textfile. */
static void volume_changed(Volume *v) {
        Server *s = v->server;

        for (Connection *c = s->connections, *next; c; c = next) {
                next = c->next;
                if (!c->subscribed)
                        continue;
                json_object *p = json_object_new_object();
                json_object_object_add(p, "volume", volume_json(v));
                connection_reply(c, p, true);
        }

        char status[256] = "STATUS=";
        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *x = &s->volumes[i];
                size_t n = strlen(status);
                snprintf(status + n, sizeof(status) - n, "%s%s %s gen %" PRIu64, i ? ", " : "", x->vc->name,
                         lifecycle_state_to_string(x->work != WORK_NONE ? STATE_WIPING : x->rec.state),
                         x->rec.generation);
        }
        sd_notify(0, status);

        if (s->config->daemon.metrics_directory) {
                _cleanup_free_ char *text = metrics_text(s);
                int r = text ? metrics_write_textfile(s->config->daemon.metrics_directory, text) : -ENOMEM;
                if (r < 0)
                        log_warning_errno(r, "cannot write metrics into %s: %m", s->config->daemon.metrics_directory);
        }
}

static void audit_transition(Volume *v, const char *event, const Caller *c, const char *job, LifecycleState from,
                             LifecycleState to, uint64_t usec, const char *result, const char *detail) {
        AuditEvent e = {
                .event = event,
                .volume = v->vc->name,
                .job = job && *job ? job : NULL,
                /* The job's user, when the record is that job's. */
                .user = job && v->rec.user[0] && streq(job, v->rec.job) ? v->rec.user : NULL,
                .caller_uid = c->uid,
                .caller_pid = c->pid,
                .from = lifecycle_state_to_string(from),
                .to = lifecycle_state_to_string(to),
                .generation = v->rec.generation,
                .duration_usec = usec,
                .result = result,
                .detail = detail,
        };
        audit_log(v->server->audit, &e);
}

/* Wipes are background work: the loop must keep answering, so the worker and
 * what it runs (mkfs) yield the CPU to it. Linux's nice value is per thread. */
#define WORKER_NICE 10

static void *work_main(void *userdata) {
        Volume *v = userdata;
        if (setpriority(PRIO_PROCESS, (id_t) gettid(), WORKER_NICE) < 0)
                log_debug("cannot lower the worker's priority: %m");
        /* The loop has no say in how long this takes: mkfs on a big disk,
         * libcryptsetup, udev. Only `result` and `result_r` are written. */
        v->result_r = engine_run_volume(&v->server->engine, v->vc, v->work != WORK_ADOPT, &v->result);
        size_t index = v->index;
        while (write(v->server->wake[1], &index, sizeof(index)) < 0 && errno == EINTR)
                ;
        return NULL;
}

static int volume_start_work(Volume *v, Work w, const Caller *c, const char *job) {
        v->work = w;
        v->work_start = now_usec();
        v->work_caller = *c;
        snprintf(v->work_job, sizeof(v->work_job), "%s", job ?: "");
        int r = -pthread_create(&v->thread, NULL, work_main, v);
        if (r < 0) {
                v->work = WORK_NONE;
                return log_error_errno(r, "%s: cannot start a worker: %m", v->vc->name);
        }
        if (w != WORK_ADOPT)
                volume_changed(v);
        return 0;
}

static int on_adopt_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        Volume *v = userdata;
        if (v->work == WORK_NONE && v->rec.state == STATE_ABSENT)
                (void) volume_start_work(v, WORK_ADOPT, &self_caller, NULL);
        return 0;
}

static void schedule_adopt_retry(Volume *v) {
        v->retry_usec = v->retry_usec ? v->retry_usec * 2 : ADOPT_RETRY_FIRST_USEC;
        if (v->retry_usec > ADOPT_RETRY_MAX_USEC)
                v->retry_usec = ADOPT_RETRY_MAX_USEC;
        if (!v->retry_source) {
                if (sd_event_add_time_relative(v->server->event, &v->retry_source, CLOCK_MONOTONIC, v->retry_usec,
                                               100 * USEC_PER_MSEC, on_adopt_retry, v) < 0)
                        return;
        } else
                sd_event_source_set_time_relative(v->retry_source, v->retry_usec);
        sd_event_source_set_enabled(v->retry_source, SD_EVENT_ONESHOT);
        log_info("%s: trying again in %llu s", v->vc->name, (unsigned long long) (v->retry_usec / USEC_PER_SEC));
}

static bool add_waiter(Volume *v, Connection *c) {
        Connection **n = realloc(v->waiters, sizeof(Connection *) * (v->n_waiters + 1));
        if (!n)
                return false;
        v->waiters = n;
        v->waiters[v->n_waiters++] = c;
        return true;
}

static json_object *failed_params(const Volume *v) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "volume", json_object_new_string(v->vc->name));
        json_object_object_add(p, "reason", json_object_new_string(v->rec.reason[0] ? v->rec.reason : "unknown"));
        return p;
}

/* A wait is over for connection c: send what it waited for. */
static void finish_waiter(Volume *v, Connection *c, Work w, bool failed) {
        Server *s = v->server;

        if (w == WORK_WIPE) {
                if (failed && !c->pending_error[0])
                        snprintf(c->pending_error, sizeof(c->pending_error), "%s", v->vc->name);
                if (c->pending_volumes > 0 && --c->pending_volumes > 0)
                        return;
        }
        c->pending = false;
        bool oneway = c->pending_oneway;
        c->pending_oneway = false;

        if (!oneway) {
                if (w == WORK_WIPE && c->pending_error[0]) {
                        Volume *f = v;
                        for (size_t i = 0; i < s->n_volumes; i++)
                                if (streq(s->volumes[i].vc->name, c->pending_error))
                                        f = &s->volumes[i];
                        c->pending_error[0] = 0;
                        if (!connection_error(c, API_ERROR_VOLUME_FAILED, failed_params(f)))
                                return;
                } else if (w == WORK_WIPE) {
                        json_object *p = status_json(s);
                        if (!connection_reply(c, p, false))
                                return;
                } else if (failed) {
                        if (!connection_error(c, API_ERROR_VOLUME_FAILED, failed_params(v)))
                                return;
                } else {
                        json_object *p = json_object_new_object();
                        json_object_object_add(p, "volume", json_object_new_string(v->vc->name));
                        json_object_object_add(p, "key_generation", json_object_new_uint64(v->rec.generation));
                        if (!connection_reply(c, p, false))
                                return;
                }
        }
        /* Calls that came while this one waited. */
        connection_process(c);
}

static void volume_work_done(Volume *v) {
        pthread_join(v->thread, NULL);

        Work w = v->work;
        LifecycleState from = v->rec.state;
        uint64_t gen_before = v->rec.generation;
        uint64_t usec = now_usec() - v->work_start;
        v->rec = v->result;
        v->work = WORK_NONE;
        bool failed = v->result_r < 0;
        bool wiped = v->rec.generation != gen_before || w != WORK_ADOPT;

        if (wiped) {
                if (failed)
                        v->counters.wipe_failures++;
                else
                        v->counters.wipes++;
        }
        if (w == WORK_RELEASE) {
                if (failed)
                        v->counters.release_failures++;
                else
                        v->counters.releases++;
        }
        audit_transition(v, w == WORK_ADOPT ? "adopt" : "wipe", &v->work_caller, v->work_job, from, v->rec.state, usec,
                         failed ? API_ERROR_VOLUME_FAILED : "ok", failed ? v->rec.reason : NULL);

        /* Answering one waiter may run its next call, which may wait on this
         * volume again or free other connections: take the array, and let
         * connection_free() clear its entries while we go through it. */
        Server *s = v->server;
        s->finishing = v->waiters;
        s->n_finishing = v->n_waiters;
        v->waiters = NULL;
        v->n_waiters = 0;
        for (size_t i = 0; i < s->n_finishing; i++)
                if (s->finishing[i])
                        finish_waiter(v, s->finishing[i], w, failed);
        free(s->finishing);
        s->finishing = NULL;
        s->n_finishing = 0;

        /* No disk to take (not there yet, refused, busy): try again later. A
         * volume a wipe left FAILED waits for an operator instead. */
        if (w == WORK_ADOPT && failed && !wiped)
                schedule_adopt_retry(v);
        else if (w == WORK_ADOPT)
                v->retry_usec = 0;

        volume_changed(v);
}

static int on_wake(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Server *s = userdata;
        size_t index;
        while (read(fd, &index, sizeof(index)) == sizeof(index))
                if (index < s->n_volumes && s->volumes[index].work != WORK_NONE)
                        volume_work_done(&s->volumes[index]);
        return 0;
}

/* ---- the methods ---- */

static Volume *find_volume(Server *s, const char *name) {
        for (size_t i = 0; i < s->n_volumes; i++)
                if (streq(s->volumes[i].vc->name, name))
                        return &s->volumes[i];
        return NULL;
}

static void busy_error(ApiResult *r, const Volume *v) {
        json_object *p = json_object_new_object();
        LifecycleState st = v->work != WORK_NONE ? STATE_WIPING : v->rec.state;
        json_object_object_add(p, "volume", json_object_new_string(v->vc->name));
        json_object_object_add(p, "state", json_object_new_string(lifecycle_state_to_string(st)));
        if (st == STATE_IN_USE)
                json_object_object_add(p, "job", json_object_new_string(v->rec.job));
        api_result_error(r, API_ERROR_VOLUME_BUSY, p);
}

static void backend_get_status(void *userdata, ApiResult *r) {
        r->parameters = status_json(userdata);
}

static void backend_get_metrics(void *userdata, ApiResult *r) {
        _cleanup_free_ char *text = metrics_text(userdata);
        if (!text) {
                api_result_error(r, API_ERROR_INTERNAL, NULL);
                return;
        }
        r->parameters = json_object_new_object();
        json_object_object_add(r->parameters, "text", json_object_new_string(text));
}

static void backend_subscribe(void *userdata, void *conn, ApiResult *r) {
        r->parameters = status_json(userdata);
        r->subscribe = true;
}

/* Makes MountPoint/JOB, 0700, owned by the user, without following links. */
static int make_job_dir(const char *mount_point, const char *job, uid_t uid, gid_t gid) {
        _cleanup_close_ int dfd = open(mount_point, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if (mkdirat(dfd, job, 0700) < 0)
                return -errno;
        _cleanup_close_ int fd = openat(dfd, job, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* Mode first: once the directory is the user's, changing it would
         * need CAP_FOWNER, which the unit does not grant. */
        if (fd < 0 || fchmod(fd, 0700) < 0 || fchown(fd, uid, gid) < 0) {
                int e = -errno;
                (void) unlinkat(dfd, job, AT_REMOVEDIR);
                return e;
        }
        return 0;
}

static void prepare_reply(ApiResult *r, const Volume *v) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", v->vc->mount_point, v->rec.job);
        r->parameters = json_object_new_object();
        json_object_object_add(r->parameters, "volume", json_object_new_string(v->vc->name));
        json_object_object_add(r->parameters, "directory", json_object_new_string(dir));
        json_object_object_add(r->parameters, "key_generation", json_object_new_uint64(v->rec.generation));
}

/* Hands volume v, if it can be had, to the job. */
static void prepare_volume(Server *s, Volume *v, const char *job, const char *user, ApiResult *r) {
        LifecycleState next;
        int k = v->work != WORK_NONE ? -EBUSY : lifecycle_next(v->rec.state, EVENT_PREPARE, &next);
        if (k == -EIO || k == -ENODEV) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "volume", json_object_new_string(v->vc->name));
                json_object_object_add(p, "reason", json_object_new_string(
                        k == -EIO ? v->rec.reason
                                  : "not set up: scratchd could not take its disk (the journal says why)"));
                api_result_error(r, API_ERROR_VOLUME_FAILED, p);
                return;
        }
        if (k < 0) {
                busy_error(r, v);
                return;
        }

        struct passwd pw, *found = NULL;
        char buf[4096];
        if (getpwnam_r(user, &pw, buf, sizeof(buf), &found) != 0 || !found) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "user", json_object_new_string(user));
                api_result_error(r, API_ERROR_NO_SUCH_USER, p);
                return;
        }

        int e = make_job_dir(v->vc->mount_point, job, found->pw_uid, found->pw_gid);
        fault_point("prepare-dir-made");
        if (e < 0) {
                json_object *p = json_object_new_object();
                char why[256];
                snprintf(why, sizeof(why), "cannot make %s/%s: %s", v->vc->mount_point, job, strerror(-e));
                json_object_object_add(p, "reason", json_object_new_string(why));
                api_result_error(r, API_ERROR_INTERNAL, p);
                log_error("%s: prepare of job %s failed: %s", v->vc->name, job, why);
                return;
        }

        Record saved = v->rec;
        v->rec.state = next;
        snprintf(v->rec.job, sizeof(v->rec.job), "%s", job);
        snprintf(v->rec.user, sizeof(v->rec.user), "%s", found->pw_name);
        v->rec.uid = found->pw_uid;
        e = record_save(s->engine.state_dir, v->vc->name, &v->rec);
        fault_point("prepare-saved");
        if (e < 0) {
                /* Unchanged but for an empty directory, which the next wipe takes. */
                v->rec = saved;
                json_object *p = json_object_new_object();
                json_object_object_add(p, "reason", json_object_new_string("cannot record the new state"));
                api_result_error(r, API_ERROR_INTERNAL, p);
                log_error_errno(e, "%s: cannot record state: %m", v->vc->name);
                return;
        }
        log_info("%s: handed to job %s (user %s), key generation %" PRIu64, v->vc->name, job, v->rec.user,
                 v->rec.generation);
        prepare_reply(r, v);
}

static void backend_prepare(void *userdata, void *conn, const Caller *c, const char *job, const char *user,
                            const char *volume, ApiResult *r) {
        Server *s = userdata;
        Volume *v = NULL;
        uint64_t start = now_usec();

        /* The same job asking again (a retried prolog) gets the same answer. */
        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *x = &s->volumes[i];
                if (x->work == WORK_NONE && x->rec.state == STATE_IN_USE && streq(x->rec.job, job) &&
                    (!volume || streq(volume, x->vc->name))) {
                        prepare_reply(r, x);
                        return;
                }
        }

        if (volume) {
                v = find_volume(s, volume);
                if (!v) {
                        json_object *p = json_object_new_object();
                        json_object_object_add(p, "volume", json_object_new_string(volume));
                        api_result_error(r, API_ERROR_NO_SUCH_VOLUME, p);
                        return;
                }
        } else {
                for (size_t i = 0; i < s->n_volumes && !v; i++)
                        if (s->volumes[i].work == WORK_NONE && s->volumes[i].rec.state == STATE_CLEAN)
                                v = &s->volumes[i];
                if (!v)
                        v = &s->volumes[0];   /* for the error: why it is not CLEAN */
        }

        LifecycleState from = v->rec.state;
        prepare_volume(s, v, job, user, r);
        if (r->error)
                v->counters.prepare_failures++;
        else {
                v->counters.prepares++;
                volume_changed(v);
        }
        audit_transition(v, "prepare", c, job, from, v->rec.state, now_usec() - start, r->error ?: "ok", NULL);
}

static void backend_release(void *userdata, void *conn, const Caller *c, const char *job, ApiResult *r) {
        Server *s = userdata;

        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *v = &s->volumes[i];

                /* Already being released for this job: wait for the same wipe. */
                if (v->work == WORK_RELEASE && streq(v->work_job, job)) {
                        if (!add_waiter(v, conn))
                                api_result_error(r, API_ERROR_INTERNAL, NULL);
                        else
                                r->deferred = true;
                        return;
                }
                if (v->work != WORK_NONE || v->rec.state != STATE_IN_USE || !streq(v->rec.job, job))
                        continue;

                LifecycleState next;
                (void) lifecycle_next(v->rec.state, EVENT_RELEASE, &next);
                v->rec.state = next;
                snprintf(v->rec.last_job, sizeof(v->rec.last_job), "%s", job);
                /* The worker starts from what is on file: save before it starts. */
                (void) record_save(s->engine.state_dir, v->vc->name, &v->rec);
                fault_point("release-saved");
                audit_transition(v, "release", c, job, STATE_IN_USE, STATE_DIRTY, 0, "ok", NULL);

                if (!add_waiter(v, conn) || volume_start_work(v, WORK_RELEASE, c, job) < 0) {
                        api_result_error(r, API_ERROR_INTERNAL, NULL);
                        v->counters.release_failures++;
                        return;
                }
                r->deferred = true;
                return;
        }

        /* Released before (a retried epilog): done, if the volume is CLEAN since. */
        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *v = &s->volumes[i];
                if (v->work == WORK_NONE && v->rec.state == STATE_CLEAN && streq(v->rec.last_job, job)) {
                        r->parameters = json_object_new_object();
                        json_object_object_add(r->parameters, "volume", json_object_new_string(v->vc->name));
                        json_object_object_add(r->parameters, "key_generation",
                                               json_object_new_uint64(v->rec.generation));
                        return;
                }
                if (v->work == WORK_NONE && v->rec.state == STATE_FAILED && streq(v->rec.last_job, job)) {
                        api_result_error(r, API_ERROR_VOLUME_FAILED, failed_params(v));
                        return;
                }
        }

        json_object *p = json_object_new_object();
        json_object_object_add(p, "job", json_object_new_string(job));
        api_result_error(r, API_ERROR_NO_SUCH_JOB, p);
        AuditEvent e = { .event = "release", .job = job, .caller_uid = c->uid, .caller_pid = c->pid,
                         .result = API_ERROR_NO_SUCH_JOB };
        audit_log(s->audit, &e);
}

static void backend_wipe(void *userdata, void *conn, const Caller *c, const char *volume, ApiResult *r) {
        Server *s = userdata;
        Connection *cn = conn;

        if (volume && !find_volume(s, volume)) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "volume", json_object_new_string(volume));
                api_result_error(r, API_ERROR_NO_SUCH_VOLUME, p);
                return;
        }
        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *v = &s->volumes[i];
                if ((!volume || streq(volume, v->vc->name)) && v->work != WORK_NONE) {
                        busy_error(r, v);
                        return;
                }
        }

        cn->pending_volumes = 0;
        cn->pending_error[0] = 0;
        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *v = &s->volumes[i];
                if (volume && !streq(volume, v->vc->name))
                        continue;
                audit_transition(v, "wipe-requested", c, v->rec.job, v->rec.state, STATE_WIPING, 0, "ok", NULL);
                if (!add_waiter(v, conn) || volume_start_work(v, WORK_WIPE, c, v->rec.job) < 0) {
                        snprintf(cn->pending_error, sizeof(cn->pending_error), "%s", v->vc->name);
                        continue;
                }
                cn->pending_volumes++;
        }
        if (cn->pending_volumes == 0) {
                api_result_error(r, API_ERROR_INTERNAL, NULL);
                return;
        }
        r->deferred = true;
}

/* ---- set-up ---- */

static int open_socket(Server *s, const char *path) {
        int n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "cannot read the sockets systemd passed: %m");
        if (n > 1)
                return log_error_errno(EINVAL, "systemd passed %d sockets; scratchd.socket should have one", n);
        if (n == 1) {
                if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
                        return log_error_errno(EINVAL, "the socket systemd passed is not a listening AF_UNIX stream "
                                               "socket; check scratchd.socket");
                s->listen_fd = SD_LISTEN_FDS_START;
                (void) fcntl(s->listen_fd, F_SETFL, fcntl(s->listen_fd, F_GETFL) | O_NONBLOCK);
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
            chmod(path, s->config->daemon.socket_mode) < 0 || listen(fd, SOMAXCONN) < 0) {
                int e = errno;
                close(fd);
                return log_error_errno(e, "cannot listen on %s: %m", path);
        }
        s->listen_fd = fd;
        s->socket_path = strdup(path);
        return 0;
}

int server_new(Config *config, const char *state_dir, const char *socket_path, Server **ret) {
        Server *s = calloc(1, sizeof(Server));
        int r;

        if (!s)
                return -ENOMEM;
        s->config = config;
        s->listen_fd = -EBADF;
        s->wake[0] = s->wake[1] = -EBADF;
        engine_init(&s->engine, config, state_dir, NULL);

        s->backend = (ApiBackend) {
                .get_status = backend_get_status,
                .prepare = backend_prepare,
                .release = backend_release,
                .wipe = backend_wipe,
                .subscribe = backend_subscribe,
                .get_metrics = backend_get_metrics,
                .userdata = s,
        };
        r = auth_resolve_group(config->read_group, &s->backend.read_gid);
        if (r < 0) {
                log_error("ReadGroup=%s: no such group; create it or fix the config", config->read_group);
                goto fail;
        }
        r = auth_resolve_group(config->operator_group, &s->backend.operator_gid);
        if (r < 0) {
                log_error("OperatorGroup=%s: no such group; create it or fix the config", config->operator_group);
                goto fail;
        }

        r = audit_open(config->daemon.audit_log, &s->audit);
        if (r < 0) {
                log_error_errno(r, "AuditLog=%s: cannot open: %m", config->daemon.audit_log);
                goto fail;
        }

        s->n_volumes = config->n_scratch;
        s->volumes = calloc(s->n_volumes, sizeof(Volume));
        if (!s->volumes) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < s->n_volumes; i++) {
                Volume *v = &s->volumes[i];
                *v = (Volume) { .server = s, .index = i, .vc = &config->scratch[i], .lock_fd = -EBADF };
                /* Held for the daemon's life: `scratchd wipe` by hand would
                 * otherwise change a volume under the daemon's feet. */
                v->lock_fd = engine_lock_volume(&s->engine, v->vc->name);
                if (v->lock_fd < 0) {
                        r = v->lock_fd;
                        goto fail;
                }
                if (record_load(state_dir, v->vc->name, &v->rec) < 0)
                        v->rec = (Record) { .state = STATE_ABSENT };
        }

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);   /* before any thread exists: they inherit it */
        signal(SIGPIPE, SIG_IGN);

        if ((r = sd_event_default(&s->event)) < 0 ||
            (r = sd_event_add_signal(s->event, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(s->event, NULL, SIGINT, NULL, NULL)) < 0 ||
            (r = sd_event_set_watchdog(s->event, true)) < 0) {
                log_error_errno(r, "cannot set up the event loop: %m");
                goto fail;
        }
        if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = log_error_errno(errno, "cannot create a pipe: %m");
                goto fail;
        }
        r = sd_event_add_io(s->event, &s->wake_source, s->wake[0], EPOLLIN, on_wake, s);
        if (r < 0)
                goto fail;

        /* One descriptor per client: make room for MaxConnections of them
         * (systemd's default soft limit is 1024, its hard limit far higher). */
        struct rlimit rl;
        rlim_t want = (rlim_t) config->daemon.max_connections + 64;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
                rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
                        log_warning("MaxConnections=%u needs %llu file descriptors, only %llu allowed; raise "
                                    "LimitNOFILE=", config->daemon.max_connections, (unsigned long long) want,
                                    (unsigned long long) rl.rlim_cur);
        }

        r = open_socket(s, socket_path);
        if (r < 0)
                goto fail;
        r = sd_event_add_io(s->event, &s->listen_source, s->listen_fd, EPOLLIN, on_accept, s);
        if (r < 0)
                goto fail;

        *ret = s;
        return 0;
fail:
        server_free(s);
        return r;
}

int server_run(Server *s) {
        /* Whatever the volumes hold, adopt what our records prove and wipe the
         * rest, each in its own worker; the loop answers from the start. */
        for (size_t i = 0; i < s->n_volumes; i++)
                (void) volume_start_work(&s->volumes[i], WORK_ADOPT, &self_caller, NULL);

        sd_notify(0, "READY=1\nSTATUS=adopting volumes");
        log_info("serving io.scratchd on %s", s->socket_path ?: "the socket systemd passed");
        int r = sd_event_loop(s->event);
        sd_notify(0, "STOPPING=1");
        return r;
}

Server *server_free(Server *s) {
        if (!s)
                return NULL;
        /* A wipe in flight finishes: stopping halfway would leave it FAILED. */
        for (size_t i = 0; i < s->n_volumes; i++)
                if (s->volumes && s->volumes[i].work != WORK_NONE)
                        pthread_join(s->volumes[i].thread, NULL);
        while (s->connections)
                connection_free(s->connections);
        for (size_t i = 0; i < s->n_volumes; i++) {
                free(s->volumes[i].waiters);
                sd_event_source_disable_unref(s->volumes[i].retry_source);
                if (s->volumes[i].lock_fd >= 0)
                        close(s->volumes[i].lock_fd);
        }
        free(s->volumes);
        sd_event_source_disable_unref(s->listen_source);
        sd_event_source_disable_unref(s->wake_source);
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        if (s->socket_path) {
                (void) unlink(s->socket_path);
                free(s->socket_path);
        }
        if (s->wake[0] >= 0)
                close(s->wake[0]);
        if (s->wake[1] >= 0)
                close(s->wake[1]);
        sd_event_unref(s->event);
        audit_close(s->audit);
        free(s);
        return NULL;
}
