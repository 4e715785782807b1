/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scratchctl records and pubkey: the erase records scratchd keeps, and the
 * key to check them with (scratchctl verify, offline, does the checking). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scratchd/lifecycle.h"
#include "scratchd/rfc3339.h"
#include "scratchd/util.h"
#include "records.h"

/* main.c's exit statuses. */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,
        EXIT_USAGE = 2,
        EXIT_UNREACHABLE = 4,
};

/* Past this many, no more pages are asked for: a listing is for people and
 * scripts, and --since or --job narrow it. */
#define RECORDS_SHOWN_MAX 100000

static inline void json_putp(json_object **p) {
        json_object_put(*p);
}

/* "90s", "30m", "24h", "7d": that long before `now`. */
static int parse_age(const char *s, uint64_t now, uint64_t *ret_usec) {
        static const struct {
                char unit;
                uint64_t usec;
        } units[] = {
                { 's', USEC_PER_SEC },
                { 'm', 60 * USEC_PER_SEC },
                { 'h', 3600 * USEC_PER_SEC },
                { 'd', 86400 * USEC_PER_SEC },
        };
        size_t n = strspn(s, "0123456789");
        if (n == 0 || n > 9 || !s[n] || s[n + 1])
                return -EINVAL;
        uint64_t count = strtoull(s, NULL, 10);
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (s[n] == units[i].unit) {
                        if (count > now / units[i].usec)
                                return -EINVAL;   /* before 1970 */
                        *ret_usec = now - count * units[i].usec;
                        return 0;
                }
        return -EINVAL;
}

int records_parse_since(const char *s, uint64_t now, uint64_t *ret_usec) {
        char buf[64];
        size_t n = strlen(s);

        if (n == 0 || n >= sizeof(buf) - 10)
                return -EINVAL;
        if (parse_age(s, now, ret_usec) == 0)
                return 0;
        if (rfc3339_parse(s, ret_usec) == 0)
                return 0;
        /* Without a zone: UTC, the records' own. "2026-12-03 12:00" as a
         * shell user may write it. */
        snprintf(buf, sizeof(buf), "%s", s);
        if (n > 10 && buf[10] == ' ')
                buf[10] = 'T';
        if (n == 10)
                strcat(buf, "T00:00:00Z");
        else if (n == 16)
                strcat(buf, ":00Z");   /* YYYY-MM-DDTHH:MM */
        else
                strcat(buf, "Z");
        return rfc3339_parse(buf, ret_usec) < 0 ? -EINVAL : 0;
}

static const char *member_string(json_object *o, const char *key) {
        json_object *v;
        if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
                return json_object_get_string(v);
        return NULL;
}

static json_object *member_array(json_object *o, const char *key) {
        json_object *v;
        if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array))
                return v;
        return NULL;
}

/* The pages, each as scratchd sent it; records and names taken from them
 * when printed. */
typedef struct Pages {
        json_object **pages;
        size_t n_pages;
        size_t n_records;
        unsigned unreadable;
        bool capped;   /* RECORDS_SHOWN_MAX reached, older ones not asked for */
} Pages;

static void pages_done(Pages *p) {
        for (size_t i = 0; i < p->n_pages; i++)
                json_object_put(p->pages[i]);
        free(p->pages);
        *p = (Pages) {};
}

/* Asks page after page, each older than the one before, until scratchd says
 * there is no more (or RECORDS_SHOWN_MAX). */
