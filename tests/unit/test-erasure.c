/* SPDX-License-Identifier: GPL-2.0-or-later */
/* erasure.c and its neighbours: an erase record's fields, its canonical form
 * (stable across runs and insertion orders), its Ed25519 signature (any
 * change fails it, as does another key), the node key's file, the records'
 * files and their retention, and each weakening condition on a fake root. */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "config.h"
#include "scratchd/canonjson.h"
#include "scratchd/erasure.h"
#include "scratchd/util.h"

static inline void json_putp(json_object **p) {
        json_object_put(*p);
}

/* 2026-12-03T12:01:02Z */
#define T0 UINT64_C(1796299262)

static const ErasureMedia sample_media[] = {
        { "/dev/disk/by-id/nvme-A", "Samsung PM9A3", "S64ANS0T123456", "eui.0025388b1234", UINT64_C(3840755982336) },
        { "/dev/disk/by-id/nvme-B", NULL, NULL, NULL, UINT64_C(3840755982336) },
};
static const ErasureCheck sample_checks[] = {
        { "mapping-removed", true, "scratchd-scratch not in the dm table" },
        { "key-generation-changed", true, "7 -> 8" },
};

static ErasureNode sample_node(void) {
        ErasureNode n = { .host = "node01", .boot_id = "f08f71fc-4d21-4655-8e52-7afa1f43ede5" };
        n.checked[n.n_checked++] = "crash-kernel-armed";
        n.checked[n.n_checked++] = "hibernation-available";
        n.present[n.n_present].name = "crash-kernel-armed";
        snprintf(n.present[n.n_present++].detail, sizeof(n.present[0].detail), "kdump loaded");
        return n;
}

static ErasureRecord sample(const ErasureNode *node) {
        return (ErasureRecord) {
                .volume = "scratch", .mode = "exclusive", .trigger = "release",
                .media = sample_media, .n_media = ELEMENTSOF(sample_media),
                .cipher = "aes-xts-plain64", .key_bits = 512, .sector_size = 4096,
                .discard_done = false, .discard_detail = "Discard=auto: 2 disks over the request limit",
                .scope = ERASURE_SCOPE_VOLUME, .scope_size_bytes = UINT64_C(7681511964672),
                .job = "1234", .user = "alice", .key_generation = 7, .next_key_generation = 8,
                .start_usec = T0 * USEC_PER_SEC, .end_usec = T0 * USEC_PER_SEC + 1500000,
                .result = "ok", .verification = sample_checks, .n_verification = ELEMENTSOF(sample_checks),
                .node = node,
        };
}

static json_object *get_path(json_object *o, const char *a, const char *b) {
        json_object *v = NULL;
        assert_true(json_object_object_get_ex(o, a, &v));
        if (b)
                assert_true(json_object_object_get_ex(v, b, &v));
        return v;
}

static void test_build(void **state) {
        ErasureNode node = sample_node();
        ErasureRecord r = sample(&node);
        _cleanup_(json_putp) json_object *o = NULL;
        assert_int_equal(erasure_build(&r, &o), 0);

        assert_string_equal(json_object_get_string(get_path(o, "format", NULL)), ERASURE_FORMAT);
        assert_string_equal(json_object_get_string(get_path(o, "method", "category")), "Purge");
        assert_string_equal(json_object_get_string(get_path(o, "method", "technique")), "cryptographic erase");
        assert_string_equal(json_object_get_string(get_path(o, "method", "cipher")), "aes-xts-plain64");
        assert_int_equal(json_object_get_int64(get_path(o, "method", "key_bits")), 512);
        assert_non_null(strstr(json_object_get_string(get_path(o, "method", "key_lifecycle")), "getrandom"));
        assert_non_null(strstr(json_object_get_string(get_path(o, "method", "key_destruction")), "removed"));
        assert_false(json_object_get_boolean(get_path(o, "discard", "done")));
        assert_string_equal(json_object_get_string(get_path(o, "scope", "kind")), "volume");
        assert_int_equal(json_object_get_uint64(get_path(o, "scope", "size_bytes")), UINT64_C(7681511964672));
        assert_string_equal(json_object_get_string(get_path(o, "job", NULL)), "1234");
        assert_int_equal(json_object_get_uint64(get_path(o, "key_generation", NULL)), 7);
        assert_int_equal(json_object_get_uint64(get_path(o, "next_key_generation", NULL)), 8);
        assert_string_equal(json_object_get_string(get_path(o, "start", NULL)), "2026-12-03T12:01:02.000000Z");
        assert_string_equal(json_object_get_string(get_path(o, "end", NULL)), "2026-12-03T12:01:03.500000Z");
        assert_int_equal(json_object_get_uint64(get_path(o, "duration_usec", NULL)), 1500000);
        assert_string_equal(json_object_get_string(get_path(o, "tool", "version")), PACKAGE_VERSION);
        assert_string_equal(json_object_get_string(get_path(o, "host", NULL)), "node01");

        json_object *media = get_path(o, "media", NULL);
        assert_int_equal(json_object_array_length(media), 2);
        json_object *m0 = json_object_array_get_idx(media, 0), *m1 = json_object_array_get_idx(media, 1), *v;
        assert_string_equal(json_object_get_string(get_path(m0, "serial", NULL)), "S64ANS0T123456");
        assert_string_equal(json_object_get_string(get_path(m0, "wwn", NULL)), "eui.0025388b1234");
        /* Not known: null, present (every record has the same members). */
        assert_true(json_object_object_get_ex(m1, "serial", &v));
        assert_null(v);
        assert_int_equal(json_object_array_length(get_path(o, "verification", NULL)), 2);
        assert_int_equal(json_object_array_length(get_path(o, "weakening_conditions", "checked")), 2);
        json_object *present = get_path(o, "weakening_conditions", "present");
        assert_int_equal(json_object_array_length(present), 1);
        assert_string_equal(json_object_get_string(get_path(json_object_array_get_idx(present, 0), "condition", NULL)),
                            "crash-kernel-armed");
}

