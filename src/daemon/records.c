/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The erase records' read side: io.scratchd.GetRecords and GetNodeKey, for
 * admins and auditors (scratchctl records, scratchctl pubkey). The records
 * go out as they are on disk, signature included, so that whoever gets them
 * can check them offline; the writing is erasures.c's.
 *
 * Read on the loop, as they are written there (erasure.h): small files on
 * the root file system, never more than RECORDS_SCAN_MAX of them for one
 * reply. */
#include <fcntl.h>
#include <sys/stat.h>

#include "scratchd/api.h"
#include "scratchd/canonjson.h"   /* utf8_is_valid() */
#include "scratchd/erasure.h"
#include "scratchd/log.h"
#include "scratchd/manager.h"
#include "scratchd/rfc3339.h"
#include "scratchd/util.h"
#include "scratchd/varlink.h"

/* One reply is one varlink message, and clients refuse one over
 * VARLINK_MESSAGE_MAX (scratchctl does): the records, their names and the
 * rest must fit, with room for the members around them. */
#define REPLY_BUDGET (VARLINK_MESSAGE_MAX - 1024)
/* A record is a few KiB; a bigger file is none of ours, and could not go
 * out in one reply anyway. */
#define RECORD_FILE_MAX ((size_t) 48 * 1024)
/* A record nests 4 deep (weakening_conditions.present[]); in a reply 3 more
 * (the message, parameters, records[]), well within VARLINK_DEPTH_MAX. */
#define RECORD_DEPTH_MAX 8
/* Files read for one reply: the loop that answers hooks is not held for
 * long by a search through thousands of records (a job's, whose id is not
 * in the names); past it, the reply says where to go on. */
#define RECORDS_SCAN_MAX 1000

#define NAME_TIME_FORMAT "%Y%m%dT%H%M%SZ"
#define NAME_TIME_LEN 16   /* 20261203T120102Z */

static inline void json_putp(json_object **p) {
        json_object_put(*p);
}

/* When the record's erase ended, to the second, from its name as
 * erasure_write() makes it: <time>-<volume>-<generation>[.N].json. */
static bool name_time(const char *name, uint64_t *ret_usec) {
        size_t n = strlen(name);
        if (n < NAME_TIME_LEN + 2 + 5 || name[NAME_TIME_LEN] != '-' || !streq(name + n - 5, ".json"))
                return false;
        struct tm tm = {};
        const char *end = strptime(name, NAME_TIME_FORMAT, &tm);
        if (end != name + NAME_TIME_LEN)
                return false;
        time_t t = timegm(&tm);
        if (t < 0)
                return false;
        *ret_usec = (uint64_t) t * USEC_PER_SEC;
        return true;
}

/* What a client can take: no float (a record has none, and its canonical
 * form refuses them), every string valid UTF-8 without NUL, not too deep. */
static bool wire_clean(json_object *o, int depth) {
        switch (json_object_get_type(o)) {
        case json_type_double:
                return false;
        case json_type_string: {
                const char *s = json_object_get_string(o);
                size_t n = (size_t) json_object_get_string_len(o);
                return strlen(s) == n && utf8_is_valid(s, n);
        }
        case json_type_object:
                if (depth >= RECORD_DEPTH_MAX)
                        return false;
                json_object_object_foreach(o, key, val) {
                        if (!utf8_is_valid(key, strlen(key)) || !wire_clean(val, depth + 1))
                                return false;
                }
                return true;
        case json_type_array:
                if (depth >= RECORD_DEPTH_MAX)
                        return false;
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        if (!wire_clean(json_object_array_get_idx(o, i), depth + 1))
                                return false;
                return true;
        default:
                return true;
        }
}

/* The whole file, NUL-terminated, its length in *ret_len: a regular file of
 * at most RECORD_FILE_MAX bytes. O_NONBLOCK: a FIFO under a record's name
 * must not hold the loop. */
static int read_record_file(int dfd, const char *name, char **ret, size_t *ret_len, const char **ret_why) {
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                *ret_why = errno == ELOOP ? "a symbolic link" : "cannot be opened";
                return -errno;
        }
        struct stat st;
        int r = 0;
        char *buf = NULL;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                *ret_why = "cannot be read";
        } else if (!S_ISREG(st.st_mode)) {
                r = -EBADMSG;
                *ret_why = "not a regular file";
        } else if ((size_t) st.st_size > RECORD_FILE_MAX) {
                r = -EFBIG;
                *ret_why = "larger than 48 KiB";
        } else if (!(buf = malloc(RECORD_FILE_MAX + 1)))
                r = -ENOMEM;
        size_t n = 0;
        while (r == 0) {
                ssize_t k = read(fd, buf + n, RECORD_FILE_MAX + 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = -errno;
                        *ret_why = "cannot be read";
                } else if (k == 0)
                        break;
                else if ((n += (size_t) k) > RECORD_FILE_MAX) {
                        r = -EFBIG;   /* grew since fstat() */
                        *ret_why = "larger than 48 KiB";
                }
        }
        close(fd);
        if (r < 0) {
                free(buf);
                return r;
        }
        buf[n] = 0;
        *ret = buf;
        *ret_len = n;
        return 0;
}

