/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: any bytes as an erase record's text, as `scratchctl
 * verify` reads it, pinned to a fixed node key and not; as an auditor's
 * public key; as JSON for the canonical form; and XORed into one string of a
 * record that fixed key signed.
 *
 *   - erasure_verify() gives 0, -EBADMSG or -ENOMEM, and with -EBADMSG one
 *     line that says why; what verifies pinned verifies unpinned;
 *   - any strict JSON canonicalizes to the same bytes twice (or is refused
 *     twice), and those bytes parsed back canonicalize to themselves, as does
 *     json-c's own text of the same value;
 *   - the signed sample verifies, and with any string of it changed does not.
 *
 * The seeds' signed records (fuzz/corpus/erasure-record) are this target's
 * sample, signed by its key:
 *   build-fuzz/fuzz/fuzz-erasure-record --write-seeds fuzz/corpus/erasure-record */
#include <stdio.h>

#include "scratchd/canonjson.h"
#include "scratchd/erasure.h"
#include "scratchd/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void json_putp(json_object **p) {
        json_object_put(*p);
}

/* The node key: Ed25519 from a fixed seed, so that the checked-in seeds stay
 * signed by it; and another, for a record signed by someone else. */
static const unsigned char node_seed[32] = "scratchd fuzz erase-record key1";
static const unsigned char other_seed[32] = "scratchd fuzz another node key";
static EVP_PKEY *node_key, *other_key, *pinned;   /* pinned: the node's public half, as an auditor has it */
static json_object *signed_sample;                 /* the sample, signed with node_key */

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

/* 2026-12-03T12:01:02Z */
static ErasureRecord sample(const ErasureNode *node) {
        return (ErasureRecord) {
                .volume = "scratch", .mode = "exclusive", .trigger = "release",
                .media = sample_media, .n_media = ELEMENTSOF(sample_media),
                .cipher = "aes-xts-plain64", .key_bits = 512, .sector_size = 4096,
                .discard_done = false, .discard_detail = "Discard=auto: 2 disks over the request limit",
                .scope = ERASURE_SCOPE_VOLUME, .scope_size_bytes = UINT64_C(7681511964672),
                .job = "1234", .user = "alice", .key_generation = 7, .next_key_generation = 8,
                .start_usec = UINT64_C(1796299262) * USEC_PER_SEC, .end_usec = UINT64_C(1796299263500000),
                .result = "ok", .verification = sample_checks, .n_verification = ELEMENTSOF(sample_checks),
                .node = node,
        };
}

/* A shared pool's job volume: no job, a disk nothing is known of. */
static ErasureRecord sample_job_volume(const ErasureNode *node) {
        static const ErasureMedia media = { "/dev/disk/by-id/nvme-C", NULL, NULL, NULL, 0 };
        ErasureRecord r = sample(node);
        r.mode = "shared";
        r.trigger = "wipe";
        r.scope = ERASURE_SCOPE_JOB_VOLUME;
        r.media = &media;
        r.n_media = 1;
        r.job = r.user = r.discard_detail = NULL;
        r.next_key_generation = 0;
        r.verification = NULL;
        r.n_verification = 0;
        return r;
}

static json_object *build(ErasureRecord (*make)(const ErasureNode *), EVP_PKEY *key) {
        ErasureNode node = sample_node();
        ErasureRecord r = make(&node);
        json_object *o = NULL;
        if (erasure_build(&r, &o) < 0 || (key && erasure_sign(o, key) < 0))
                __builtin_trap();
        return o;
}

static void write_seed(const char *dir, const char *name, json_object *o, int flags) {
        _cleanup_free_ char *path = NULL;
        FILE *f = asprintf(&path, "%s/%s", dir, name) >= 0 ? fopen(path, "we") : NULL;
        if (!f || fputs(json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE), f) < 0 ||
            fputc('\n', f) < 0 || fclose(f) != 0) {
                fprintf(stderr, "cannot write %s\n", path ?: name);
                exit(1);
        }
}

static void write_seeds(const char *dir) {
        _cleanup_(json_putp) json_object *job_volume = build(sample_job_volume, node_key),
                                         *unsigned_ = build(sample, NULL), *other = build(sample, other_key);
        write_seed(dir, "signed.json", signed_sample, JSON_C_TO_STRING_PRETTY);   /* as erasure_write() lays it out */
        write_seed(dir, "signed-compact.json", signed_sample, JSON_C_TO_STRING_PLAIN);
        write_seed(dir, "signed-job-volume.json", job_volume, JSON_C_TO_STRING_PRETTY);
        write_seed(dir, "signed-other-key.json", other, JSON_C_TO_STRING_PRETTY);
        write_seed(dir, "unsigned.json", unsigned_, JSON_C_TO_STRING_PRETTY);     /* as the initramfs leaves it */
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        node_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, node_seed, sizeof(node_seed));
        other_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, other_seed, sizeof(other_seed));
        char *pub = NULL;
        if (!node_key || !other_key || erasure_key_public_base64(node_key, &pub) < 0 ||
            erasure_key_parse_public(pub, &pinned) < 0)
                __builtin_trap();
        free(pub);
        signed_sample = build(sample, node_key);
        if (erasure_verify(json_object_to_json_string(signed_sample), pinned, NULL, NULL) != 0)
                __builtin_trap();   /* the control */
        if (*argc == 3 && streq((*argv)[1], "--write-seeds")) {
                write_seeds((*argv)[2]);
                exit(0);
        }
        return 0;
}

/* The text as a record, against `key` (NULL: unpinned). */
static int verify(const char *text, EVP_PKEY *key) {
        _cleanup_free_ char *error = NULL;
        bool was_pinned = !key;
        int r = erasure_verify(text, key, &was_pinned, &error);
        if (r == 0) {
                if (error || was_pinned != !!key)
                        __builtin_trap();
        } else if (r == -EBADMSG) {
                /* One line that says why: scratchctl verify prints it after the file's name. */
                if (!error || !error[0] || strchr(error, '\n'))
                        __builtin_trap();
        } else if (r != -ENOMEM)
                __builtin_trap();
        return r;
}

static void check_public_key(const char *text) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *k = NULL, *again = NULL;
        _cleanup_free_ char *pub = NULL;
        int r = erasure_key_parse_public(text, &k);
        if (r == -EBADMSG || r == -ENOMEM)
                return;
        if (r != 0 || !EVP_PKEY_is_a(k, "ED25519") || erasure_key_public_base64(k, &pub) < 0 ||
            erasure_key_parse_public(pub, &again) < 0 || EVP_PKEY_eq(k, again) != 1)
                __builtin_trap();
}

/* Strict JSON, the whole text (whitespace after it), as erasure_verify()
 * reads a record; any value, not only an object. The NUL is passed too: it
 * ends a number or a literal at the end of the text ("0"), as no more could
 * come. */
static json_object *parse_strict(const char *text) {
        json_tokener *tok = json_tokener_new();
        if (!tok)
                return NULL;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        size_t n = strlen(text);
        json_object *o = json_tokener_parse_ex(tok, text, (int) n + 1);
        if (o) {
                size_t end = json_tokener_get_parse_end(tok);
                end = end < n ? end : n;
                if (json_tokener_get_error(tok) != json_tokener_success || text[end + strspn(text + end, " \t\r\n")]) {
                        json_object_put(o);
                        o = NULL;
                }
        }
        json_tokener_free(tok);
        return o;
}

/* Canonical bytes, or NULL when refused (-EINVAL: nothing else may fail). */
static char *canon(json_object *o) {
        char *s = NULL;
        size_t len = 0;
        int r = canonjson_serialize(o, &s, &len);
        if (r == -EINVAL && !s)
                return NULL;
        if (r != 0 || !s || strlen(s) != len)   /* never a NUL inside */
                __builtin_trap();
        return s;
}

static void check_canonical(const char *text) {
        _cleanup_(json_putp) json_object *o = parse_strict(text);
        if (!o)
                return;
        _cleanup_free_ char *a = canon(o), *b = canon(o);
        if (!!a != !!b || (a && !streq(a, b)))
                __builtin_trap();   /* the same value, other bytes (or refused only once) */

        /* json-c's own text of the value: canonically the same (or as refused). */
        _cleanup_(json_putp) json_object *via_jsonc =
                parse_strict(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!via_jsonc)
                __builtin_trap();
        _cleanup_free_ char *c = canon(via_jsonc);
        if (!!a != !!c || (a && !streq(a, c)))
                __builtin_trap();
        if (!a)
                return;

        /* Idempotent: the canonical text is strict JSON whose canonical text is itself. */
        _cleanup_(json_putp) json_object *back = parse_strict(a);
        if (!back)
                __builtin_trap();
        _cleanup_free_ char *d = canon(back);
        if (!d || !streq(a, d))
                __builtin_trap();
}

/* The n-th string (depth first, member values and array elements) under v,
 * with its parent and where it sits in it. */
static bool nth_string(json_object *v, size_t *n, json_object **ret_parent, const char **ret_name, size_t *ret_idx) {
        if (json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, name, member) {
                        if (json_object_is_type(member, json_type_string)) {
                                if ((*n)-- == 0) {
                                        *ret_parent = v, *ret_name = name;
                                        return true;
                                }
                        } else if (nth_string(member, n, ret_parent, ret_name, ret_idx))
                                return true;
                }
        } else if (json_object_is_type(v, json_type_array))
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        json_object *member = json_object_array_get_idx(v, i);
                        if (json_object_is_type(member, json_type_string)) {
                                if ((*n)-- == 0) {
                                        *ret_parent = v, *ret_name = NULL, *ret_idx = i;
                                        return true;
                                }
                        } else if (nth_string(member, n, ret_parent, ret_name, ret_idx))
                                return true;
                }
        return false;
}

static size_t count_strings(json_object *v) {
        size_t n = SIZE_MAX;
        json_object *parent;
        const char *name;
        size_t idx;
        (void) nth_string(v, &n, &parent, &name, &idx);
        return SIZE_MAX - n;
}

/* The first byte picks a string of the signed sample; the rest is XORed into
 * it from its start (past its end: appended). Changed, it must not verify,
 * pinned or not; unchanged (all zeros, no longer than it), it must. */
static void check_changed_record(const uint8_t *data, size_t size) {
        static size_t n_strings;
        if (!n_strings)
                n_strings = count_strings(signed_sample);
        if (size == 0 || n_strings == 0)
                return;
        _cleanup_(json_putp) json_object *copy = NULL;
        if (json_object_deep_copy(signed_sample, &copy, NULL) < 0)
                return;
        size_t n = data[0] % n_strings, idx = 0;
        json_object *parent = NULL;
        const char *name = NULL;
        if (!nth_string(copy, &n, &parent, &name, &idx))
                __builtin_trap();
        json_object *v = name ? json_object_object_get(parent, name) : json_object_array_get_idx(parent, idx);
        const uint8_t *x = data + 1;
        size_t xlen = size - 1, vlen = (size_t) json_object_get_string_len(v), len = vlen > xlen ? vlen : xlen;
        _cleanup_free_ char *s = malloc(len + 1);
        if (!s)
                return;
        memcpy(s, json_object_get_string(v), vlen);
        memset(s + vlen, 0, len - vlen);
        bool changed = len > vlen;
        for (size_t i = 0; i < xlen; i++) {
                s[i] = (char) (s[i] ^ x[i]);
                changed = changed || x[i];
        }
        json_object *nv = json_object_new_string_len(s, (int) len);
        if (!nv)
                return;
        if (name)
                json_object_object_add(parent, name, nv);
        else
                json_object_array_put_idx(parent, idx, nv);

        _cleanup_free_ char *text =
                strdup(json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!text)
                return;
        int p = verify(text, pinned), u = verify(text, NULL);
        if (p == -ENOMEM || u == -ENOMEM)
                return;
        if (changed ? p == 0 || u == 0 : p != 0 || u != 0)
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        /* The file's text, as scratchctl verify reads it (up to a NUL). */
        int p = verify(text, pinned), u = verify(text, NULL);
        if (p == 0 && u != 0 && u != -ENOMEM)
                __builtin_trap();   /* signed by the given key, yet not intact under the key it carries */
        check_public_key(text);
        check_canonical(text);
        check_changed_record(data, size);
        free(text);
        return 0;
}