static void test_build_edges(void **state) {
        ErasureNode node = sample_node();
        ErasureRecord r = sample(&node);
        json_object *o = NULL, *v;

        /* A job volume removed: no next key; no job, no user. */
        r.scope = ERASURE_SCOPE_JOB_VOLUME;
        r.next_key_generation = 0;
        r.job = r.user = NULL;
        assert_int_equal(erasure_build(&r, &o), 0);
        assert_string_equal(json_object_get_string(get_path(o, "scope", "kind")), "job-volume");
        assert_true(json_object_object_get_ex(o, "next_key_generation", &v));
        assert_null(v);
        assert_true(json_object_object_get_ex(o, "job", &v));
        assert_null(v);
        json_object_put(o);

        /* Required fields, and text that no canonical form can hold. */
        r = sample(&node);
        r.volume = NULL;
        assert_int_equal(erasure_build(&r, &o), -EINVAL);
        r = sample(&node);
        r.node = NULL;
        assert_int_equal(erasure_build(&r, &o), -EINVAL);
        r = sample(&node);
        r.scope = _ERASURE_SCOPE_MAX;
        assert_int_equal(erasure_build(&r, &o), -EINVAL);
        /* Text not UTF-8 (a comm a job's user set; a character cut by a
         * fixed buffer): each bad byte made U+FFFD, the rest kept, and the
         * record still made. */
        r = sample(&node);
        r.user = "a\xff\xfe\xc3\xa9" "b\xe2\x82";
        assert_int_equal(erasure_build(&r, &o), 0);
        assert_string_equal(json_object_get_string(get_path(o, "user", NULL)),
                            "a\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9" "b\xef\xbf\xbd\xef\xbf\xbd");
        json_object_put(o);
}

static char *canon(json_object *o) {
        char *s = NULL;
        assert_int_equal(canonjson_serialize(o, &s, NULL), 0);
        return s;
}

static void test_canonical_known_answer(void **state) {
        _cleanup_(json_putp) json_object *o = json_tokener_parse(
                "{ \"b\": [3, -4, {\"z\": null, \"a\": true}], \"a\": \"x/y\\u00e9\\n\\t\\u0001\\\"\\\\\\u007f\","
                "  \"big\": 18446744073709551615, \"min\": -9223372036854775808, \"\\u00e9\": false, \"Z\": {} }");
        assert_non_null(o);
        _cleanup_free_ char *s = canon(o);
        /* Sorted by bytes (Z < a < b < big < min < é), no spaces, only the
         * escapes the rules name, integers at both ends of their range. */
        assert_string_equal(s, "{\"Z\":{},\"a\":\"x/y\xc3\xa9\\n\\t\\u0001\\\"\\\\\x7f\",\"b\":[3,-4,{\"a\":true,\"z\":null}],"
                               "\"big\":18446744073709551615,\"min\":-9223372036854775808,\"\xc3\xa9\":false}");

        /* What cannot be canonical is refused. */
        json_object *f = json_tokener_parse("{\"a\": 1.5}");
        char *t = NULL;
        assert_int_equal(canonjson_serialize(f, &t, NULL), -EINVAL);
        json_object_put(f);
        f = json_object_new_string("\xc0\xaf");   /* an overlong "/" */
        assert_int_equal(canonjson_serialize(f, &t, NULL), -EINVAL);
        json_object_put(f);
        f = json_object_new_string("\xed\xa0\x80");   /* a surrogate */
        assert_int_equal(canonjson_serialize(f, &t, NULL), -EINVAL);
        json_object_put(f);
        assert_null(t);
}

/* The same members added in the given order, and in the reverse one. */
static json_object *nested(bool reverse) {
        static const char *const names[] = { "volume", "job", "media", "a", "zz", "key_generation" };
        json_object *o = json_object_new_object(), *inner = json_object_new_object();
        for (size_t k = 0; k < ELEMENTSOF(names); k++) {
                size_t i = reverse ? ELEMENTSOF(names) - 1 - k : k;
                json_object_object_add(inner, names[i], json_object_new_int64((int64_t) i));
        }
        for (size_t k = 0; k < ELEMENTSOF(names); k++) {
                size_t i = reverse ? ELEMENTSOF(names) - 1 - k : k;
                json_object_object_add(o, names[i], i == 2 ? json_object_get(inner) : json_object_new_string(names[i]));
        }
        json_object_put(inner);
        return o;
}

static void test_canonical_stable(void **state) {
        _cleanup_(json_putp) json_object *a = nested(false), *b = nested(true);
        _cleanup_free_ char *sa = canon(a), *sb = canon(b);
        /* The control: json-c's own writer keeps insertion order, so differs. */
        assert_string_not_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                                json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
        assert_string_equal(sa, sb);

        /* A record built twice, and parsed back from json-c's pretty text. */
        ErasureNode node = sample_node();
        ErasureRecord r = sample(&node);
        _cleanup_(json_putp) json_object *r1 = NULL, *r2 = NULL, *r3 = NULL;
        assert_int_equal(erasure_build(&r, &r1), 0);
        assert_int_equal(erasure_build(&r, &r2), 0);
        r3 = json_tokener_parse(json_object_to_json_string_ext(r1, JSON_C_TO_STRING_PRETTY));
        _cleanup_free_ char *c1 = canon(r1), *c2 = canon(r2), *c3 = canon(r3);
        assert_string_equal(c1, c2);
        assert_string_equal(c1, c3);
        assert_null(strstr(c1, "\": "));   /* no whitespace between tokens */
        assert_null(strchr(c1, '\n'));
        assert_true(startswith(c1, "{\"boot_id\":"));                        /* sorted */
}

static EVP_PKEY *new_key(void) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        assert_non_null(k);
        return k;
}

/* The sample record, signed with `key`, as erasure_write() lays it out. */
static char *signed_text(EVP_PKEY *key) {
        ErasureNode node = sample_node();
        ErasureRecord r = sample(&node);
        _cleanup_(json_putp) json_object *o = NULL;
        assert_int_equal(erasure_build(&r, &o), 0);
        assert_int_equal(erasure_sign(o, key), 0);
        char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        assert_non_null(s);
        return s;
}

static void test_sign_verify(void **state) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        _cleanup_free_ char *text = signed_text(key), *error = NULL;
        bool pinned = true;

        assert_int_equal(erasure_verify(text, NULL, &pinned, &error), 0);
        assert_false(pinned);   /* the embedded key only: said so */
        assert_int_equal(erasure_verify(text, key, &pinned, &error), 0);
        assert_true(pinned);
        assert_null(error);

        /* The layout is not signed: the compact form verifies too. */
        _cleanup_(json_putp) json_object *o = json_tokener_parse(text);
        assert_int_equal(erasure_verify(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), key, NULL, &error),
                         0);

        /* Signed twice: the second signature replaces the first. */
        assert_int_equal(erasure_sign(o, key), 0);
        assert_int_equal(erasure_verify(json_object_to_json_string(o), key, NULL, &error), 0);

        /* Not a signed record at all. */
        assert_int_equal(erasure_verify("{\"volume\": \"scratch\"}", NULL, NULL, &error), -EBADMSG);
        assert_non_null(strstr(error, "not signed"));
        free(TAKE_PTR(error));
        assert_int_equal(erasure_verify("[1]", NULL, NULL, &error), -EBADMSG);
        free(TAKE_PTR(error));
        assert_int_equal(erasure_verify("{} {}", NULL, NULL, &error), -EBADMSG);
        free(TAKE_PTR(error));
        /* Lax JSON that json-c would otherwise take: a comment. */
        _cleanup_free_ char *commented = NULL;
        assert_true(asprintf(&commented, "/* note */ %s", text) > 0);
        assert_int_equal(erasure_verify(commented, NULL, NULL, &error), -EBADMSG);
        assert_non_null(strstr(error, "not a JSON object"));
}