/* A record from its file: strict JSON (as erasure_verify() reads it), an
 * object with the "end" it was filtered by, fit to send. */
static int read_record(int dfd, const char *name, json_object **ret, uint64_t *ret_end, const char **ret_why) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_record_file(dfd, name, &text, &len, ret_why);
        if (r < 0)
                return r;
        /* A NUL would end the text json-c reads before the file does. */
        if (memchr(text, 0, len)) {
                *ret_why = "not JSON (a NUL byte)";
                return -EBADMSG;
        }

        json_tokener *tok = json_tokener_new_ex(RECORD_DEPTH_MAX + 1);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        _cleanup_(json_putp) json_object *o = json_tokener_parse_ex(tok, text, (int) len);
        size_t end = json_tokener_get_parse_end(tok);
        bool whole = json_tokener_get_error(tok) == json_tokener_success && text[end + strspn(text + end, " \t\r\n")] == 0;
        json_tokener_free(tok);
        if (!o || !whole) {
                *ret_why = "not JSON";
                return -EBADMSG;
        }
        if (!json_object_is_type(o, json_type_object) || !wire_clean(o, 0)) {
                *ret_why = "not a record (a float, a NUL, bad UTF-8 or nested too deep)";
                return -EBADMSG;
        }
        json_object *v;
        if (!json_object_object_get_ex(o, "end", &v) || !json_object_is_type(v, json_type_string) ||
            rfc3339_parse(json_object_get_string(v), ret_end) < 0) {
                *ret_why = "not a record (no valid \"end\")";
                return -EBADMSG;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static bool record_of_job(json_object *o, const char *job) {
        json_object *v;
        return json_object_object_get_ex(o, "job", &v) && json_object_is_type(v, json_type_string) &&
               streq(json_object_get_string(v), job);
}

/* Every entry but "." ones: ".", "..", and erasure_write()'s temporary
 * files (".<stem>.tmp"), records not yet made. */
static int not_hidden(const struct dirent *d) {
        return d->d_name[0] != '.';
}

/* Byte order, as the cursor (before) is compared: not alphasort()'s
 * strcoll(), which a locale would change. */
static int by_name(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

typedef struct Listing {
        json_object *records, *names;   /* newest first, as found */
        size_t used;                    /* bytes of the reply they take */
        bool truncated;
        char continue_before[256];      /* when truncated: the oldest name dealt with */
        unsigned unreadable;
        char first_unreadable[256];
        const char *first_why;
} Listing;

static void note_unreadable(Listing *l, const char *name, const char *why) {
        if (l->unreadable++ == 0) {
                snprintf(l->first_unreadable, sizeof(l->first_unreadable), "%s", name);
                l->first_why = why;
        }
}

/* Takes `o`. 1: added; 0: it does not fit, the reply is full; -ENOMEM. */
static int listing_add(Listing *l, const char *name, json_object *o) {
        size_t len;
        /* As the transport will write it (varlink.c). */
        if (!json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len)) {
                json_object_put(o);
                return -ENOMEM;
        }
        /* The record and a comma; its name in quotes and a comma. */
        size_t cost = len + 1 + strlen(name) + 3;
        if (l->used + cost > REPLY_BUDGET) {
                json_object_put(o);
                return 0;
        }
        json_object *s = json_object_new_string(name);
        if (!s || json_object_array_add(l->records, o) < 0) {
                json_object_put(s);
                json_object_put(o);
                return -ENOMEM;
        }
        if (json_object_array_add(l->names, s) < 0) {
                json_object_put(s);
                return -ENOMEM;
        }
        l->used += cost;
        return 1;
}

/* The records of `dir` (see GetRecords in api.c's description), newest
 * first into `l`. 0, or a negative errno when the directory cannot be read
 * (one not there yet is empty: nothing was erased since it was set). */
static int list_records(const char *dir, const char *job, uint64_t since, const char *before, Listing *l) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : -errno;
        struct dirent **list = NULL;
        /* By name, which is by end time: erasure_write() names them so. */
        int n = scandirat(dfd, ".", &list, not_hidden, by_name);
        if (n < 0) {
                int r = -errno;
                close(dfd);
                return r;
        }

        /* A file whose name is not a record's cannot be placed in time:
         * counted once, by the first reply of a listing (no cursor yet). */
        uint64_t t;
        for (int i = 0; i < n && !before; i++)
                if (!name_time(list[i]->d_name, &t))
                        note_unreadable(l, list[i]->d_name, "not named as a record");

        unsigned n_read = 0;
        const char *last = NULL;   /* the oldest name dealt with */
        int r = 0;
        for (int i = n - 1; i >= 0 && r >= 0; i--) {
                const char *name = list[i]->d_name;
                if (!name_time(name, &t) || (before && strcmp(name, before) >= 0))
                        continue;
                /* The name has the end to the second: this one and all
                 * older ended before `since`. */
                if (since && t + USEC_PER_SEC <= since)
                        break;
                if (n_read == RECORDS_SCAN_MAX && last) {
                        l->truncated = true;
                        break;
                }
                n_read++;

                json_object *o = NULL;
                uint64_t end;
                const char *why = NULL;
                r = read_record(dfd, name, &o, &end, &why);
                if (r == -ENOMEM)
                        break;
                if (r < 0) {
                        note_unreadable(l, name, why);
                        r = 0;
                } else if ((since && end < since) || (job && !record_of_job(o, job)))
                        json_object_put(o);
                else {
                        r = listing_add(l, name, o);
                        if (r == 0 && l->used > 0) {
                                l->truncated = true;
                                break;
                        }
                        /* Alone too big for a reply: never to be sent, and
                         * not to stop every listing here. */
                        if (r == 0)
                                note_unreadable(l, name, "too large to send");
                }
                last = name;
        }
        if (l->truncated && last)
                snprintf(l->continue_before, sizeof(l->continue_before), "%s", last);
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        close(dfd);
        return r < 0 ? r : 0;
}

