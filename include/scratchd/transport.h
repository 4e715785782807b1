/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "scratchd/auth.h"
#include "scratchd/varlink.h"

/* The daemon's transport: varlink over an AF_UNIX stream socket. It knows
 * connections, their limits, buffers and idle timers, and hands each call to
 * a handler with a Call handle; it knows nothing of volumes. */

typedef struct Call Call;

/* How a Call's answer leaves: the transport queues it on the connection; a
 * unit test's fake transport records it. Never called once the call is
 * disconnected. */
typedef void (*CallSendFn)(Call *call, void *sink, const char *error, json_object *parameters, bool continues);

/* One call from one client, until its final answer. Reference-counted: the
 * transport holds a reference while the connection lives, and whoever answers
 * later (a wipe that runs for seconds) takes its own. Once the client is gone
 * the handle stays valid and what is sent to it is dropped. */
struct Call {
        unsigned n_ref;
        Caller caller;
        bool oneway;       /* the client wants no reply */
        bool more;         /* the client accepts several replies */
        bool answered;     /* the final reply (or error) went out */
        bool streaming;    /* a reply with "continues" went out; more may follow */
        bool authorized;   /* a call that needs access, and was let in: only these keep a connection alive */
        CallSendFn send;
        void *sink;        /* the connection; NULL once it is gone */
};

Call *call_new(const Caller *caller, bool oneway, bool more, CallSendFn send, void *sink);
Call *call_ref(Call *c);
Call *call_unref(Call *c);
static inline void call_unrefp(Call **c) {
        call_unref(*c);
}

/* The final reply, or an error. Take `parameters` (may be NULL). A second
 * final answer is a bug and is dropped. */
void call_reply(Call *c, json_object *parameters);
void call_error(Call *c, const char *error, json_object *parameters);
/* One of several replies (Subscribe): only for a call made with "more". */
void call_notify(Call *c, json_object *parameters);
/* The client is gone: later answers are dropped. */
void call_disconnect(Call *c);
bool call_connected(const Call *c);

/* What the handler gets: the call's handle and its parsed message. It answers
 * now (call_reply/call_error), or takes a reference and answers later; until
 * the final answer the connection reads no further call. */
typedef void (*TransportHandler)(void *userdata, Call *call, const VarlinkCall *message);

typedef struct TransportLimits {
        unsigned max_connections;           /* in all */
        unsigned max_connections_per_user;  /* per uid; root and OperatorGroup= are not counted */
        unsigned reserved;                  /* of max_connections, for root and OperatorGroup= alone */
        uint64_t idle_usec;                 /* a client that makes no authorized call for this long is dropped */
        gid_t read_gid, operator_gid;       /* who may do what (auth.h) */
} TransportLimits;

/* What one connection may queue for a client that does not read, and all
 * of them together, counted apart for root and OperatorGroup= (so that no
 * other reader can crowd their replies out): past either, the connection is
 * dropped. */
#define TRANSPORT_OUTPUT_MAX ((size_t) 1024 * 1024)
#define TRANSPORT_OUTPUT_TOTAL_MAX ((size_t) 32 * 1024 * 1024)

typedef struct Transport Transport;

/* Serves `listen_fd` (a listening AF_UNIX stream socket, non-blocking) on
 * `event`. The transport does not own the fd. */
int transport_new(sd_event *event, int listen_fd, const TransportLimits *limits, TransportHandler handler,
                  void *userdata, Transport **ret);
Transport *transport_free(Transport *t);
unsigned transport_n_connections(const Transport *t);
/* New limits (a reload): for connections from now on, and calls from now on. */
void transport_set_limits(Transport *t, const TransportLimits *limits);