/* What the signature object holds is not signed: read as the record's text
 * has it, and named in the error on one line (scratchctl verify prints one
 * line a file; a newline in it could pass for another file's "OK"). */
/* Texts json-c would read as the signed record though other readers would
 * not (found by fuzz-erasure-record): a member named twice (an earlier
 * "job" that a first-wins reader would show), \u0000 in a member's name, a
 * lone surrogate, an integer past 64 bits. Each is refused, naming why; the
 * controls, the same edits that keep the meaning (a surrogate pair, an
 * escaped letter), verify. */
static void test_text_strict(void **state) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        _cleanup_free_ char *text = signed_text(key);
        assert_int_equal(erasure_verify(text, key, NULL, NULL), 0);
        static const struct {
                const char *from, *to, *why;
        } cases[] = {
                { "\"job\":", "\"job\":\"666\", \"job\":", "a member is named twice" },
                { "\"job\":", "\"job\\u0000x\": \"1\", \"job\":", "\\u0000" },
                { "\"job\":\"", "\"job\":\"\\ud800", "lone surrogate" },
                { "\"job\":\"", "\"job\":\"\\udc00", "bad \\u escape" },
                { "\"key_generation\":", "\"key_generation\":99999999999999999999, \"x\": ", "past 64 bits" },
                { "\"key_generation\":", "\"key_generation\":-99999999999999999999, \"x\": ", "past 64 bits" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *at = strstr(text, cases[i].from);
                assert_non_null(at);
                _cleanup_free_ char *bad = NULL, *error = NULL;
                assert_true(asprintf(&bad, "%.*s%s%s", (int) (at - text), text, cases[i].to,
                                     at + strlen(cases[i].from)) > 0);
                assert_int_equal(erasure_verify(bad, key, NULL, &error), -EBADMSG);
                if (!strstr(error, cases[i].why))
                        print_error("case %zu: %s\n", i, error);
                assert_non_null(strstr(error, cases[i].why));
                assert_null(strchr(error, '\n'));
        }
        /* Controls: the text changed, the meaning not. "1234" as "\u0031234",
         * and a job id holding a surrogate pair, signed as such. */
        const char *at = strstr(text, "\"job\":\"1");
        assert_non_null(at);
        _cleanup_free_ char *same = NULL;
        assert_true(asprintf(&same, "%.*s\"job\":\"\\u0031%s", (int) (at - text), text, at + strlen("\"job\":\"1")) > 0);
        assert_int_equal(erasure_verify(same, key, NULL, NULL), 0);
}

static void test_signature_members(void **state) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        _cleanup_free_ char *text = signed_text(key), *error = NULL;
        _cleanup_(json_putp) json_object *o = json_tokener_parse(text);
        json_object *sig = get_path(o, "signature", NULL);
        _cleanup_free_ char *value = strdup(json_object_get_string(get_path(sig, "value", NULL)));
        assert_non_null(value);

        json_object_object_add(sig, "algorithm", json_object_new_string("ed25519\nother.json: OK, signed by the given key"));
        assert_int_equal(erasure_verify(json_object_to_json_string(o), key, NULL, &error), -EBADMSG);
        assert_null(strchr(error, '\n'));
        assert_non_null(strstr(error, "signature algorithm \"ed25519\\nother.json"));
        free(TAKE_PTR(error));
        json_object_object_add(sig, "algorithm", json_object_new_int(25519));
        assert_int_equal(erasure_verify(json_object_to_json_string(o), key, NULL, &error), -EBADMSG);
        assert_string_equal(error, "signature algorithm 25519, expected \"ed25519\"");
        free(TAKE_PTR(error));

        /* A NUL (\u0000) in a member, and text after it: not the value that
         * verifies, though read as a C string it would be. The control: the
         * member as it was verifies. */
        static const struct {
                const char *name, *tail;
        } cases[] = { { "algorithm", "\0x" }, { "public_key", "\0" }, { "value", "\0AAAA" } };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_object_object_add(sig, "algorithm", json_object_new_string("ed25519"));
                json_object_object_add(sig, "value", json_object_new_string(value));
                _cleanup_free_ char *pub = NULL;
                assert_int_equal(erasure_key_public_base64(key, &pub), 0);
                json_object_object_add(sig, "public_key", json_object_new_string(pub));
                assert_int_equal(erasure_verify(json_object_to_json_string(o), key, NULL, NULL), 0);

                const char *was = json_object_get_string(get_path(sig, cases[i].name, NULL));
                size_t n = strlen(was), k = 1 + strlen(cases[i].tail + 1);
                _cleanup_free_ char *with_nul = malloc(n + k);
                assert_non_null(with_nul);
                memcpy(with_nul, was, n);
                memcpy(with_nul + n, cases[i].tail, k);
                json_object_object_add(sig, cases[i].name, json_object_new_string_len(with_nul, (int) (n + k)));
                const char *changed_text = json_object_to_json_string(o);
                assert_non_null(strstr(changed_text, "\\u0000"));
                assert_int_equal(erasure_verify(changed_text, key, NULL, &error), -EBADMSG);
                assert_null(strchr(error, '\n'));
                free(TAKE_PTR(error));
                assert_int_equal(erasure_verify(changed_text, NULL, NULL, NULL), -EBADMSG);
        }
}

/* Replaces the n-th leaf (depth first) with a changed value: one byte of a
 * string flipped, an integer plus one, a boolean negated, null made "".
 * Whether there was an n-th. */
static json_object *changed(json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_string: {
                char buf[4096];
                size_t n = (size_t) json_object_get_string_len(v);
                assert_true(n < sizeof(buf));
                memcpy(buf, json_object_get_string(v), n);
                if (n == 0)
                        buf[n++] = 'x';
                else
                        buf[n / 2] ^= 1;   /* ASCII stays ASCII */
                return json_object_new_string_len(buf, (int) n);
        }
        case json_type_int:
                return json_object_new_uint64(json_object_get_uint64(v) + 1);
        case json_type_boolean:
                return json_object_new_boolean(!json_object_get_boolean(v));
        case json_type_null:
                return json_object_new_string("");
        default:
                fail_msg("unexpected leaf type %d", json_object_get_type(v));
                return NULL;
        }
}

