/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>

#include "scratchd/util.h"
#include "scratchd/varlink.h"

/* json-c, even in strict mode, takes NaN, Infinity, "1." and raw control
 * bytes in strings, none of which is JSON (RFC 8259). A light lexical pass
 * refuses them first: inside strings no byte below 0x20; outside, only
 * structure, blanks, numbers and the letters of true, false and null, and
 * every '.' followed by a digit. */
static bool lexically_json(const char *msg, size_t len) {
        bool in_string = false;
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) msg[i];
                if (in_string) {
                        if (ch < 0x20)
                                return false;
                        if (ch == '\\')
                                i++;
                        else if (ch == '"')
                                in_string = false;
                        continue;
                }
                if (ch == '"')
                        in_string = true;
                else if (ch == '.') {
                        if (i + 1 >= len || msg[i + 1] < '0' || msg[i + 1] > '9')
                                return false;
                } else if (!strchr(" \t\r\n{}[],:-+0123456789eEtrufalsn", ch) || ch == 0)
                        return false;
        }
        return true;
}

/* Every string in the tree is a C string: an escaped NUL ("\u0000") would
 * make what we check differ from what we use. Numbers are finite. At most
 * VARLINK_DEPTH_MAX containers deep; `depth` counts the containers above o. */
static bool clean_tree(json_object *o, int depth) {
        json_type t = json_object_get_type(o);
        if ((t == json_type_object || t == json_type_array) && depth + 1 > VARLINK_DEPTH_MAX)
                return false;
        switch (t) {
        case json_type_string:
                return strlen(json_object_get_string(o)) == (size_t) json_object_get_string_len(o);
        case json_type_double:
                return isfinite(json_object_get_double(o));
        case json_type_object: {
                json_object_object_foreach(o, key, val) {
                        (void) key;
                        if (!clean_tree(val, depth + 1))
                                return false;
                }
                return true;
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        if (!clean_tree(json_object_array_get_idx(o, i), depth + 1))
                                return false;
                return true;
        default:
                return true;
        }
}

static json_object *parse_object(const char *msg, size_t len, char **ret_error) {
        if (len > VARLINK_MESSAGE_MAX) {
                (void) errorf(ret_error, 0, "message of %zu bytes exceeds the %zu-byte limit", len,
                              VARLINK_MESSAGE_MAX);
                return NULL;
        }
        if (memchr(msg, 0, len)) {
                (void) errorf(ret_error, 0, "message contains a NUL byte");
                return NULL;
        }

        if (!lexically_json(msg, len)) {
                (void) errorf(ret_error, 0, "malformed JSON: not RFC 8259 JSON (NaN, Infinity, a control "
                              "character in a string, or a stray letter)");
                return NULL;
        }

        /* json-c counts a scalar inside the innermost container as a level. */
        json_tokener *tok = json_tokener_new_ex(VARLINK_DEPTH_MAX + 1);
        if (!tok) {
                *ret_error = NULL;
                return NULL;
        }
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        json_object *o = json_tokener_parse_ex(tok, msg, (int) len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        size_t used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        if (!o || e != json_tokener_success) {
                json_object_put(o);
                (void) errorf(ret_error, 0, "malformed JSON: %s",
                              e == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(e));
                return NULL;
        }
        /* Only blanks may follow the object. */
        for (size_t i = used; i < len; i++)
                if (!strchr(" \t\r\n", msg[i])) {
                        json_object_put(o);
                        (void) errorf(ret_error, 0, "malformed JSON: trailing data after the object");
                        return NULL;
                }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                (void) errorf(ret_error, 0, "a message must be a JSON object");
                return NULL;
        }
        if (!clean_tree(o, 0)) {
                json_object_put(o);
                (void) errorf(ret_error, 0, "malformed JSON: a string holds a NUL character or a number is not finite");
                return NULL;
        }
        return o;
}

static int get_bool(json_object *o, const char *key, bool *ret, char **ret_error) {
        json_object *v;
        *ret = false;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_boolean))
                return errorf(ret_error, -EBADMSG, "'%s' must be a boolean", key);
        *ret = json_object_get_boolean(v);
        return 0;
}

