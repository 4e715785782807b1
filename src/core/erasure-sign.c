/* SPDX-License-Identifier: GPL-2.0-or-later */
/* erasure-sign.c: the node key, and Ed25519 signatures over erase records'
 * canonical form (canonjson.h), through OpenSSL's libcrypto. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "scratchd/canonjson.h"
#include "scratchd/erasure.h"
#include "scratchd/util.h"

#define ED25519_KEY_SIZE 32
#define ED25519_SIG_SIZE 64
#define KEY_FILE_MAX 16384

static inline void evp_md_ctx_freep(EVP_MD_CTX **p) {
        EVP_MD_CTX_free(*p);
}
static inline void biop(BIO **p) {
        BIO_free(*p);
}
static inline void json_putp(json_object **p) {
        json_object_put(*p);
}

static char *base64_encode(const unsigned char *data, size_t n) {
        char *s = malloc((n + 2) / 3 * 4 + 1);
        if (s)
                EVP_EncodeBlock((unsigned char *) s, data, (int) n);
        return s;
}

/* Exactly `size` bytes from strict base64 (padded, no whitespace). */
static int base64_decode_exact(const char *s, unsigned char *out, size_t size) {
        unsigned char buf[96];
        size_t n = strlen(s);
        if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(buf) || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != n)
                return -EBADMSG;
        int k = EVP_DecodeBlock(buf, (const unsigned char *) s, (int) n);
        /* EVP_DecodeBlock counts the padding's bytes as data. */
        size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
        if (k < 0 || (size_t) k - pad != size)
                return -EBADMSG;
        /* One text for each value: base64's unused low bits must be zero, or
         * a changed character would decode to the same bytes. */
        _cleanup_free_ char *again = base64_encode(buf, size);
        if (!again)
                return -ENOMEM;
        if (!streq(again, s))
                return -EBADMSG;
        memcpy(out, buf, size);
        return 0;
}

int erasure_key_public_base64(EVP_PKEY *key, char **ret) {
        unsigned char raw[ED25519_KEY_SIZE];
        size_t n = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(key, raw, &n) != 1 || n != sizeof(raw))
                return -EINVAL;
        char *s = base64_encode(raw, n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int erasure_key_public_pem(EVP_PKEY *key, char **ret) {
        _cleanup_(biop) BIO *b = BIO_new(BIO_s_mem());
        if (!b)
                return -ENOMEM;
        if (PEM_write_bio_PUBKEY(b, key) != 1)
                return -EINVAL;
        char *data;
        long n = BIO_get_mem_data(b, &data);
        char *s = n >= 0 ? strndup(data, (size_t) n) : NULL;
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int key_from_raw_public(const unsigned char *raw, EVP_PKEY **ret) {
        EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, ED25519_KEY_SIZE);
        if (!k)
                return -EBADMSG;
        *ret = k;
        return 0;
}

int erasure_key_parse_public(const char *text, EVP_PKEY **ret) {
        text += strspn(text, " \t\n");
        if (startswith(text, "-----BEGIN")) {
                _cleanup_(biop) BIO *b = BIO_new_mem_buf(text, -1);
                if (!b)
                        return -ENOMEM;
                EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
                if (!k)
                        return -EBADMSG;
                if (!EVP_PKEY_is_a(k, "ED25519")) {
                        EVP_PKEY_free(k);
                        return -EBADMSG;
                }
                *ret = k;
                return 0;
        }
        char b64[96];
        size_t n = strcspn(text, " \t\n");
        if (n >= sizeof(b64) || text[n + strspn(text + n, " \t\n")])
                return -EBADMSG;   /* one word, then only whitespace */
        memcpy(b64, text, n);
        b64[n] = 0;
        unsigned char raw[ED25519_KEY_SIZE];
        int r = base64_decode_exact(b64, raw, sizeof(raw));
        return r < 0 ? r : key_from_raw_public(raw, ret);
}

/* The bytes signed: the canonical form of every member but "signature". */
static int signed_bytes(json_object *record, char **ret, size_t *ret_len) {
        _cleanup_(json_putp) json_object *copy = json_object_new_object();
        if (!copy)
                return -ENOMEM;
        json_object_object_foreach(record, name, member)
                if (!streq(name, "signature") && json_object_object_add(copy, name, json_object_get(member)) < 0) {
                        json_object_put(member);
                        return -ENOMEM;
                }
        return canonjson_serialize(copy, ret, ret_len);
}

int erasure_sign(json_object *record, EVP_PKEY *key) {
        _cleanup_free_ char *data = NULL, *pub = NULL, *value = NULL;
        size_t len;
        int r = signed_bytes(record, &data, &len);
        if (r < 0)
                return r;
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        unsigned char sig[ED25519_SIG_SIZE];
        size_t sig_len = sizeof(sig);
        /* Ed25519 hashes the message itself: no digest (NULL md), one shot. */
        if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *) data, len) != 1 || sig_len != sizeof(sig))
                return -EINVAL;
        r = erasure_key_public_base64(key, &pub);
        if (r < 0)
                return r;
        value = base64_encode(sig, sig_len);
        if (!value)
                return -ENOMEM;

        json_object *s = json_object_new_object();
        if (!s)
                return -ENOMEM;
        if (json_object_object_add(s, "algorithm", json_object_new_string("ed25519")) < 0 ||
            json_object_object_add(s, "public_key", json_object_new_string(pub)) < 0 ||
            json_object_object_add(s, "value", json_object_new_string(value)) < 0 ||
            json_object_object_add(record, "signature", s) < 0) {
                json_object_put(s);
                return -ENOMEM;
        }
        return 0;
}

