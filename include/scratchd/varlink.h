/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* Varlink's wire format: each message is one JSON object followed by a NUL
 * byte, on an AF_UNIX stream socket. */

#define VARLINK_MESSAGE_MAX ((size_t) 64 * 1024)   /* a message larger than this is refused */
#define VARLINK_DEPTH_MAX 16              /* JSON nesting deeper than this is refused */

typedef struct VarlinkCall {
        char *method;              /* "io.scratchd.GetStatus" */
        json_object *parameters;   /* always an object; empty when the call had none */
        bool more;                 /* the caller accepts several replies */
        bool oneway;               /* the caller wants no reply */
} VarlinkCall;

/* Parses one call (the bytes before its NUL). Returns 0, or -EBADMSG with a
 * one-line description of what is wrong in *ret_error. */
int varlink_parse_call(const char *msg, size_t len, VarlinkCall *ret, char **ret_error);
void varlink_call_done(VarlinkCall *c);

/* Encodes a reply or an error, NUL included in *ret_len. Takes ownership of
 * `parameters`, which may be NULL. */
char *varlink_encode_reply(json_object *parameters, bool continues, size_t *ret_len);
char *varlink_encode_error(const char *error, json_object *parameters, size_t *ret_len);
/* Encodes a call (for clients). */
char *varlink_encode_call(const char *method, json_object *parameters, bool more, size_t *ret_len);

/* Parses a reply (for clients): 0 with *ret_error NULL and *ret_parameters on
 * success, 0 with *ret_error set for an error reply, -EBADMSG if malformed. */
int varlink_parse_reply(const char *msg, size_t len, char **ret_error, json_object **ret_parameters,
                        bool *ret_continues);
