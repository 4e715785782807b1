/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <sys/socket.h>

#include "scratchd/api.h"
#include "scratchd/log.h"
#include "scratchd/transport.h"
#include "scratchd/util.h"

/* ---- calls ---- */

Call *call_new(const Caller *caller, bool oneway, bool more, CallSendFn send, void *sink) {
        Call *c = calloc(1, sizeof(Call));
        if (!c)
                return NULL;
        *c = (Call) { .n_ref = 1, .caller = *caller, .oneway = oneway, .more = more, .send = send, .sink = sink };
        return c;
}

Call *call_ref(Call *c) {
        if (c)
                c->n_ref++;
        return c;
}

Call *call_unref(Call *c) {
        if (c && --c->n_ref == 0)
                free(c);
        return NULL;
}

/* The final answer. The transport may drop its reference in `send`: callers
 * that answer later hold their own, and the handler runs under an extra one. */
static void call_final(Call *c, const char *error, json_object *parameters) {
        if (c->answered || !c->sink) {
                c->answered = true;
                json_object_put(parameters);
                return;
        }
        c->answered = true;
        /* Oneway too: nothing is sent, but the transport learns it is over. */
        c->send(c, c->sink, error, parameters, false);
}

void call_reply(Call *c, json_object *parameters) {
        call_final(c, NULL, parameters);
}

void call_error(Call *c, const char *error, json_object *parameters) {
        call_final(c, error, parameters);
}

void call_notify(Call *c, json_object *parameters) {
        if (!c->more || c->answered || !c->sink || c->oneway) {
                json_object_put(parameters);
                return;
        }
        c->streaming = true;
        c->send(c, c->sink, NULL, parameters, true);
}

void call_disconnect(Call *c) {
        c->sink = NULL;
}

bool call_connected(const Call *c) {
        return c->sink;
}

/* ---- connections ---- */

typedef struct Connection Connection;

struct Transport {
        sd_event *event;
        TransportLimits limits;
        TransportHandler handler;
        void *userdata;
        sd_event_source *listen_source;
        /* Frees dead connections and resumes reading after an answer, from
         * the loop: never inside a handler or an answer. */
        sd_event_source *defer_source;
        Connection *connections;
        unsigned n_connections;
        unsigned n_unprivileged;  /* connections of peers neither root nor in OperatorGroup= */
        /* Bytes queued, apart for the privileged (root and OperatorGroup=),
         * so that no other reader crowds their replies out. */
        size_t out_total[2];
};

struct Connection {
        Transport *transport;
        Connection *prev, *next;
        int fd;
        Caller caller;
        sd_event_source *io_source, *idle_source;
        char *in;                 /* VARLINK_MESSAGE_MAX + 1 bytes */
        size_t in_len;
        char *out;
        size_t out_len;
        Call *current;            /* the call that awaits its final answer */
        Call **streams;           /* calls that may send more replies */
        size_t n_streams;
        bool closing;             /* close once the output is flushed */
        bool dead;                /* to be freed from the loop */
        bool resume;              /* an answer came: look at the buffered input again */
        bool handling;            /* in the handler of its current call */
        bool privileged;          /* root or OperatorGroup= at connect: may take the reserved slots */
        bool one_call;            /* no access at all: answered once, then closed */
};

static void transport_schedule(Transport *t) {
        sd_event_source_set_enabled(t->defer_source, SD_EVENT_ONESHOT);
}

static void connection_free(Connection *c) {
        Transport *t = c->transport;

        if (c->current) {
                call_disconnect(c->current);
                call_unref(c->current);
        }
        for (size_t i = 0; i < c->n_streams; i++) {
                call_disconnect(c->streams[i]);
                call_unref(c->streams[i]);
        }
        free(c->streams);
        if (c->prev)
                c->prev->next = c->next;
        else
                t->connections = c->next;
        if (c->next)
                c->next->prev = c->prev;
        t->n_connections--;
        t->n_unprivileged -= !c->privileged;
        t->out_total[c->privileged] -= c->out_len;

        sd_event_source_disable_unref(c->io_source);
        sd_event_source_disable_unref(c->idle_source);
        close(c->fd);
        free(c->in);
        free(c->out);
        free(c);
}

