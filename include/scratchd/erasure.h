/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

/* Erase records: proof of erasure. One signed JSON file per crypto-erase
 * (a release, a wipe by hand or by API, the erase at start-up; both modes),
 * under /var/lib/scratchd/records, root only. Its fields follow the
 * sanitization certificate of NIST SP 800-88 Rev. 1, Appendix G, and the
 * cryptographic erase of Rev. 2: the media, the method (Purge, cryptographic
 * erase; cipher, key size, where the key lived and how it was destroyed), the
 * scope, who and when, the result, the verification done, and the conditions
 * on the node that weaken the claim. docs/erasure-record.schema.json describes
 * every field.
 *
 * Not to be confused with the volume's state Record (record.h), kept on
 * /run: an erase record outlives reboots and is evidence, not state.
 *
 * Never key material: the key is gone before a record is made, and no field
 * can hold it (the unit test checks the record's shape against a list).
 *
 * The daemon's call, at the end of each erase, from its loop thread:
 *
 *      ErasureNode node;
 *      erasure_node_read("/", &node);
 *      ErasureRecord r = { .volume = ..., .node = &node, ... };
 *      int e = erasure_write(ERASURE_RECORDS_DIR, &r, node_key, &name);
 *
 * and a failed write (disk full) does not undo the erase: the caller shows
 * it in status, metrics and the journal. */

static inline void evp_pkey_freep(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}

#define ERASURE_FORMAT "scratchd-erasure-record/1"
#define ERASURE_RECORDS_DIR "/var/lib/scratchd/records"
#define ERASURE_STATE_DIR "/var/lib/scratchd"
#define ERASURE_KEY_FILE "node-key.pem"
#define ERASURE_KEY_ORIGIN_FILE "node-key.machine-id"
/* Where the initramfs (no node key there: the real root is read-only) leaves
 * its records, unsigned, under the state directory (/run, which goes on into
 * the booted system). */
#define ERASURE_PENDING_SUBDIR "records-pending"

/* The node key's and the records' directory: $STATE_DIRECTORY where its
 * first entry ends in "/scratchd" (the tests' own), else ERASURE_STATE_DIR. */
const char *erasure_state_dir(void);

/* One disk under the volume, as the daemon saw it (sysfs, udev). NULL
 * strings: not known (written as null). */
typedef struct ErasureMedia {
        const char *path;        /* the disk as configured: /dev/disk/by-id/... */
        const char *model;
        const char *serial;
        const char *wwn;
        uint64_t size_bytes;
} ErasureMedia;

/* One check done after the erase. The daemon's, by name:
 * "mapping-removed" (the mapping is gone from the kernel's dm table) and
 * "key-generation-changed" (the next key's generation differs). */
typedef struct ErasureCheck {
        const char *check;
        bool passed;
        const char *detail;      /* or NULL */
} ErasureCheck;

/* The node's facts at the time of the erase (erasure_node_read()). */
#define ERASURE_CONDITIONS_MAX 8
typedef struct ErasureCondition {
        const char *name;        /* "crash-kernel-armed", static */
        char detail[256];        /* why it weakens the claim, and what to do */
} ErasureCondition;

typedef struct ErasureNode {
        char host[256];
        char boot_id[64];
        char machine_id[64];   /* /etc/machine-id: the node across boots and renames */
        /* Every condition looked for, and those found (or that could not be
         * read, which count as found: a record claims nothing it did not see). */
        const char *checked[ERASURE_CONDITIONS_MAX];
        size_t n_checked;
        ErasureCondition present[ERASURE_CONDITIONS_MAX];
        size_t n_present;
} ErasureNode;

typedef enum ErasureScope {
        ERASURE_SCOPE_VOLUME,       /* the whole volume (exclusive mode, or a shared pool) */
        ERASURE_SCOPE_JOB_VOLUME,   /* one job's volume in a shared pool */
        _ERASURE_SCOPE_MAX,
        _ERASURE_SCOPE_INVALID = -EINVAL,
} ErasureScope;

const char *erasure_scope_to_string(ErasureScope s);
ErasureScope erasure_scope_from_string(const char *s);

/* What the daemon knows at the end of an erase. Borrowed pointers; NULL
 * strings are written as null. */