static int fetch(const char *job, const char *since, Pages *ret) {
        _cleanup_free_ char *before = NULL;
        for (;;) {
                json_object *params = json_object_new_object(), *reply = NULL, *v;
                if (!params)
                        return EXIT_FAILED;
                if (job)
                        json_object_object_add(params, "job", json_object_new_string(job));
                if (since)
                        json_object_object_add(params, "since", json_object_new_string(since));
                if (before)
                        json_object_object_add(params, "before", json_object_new_string(before));
                int r = scratchctl_call("io.scratchd.GetRecords", params, 30, &reply);
                if (r != 0)
                        return r;

                json_object *records = member_array(reply, "records"), *names = member_array(reply, "names");
                if (!records || !names || json_object_array_length(records) != json_object_array_length(names)) {
                        json_object_put(reply);
                        fprintf(stderr, "scratchctl: scratchd's reply has no records list\n");
                        return EXIT_UNREACHABLE;
                }
                json_object **pages = realloc(ret->pages, (ret->n_pages + 1) * sizeof(json_object *));
                if (!pages) {
                        json_object_put(reply);
                        return EXIT_FAILED;
                }
                ret->pages = pages;
                ret->pages[ret->n_pages++] = reply;
                ret->n_records += json_object_array_length(records);
                if (json_object_object_get_ex(reply, "unreadable", &v) && json_object_is_type(v, json_type_int))
                        ret->unreadable += (unsigned) json_object_get_int64(v);

                bool truncated = json_object_object_get_ex(reply, "truncated", &v) &&
                                 json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
                if (!truncated)
                        return 0;
                if (ret->n_records >= RECORDS_SHOWN_MAX) {
                        ret->capped = true;
                        return 0;
                }
                /* Each page strictly older than the last: a reply that
                 * did not move on would be asked for again for ever. */
                const char *next = member_string(reply, "continue_before");
                if (!next || (before && strcmp(next, before) >= 0)) {
                        fprintf(stderr, "scratchctl: scratchd's reply was cut short without saying where to go on\n");
                        return EXIT_UNREACHABLE;
                }
                free(before);
                before = strdup(next);
                if (!before)
                        return EXIT_FAILED;
        }
}

/* "2026-12-03T12:01:02Z": the record's end, to the second. */
static void format_end(json_object *record, char *buf, size_t size) {
        uint64_t usec;
        const char *end = member_string(record, "end");
        if (end && rfc3339_parse(end, &usec) == 0)
                rfc3339_format(buf, size, usec - usec % USEC_PER_SEC);
        else
                snprintf(buf, size, "%s", end ?: "?");
}

#define NCOL 9
#define CELL 96

static void record_row(json_object *record, const char *name, char row[NCOL][CELL]) {
        json_object *scope = NULL, *gen;
        (void) json_object_object_get_ex(record, "scope", &scope);
        format_end(record, row[0], CELL);
        snprintf(row[1], CELL, "%s", member_string(record, "volume") ?: "?");
        snprintf(row[2], CELL, "%s", member_string(record, "job") ?: "-");
        snprintf(row[3], CELL, "%s", member_string(record, "user") ?: "-");
        snprintf(row[4], CELL, "%s", member_string(record, "trigger") ?: "?");
        snprintf(row[5], CELL, "%s", member_string(scope, "kind") ?: "?");
        if (json_object_object_get_ex(record, "key_generation", &gen) && json_object_is_type(gen, json_type_int))
                snprintf(row[6], CELL, "%" PRIu64, json_object_get_uint64(gen));
        else
                snprintf(row[6], CELL, "?");
        snprintf(row[7], CELL, "%s", member_string(record, "result") ?: "?");
        snprintf(row[8], CELL, "%s", name ?: "?");
}