void backend_get_records(void *userdata, const char *job, uint64_t since, const char *before, ApiResult *r) {
        Manager *m = userdata;
        if (!m->records_dir) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "reason", json_object_new_string(
                        "this scratchd keeps no erase records (no records directory; see the journal)"));
                api_result_error(r, API_ERROR_RECORDS_UNAVAILABLE, p);
                return;
        }

        Listing l = { .records = json_object_new_array(), .names = json_object_new_array() };
        int e = l.records && l.names ? list_records(m->records_dir, job, since, before, &l) : -ENOMEM;
        if (l.unreadable > 0)
                log_warning("%u file%s in %s cannot be read as erase records; the first, %s: %s", l.unreadable,
                            l.unreadable == 1 ? "" : "s", m->records_dir, l.first_unreadable, l.first_why);
        if (e < 0) {
                json_object_put(l.records);
                json_object_put(l.names);
                log_error_errno(e, "cannot list the erase records in %s: %m", m->records_dir);
                char reason[512];
                snprintf(reason, sizeof(reason), "cannot list the erase records in %s: %s", m->records_dir,
                         strerror(-e));
                json_object *p = json_object_new_object();
                json_object_object_add(p, "reason", json_object_new_string(reason));
                api_result_error(r, API_ERROR_INTERNAL, p);
                return;
        }

        /* Oldest first, as `ls` lists them. */
        json_object *records = json_object_new_array(), *names = json_object_new_array();
        size_t n = json_object_array_length(l.records);
        for (size_t i = n; i > 0; i--) {
                json_object_array_add(records, json_object_get(json_object_array_get_idx(l.records, i - 1)));
                json_object_array_add(names, json_object_get(json_object_array_get_idx(l.names, i - 1)));
        }
        json_object_put(l.records);
        json_object_put(l.names);

        _cleanup_free_ char *key = NULL;
        if (m->node_key && erasure_key_public_base64(m->node_key, &key) < 0)
                key = NULL;
        json_object *p = json_object_new_object();
        json_object_object_add(p, "records", records);
        json_object_object_add(p, "names", names);
        json_object_object_add(p, "public_key", key ? json_object_new_string(key) : NULL);
        json_object_object_add(p, "truncated", json_object_new_boolean(l.truncated));
        if (l.truncated)
                json_object_object_add(p, "continue_before", json_object_new_string(l.continue_before));
        json_object_object_add(p, "unreadable", json_object_new_int64(l.unreadable));
        r->parameters = p;
}

void backend_get_node_key(void *userdata, ApiResult *r) {
        Manager *m = userdata;
        _cleanup_free_ char *pem = NULL, *raw = NULL;
        if (!m->node_key) {
                char reason[512];
                snprintf(reason, sizeof(reason), "scratchd has no node key, so erases are not recorded%s%s",
                         m->record_error[0] ? "; the last error: " : " (the journal says why)", m->record_error);
                json_object *p = json_object_new_object();
                json_object_object_add(p, "reason", json_object_new_string(reason));
                api_result_error(r, API_ERROR_NO_NODE_KEY, p);
                return;
        }
        int e = erasure_key_public_pem(m->node_key, &pem);
        if (e >= 0)
                e = erasure_key_public_base64(m->node_key, &raw);
        if (e < 0) {
                json_object *p = json_object_new_object();
                json_object_object_add(p, "reason", json_object_new_string("cannot write the node's public key"));
                api_result_error(r, API_ERROR_INTERNAL, p);
                return;
        }
        json_object *p = json_object_new_object();
        json_object_object_add(p, "public_key_pem", json_object_new_string(pem));
        json_object_object_add(p, "public_key", json_object_new_string(raw));
        r->parameters = p;
}