/* Marks the connection for freeing: its calls are disconnected now, the
 * memory goes from the loop, so that no caller up the stack holds a
 * dangling pointer. */
static void connection_kill(Connection *c) {
        if (c->dead)
                return;
        c->dead = true;
        if (c->current)
                call_disconnect(c->current);
        for (size_t i = 0; i < c->n_streams; i++)
                call_disconnect(c->streams[i]);
        sd_event_source_set_enabled(c->io_source, SD_EVENT_OFF);
        sd_event_source_set_enabled(c->idle_source, SD_EVENT_OFF);
        transport_schedule(c->transport);
}

static void connection_update_events(Connection *c) {
        uint32_t events = 0;
        if (c->dead)
                return;
        if (!c->current && !c->closing && c->in_len <= VARLINK_MESSAGE_MAX)
                events |= EPOLLIN;
        if (c->out_len > 0)
                events |= EPOLLOUT;
        sd_event_source_set_io_events(c->io_source, events);
}

static void connection_flush(Connection *c) {
        while (c->out_len > 0) {
                ssize_t k = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        connection_kill(c);
                        return;
                }
                memmove(c->out, c->out + k, c->out_len - (size_t) k);
                c->out_len -= (size_t) k;
                c->transport->out_total[c->privileged] -= (size_t) k;
        }
        if (c->out_len == 0 && c->closing) {
                connection_kill(c);
                return;
        }
        connection_update_events(c);
}

/* Queues an encoded message (NUL included) and tries to send it. Takes `msg`. */
static void connection_send(Connection *c, char *msg, size_t len) {
        if (!msg || c->dead) {
                free(msg);
                connection_kill(c);
                return;
        }
        if (c->out_len + len > TRANSPORT_OUTPUT_MAX ||
            c->transport->out_total[c->privileged] + len > TRANSPORT_OUTPUT_TOTAL_MAX) {
                log_warning("client pid %d (uid %u) does not read its replies (%zu bytes wait for it, %zu for all "
                            "clients); dropping it", (int) c->caller.pid, (unsigned) c->caller.uid, c->out_len,
                            c->transport->out_total[c->privileged]);
                free(msg);
                connection_kill(c);
                return;
        }
        char *n = realloc(c->out, c->out_len + len);
        if (!n) {
                free(msg);
                connection_kill(c);
                return;
        }
        memcpy(n + c->out_len, msg, len);
        c->out = n;
        c->out_len += len;
        c->transport->out_total[c->privileged] += len;
        free(msg);
        connection_flush(c);
}

static void connection_send_error(Connection *c, const char *error, json_object *parameters) {
        size_t len;
        char *m = varlink_encode_error(error, parameters, &len);
        connection_send(c, m, len);
}

/* CallSendFn of the real transport. */
static void connection_call_send(Call *call, void *sink, const char *error, json_object *parameters, bool continues) {
        Connection *c = sink;
        if (call->oneway)
                json_object_put(parameters);
        else {
                size_t len;
                char *m = error ? varlink_encode_error(error, parameters, &len)
                                : varlink_encode_reply(parameters, continues, &len);
                connection_send(c, m, len);
        }
        if (!continues)
                for (size_t i = 0; i < c->n_streams; i++)
                        if (c->streams[i] == call) {
                                c->streams[i] = c->streams[--c->n_streams];
                                call_unref(call);
                                break;
                        }
        /* A peer with no access gets one answer, then the connection goes. */
        if (!continues && c->one_call)
                c->closing = true;
        if (!continues && call == c->current) {
                c->current = NULL;
                call_unref(call);
                /* Answered later than its handler: the next call is handled
                 * from the loop. (Within the handler, connection_process()
                 * goes on by itself.) */
                if (!c->handling) {
                        c->resume = true;
                        transport_schedule(c->transport);
                }
        }
}

static void connection_reset_idle(Connection *c) {
        sd_event_source_set_time_relative(c->idle_source, c->transport->limits.idle_usec);
        sd_event_source_set_enabled(c->idle_source, SD_EVENT_ONESHOT);
}