/* Oldest first: the pages came newest first, each oldest first. */
static int print_table(const Pages *p) {
        static const char *const head[NCOL] = { "END (UTC)", "VOLUME", "JOB", "USER", "TRIGGER",
                                                "SCOPE", "GEN",       "RESULT", "FILE" };
        char (*cells)[NCOL][CELL] = calloc(p->n_records + 1, sizeof(*cells));
        size_t width[NCOL] = {}, row = 1;

        if (!cells) {
                fprintf(stderr, "scratchctl: out of memory\n");
                return EXIT_FAILED;
        }
        for (size_t k = 0; k < NCOL; k++)
                snprintf(cells[0][k], CELL, "%s", head[k]);
        for (size_t i = p->n_pages; i > 0; i--) {
                json_object *records = member_array(p->pages[i - 1], "records");
                json_object *names = member_array(p->pages[i - 1], "names");
                for (size_t j = 0; j < json_object_array_length(records); j++) {
                        json_object *name = json_object_array_get_idx(names, j);
                        record_row(json_object_array_get_idx(records, j),
                                   json_object_is_type(name, json_type_string) ? json_object_get_string(name) : NULL,
                                   cells[row++]);
                }
        }
        for (size_t i = 0; i < row; i++)
                for (size_t k = 0; k < NCOL; k++)
                        if (strlen(cells[i][k]) > width[k])
                                width[k] = strlen(cells[i][k]);
        for (size_t i = 0; i < row; i++) {
                for (size_t k = 0; k + 1 < NCOL; k++)
                        printf("%-*s  ", (int) width[k], cells[i][k]);
                printf("%s\n", cells[i][NCOL - 1]);
        }
        free(cells);
        return EXIT_OK;
}

static int print_json(const Pages *p) {
        _cleanup_(json_putp) json_object *all = json_object_new_array();
        if (!all) {
                fprintf(stderr, "scratchctl: out of memory\n");
                return EXIT_FAILED;
        }
        for (size_t i = p->n_pages; i > 0; i--) {
                json_object *records = member_array(p->pages[i - 1], "records");
                for (size_t j = 0; j < json_object_array_length(records); j++)
                        json_object_array_add(all, json_object_get(json_object_array_get_idx(records, j)));
        }
        printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
        return EXIT_OK;
}

int cmd_records(const char *job, const char *since, bool json) {
        char since_text[RFC3339_MAX];
        uint64_t usec;

        if (job && !job_id_valid(job)) {
                fprintf(stderr, "scratchctl: --job '%s' is not a job id (1-64 letters, digits, '.', '_' or '-')\n",
                        job);
                return EXIT_USAGE;
        }
        if (since) {
                if (records_parse_since(since, (uint64_t) time(NULL) * USEC_PER_SEC, &usec) < 0) {
                        fprintf(stderr, "scratchctl: --since '%s' is not a time; give a date (2026-12-03), a date and "
                                "time in UTC (2026-12-03T12:00:00Z, or with an offset: +01:00) or an age (30m, "
                                "24h, 7d)\n", since);
                        return EXIT_USAGE;
                }
                rfc3339_format(since_text, sizeof(since_text), usec);
        }

        Pages p = {};
        int r = fetch(job, since ? since_text : NULL, &p);
        if (r == 0) {
                if (json)
                        r = print_json(&p);
                else if (p.n_records == 0)
                        printf("no erase records%s\n", job || since ? " match" : " yet");
                else
                        r = print_table(&p);
                /* Not into the JSON on stdout. */
                if (r == 0 && p.capped)
                        fprintf(json ? stderr : stdout, "(truncated: %zu newest shown; narrow with --since or --job)\n",
                                p.n_records);
                if (r == 0 && p.unreadable > 0) {
                        fprintf(stderr, "scratchctl: %u file%s in scratchd's records directory could not be read as "
                                "erase records; scratchd's journal names the first\n", p.unreadable,
                                p.unreadable == 1 ? "" : "s");
                        r = EXIT_FAILED;
                }
        }
        pages_done(&p);
        return r;
}

int cmd_pubkey(bool raw) {
        json_object *reply = NULL;
        int r = scratchctl_call("io.scratchd.GetNodeKey", NULL, 30, &reply);
        if (r != 0)
                return r;
        const char *key = member_string(reply, raw ? "public_key" : "public_key_pem");
        if (!key) {
                fprintf(stderr, "scratchctl: scratchd's reply has no public key\n");
                r = EXIT_UNREACHABLE;
        } else
                /* As a file for verify --pubkey: one line more, never one less. */
                printf("%s%s", key, key[0] && key[strlen(key) - 1] == '\n' ? "" : "\n");
        json_object_put(reply);
        return r;
}