static bool is_leaf(json_object *v) {
        return !json_object_is_type(v, json_type_object) && !json_object_is_type(v, json_type_array);
}

static bool change_nth(json_object *v, int *n) {
        if (json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, name, member) {
                        if (is_leaf(member)) {
                                if ((*n)-- == 0) {
                                        json_object_object_add(v, name, changed(member));
                                        return true;
                                }
                        } else if (change_nth(member, n))
                                return true;
                }
        } else if (json_object_is_type(v, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        json_object *member = json_object_array_get_idx(v, i);
                        if (is_leaf(member)) {
                                if ((*n)-- == 0) {
                                        json_object_array_put_idx(v, i, changed(member));
                                        return true;
                                }
                        } else if (change_nth(member, n))
                                return true;
                }
        }
        return false;
}

static void test_any_change_fails(void **state) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        _cleanup_free_ char *text = signed_text(key);
        _cleanup_(json_putp) json_object *o = json_tokener_parse(text);
        int leaves = 0;

        for (;; leaves++) {
                json_object *copy = NULL;
                assert_int_equal(json_object_deep_copy(o, &copy, NULL), 0);
                /* The control: an unchanged copy verifies. */
                assert_int_equal(erasure_verify(json_object_to_json_string(copy), key, NULL, NULL), 0);
                int n = leaves;
                if (!change_nth(copy, &n)) {
                        json_object_put(copy);
                        break;
                }
                const char *changed_text = json_object_to_json_string(copy);
                char *error = NULL;
                if (erasure_verify(changed_text, key, NULL, &error) != -EBADMSG ||
                    erasure_verify(changed_text, NULL, NULL, NULL) != -EBADMSG)
                        fail_msg("leaf %d changed, and the record still verifies: %s", leaves, changed_text);
                free(error);
                json_object_put(copy);
        }
        /* Every field was reached: the sample has more than 50 leaves. */
        assert_true(leaves > 50);

        /* A member added, or one removed. */
        json_object *copy = NULL;
        assert_int_equal(json_object_deep_copy(o, &copy, NULL), 0);
        json_object_object_add(copy, "note", json_object_new_string("x"));
        assert_int_equal(erasure_verify(json_object_to_json_string(copy), key, NULL, NULL), -EBADMSG);
        json_object_object_del(copy, "note");
        json_object_object_del(copy, "job");
        assert_int_equal(erasure_verify(json_object_to_json_string(copy), key, NULL, NULL), -EBADMSG);
        json_object_put(copy);

        /* Every byte of the file's text that is not whitespace: flipped, the
         * text either no longer parses or no longer verifies. */
        size_t len = strlen(text), flipped = 0;
        for (size_t i = 0; i < len; i++) {
                if (strchr(" \t\r\n", text[i]))
                        continue;
                text[i] ^= 1;
                if (erasure_verify(text, NULL, NULL, NULL) != -EBADMSG)
                        fail_msg("byte %zu flipped, and the record still verifies", i);
                text[i] ^= 1;
                flipped++;
        }
        assert_true(flipped > 1000);
        assert_int_equal(erasure_verify(text, key, NULL, NULL), 0);   /* all flipped back */
}

static void test_wrong_key(void **state) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key(), *other = new_key();
        _cleanup_free_ char *text = signed_text(key), *error = NULL, *other_pub = NULL;

        assert_int_equal(erasure_verify(text, other, NULL, &error), -EBADMSG);
        assert_non_null(strstr(error, "another key"));
        free(TAKE_PTR(error));

        /* Another key put in the record, the signature left: fails unpinned. */
        _cleanup_(json_putp) json_object *o = json_tokener_parse(text);
        assert_int_equal(erasure_key_public_base64(other, &other_pub), 0);
        json_object_object_add(get_path(o, "signature", NULL), "public_key", json_object_new_string(other_pub));
        assert_int_equal(erasure_verify(json_object_to_json_string(o), NULL, NULL, &error), -EBADMSG);
        assert_non_null(strstr(error, "bad signature"));
        /* ...and pinned to that other key too: the signature is not its. */
        assert_int_equal(erasure_verify(json_object_to_json_string(o), other, NULL, NULL), -EBADMSG);

        /* Signed by the other key altogether: verifies unpinned (that is all
         * an embedded key can say), not against the node's key. */
        assert_int_equal(erasure_sign(o, other), 0);
        assert_int_equal(erasure_verify(json_object_to_json_string(o), NULL, NULL, NULL), 0);
        assert_int_equal(erasure_verify(json_object_to_json_string(o), key, NULL, NULL), -EBADMSG);
}

/* ROOT/REL with `text`, its directories made. */
static void write_at(const char *root, const char *rel, const char *text) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s%s", root, rel);
        for (char *p = strchr(path + strlen(root) + 1, '/'); p; p = strchr(p + 1, '/')) {
                *p = 0;
                (void) mkdir(path, 0755);
                *p = '/';
        }
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static void test_conditions(void **state) {
        TempDir *t = *state;
        const char *root = t->path;
        ErasureNode n;

        /* Nothing there: a kernel without kexec or power management. */
        assert_int_equal(erasure_crash_kernel_armed(root), 0);
        assert_int_equal(erasure_hibernation_available(root), 0);
        erasure_node_read(root, &n);
        assert_int_equal(n.n_checked, 2);
        assert_int_equal(n.n_present, 0);
        assert_string_equal(n.host, "");
        assert_string_equal(n.machine_id, "");

        write_at(root, "/sys/kernel/kexec_crash_loaded", "0\n");
        write_at(root, "/sys/power/state", "freeze mem\n");
        write_at(root, "/proc/sys/kernel/hostname", "node07\n");
        write_at(root, "/proc/sys/kernel/random/boot_id", "0c9b3a1e-8f1d-4a51-9f06-1a2b3c4d5e6f\n");
        write_at(root, "/etc/machine-id", "5e1c0b9b6a0d4c8e9f2a3b4c5d6e7f80\n");
        assert_int_equal(erasure_crash_kernel_armed(root), 0);
        assert_int_equal(erasure_hibernation_available(root), 0);
        erasure_node_read(root, &n);
        assert_int_equal(n.n_present, 0);
        assert_string_equal(n.host, "node07");
        assert_string_equal(n.boot_id, "0c9b3a1e-8f1d-4a51-9f06-1a2b3c4d5e6f");
        assert_string_equal(n.machine_id, "5e1c0b9b6a0d4c8e9f2a3b4c5d6e7f80");

        write_at(root, "/sys/kernel/kexec_crash_loaded", "1\n");
        assert_int_equal(erasure_crash_kernel_armed(root), 1);
        erasure_node_read(root, &n);
        assert_int_equal(n.n_present, 1);
        assert_string_equal(n.present[0].name, "crash-kernel-armed");
        assert_non_null(strstr(n.present[0].detail, "kdump"));

        /* A word, not a substring. */
        write_at(root, "/sys/power/state", "freeze mem diskless\n");
        assert_int_equal(erasure_hibernation_available(root), 0);
        write_at(root, "/sys/power/state", "freeze mem disk\n");
        assert_int_equal(erasure_hibernation_available(root), 1);
        write_at(root, "/sys/power/state", "disk mem\n");
        assert_int_equal(erasure_hibernation_available(root), 1);
        erasure_node_read(root, &n);
        assert_int_equal(n.n_present, 2);
        assert_string_equal(n.present[1].name, "hibernation-available");

        /* Unreadable: counted as present, and said so. */
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/sys/kernel/kexec_crash_loaded", root);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0755), 0);   /* read(2) of a directory: EISDIR */
        assert_true(erasure_crash_kernel_armed(root) < 0);
        erasure_node_read(root, &n);
        assert_int_equal(n.n_present, 2);
        assert_non_null(strstr(n.present[0].detail, "could not be read"));
}