static int on_idle(sd_event_source *es, uint64_t usec, void *userdata) {
        Connection *c = userdata;
        /* Waiting for an answer or for state changes is not idling. */
        if ((c->current || c->n_streams > 0) && c->in_len == 0) {
                connection_reset_idle(c);
                return 0;
        }
        log_debug("dropping idle client pid %d (uid %u)", (int) c->caller.pid, (unsigned) c->caller.uid);
        connection_kill(c);
        return 0;
}

static void connection_handle(Connection *c, const char *msg, size_t len) {
        Transport *t = c->transport;
        _cleanup_free_ char *why = NULL;
        VarlinkCall vc;

        if (varlink_parse_call(msg, len, &vc, &why) < 0) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "reason", json_object_new_string(why ?: "malformed message"));
                c->closing = true;
                connection_send_error(c, API_ERROR_INVALID_MESSAGE, p);
                return;
        }

        Call *call = call_new(&c->caller, vc.oneway, vc.more, connection_call_send, c);
        if (!call) {
                varlink_call_done(&vc);
                connection_kill(c);
                return;
        }
        c->current = call;   /* the connection's reference */
        call_ref(call);      /* ours, while the handler runs */
        c->handling = true;
        t->handler(t->userdata, call, &vc);
        c->handling = false;
        varlink_call_done(&vc);
        /* Only calls that needed access and got it keep the connection: a
         * peer calling the public GetInfo, or refused, idles out. */
        if (call->authorized && !c->dead)
                connection_reset_idle(c);
        if (!c->dead && c->current == call) {
                if (call->answered) {
                        c->current = NULL;
                        call_unref(call);
                } else if (call->streaming) {
                        /* One stream a connection: a new one replaces the old,
                         * so that repeated calls cannot pile them up. */
                        for (size_t i = 0; i < c->n_streams; i++) {
                                call_disconnect(c->streams[i]);
                                call_unref(c->streams[i]);
                        }
                        c->n_streams = 0;
                        Call **n = realloc(c->streams, sizeof(Call *));
                        if (n) {
                                c->streams = n;
                                c->streams[c->n_streams++] = call;
                                c->current = NULL;
                        } else
                                connection_kill(c);
                }
                /* Otherwise it is answered later (oneway calls too); no
                 * further call is read until then. */
        }
        call_unref(call);
}

/* Handles every complete message buffered. */
static void connection_process(Connection *c) {
        while (!c->current && !c->closing && !c->dead) {
                char *nul = memchr(c->in, 0, c->in_len);
                if (!nul) {
                        if (c->in_len > VARLINK_MESSAGE_MAX) {
                                json_object *p = json_object_new_object();
                                json_object_object_add(p, "reason", json_object_new_string(
                                        "message exceeds 65536 bytes"));
                                c->closing = true;
                                c->in_len = 0;
                                connection_send_error(c, API_ERROR_INVALID_MESSAGE, p);
                                return;
                        }
                        break;
                }
                size_t len = (size_t) (nul - c->in);

                /* A copy, so that the buffer may move while the call is handled. */
                _cleanup_free_ char *msg = malloc(len + 1);
                if (!msg) {
                        connection_kill(c);
                        return;
                }
                memcpy(msg, c->in, len + 1);
                memmove(c->in, nul + 1, c->in_len - len - 1);
                c->in_len -= len + 1;
                connection_handle(c, msg, len);
        }
        connection_update_events(c);
}

static int on_connection_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;

        if (revents & EPOLLOUT)
                connection_flush(c);
        if (c->dead)
                return 0;
        if (revents & EPOLLIN) {
                while (c->in_len <= VARLINK_MESSAGE_MAX) {
                        ssize_t k = recv(fd, c->in + c->in_len, VARLINK_MESSAGE_MAX + 1 - c->in_len, MSG_DONTWAIT);
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN)
                                        break;
                                connection_kill(c);
                                return 0;
                        }
                        if (k == 0) {   /* the client hung up */
                                connection_kill(c);
                                return 0;
                        }
                        c->in_len += (size_t) k;
                }
                connection_process(c);
        }
        /* Hung up while we were not reading (an answer pending): level-triggered
         * HUP would spin the loop, and there is no one left to answer. */
        if (revents & (EPOLLHUP | EPOLLERR) && !(revents & EPOLLIN))
                connection_kill(c);
        return 0;
}