int varlink_parse_call(const char *msg, size_t len, VarlinkCall *ret, char **ret_error) {
        json_object *o = parse_object(msg, len, ret_error);
        json_object *v;
        VarlinkCall c = {};
        int r;

        if (!o)
                return -EBADMSG;
        if (!json_object_object_get_ex(o, "method", &v) || !json_object_is_type(v, json_type_string) ||
            json_object_get_string_len(v) == 0) {
                json_object_put(o);
                return errorf(ret_error, -EBADMSG, "a call needs a 'method' string");
        }
        c.method = strdup(json_object_get_string(v));

        if (json_object_object_get_ex(o, "parameters", &v) && !json_object_is_type(v, json_type_null)) {
                if (!json_object_is_type(v, json_type_object)) {
                        free(c.method);
                        json_object_put(o);
                        return errorf(ret_error, -EBADMSG, "'parameters' must be an object");
                }
                c.parameters = json_object_get(v);
        } else
                c.parameters = json_object_new_object();

        r = get_bool(o, "more", &c.more, ret_error);
        if (r >= 0)
                r = get_bool(o, "oneway", &c.oneway, ret_error);
        json_object_put(o);
        if (r < 0 || !c.method || !c.parameters) {
                varlink_call_done(&c);
                return r < 0 ? r : -ENOMEM;
        }
        *ret = c;
        return 0;
}

void varlink_call_done(VarlinkCall *c) {
        free(c->method);
        json_object_put(c->parameters);
        *c = (VarlinkCall) {};
}

static char *encode(json_object *o, size_t *ret_len) {
        if (!o)
                return NULL;
        size_t n;
        const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                          &n);
        char *out = s ? malloc(n + 1) : NULL;
        if (out) {
                memcpy(out, s, n);
                out[n] = 0;
                *ret_len = n + 1;
        }
        json_object_put(o);
        return out;
}

char *varlink_encode_reply(json_object *parameters, bool continues, size_t *ret_len) {
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(parameters);
                return NULL;
        }
        json_object_object_add(o, "parameters", parameters ?: json_object_new_object());
        if (continues)
                json_object_object_add(o, "continues", json_object_new_boolean(true));
        return encode(o, ret_len);
}

char *varlink_encode_error(const char *error, json_object *parameters, size_t *ret_len) {
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(parameters);
                return NULL;
        }
        json_object_object_add(o, "error", json_object_new_string(error));
        json_object_object_add(o, "parameters", parameters ?: json_object_new_object());
        return encode(o, ret_len);
}

char *varlink_encode_call(const char *method, json_object *parameters, bool more, size_t *ret_len) {
        json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(parameters);
                return NULL;
        }
        json_object_object_add(o, "method", json_object_new_string(method));
        json_object_object_add(o, "parameters", parameters ?: json_object_new_object());
        if (more)
                json_object_object_add(o, "more", json_object_new_boolean(true));
        return encode(o, ret_len);
}

int varlink_parse_reply(const char *msg, size_t len, char **ret_error, json_object **ret_parameters,
                        bool *ret_continues) {
        _cleanup_free_ char *why = NULL;
        json_object *o = parse_object(msg, len, &why);
        json_object *v;
        bool continues = false;

        if (!o)
                return -EBADMSG;
        *ret_error = NULL;
        if (json_object_object_get_ex(o, "error", &v)) {
                if (!json_object_is_type(v, json_type_string)) {
                        json_object_put(o);
                        return -EBADMSG;
                }
                *ret_error = strdup(json_object_get_string(v));
        }
        if (json_object_object_get_ex(o, "continues", &v) && json_object_is_type(v, json_type_boolean))
                continues = json_object_get_boolean(v);
        if (json_object_object_get_ex(o, "parameters", &v) && json_object_is_type(v, json_type_object))
                *ret_parameters = json_object_get(v);
        else
                *ret_parameters = json_object_new_object();
        if (ret_continues)
                *ret_continues = continues;
        json_object_put(o);
        return 0;
}