static void test_node_key(void **state) {
        TempDir *t = *state;
        char dir[PATH_MAX], file[PATH_MAX + 32];
        snprintf(dir, sizeof(dir), "%s/state", t->path);
        snprintf(file, sizeof(file), "%s/" ERASURE_KEY_FILE, dir);

        _cleanup_(evp_pkey_freep) EVP_PKEY *made = NULL, *loaded = NULL, *parsed = NULL, *parsed2 = NULL;
        assert_int_equal(erasure_key_load_or_create(dir, &made), 1);   /* made */
        struct stat st;
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(lstat(file, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        _cleanup_free_ char *names = list_dir(dir);
        assert_string_equal(names, ERASURE_KEY_FILE);   /* no temporary file left */

        /* Loaded again: the same key, the file untouched; the directory,
         * made 0755 by a package, root's alone again. */
        assert_int_equal(chmod(dir, 0755), 0);
        write_at(dir, "/." ERASURE_KEY_FILE ".4242.tmp", "a private key a crash left\n");
        assert_int_equal(erasure_key_load_or_create(dir, &loaded), 0);
        _cleanup_free_ char *after = list_dir(dir);
        assert_string_equal(after, ERASURE_KEY_FILE);   /* the crash's temporary file removed */
        struct stat dst;
        assert_int_equal(stat(dir, &dst), 0);
        assert_int_equal(dst.st_mode & 07777, 0700);
        assert_int_equal(EVP_PKEY_eq(made, loaded), 1);
        struct stat again;
        assert_int_equal(lstat(file, &again), 0);
        assert_int_equal(again.st_ino, st.st_ino);

        /* The public halves an auditor gets, read back. */
        _cleanup_free_ char *pem = NULL, *b64 = NULL, *b64_nl = NULL;
        assert_int_equal(erasure_key_public_pem(made, &pem), 0);
        assert_true(startswith(pem, "-----BEGIN PUBLIC KEY-----"));
        assert_null(strstr(pem, "PRIVATE"));
        assert_int_equal(erasure_key_public_base64(made, &b64), 0);
        assert_int_equal(strlen(b64), 44);
        assert_int_equal(erasure_key_parse_public(pem, &parsed), 0);
        assert_int_equal(EVP_PKEY_eq(made, parsed), 1);
        assert_int_equal(asprintf(&b64_nl, "%s\n", b64), (int) strlen(b64) + 1);
        assert_int_equal(erasure_key_parse_public(b64_nl, &parsed2), 0);
        assert_int_equal(EVP_PKEY_eq(made, parsed2), 1);
        EVP_PKEY *bad = NULL;
        assert_int_equal(erasure_key_parse_public("AAAA", &bad), -EBADMSG);
        assert_int_equal(erasure_key_parse_public("not a key at all", &bad), -EBADMSG);

        /* A key others may read is not this node's alone: refused. */
        assert_int_equal(chmod(file, 0644), 0);
        assert_int_equal(erasure_key_load_or_create(dir, &bad), -EPERM);
        assert_int_equal(chmod(file, 0600), 0);
        /* Nor one behind a symlink. */
        char moved[PATH_MAX + 32];
        snprintf(moved, sizeof(moved), "%s/elsewhere.pem", t->path);
        assert_int_equal(rename(file, moved), 0);
        assert_int_equal(symlink(moved, file), 0);
        assert_int_equal(erasure_key_load_or_create(dir, &bad), -EPERM);
        assert_int_equal(unlink(file), 0);
        /* Nor a file that is no key. */
        write_at(dir, "/" ERASURE_KEY_FILE, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assert_int_equal(chmod(file, 0600), 0);
        assert_int_equal(erasure_key_load_or_create(dir, &bad), -EBADMSG);
        /* Nor a directory others may write. */
        assert_int_equal(chmod(dir, 0777), 0);
        assert_int_equal(erasure_key_load_or_create(dir, &bad), -EPERM);
        assert_null(bad);
}

static ErasureRecord at_time(const ErasureNode *node, uint64_t sec, uint64_t generation) {
        ErasureRecord r = sample(node);
        r.start_usec = sec * USEC_PER_SEC;
        r.end_usec = sec * USEC_PER_SEC + 1;
        r.key_generation = generation;
        r.next_key_generation = generation + 1;
        return r;
}

static void test_write(void **state) {
        TempDir *t = *state;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/records", t->path);
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        ErasureNode node = sample_node();

        ErasureRecord r = at_time(&node, T0, 7);
        _cleanup_free_ char *name = NULL, *name2 = NULL, *name3 = NULL, *listing = NULL;
        assert_int_equal(erasure_write(dir, &r, key, &name), 0);
        assert_string_equal(name, "20261203T120102Z-scratch-7.json");
        /* The same second, volume and generation (a reboot's erase finds
         * generation 0 again): never replaced. */
        assert_int_equal(erasure_write(dir, &r, key, &name2), 0);
        assert_string_equal(name2, "20261203T120102Z-scratch-7.1.json");
        r = at_time(&node, T0 + 3600, 8);
        r.volume = "scratch.3";   /* a job volume */
        assert_int_equal(erasure_write(dir, &r, key, &name3), 0);
        listing = list_dir(dir);
        assert_string_equal(listing, "20261203T120102Z-scratch-7.1.json 20261203T120102Z-scratch-7.json "
                                     "20261203T130102Z-scratch.3-8.json");

        struct stat st;
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(read_full_file(path, &text), 0);
        assert_int_equal(erasure_verify(text, key, NULL, NULL), 0);

        /* A name that would be a path is refused. */
        r.volume = "../etc";
        assert_int_equal(erasure_write(dir, &r, key, NULL), -EINVAL);
        r.volume = ".hidden";
        assert_int_equal(erasure_write(dir, &r, key, NULL), -EINVAL);
}

/* The engine's call: the node's facts read from its root, a disk that
 * cannot be read written as not known, retention after; a sink whose key
 * could not be had writes nothing and says so; no dir, nothing at all. */
static void test_sink(void **state) {
        TempDir *t = *state;
        char dir[PATH_MAX], root[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/records", t->path);
        snprintf(root, sizeof(root), "%s/root", t->path);
        assert_int_equal(mkdir(root, 0755), 0);
        write_at(root, "/proc/sys/kernel/hostname", "node17\n");
        write_at(root, "/sys/kernel/kexec_crash_loaded", "1\n");
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        ErasureSink sink = { .dir = dir, .key = key, .keep_count = 2, .node_root = root };

        ErasureOutcome out;
        for (unsigned i = 0; i < 3; i++) {
                ErasureRecord r = at_time(NULL, T0 + i, 10 + i);
                erasure_sink_write(&sink, &r, "/nonexistent/disk-a /nonexistent/disk-b", false, &out);
                assert_int_equal(out.error, 0);
                assert_int_equal(out.key_generation, 10 + i);
        }
        assert_string_equal(out.name, "20261203T120104Z-scratch-12.json");
        /* RecordsKeepCount=2: the oldest went. */
        _cleanup_free_ char *listing = list_dir(dir);
        assert_string_equal(listing, "20261203T120103Z-scratch-11.json 20261203T120104Z-scratch-12.json");

        char path[PATH_MAX + 200];
        snprintf(path, sizeof(path), "%s/%s", dir, out.name);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(read_full_file(path, &text), 0);
        assert_int_equal(erasure_verify(text, key, NULL, NULL), 0);
        _cleanup_(json_putp) json_object *o = json_tokener_parse(text);
        assert_non_null(o);
        assert_string_equal(json_object_get_string(get_path(o, "host", NULL)), "node17");
        json_object *media = get_path(o, "media", NULL);
        assert_int_equal(json_object_array_length(media), 2);
        json_object *m1 = json_object_array_get_idx(media, 1);
        assert_string_equal(json_object_get_string(get_path(m1, "path", NULL)), "/nonexistent/disk-b");
        assert_null(get_path(m1, "model", NULL));
        assert_int_equal(json_object_get_uint64(get_path(m1, "size_bytes", NULL)), 0);
        json_object *present = get_path(o, "weakening_conditions", "present");
        assert_int_equal(json_object_array_length(present), 1);
        assert_string_equal(json_object_get_string(get_path(json_object_array_get_idx(present, 0), "condition", NULL)),
                            "crash-kernel-armed");

        /* No key: nothing written, the error said. */
        sink.unavailable = -EPERM;
        ErasureRecord r = at_time(NULL, T0 + 10, 20);
        erasure_sink_write(&sink, &r, "", false, &out);
        assert_int_equal(out.error, -EPERM);
        assert_string_equal(out.name, "");
        /* No dir: not recorded, not an error (a test of other parts). */
        ErasureSink none = {};
        erasure_sink_write(&none, &r, "", false, &out);
        assert_int_equal(out.error, 0);
        assert_string_equal(out.name, "");
        /* A dir that cannot be written (a file in its place): the error. */
        write_at(t->path, "/blocked", "x");
        char blocked[PATH_MAX];
        snprintf(blocked, sizeof(blocked), "%s/blocked", t->path);
        ErasureSink full = { .dir = blocked, .key = key, .node_root = root };
        erasure_sink_write(&full, &r, "", false, &out);
        assert_true(out.error < 0);
        assert_string_equal(out.name, "");
}

/* A fence's record names the disks its state named, unverified: no model,
 * serial, WWN or size read from whatever is at those paths now. The control:
 * the same disk, verified, has its size read. */
static void test_sink_media_unverified(void **state) {
        TempDir *t = *state;
        char dir[PATH_MAX], disk[300] = "";
        snprintf(dir, sizeof(dir), "%s/records", t->path);
        /* A block device of this machine with a size. */
        DIR *d = opendir("/sys/block");
        for (struct dirent *de; d && (de = readdir(d)) && !disk[0];) {
                char p[PATH_MAX], dev[300];
                _cleanup_free_ char *size = NULL;
                snprintf(p, sizeof(p), "/sys/block/%s/size", de->d_name);
                snprintf(dev, sizeof(dev), "/dev/%s", de->d_name);
                if (de->d_name[0] != '.' && read_one_line(p, &size) >= 0 && strtoull(size, NULL, 10) > 0 &&
                    access(dev, F_OK) == 0)
                        snprintf(disk, sizeof(disk), "%s", dev);
        }
        if (d)
                closedir(d);
        if (!disk[0])
                skip();   /* no block device with a size here */
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        ErasureSink sink = { .dir = dir, .key = key };
        uint64_t sizes[2];
        for (int unverified = 0; unverified < 2; unverified++) {
                ErasureRecord r = at_time(NULL, T0 + unverified, 30 + unverified);
                ErasureOutcome out;
                erasure_sink_write(&sink, &r, disk, unverified, &out);
                assert_int_equal(out.error, 0);
                char path[PATH_MAX + 200];
                snprintf(path, sizeof(path), "%s/%s", dir, out.name);
                _cleanup_free_ char *text = NULL;
                assert_int_equal(read_full_file(path, &text), 0);
                _cleanup_(json_putp) json_object *o = json_tokener_parse(text);
                json_object *m = json_object_array_get_idx(get_path(o, "media", NULL), 0);
                assert_string_equal(json_object_get_string(get_path(m, "path", NULL)), disk);
                sizes[unverified] = json_object_get_uint64(get_path(m, "size_bytes", NULL));
                if (unverified) {
                        assert_null(get_path(m, "model", NULL));
                        assert_null(get_path(m, "serial", NULL));
                        assert_null(get_path(m, "wwn", NULL));
                }
        }
        assert_true(sizes[0] > 0);     /* the control: read when verified */
        assert_int_equal(sizes[1], 0);
}

/* The initramfs's records: written unsigned, signed and moved by the daemon
 * under the same names, marked signed_later, the host filled in where the
 * initramfs had none. What is not one (another format, signed already, of
 * another boot, a link, a FIFO) stays where it is; a directory others may
 * write is refused whole. */
static void test_sign_pending(void **state) {
        TempDir *t = *state;
        char pending[PATH_MAX], dir[PATH_MAX];
        snprintf(pending, sizeof(pending), "%s/pending", t->path);
        snprintf(dir, sizeof(dir), "%s/records", t->path);
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        /* The initramfs's view: no host name, the machine id of the host that
         * built it; the node's at the daemon's start. */
        ErasureNode node = sample_node();
        snprintf(node.host, sizeof(node.host), "(none)");
        snprintf(node.machine_id, sizeof(node.machine_id), "00000000000000000000000000000bad");   /* the build host's */
        ErasureNode here = node;
        snprintf(here.host, sizeof(here.host), "node17");
        snprintf(here.machine_id, sizeof(here.machine_id), "5e1c0b9b6a0d4c8e9f2a3b4c5d6e7f80");

        ErasureRecord r = at_time(&node, T0, 4);
        _cleanup_free_ char *name = NULL, *text = NULL, *listing = NULL, *left = NULL;
        assert_int_equal(erasure_write(pending, &r, NULL, &name), 0);
        char path[PATH_MAX + 200];
        snprintf(path, sizeof(path), "%s/%s", pending, name);
        assert_int_equal(read_full_file(path, &text), 0);
        assert_null(strstr(text, "\"signature\""));
        _cleanup_free_ char *err = NULL;
        assert_int_equal(erasure_verify(text, key, NULL, &err), -EBADMSG);   /* unsigned: no proof yet */

        /* What stays: another format; a record of another boot; a link to
         * one; a FIFO (never waited on). */
        write_at(pending, "/20261203T120200Z-other-1.json", "{\"format\": \"something else\"}\n");
        ErasureNode other_boot = node;
        snprintf(other_boot.boot_id, sizeof(other_boot.boot_id), "00000000-0000-0000-0000-000000000000");
        ErasureRecord old = at_time(&other_boot, T0 + 5, 9);
        assert_int_equal(erasure_write(pending, &old, NULL, NULL), 0);
        char link[PATH_MAX + 64], fifo[PATH_MAX + 64];
        snprintf(link, sizeof(link), "%s/20261203T120300Z-scratch-2.json", pending);
        assert_int_equal(symlink(path, link), 0);
        snprintf(fifo, sizeof(fifo), "%s/20261203T120400Z-scratch-3.json", pending);
        assert_int_equal(mkfifo(fifo, 0600), 0);

        assert_int_equal(erasure_sign_pending(pending, dir, key, &here), -EBADMSG);
        listing = list_dir(dir);
        assert_string_equal(listing, name);
        left = list_dir(pending);
        assert_string_equal(left, "20261203T120107Z-scratch-9.json 20261203T120200Z-other-1.json "
                                  "20261203T120300Z-scratch-2.json 20261203T120400Z-scratch-3.json");

        free(text);
        text = NULL;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(read_full_file(path, &text), 0);
        assert_int_equal(erasure_verify(text, key, NULL, NULL), 0);
        _cleanup_(json_putp) json_object *o = json_tokener_parse(text);
        assert_string_equal(json_object_get_string(get_path(o, "host", NULL)), "node17");
        assert_string_equal(json_object_get_string(get_path(o, "machine_id", NULL)), "5e1c0b9b6a0d4c8e9f2a3b4c5d6e7f80");
        assert_non_null(strstr(json_object_get_string(get_path(o, "signed_later", "by")), "initramfs"));
        assert_non_null(get_path(o, "signed_later", "at"));

        /* A signed record there is not the initramfs's: refused, left. */
        assert_int_equal(erasure_sign_pending(dir, pending, key, &here), -EBADMSG);
        free(listing);
        listing = list_dir(dir);
        assert_string_equal(listing, name);
        /* A directory others may write: nothing signed from it. */
        assert_int_equal(chmod(pending, 0777), 0);
        assert_int_equal(erasure_sign_pending(pending, dir, key, &here), -EPERM);
        /* No such dir: nothing to do. */
        snprintf(path, sizeof(path), "%s/none", t->path);
        assert_int_equal(erasure_sign_pending(path, dir, key, &here), 0);
}

/* The machine a node key was first used on, kept beside it with its public
 * half: a key a golden image carried to another machine is told apart; a
 * new key is this machine's; a machine id that is none is no evidence. */
static void test_key_origin(void **state) {
        TempDir *t = *state;
        char other[64] = "", path[PATH_MAX + 64];
        const char *a = "aaaa1111aaaa1111aaaa1111aaaa1111", *b = "bbbb2222bbbb2222bbbb2222bbbb2222";
        snprintf(path, sizeof(path), "%s/" ERASURE_KEY_ORIGIN_FILE, t->path);
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key(), *key2 = new_key();

        assert_int_equal(erasure_key_origin(t->path, "", key, other, sizeof(other)), 0);
        assert_int_equal(erasure_key_origin(t->path, "uninitialized", key, other, sizeof(other)), 0);
        assert_int_equal(access(path, F_OK), -1);   /* no machine id: nothing kept */
        assert_int_equal(erasure_key_origin(t->path, a, key, other, sizeof(other)), 0);
        _cleanup_free_ char *kept = NULL, *pub = NULL;
        assert_int_equal(read_full_file(path, &kept), 0);
        assert_int_equal(erasure_key_public_base64(key, &pub), 0);
        assert_true(startswith(kept, a));
        assert_non_null(strstr(kept, pub));
        assert_int_equal(erasure_key_origin(t->path, a, key, other, sizeof(other)), 0);
        /* Booted elsewhere with the same key. */
        assert_int_equal(erasure_key_origin(t->path, b, key, other, sizeof(other)), 1);
        assert_string_equal(other, a);
        /* Another key there (the old one removed, a new one made): that
         * machine's from now. */
        assert_int_equal(erasure_key_origin(t->path, b, key2, other, sizeof(other)), 0);
        assert_int_equal(erasure_key_origin(t->path, b, key2, other, sizeof(other)), 0);
        assert_int_equal(erasure_key_origin(t->path, a, key2, other, sizeof(other)), 1);
        assert_string_equal(other, b);
        /* A file that is not one of ours is rewritten; a link is not followed. */
        write_at(t->path, "/" ERASURE_KEY_ORIGIN_FILE, "garbage\n");
        assert_int_equal(erasure_key_origin(t->path, a, key2, other, sizeof(other)), 0);
        assert_int_equal(erasure_key_origin(t->path, b, key2, other, sizeof(other)), 1);
        assert_int_equal(unlink(path), 0);
        char target[PATH_MAX + 64];
        snprintf(target, sizeof(target), "%s/elsewhere", t->path);
        write_at(t->path, "/elsewhere", "untouched\n");
        assert_int_equal(symlink(target, path), 0);
        assert_int_equal(erasure_key_origin(t->path, a, key2, other, sizeof(other)), 0);
        _cleanup_free_ char *still = NULL;
        assert_int_equal(read_full_file(target, &still), 0);
        assert_string_equal(still, "untouched\n");
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));   /* the link replaced by our file */
}

static void test_prune(void **state) {
        TempDir *t = *state;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/records", t->path);
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        ErasureNode node = sample_node();

        /* One record a day, for 6 days up to T0 (the oldest first). */
        for (unsigned d = 0; d < 6; d++) {
                ErasureRecord r = at_time(&node, T0 - (5 - d) * 86400, d);
                assert_int_equal(erasure_write(dir, &r, key, NULL), 0);
        }
        write_at(dir, "/notes.txt", "not a record\n");
        time_t now = (time_t) T0 + 60;

        assert_int_equal(erasure_prune(dir, 0, 0, now), 0);   /* no limits: nothing */
        /* Older than 3 days: the first 3 (ended 5, 4, 3 days and a minute ago). */
        assert_int_equal(erasure_prune(dir, 3, 0, now), 3);
        _cleanup_free_ char *after_days = list_dir(dir);
        assert_string_equal(after_days, "20261201T120102Z-scratch-3.json 20261202T120102Z-scratch-4.json "
                                        "20261203T120102Z-scratch-5.json notes.txt");
        /* The newest 2 kept. */
        assert_int_equal(erasure_prune(dir, 0, 2, now), 1);
        _cleanup_free_ char *after_count = list_dir(dir);
        assert_string_equal(after_count, "20261202T120102Z-scratch-4.json 20261203T120102Z-scratch-5.json notes.txt");
        assert_int_equal(erasure_prune(dir, 3, 2, now), 0);   /* idempotent */
        /* No directory yet: nothing to do. */
        char none[PATH_MAX + 8];
        snprintf(none, sizeof(none), "%s/none", t->path);
        assert_int_equal(erasure_prune(none, 1, 1, now), 0);
}

/* Every member a record can have, by path ("[]" for any array element):
 * none of them can hold key material (the signature's public key and value
 * are public by design). A new member fails this test until it is added here,
 * after asking whether it could ever carry a key. */
static const char *const allowed_paths[] = {
        "boot_id", "discard", "discard.detail", "discard.done", "duration_usec", "end", "format", "host", "job", "machine_id",
        "key_generation", "media", "media[]", "media[].model", "media[].path", "media[].serial",
        "media[].size_bytes", "media[].wwn", "method", "method.category", "method.cipher", "method.key_bits",
        "method.key_destruction", "method.key_lifecycle", "method.sector_size", "method.technique", "mode",
        "next_key_generation", "result", "scope", "signed_later", "scope.kind", "scope.size_bytes", "scope.volume", "signature",
        "signature.algorithm", "signature.public_key", "signature.value", "standard", "start", "tool",
        "tool.name", "tool.version", "trigger", "user", "verification", "verification[]",
        "verification[].check", "verification[].detail", "verification[].passed", "volume",
        "weakening_conditions", "weakening_conditions.checked", "weakening_conditions.checked[]",
        "weakening_conditions.present", "weakening_conditions.present[]",
        "weakening_conditions.present[].condition", "weakening_conditions.present[].detail",
        NULL,
};

static void collect_paths(json_object *v, const char *prefix, char ***paths) {
        char path[512];
        if (json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, name, member) {
                        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", name);
                        if (!strv_contains(*paths, path))
                                assert_int_equal(strv_extend(paths, path), 0);
                        collect_paths(member, path, paths);
                }
        } else if (json_object_is_type(v, json_type_array)) {
                snprintf(path, sizeof(path), "%s[]", prefix);
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        if (!strv_contains(*paths, path))
                                assert_int_equal(strv_extend(paths, path), 0);
                        collect_paths(json_object_array_get_idx(v, i), path, paths);
                }
        }
}