typedef struct ErasureRecord {
        const char *volume;         /* the volume's name ([A-Za-z0-9_.-], no leading '.') */
        const char *mode;           /* "exclusive" or "shared" */
        const char *trigger;        /* "release", "wipe", "startup" */
        const ErasureMedia *media;
        size_t n_media;
        const char *cipher;         /* "aes-xts-plain64"; NULL: not known (written as null) */
        unsigned key_bits;          /* 0: not known (null) */
        /* Not known: no state said which key it was (after a reboot, the key
         * died with the previous kernel): key_generation is written as null. */
        bool key_generation_unknown;
        const char *key_destruction;  /* how the key went, where not the usual way; NULL: by the mapping's removal */
        unsigned sector_size;
        bool discard_done;
        const char *discard_detail; /* how, or why skipped */
        ErasureScope scope;
        uint64_t scope_size_bytes;  /* the erased volume's data size */
        const char *job;            /* or NULL: no job held it */
        const char *user;
        uint64_t key_generation;       /* of the key destroyed */
        uint64_t next_key_generation;  /* of the key made after it; 0: none (a job volume removed) */
        uint64_t start_usec, end_usec; /* CLOCK_REALTIME */
        const char *result;         /* "ok" or the error's name */
        const ErasureCheck *verification;
        size_t n_verification;
        const ErasureNode *node;
} ErasureRecord;

/* The node's host name, boot id and weakening conditions, from the files
 * under `root` ("/" on a node, a fake tree in tests). Never fails: what cannot
 * be read is written as such. */
void erasure_node_read(const char *root, ErasureNode *ret);

/* Each weakening condition alone: 1 present, 0 absent, or a negative errno
 * when it cannot be told (the file unreadable). A missing file is "absent":
 * the kernel lacks the feature.
 *
 * Crash kernel armed: /sys/kernel/kexec_crash_loaded is "1". A crash dump
 * (kdump) copies all of memory, the kernel's dm-crypt key included, to disk
 * or the network.
 *
 * Hibernation available: "disk" in /sys/power/state (the kernel lists it
 * only when hibernation can be done: not with nohibernate, nor under lockdown
 * without an encrypted image). A hibernation image holds all of memory,
 * the live key of the volume in use included.
 *
 * Swap is not a condition: the key lives in mlock()ed memory in scratchd,
 * then only in kernel memory, and neither is ever swapped. What a job copies
 * of its data into its own memory (and so perhaps swap) was never under the
 * volume's protection, and no record claims it. */
int erasure_crash_kernel_armed(const char *root);
int erasure_hibernation_available(const char *root);

/* The record as a JSON object, without the signature. -EINVAL: a required
 * field missing (volume, mode, trigger, result, node) or a string not
 * valid UTF-8; -ENOMEM. */
int erasure_build(const ErasureRecord *r, json_object **ret);

/* Adds (or replaces) the "signature" member of `record`: {"algorithm":
 * "ed25519", "public_key": base64 of the raw 32-byte key, "value": base64 of
 * the 64-byte signature}, the signature being over the canonical
 * serialization (canonjson.h) of `record` without its "signature" member. */
int erasure_sign(json_object *record, EVP_PKEY *key);

/* Checks a signed record's text. `pinned`: the node's public key, as the
 * auditor has it; NULL: the key embedded in the record, which proves only
 * that the record was not changed since someone with that key signed it, and
 * *ret_pinned says so (false). Returns 0 when the signature is good;
 * -EBADMSG when it is not, or the text is no signed record, or the embedded
 * key is not `pinned`, with *ret_error (if not NULL) saying which (malloc'd,
 * one line);
 * -ENOMEM. */
int erasure_verify(const char *text, EVP_PKEY *pinned, bool *ret_pinned, char **ret_error);

/* The node key, Ed25519, in STATE_DIR/node-key.pem (PKCS#8 PEM, 0600, the
 * directory 0700), made at the first call: 1 when made now, 0 loaded. It never leaves the node; its
 * public half is what auditors are given. Refuses a key file that is not a
 * regular file owned by us, readable by others or not Ed25519 (-EPERM,
 * -EBADMSG) rather than sign with a key someone else may hold. */
int erasure_key_load_or_create(const char *state_dir, EVP_PKEY **ret);

/* Whether the node key `key` was first used on this machine: `machine_id`
 * (this one's) against the one kept beside the key with its public half
 * (ERASURE_KEY_ORIGIN_FILE), which is (re)written when there is none, or it
 * is of another key (a new one). 0: the same, or now kept; 1: another
 * machine's, into ret_other (a golden image that carried the key: every node
 * booted from it signs with one key); negative errno. A machine id that is
 * not 32 hex digits ("uninitialized", none) checks nothing. */