static int on_defer(sd_event_source *es, void *userdata) {
        Transport *t = userdata;
        for (Connection *c = t->connections, *next; c; c = next) {
                next = c->next;
                if (c->dead)
                        connection_free(c);
                else if (c->resume) {
                        c->resume = false;
                        connection_process(c);
                }
        }
        /* Processing may have killed some or asked for another round. */
        for (Connection *c = t->connections; c; c = c->next)
                if (c->dead || c->resume) {
                        transport_schedule(t);
                        break;
                }
        return 0;
}

/* Root and OperatorGroup= (the scheduler's hooks) always find a slot: a
 * share of the connections is theirs alone, and they are not held to the
 * per-user limit. */
static bool admit(const Transport *t, const Caller *caller, bool privileged);

static unsigned connections_of(const Transport *t, uid_t uid) {
        unsigned n = 0;
        for (Connection *c = t->connections; c; c = c->next)
                n += !c->dead && c->caller.uid == uid;
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
        Transport *t = userdata;

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
                bool privileged = auth_allowed(ACCESS_OPERATE, &caller, t->limits.read_gid, t->limits.operator_gid);
                if (!admit(t, &caller, privileged)) {
                        refuse_connection(cfd, &caller);
                        continue;
                }

                Connection *c = calloc(1, sizeof(Connection));
                if (c)
                        c->in = malloc(VARLINK_MESSAGE_MAX + 1);
                if (!c || !c->in) {
                        free(c);
                        close(cfd);
                        continue;
                }
                c->transport = t;
                c->fd = cfd;
                c->caller = caller;
                c->privileged = privileged;
                c->one_call = !privileged &&
                              !auth_allowed(ACCESS_READ, &caller, t->limits.read_gid, t->limits.operator_gid);
                t->n_unprivileged += !privileged;
                c->next = t->connections;
                if (t->connections)
                        t->connections->prev = c;
                t->connections = c;
                t->n_connections++;

                if (sd_event_add_io(t->event, &c->io_source, cfd, EPOLLIN, on_connection_io, c) < 0 ||
                    sd_event_add_time_relative(t->event, &c->idle_source, CLOCK_MONOTONIC, t->limits.idle_usec,
                                               100 * USEC_PER_MSEC, on_idle, c) < 0) {
                        connection_free(c);
                        continue;
                }
        }
}

static bool admit(const Transport *t, const Caller *caller, bool privileged) {
        if (t->n_connections >= t->limits.max_connections)
                return false;
        if (privileged)
                return true;
        unsigned reserved = t->limits.reserved < t->limits.max_connections ? t->limits.reserved : 0;
        return t->n_unprivileged < t->limits.max_connections - reserved &&
               connections_of(t, caller->uid) < t->limits.max_connections_per_user;
}

int transport_new(sd_event *event, int listen_fd, const TransportLimits *limits, TransportHandler handler,
                  void *userdata, Transport **ret) {
        Transport *t = calloc(1, sizeof(Transport));
        int r;

        if (!t)
                return -ENOMEM;
        *t = (Transport) { .event = sd_event_ref(event), .limits = *limits, .handler = handler, .userdata = userdata };
        r = sd_event_add_io(event, &t->listen_source, listen_fd, EPOLLIN, on_accept, t);
        if (r >= 0)
                r = sd_event_add_defer(event, &t->defer_source, on_defer, t);
        if (r >= 0)
                r = sd_event_source_set_enabled(t->defer_source, SD_EVENT_OFF);
        if (r < 0) {
                transport_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

void transport_set_limits(Transport *t, const TransportLimits *limits) {
        t->limits = *limits;
}

Transport *transport_free(Transport *t) {
        if (!t)
                return NULL;
        while (t->connections)
                connection_free(t->connections);
        sd_event_source_disable_unref(t->listen_source);
        sd_event_source_disable_unref(t->defer_source);
        sd_event_unref(t->event);
        free(t);
        return NULL;
}

unsigned transport_n_connections(const Transport *t) {
        return t ? t->n_connections : 0;
}