/* NULL also for a string that holds a NUL (\u0000): read as a C string, its
 * text past the NUL would count for nothing. */
static const char *member_string(json_object *o, const char *name) {
        json_object *v;
        if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        const char *s = json_object_get_string(v);
        return strlen(s) == (size_t) json_object_get_string_len(v) ? s : NULL;
}

static int hex4(const char *p) {
        int v = 0;
        for (int i = 0; i < 4; i++) {
                int c = (unsigned char) p[i], d = c >= '0' && c <= '9' ? c - '0'
                                                 : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                        : -1;
                if (d < 0)
                        return -1;
                v = v * 16 + d;
        }
        return v;
}

/* What json-c would read differently from other verifiers, refused on the
 * raw text before it parses it: a \u0000 (json-c cuts a member's name
 * there), a lone surrogate (made U+FFFD), an integer past 64 bits (clamped).
 * Also counts the member names, for the check against members named twice
 * (json-c keeps the last silently; a reader that takes the first would show
 * what was not signed). */
static const char *text_strict(const char *text, size_t *ret_members) {
        size_t members = 0;
        for (const char *p = text; *p;) {
                if (*p == '"') {
                        for (p++; *p && *p != '"'; p++) {
                                if (*p != '\\')
                                        continue;
                                p++;
                                if (*p != 'u') {
                                        if (!*p)
                                                return "not JSON";
                                        continue;
                                }
                                int u = hex4(p + 1);
                                if (u == 0)
                                        return "a string holds \\u0000, which readers take differently";
                                if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                                        return "a string holds a bad \\u escape";
                                p += 4;
                                if (u >= 0xD800 && u <= 0xDBFF) {
                                        int low = p[1] == '\\' && p[2] == 'u' ? hex4(p + 3) : -1;
                                        if (low < 0xDC00 || low > 0xDFFF)
                                                return "a string holds a lone surrogate (\\uD800-\\uDBFF)";
                                        p += 6;
                                }
                        }
                        if (!*p)
                                return "not JSON";
                        p++;
                        if (p[strspn(p, " \t\r\n")] == ':')
                                members++;
                        continue;
                }
                if (*p == '-' || (*p >= '0' && *p <= '9')) {
                        const char *start = p;
                        p += *p == '-';
                        size_t digits = strspn(p, "0123456789");
                        p += digits;
                        /* Fractions and exponents: the canonical form refuses them. */
                        if (*p == '.' || *p == 'e' || *p == 'E')
                                continue;
                        errno = 0;
                        if (*start == '-')
                                (void) strtoll(start, NULL, 10);
                        else
                                (void) strtoull(start, NULL, 10);
                        if (digits > 20 || errno == ERANGE)
                                return "an integer past 64 bits, which readers take differently";
                        continue;
                }
                p++;
        }
        *ret_members = members;
        return NULL;
}

/* Members in the tree, every object's. */
static size_t count_members(json_object *o) {
        size_t n = 0;
        if (json_object_is_type(o, json_type_object)) {
                json_object_object_foreach(o, key, value) {
                        (void) key;
                        n += 1 + count_members(value);
                }
        } else if (json_object_is_type(o, json_type_array))
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        n += count_members(json_object_array_get_idx(o, i));
        return n;
}