int erasure_key_origin(const char *state_dir, const char *machine_id, EVP_PKEY *key, char *ret_other, size_t size);
bool erasure_machine_id_valid(const char *id);
/* 1 when ROOT/etc/machine-id is mounted over /etc's (made for this boot:
 * a stateless node), 0 not, negative errno. */
int erasure_machine_id_transient(const char *root);
/* The public key as PEM (SubjectPublicKeyInfo) and as base64 of the raw key. */
int erasure_key_public_pem(EVP_PKEY *key, char **ret);
int erasure_key_public_base64(EVP_PKEY *key, char **ret);
/* An auditor's public key from text: PEM, or base64 of the raw 32 bytes. */
int erasure_key_parse_public(const char *text, EVP_PKEY **ret);

/* Builds, signs and writes the record: DIR/<end time>-<volume>-<key
 * generation>.json, e.g. 20261203T120102Z-scratch-7.json (".1.json" and on if
 * taken), so names sort by time and none is ever replaced; 0600, the
 * directory made 0700, the file written to a temporary name, fsync'd and
 * linked into place. The name (not the path) in *ret_name if not NULL. */
int erasure_write(const char *dir, const ErasureRecord *r, EVP_PKEY *key, char **ret_name);

/* Where erases' records go: the engine's (engine.h), set by whoever runs it.
 * dir NULL: no records (tests of other parts). key NULL: written unsigned, for
 * the daemon to sign at its start (the initramfs, which has no key: the real
 * root is not writable there); see erasure_sign_pending(). */
typedef struct ErasureSink {
        const char *dir;
        EVP_PKEY *key;
        /* Retention (erasure_prune()); 0: no limit. Atomic: a reload sets them
         * on the loop's thread while a worker's erase reads them. */
        _Atomic unsigned keep_days, keep_count;
        const char *node_root;            /* for erasure_node_read(); NULL: "/" */
        int unavailable;                  /* the node key could not be had (negative errno): no record is
                                           * written, and each erase says so */
} ErasureSink;

/* How writing one erase's record went. */
typedef struct ErasureOutcome {
        char name[128];   /* the record's file name in the sink's dir; "" when none was written */
        int error;        /* 0, or why it could not be written (negative errno) */
        uint64_t key_generation;   /* of the key destroyed */
        bool key_generation_unknown;
} ErasureOutcome;

/* The engine's call at the end of each erase: fills in what the record says
 * of the node (erasure_node_read()) and of each disk in `disks` (space-
 * separated, as a volume's state record names them; disk_media()), writes it
 * signed (unsigned without a key), then applies the retention. A record that
 * cannot be written is logged, with what to do, and in *ret: the erase
 * stands. A sink without a dir writes nothing (ret->name ""). */
void erasure_sink_write(const ErasureSink *s, ErasureRecord *r, const char *disks, bool media_unverified,
                        ErasureOutcome *ret);

/* The records the initramfs wrote unsigned in `pending_dir`, signed with
 * `key` and moved to `dir` under the same names, each marked "signed_later"
 * (its host filled in from `now` where the initramfs had none, its machine id
 * set to now's). Only from a directory root's alone (-EPERM), only regular files of
 * ours, at most 64 KiB, strict JSON of this format, unsigned, made in this
 * boot (now->boot_id): anything else stays where it is, and is the error
 * (-EBADMSG). How many were moved, or a negative errno. */
int erasure_sign_pending(const char *pending_dir, const char *dir, EVP_PKEY *key, const ErasureNode *now);

/* Strict JSON, one object, as erasure_verify() reads it (no member named
 * twice, no \u0000, no lone surrogate, no integer past 64 bits); -EBADMSG,
 * with why (static) in *ret_why. */
int erasure_parse_strict(const char *text, json_object **ret, const char **ret_why);

/* The current time, CLOCK_REALTIME, for records' start and end. */
uint64_t erasure_now_usec(void);

/* Retention: removes records (files named as erasure_write() names them)
 * that ended more than max_days days before `now` (0: no limit by age), then
 * all but the newest max_count (0: no limit by count). The number removed,
 * or a negative errno. */
int erasure_prune(const char *dir, unsigned max_days, unsigned max_count, time_t now);