static void hex(const unsigned char *b, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_no_key_material(void **state) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *key = new_key();
        _cleanup_free_ char *text = signed_text(key);
        _cleanup_(json_putp) json_object *o = json_tokener_parse(text);
        _cleanup_strv_free_ char **paths = NULL;

        collect_paths(o, "", &paths);
        for (char **p = paths; *p; p++)
                if (!strv_contains((char **) allowed_paths, *p) && !streq(*p, ""))
                        fail_msg("a member not known to hold no key: %s", *p);
        /* The control: the sample reaches every allowed path. */
        assert_int_equal(strv_length(paths), ELEMENTSOF(allowed_paths) - 1);

        /* A volume key (fake, 64 bytes as for aes-xts-plain64 512 bits), in
         * the forms a leak would take: none is in the record. */
        unsigned char volume_key[64];
        for (size_t i = 0; i < sizeof(volume_key); i++)
                volume_key[i] = (unsigned char) (0xa5 ^ (i * 37));
        char key_hex[2 * sizeof(volume_key) + 1], key_b64[128];
        hex(volume_key, sizeof(volume_key), key_hex);
        EVP_EncodeBlock((unsigned char *) key_b64, volume_key, sizeof(volume_key));
        assert_null(strstr(text, key_hex));
        assert_null(strstr(text, key_b64));
        assert_null(memmem(text, strlen(text), volume_key, 16));

        /* The positive control: the scan finds a key where one is put. */
        ErasureNode node = sample_node();
        ErasureRecord r = sample(&node);
        r.job = key_hex;
        _cleanup_(json_putp) json_object *leaky = NULL;
        assert_int_equal(erasure_build(&r, &leaky), 0);
        assert_non_null(strstr(json_object_to_json_string(leaky), key_hex));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build),
                cmocka_unit_test(test_build_edges),
                cmocka_unit_test(test_canonical_known_answer),
                cmocka_unit_test(test_canonical_stable),
                cmocka_unit_test(test_sign_verify),
                cmocka_unit_test(test_signature_members),
                cmocka_unit_test(test_text_strict),
                cmocka_unit_test(test_any_change_fails),
                cmocka_unit_test(test_wrong_key),
                cmocka_unit_test_setup_teardown(test_conditions, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_node_key, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_write, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_key_origin, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_prune, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_sink, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_sink_media_unverified, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_sign_pending, setup_tempdir, teardown_tempdir),
                cmocka_unit_test(test_no_key_material),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