/* The whole text is one JSON object, nothing after it but whitespace. */
int erasure_parse_strict(const char *text, json_object **ret, const char **ret_why) {
        size_t members = 0;
        *ret_why = text_strict(text, &members);
        if (*ret_why)
                return -EBADMSG;
        json_tokener *tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        /* Strict: JSON as RFC 8259 has it (no comments, no single quotes),
         * as any other verifier reads it; a member named twice is refused
         * (above). */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        size_t n = strlen(text);
        json_object *o = json_tokener_parse_ex(tok, text, (int) n);
        bool whole = json_tokener_get_error(tok) == json_tokener_success &&
                     text[json_tokener_get_parse_end(tok) + strspn(text + json_tokener_get_parse_end(tok), " \t\r\n")] == 0;
        json_tokener_free(tok);
        if (!o || !whole || !json_object_is_type(o, json_type_object) || count_members(o) != members) {
                *ret_why = o && whole && json_object_is_type(o, json_type_object) ? "a member is named twice"
                                                                                  : "not a JSON object";
                json_object_put(o);
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

static int verify(const char *text, EVP_PKEY *pinned, bool *ret_pinned, char **ret_error) {
        _cleanup_(json_putp) json_object *o = NULL;
        _cleanup_(evp_pkey_freep) EVP_PKEY *embedded = NULL;
        _cleanup_free_ char *data = NULL;
        json_object *sig;
        size_t len;

        const char *why = NULL;
        if (erasure_parse_strict(text, &o, &why) < 0)
                return errorf(ret_error, -EBADMSG, "%s: not an erase record as signed", why);
        if (!json_object_object_get_ex(o, "signature", &sig) || !json_object_is_type(sig, json_type_object))
                return errorf(ret_error, -EBADMSG, "no \"signature\" object: the record is not signed");
        const char *alg = member_string(sig, "algorithm"), *pub = member_string(sig, "public_key"),
                   *value = member_string(sig, "value");
        if (!streq_ptr(alg, "ed25519")) {
                /* Named as JSON: the record's text may hold a newline, and the error is one line. */
                json_object *a = json_object_object_get(sig, "algorithm");
                const char *shown =
                        a ? json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
                return errorf(ret_error, -EBADMSG, "signature algorithm %s, expected \"ed25519\"", shown ?: "missing");
        }
        unsigned char raw[ED25519_KEY_SIZE], s[ED25519_SIG_SIZE];
        if (!pub || base64_decode_exact(pub, raw, sizeof(raw)) < 0 || key_from_raw_public(raw, &embedded) < 0)
                return errorf(ret_error, -EBADMSG, "signature.public_key is not base64 of a 32-byte Ed25519 key");
        if (!value || base64_decode_exact(value, s, sizeof(s)) < 0)
                return errorf(ret_error, -EBADMSG, "signature.value is not base64 of a 64-byte signature");
        if (pinned && EVP_PKEY_eq(pinned, embedded) != 1)
                return errorf(ret_error, -EBADMSG,
                              "signed with another key (%s) than the one given: not this node's record, or not "
                              "this node's public key", pub);

        int r = signed_bytes(o, &data, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errorf(ret_error, -EBADMSG, "not in canonical form (a float, or text that is not UTF-8)");
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pinned ?: embedded) != 1 ||
            EVP_DigestVerify(ctx, s, sizeof(s), (const unsigned char *) data, len) != 1)
                return errorf(ret_error, -EBADMSG, "bad signature: the record was changed after it was signed");
        if (ret_pinned)
                *ret_pinned = pinned != NULL;
        return 0;
}

int erasure_verify(const char *text, EVP_PKEY *pinned, bool *ret_pinned, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        int r = verify(text, pinned, ret_pinned, &error);
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}

/* -ENOENT: none yet. */
static int key_load(int dfd, EVP_PKEY **ret) {
        _cleanup_close_ int fd = openat(dfd, ERASURE_KEY_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP ? -EPERM : -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) || st.st_size > KEY_FILE_MAX)
                return -EPERM;
        /* Secure heap where there is one; erased on free either way. */
        size_t size = (size_t) st.st_size + 1;
        char *buf = OPENSSL_secure_zalloc(size);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read(fd, buf, size - 1);
        int r = n < 0 ? -errno : 0;
        EVP_PKEY *k = NULL;
        if (r >= 0) {
                BIO *b = BIO_new_mem_buf(buf, (int) n);
                k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
                r = !b ? -ENOMEM : !k || !EVP_PKEY_is_a(k, "ED25519") ? -EBADMSG : 0;
                BIO_free(b);
        }
        OPENSSL_secure_clear_free(buf, size);
        if (r < 0) {
                EVP_PKEY_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

static int key_write(int dfd, const char *tmp, EVP_PKEY *key) {
        _cleanup_(biop) BIO *b = BIO_new(BIO_s_secmem());   /* the PEM text is erased when freed */
        if (!b)
                return -ENOMEM;
        if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1)
                return -EINVAL;
        char *data;
        long n = BIO_get_mem_data(b, &data);
        if (n <= 0)
                return -EINVAL;
        (void) unlinkat(dfd, tmp, 0);   /* a stale one, from a crash mid-way */
        _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        int r = fchmod(fd, 0600) < 0 ? -errno : write_all(fd, data, (size_t) n);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        return r;
}

int erasure_key_load_or_create(const char *state_dir, EVP_PKEY **ret) {
        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        _cleanup_close_ int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        struct stat st;
        if (fstat(dfd, &st) < 0)
                return -errno;
        /* Whoever can write the directory can swap the key. */
        if (st.st_uid != geteuid() || (st.st_mode & 022))
                return -EPERM;
        /* Ours, and no one else's to list (a package may have made it 0755). */
        if ((st.st_mode & 077) && fchmod(dfd, 0700) < 0)
                return -errno;

        /* A private key a crash left half-made: no one's to use. */
        DIR *d = fdopendir(dup(dfd));
        for (struct dirent *de; d && (de = readdir(d));)
                if (startswith(de->d_name, "." ERASURE_KEY_FILE ".") && endswith(de->d_name, ".tmp"))
                        (void) unlinkat(dfd, de->d_name, 0);
        if (d)
                closedir(d);

        int r = key_load(dfd, ret);
        if (r != -ENOENT)
                return r;

        _cleanup_(evp_pkey_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!key)
                return -ENOMEM;
        char tmp[64];
        snprintf(tmp, sizeof(tmp), "." ERASURE_KEY_FILE ".%d.tmp", (int) getpid());
        r = key_write(dfd, tmp, key);
        /* link(), not rename(): never replaces a key another start made meanwhile. */
        if (r >= 0 && linkat(dfd, tmp, dfd, ERASURE_KEY_FILE, 0) < 0)
                r = -errno;
        (void) unlinkat(dfd, tmp, 0);
        if (r == -EEXIST)
                return key_load(dfd, ret);
        if (r < 0)
                return r;
        if (fsync(dfd) < 0)
                return -errno;
        *ret = TAKE_PTR(key);
        return 1;
}

bool erasure_machine_id_valid(const char *id) {
        size_t n = 0;
        for (; id[n]; n++)
                if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
                        return false;
        return n == 32;
}

/* ERASURE_KEY_ORIGIN_FILE: "MACHINE-ID PUBLIC-KEY-BASE64\n". */
static int origin_read(int dfd, char id[static 33], char *pub, size_t pub_size) {
        _cleanup_close_ int fd = openat(dfd, ERASURE_KEY_ORIGIN_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size > 256)
                return -EBADMSG;
        char buf[257];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        char *save = NULL, *a = strtok_r(buf, " \n", &save), *b = strtok_r(NULL, " \n", &save);
        if (!a || !b || !erasure_machine_id_valid(a) || strlen(b) >= pub_size)
                return -EBADMSG;
        snprintf(id, 33, "%s", a);
        snprintf(pub, pub_size, "%s", b);
        return 0;
}

static int origin_write(int dfd, const char *machine_id, const char *pub) {
        char tmp[64];
        snprintf(tmp, sizeof(tmp), "." ERASURE_KEY_ORIGIN_FILE ".%d.tmp", (int) getpid());
        (void) unlinkat(dfd, tmp, 0);
        _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        int r = 0;
        if (dprintf(fd, "%s %s\n", machine_id, pub) < 0 || fsync(fd) < 0 || renameat(dfd, tmp, dfd, ERASURE_KEY_ORIGIN_FILE) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, tmp, 0);
        else if (fsync(dfd) < 0)
                r = -errno;
        return r;
}

int erasure_key_origin(const char *state_dir, const char *machine_id, EVP_PKEY *key, char *ret_other, size_t size) {
        if (!erasure_machine_id_valid(machine_id))
                return 0;
        _cleanup_free_ char *pub = NULL;
        int r = erasure_key_public_base64(key, &pub);
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        char id[33], kept_pub[128];
        r = origin_read(dfd, id, kept_pub, sizeof(kept_pub));
        /* Kept for this key: the same machine, or another. None, unreadable,
         * or of another key (replaced, or made by `scratchd wipe` by hand):
         * this machine's from now. */
        if (r >= 0 && streq(kept_pub, pub)) {
                if (streq(id, machine_id))
                        return 0;
                snprintf(ret_other, size, "%s", id);
                return 1;
        }
        /* A link there (ELOOP) is not followed: replaced by our file. */
        if (r < 0 && r != -ENOENT && r != -EBADMSG && r != -ELOOP)
                return r;
        return origin_write(dfd, machine_id, pub);
}
