/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <dirent.h>
#include <ini.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>

#include "scratchd/config.h"
#include "scratchd/reserve.h"
#include "scratchd/util.h"

static const char *const file_system_table[_FILE_SYSTEM_MAX] = {
        [FILE_SYSTEM_XFS] = "xfs",
        [FILE_SYSTEM_EXT4] = "ext4",
};

DEFINE_STRING_TABLE_LOOKUP(file_system, FileSystem, _FILE_SYSTEM_MAX);

static const char *const scratch_mode_table[_SCRATCH_MODE_MAX] = {
        [SCRATCH_MODE_EXCLUSIVE] = "exclusive",
        [SCRATCH_MODE_SHARED] = "shared",
};

DEFINE_STRING_TABLE_LOOKUP(scratch_mode, ScratchMode, _SCRATCH_MODE_MAX);

static const char *const busy_policy_table[_BUSY_POLICY_MAX] = {
        [BUSY_POLICY_KILL] = "kill",
        [BUSY_POLICY_REFUSE] = "refuse",
};

DEFINE_STRING_TABLE_LOOKUP(busy_policy, BusyPolicy, _BUSY_POLICY_MAX);

static const char *const job_check_table[_JOB_CHECK_MAX] = {
        [JOB_CHECK_NONE] = "none",
        [JOB_CHECK_SLURM] = "slurm",
};

DEFINE_STRING_TABLE_LOOKUP(job_check, JobCheck, _JOB_CHECK_MAX);

static const char *const tristate_table[_TRISTATE_MAX] = {
        [TRISTATE_AUTO] = "auto",
        [TRISTATE_YES] = "yes",
        [TRISTATE_NO] = "no",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(tristate, Tristate, _TRISTATE_MAX);

/* Not the plain lookup: "Discard=true" or "=0" are as good as yes and no. */
Tristate tristate_from_string(const char *s) {
        Tristate t = (Tristate) string_table_lookup(tristate_table, _TRISTATE_MAX, s);
        if (t >= 0 || !s)
                return t;
        int b = parse_boolean(s);
        if (b < 0)
                return _TRISTATE_INVALID;
        return b ? TRISTATE_YES : TRISTATE_NO;
}

/* The longest line we accept; longer lists go on several Devices= lines. */
#define LINE_MAX_LEN 1024

/* Where a key was last set, for the checks across keys made once every file
 * is read (validate()); file NULL: not set, or set to empty (its default). */
typedef struct KeyOrigin {
        char *file;
        unsigned line;
} KeyOrigin;

typedef struct Parser {
        const char *file;       /* for messages */
        FILE *stream;
        unsigned line;          /* line the handler is looking at */
        unsigned scratch_line;  /* this file's [Scratch] header; 0: none yet */
        char *long_value;       /* see reader() */
        char *error;            /* first error, one line */
        Config *config;
        KeyOrigin *origins;     /* one for each of config_keys[], across files */
} Parser;

/* Appends to the string in buf; what does not fit is cut off (the lists in
 * messages are far shorter). */
static void appendf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t size, const char *fmt, ...) {
        size_t n = strlen(buf);
        if (n + 1 >= size)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + n, size - n, fmt, ap);
        va_end(ap);
}

static int fail(Parser *p, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Parser *p, const char *key, const char *fmt, ...) {
        if (p->error)
                return 0;

        char what[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);

        if (asprintf(&p->error, "%s:%u: %s%s%s", p->file, p->line, key ?: "", key ? ": " : "", what) < 0)
                p->error = NULL;
        return 0;
}

typedef enum Section {
        SECTION_SCRATCH,
        SECTION_ACCESS,
        SECTION_DAEMON,
        _SECTION_MAX,
        _SECTION_INVALID = -EINVAL,
} Section;

static const char *const section_table[_SECTION_MAX] = {
        [SECTION_SCRATCH] = "Scratch",
        [SECTION_ACCESS] = "Access",
        [SECTION_DAEMON] = "Daemon",
};

static Section section_from_string(const char *s) {
        return (Section) string_table_lookup(section_table, _SECTION_MAX, s);
}

/* "[Scratch], [Access] and [Daemon]", with `last` for "and". */
static const char *section_list(char *buf, size_t size, const char *last) {
        buf[0] = 0;
        for (Section i = 0; i < _SECTION_MAX; i++)
                appendf(buf, size, "%s[%s]", i == 0 ? "" : i + 1 < _SECTION_MAX ? ", " : last, section_table[i]);
        return buf;
}

/* Checks one stripped, non-empty, non-comment line the way we want it read;
 * inih is lenient (a lone word is an error only at the end, a section header
 * is never seen by the handler), and the first problem must be reported first. */
static void check_line(Parser *p, const char *s) {
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1]) {
                        fail(p, NULL, "syntax error: a section header must be [Name] alone on its line");
                        return;
                }
                char name[LINE_MAX_LEN + 1];
                snprintf(name, sizeof(name), "%.*s", (int) (close - s - 1), s + 1);
                Section section = section_from_string(name);
                if (section < 0) {
                        char list[64];
                        fail(p, NULL, "unknown section %s; known sections are %s", s,
                             section_list(list, sizeof(list), " and "));
                } else if (section == SECTION_SCRATCH && p->scratch_line > 0)
                        /* A drop-in's [Scratch] is the same section again: this
                         * Parser, and so scratch_line, is one file's. */
                        fail(p, NULL, "a second [Scratch] section (the first is at line %u); scratchd takes one "
                             "scratch volume: merge them", p->scratch_line);
                else if (section == SECTION_SCRATCH)
                        p->scratch_line = p->line;
                return;
        }
        const char *eq = strchr(s, '=');
        if (!eq)
                fail(p, NULL, "syntax error; expected [Section] or Key=value");
        else if (eq == s)
                fail(p, NULL, "syntax error: a key name is missing before '='");
}

/* inih hands us no line numbers, knows only ';' for inline comments, and
 * reads lines of at most 200 characters, so we feed it lines ourselves:
 * counting them, dropping " # comments", folding away leading blanks
 * (systemd-style files have no continuation lines), and handing it a value
 * too long for its buffer aside in p->long_value with a placeholder in its
 * place, which the handler swaps back. inih calls the handler for each line
 * before it reads the next, so the two always match. */
#define LONG_VALUE_PLACEHOLDER "\x01"

static char *reader(char *buf, int size, void *userdata) {
        Parser *p = userdata;
        char line[LINE_MAX_LEN + 2];

        if (!fgets(line, sizeof(line), p->stream))
                return NULL;
        p->line++;

        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
                fail(p, NULL, "line longer than %d characters; split long Devices= lists over several lines",
                     LINE_MAX_LEN);
                int c;
                while ((c = fgetc(p->stream)) != EOF && c != '\n')
                        ;
                line[0] = 0;
        }

        char *s = line;
        while (*s == ' ' || *s == '\t')
                s++;
        if (*s == '#' || *s == ';')
                *s = 0;
        /* An inline comment needs a blank before it, so "a#b" stays a value. */
        for (char *c = s; *c; c++)
                if ((*c == '#' || *c == ';') && c > s && (c[-1] == ' ' || c[-1] == '\t')) {
                        *c = 0;
                        break;
                }
        len = strlen(s);
        while (len > 0 && isspace((unsigned char) s[len - 1]))
                s[--len] = 0;
        if (len > 0)
                check_line(p, s);

        free(p->long_value);
        p->long_value = NULL;
        if ((int) len + 2 > size) {
                char *eq = strchr(s, '=');
                size_t keylen = eq ? (size_t) (eq - s) : len;
                if (!eq || keylen + sizeof(LONG_VALUE_PLACEHOLDER) + 2 > (size_t) size) {
                        fail(p, NULL, "key name too long");
                        len = 0;
                } else {
                        p->long_value = strdup(eq + 1);
                        if (!p->long_value)
                                return NULL;
                        strcpy(eq + 1, LONG_VALUE_PLACEHOLDER);
                        len = strlen(s);
                }
        }
        memcpy(buf, s, len);
        buf[len] = '\n';
        buf[len + 1] = 0;
        return buf;
}

static ScratchConfig *current_volume(Parser *p) {
        Config *c = p->config;
        if (c->n_scratch == 0) {
                c->scratch = calloc(1, sizeof(ScratchConfig));
                if (!c->scratch)
                        return NULL;
                c->n_scratch = 1;
                c->scratch[0] = (ScratchConfig) {
                        .file_system = FILE_SYSTEM_XFS,
                        .discard = TRISTATE_AUTO,
                        .cipher = CIPHER_DEFAULT,
                        .bypass_workqueues = TRISTATE_AUTO,
                        .allow_discards = TRISTATE_AUTO,
                        .mode = SCRATCH_MODE_EXCLUSIVE,
                        .max_jobs = MAX_JOBS_DEFAULT,
                        .busy_policy = BUSY_POLICY_KILL,
                };
        }
        return &c->scratch[0];
}

static bool valid_name(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_')
                        return false;
        return true;
}

static bool valid_mount_point(const char *s) {
        if (s[0] != '/' || streq(s, "/"))
                return false;
        /* No "..", no "//", no trailing slash: the path must name one place. */
        if (strstr(s, "//") || strstr(s, "/../") || strstr(s, "/./") || s[strlen(s) - 1] == '/')
                return false;
        size_t n = strlen(s);
        if ((n >= 3 && streq(s + n - 3, "/..")) || (n >= 2 && streq(s + n - 2, "/.")))
                return false;
        for (const char *c = s; *c; c++)
                if (isspace((unsigned char) *c) || iscntrl((unsigned char) *c))
                        return false;
        return true;
}

static int set_string(char **field, const char *value) {
        char *v = strdup(value);
        if (!v)
                return -ENOMEM;
        free(*field);
        *field = v;
        return 0;
}

/* A key's parser: sets *field from value and returns 1, or returns fail()'s 0
 * for a bad value, or -ENOMEM. `key` is for messages. */
typedef int (*KeyParser)(Parser *p, const char *key, const char *value, void *field);

static int parse_devices(Parser *p, const char *key, const char *value, void *field) {
        char ***devices = field;

        if (!*value) {   /* "Devices=" resets the list, as in systemd units */
                strv_free(*devices);
                *devices = NULL;
                return 1;
        }

        _cleanup_free_ char *copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                if (!streq(w, "auto") && w[0] != '/')
                        return fail(p, key, "'%s' is neither an absolute path, a glob nor \"auto\"; "
                                    "name disks like /dev/disk/by-id/nvme-...", w);
                if (strv_extend(devices, w) < 0)
                        return -ENOMEM;
        }
        return 1;
}

static int parse_name(Parser *p, const char *key, const char *value, void *field) {
        if (!valid_name(value))
                return fail(p, key, "'%s' is not a valid volume name; use 1-64 letters, digits, '-' or '_'", value);
        return set_string(field, value) < 0 ? -ENOMEM : 1;
}

static int parse_mount_point(Parser *p, const char *key, const char *value, void *field) {
        if (!valid_mount_point(value))
                return fail(p, key, "'%s' is not a normalized absolute path other than /; use something like /scratch",
                            value);
        return set_string(field, value) < 0 ? -ENOMEM : 1;
}

static int parse_file_system(Parser *p, const char *key, const char *value, void *field) {
        FileSystem f = file_system_from_string(value);
        if (f < 0)
                return fail(p, key, "'%s' is not supported; use xfs or ext4", value);
        *(FileSystem *) field = f;
        return 1;
}

static int parse_bool(Parser *p, const char *key, const char *value, void *field) {
        int b = parse_boolean(value);
        if (b < 0)
                return fail(p, key, "'%s' is not a boolean; use yes or no", value);
        *(bool *) field = b;
        return 1;
}

static int parse_tristate(Parser *p, const char *key, const char *value, void *field) {
        Tristate d = tristate_from_string(value);
        if (d < 0)
                return fail(p, key, "'%s' is not valid; use auto, yes or no", value);
        *(Tristate *) field = d;
        return 1;
}

static int parse_cipher(Parser *p, const char *key, const char *value, void *field) {
        CipherChoice c = cipher_choice_from_string(value);
        if (c < 0) {
                char choices[256] = "";
                for (CipherChoice i = 0; i < _CIPHER_MAX; i++)
                        /* Quoted: the Adiantum names have commas of their own. */
                        appendf(choices, sizeof(choices), "%s'%s'", i == 0 ? "" : i + 1 < _CIPHER_MAX ? ", " : " or ",
                                cipher_choice_to_string(i));
                return fail(p, key, "'%s' is not supported; use %s", value, choices);
        }
        *(CipherChoice *) field = c;
        return 1;
}

static int parse_sector_size(Parser *p, const char *key, const char *value, void *field) {
        unsigned *sector_size = field;

        if (streq(value, "auto"))
                *sector_size = 0;
        else if (streq(value, "512"))
                *sector_size = 512;
        else if (streq(value, "4096"))
                *sector_size = 4096;
        else
                return fail(p, key, "'%s' is not valid; use auto, 512 or 4096", value);
        return 1;
}

static bool valid_group(const char *s) {
        if (!*s || strlen(s) > 32 || s[0] == '-')
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("-_.", *c))
                        return false;
        return true;
}

static int parse_group(Parser *p, const char *key, const char *value, void *field) {
        char **group = field;

        if (!*value) {
                free(*group);
                *group = NULL;
                return 1;
        }
        if (!valid_group(value))
                return fail(p, key, "'%s' is not a valid group name", value);
        return set_string(group, value) < 0 ? -ENOMEM : 1;
}

static int parse_uint(const char *v, unsigned min, unsigned max, int base, unsigned *ret) {
        char *end;
        errno = 0;
        if (!*v || *v == '-' || *v == '+' || isspace((unsigned char) *v))
                return -EINVAL;
        unsigned long x = strtoul(v, &end, base);
        if (errno || *end || x < min || x > max)
                return -EINVAL;
        *ret = (unsigned) x;
        return 0;
}

static int parse_mode(Parser *p, const char *key, const char *value, void *field) {
        if (parse_uint(value, 0, 0777, 8, field) < 0)
                return fail(p, key, "'%s' is not an octal file mode; use e.g. 0666 or 0660", value);
        return 1;
}

static int parse_timeout_sec(Parser *p, const char *key, const char *value, void *field) {
        if (parse_uint(value, 1, 3600, 10, field) < 0)
                return fail(p, key, "'%s' is not a number of seconds from 1 to 3600", value);
        return 1;
}

static int parse_stale_after(Parser *p, const char *key, const char *value, void *field) {
        if (parse_uint(value, 30, 86400, 10, field) < 0)
                return fail(p, key, "'%s' is not a number of seconds from 30 to 86400", value);
        return 1;
}

static int parse_keep(Parser *p, const char *key, const char *value, void *field) {
        if (parse_uint(value, 0, 100000000, 10, field) < 0)
                return fail(p, key, "'%s' is not a whole number from 0 (no limit) to 100000000", value);
        return 1;
}

static int parse_job_check(Parser *p, const char *key, const char *value, void *field) {
        JobCheck j = job_check_from_string(value);
        if (j < 0)
                return fail(p, key, "'%s' is not valid; use none, or slurm (a job whose cgroup is gone is stale)",
                            value);
        *(JobCheck *) field = j;
        return 1;
}

static int parse_connections(Parser *p, const char *key, const char *value, void *field) {
        if (parse_uint(value, 1, 65536, 10, field) < 0)
                return fail(p, key, "'%s' is not a number from 1 to 65536", value);
        return 1;
}

static int parse_scratch_mode(Parser *p, const char *key, const char *value, void *field) {
        ScratchMode m = scratch_mode_from_string(value);
        if (m < 0)
                return fail(p, key, "'%s' is not valid; use exclusive (one job at a time) or shared (a volume for "
                            "each job)", value);
        *(ScratchMode *) field = m;
        return 1;
}

static int parse_busy_policy(Parser *p, const char *key, const char *value, void *field) {
        BusyPolicy b = busy_policy_from_string(value);
        if (b < 0)
                return fail(p, key, "'%s' is not valid; use kill (the job's user's processes that still hold "
                            "its volume are killed) or refuse (the release fences the volume instead)", value);
        *(BusyPolicy *) field = b;
        return 1;
}

static int parse_job_size(Parser *p, const char *key, const char *value, void *field) {
        JobSize *js = field, parsed;
        char why[256];

        if (!*value) {   /* not set: the pool divided by MaxJobs= */
                *js = (JobSize) {};
                return 1;
        }
        if (job_size_parse(value, true, &parsed, why, sizeof(why)) < 0)
                return fail(p, key, "%s", why);
        if (parsed.bytes > 0 && parsed.bytes < JOB_SIZE_MIN)
                return fail(p, key, "'%s' is below the smallest job volume; use %" PRIu64 "M or more, or a share "
                            "of the pool such as 25%%", value, JOB_SIZE_MIN >> 20);
        *js = parsed;
        return 1;
}

static int parse_max_jobs(Parser *p, const char *key, const char *value, void *field) {
        if (!*value) {
                *(unsigned *) field = MAX_JOBS_DEFAULT;
                return 1;
        }
        if (parse_uint(value, 1, MAX_JOBS_MAX, 10, field) < 0)
                return fail(p, key, "'%s' is not a number from 1 to %u", value, MAX_JOBS_MAX);
        return 1;
}

static int set_path_or_empty(Parser *p, const char *key, char **field, const char *value, const char *example) {
        if (!*value) {
                free(*field);
                *field = NULL;
                return 1;
        }
        if (!valid_mount_point(value))
                return fail(p, key, "'%s' is not a normalized absolute path; use something like %s", value, example);
        return set_string(field, value) < 0 ? -ENOMEM : 1;
}

/* Two parsers for one kind of value: the hint must name a file for the one
 * and a directory for the other. */
static int parse_log_file(Parser *p, const char *key, const char *value, void *field) {
        return set_path_or_empty(p, key, field, value, DEFAULT_AUDIT_LOG);
}

static int parse_directory(Parser *p, const char *key, const char *value, void *field) {
        return set_path_or_empty(p, key, field, value, "/var/lib/prometheus/node-exporter");
}

/* Every key: where it goes and how its value is read. A [Scratch] key's
 * offset is into the ScratchConfig, the others' into the Config. The order
 * is that of the "known keys are" lists in messages. */
/* How a key's value is compared at a reload (config_compare()). */
typedef enum ValueKind {
        VALUE_PLAIN,      /* compared as bytes (numbers, enums, bools) */
        VALUE_STRING,     /* char *, NULL or not */
        VALUE_STRV,       /* char **, a list */
        VALUE_JOB_SIZE,   /* JobSize, field by field */
} ValueKind;

static const struct ConfigKey {
        Section section;
        const char *key;
        KeyParser parse;
        size_t offset;
        size_t size;
        ValueKind kind;
        bool restart;     /* a reload cannot change it: the daemon holds volumes, mounts or sockets by it */
} config_keys[] = {
#define SCRATCH_KEY(k, parser, member, kind, restart) \
        { SECTION_SCRATCH, k, parser, offsetof(ScratchConfig, member), sizeof(((ScratchConfig *) 0)->member), kind, restart }
#define CONFIG_KEY(section, k, parser, member, kind, restart) \
        { section, k, parser, offsetof(Config, member), sizeof(((Config *) 0)->member), kind, restart }
        SCRATCH_KEY("Name", parse_name, name, VALUE_STRING, true),
        SCRATCH_KEY("Devices", parse_devices, devices, VALUE_STRV, true),
        SCRATCH_KEY("MountPoint", parse_mount_point, mount_point, VALUE_STRING, true),
        SCRATCH_KEY("FileSystem", parse_file_system, file_system, VALUE_PLAIN, false),
        SCRATCH_KEY("Expendable", parse_bool, expendable, VALUE_PLAIN, false),
        SCRATCH_KEY("Discard", parse_tristate, discard, VALUE_PLAIN, false),
        SCRATCH_KEY("SectorSize", parse_sector_size, sector_size, VALUE_PLAIN, false),
        SCRATCH_KEY("Cipher", parse_cipher, cipher, VALUE_PLAIN, false),
        SCRATCH_KEY("BypassWorkqueues", parse_tristate, bypass_workqueues, VALUE_PLAIN, false),
        SCRATCH_KEY("AllowDiscards", parse_tristate, allow_discards, VALUE_PLAIN, false),
        SCRATCH_KEY("Mode", parse_scratch_mode, mode, VALUE_PLAIN, true),
        SCRATCH_KEY("JobSize", parse_job_size, job_size, VALUE_JOB_SIZE, false),
        SCRATCH_KEY("MaxJobs", parse_max_jobs, max_jobs, VALUE_PLAIN, false),
        SCRATCH_KEY("BusyPolicy", parse_busy_policy, busy_policy, VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_ACCESS, "ReadGroup", parse_group, read_group, VALUE_STRING, false),
        CONFIG_KEY(SECTION_ACCESS, "OperatorGroup", parse_group, operator_group, VALUE_STRING, false),
        CONFIG_KEY(SECTION_DAEMON, "SocketMode", parse_mode, daemon.socket_mode, VALUE_PLAIN, true),
        CONFIG_KEY(SECTION_DAEMON, "IdleTimeoutSec", parse_timeout_sec, daemon.idle_timeout_sec, VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_DAEMON, "WorkTimeoutSec", parse_timeout_sec, daemon.work_timeout_sec, VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_DAEMON, "MaxConnections", parse_connections, daemon.max_connections, VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_DAEMON, "MaxConnectionsPerUser", parse_connections, daemon.max_connections_per_user,
                   VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_DAEMON, "AuditLog", parse_log_file, daemon.audit_log, VALUE_STRING, false),
        CONFIG_KEY(SECTION_DAEMON, "MetricsDirectory", parse_directory, daemon.metrics_directory, VALUE_STRING, false),
        CONFIG_KEY(SECTION_DAEMON, "JobCheck", parse_job_check, daemon.job_check, VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_DAEMON, "StaleAfterSec", parse_stale_after, daemon.stale_after_sec, VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_DAEMON, "ReleaseStale", parse_bool, daemon.release_stale, VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_DAEMON, "RecordsKeepDays", parse_keep, daemon.records_keep_days, VALUE_PLAIN, false),
        CONFIG_KEY(SECTION_DAEMON, "RecordsKeepCount", parse_keep, daemon.records_keep_count, VALUE_PLAIN, false),
#undef SCRATCH_KEY
#undef CONFIG_KEY
};

#define N_CONFIG_KEYS ELEMENTSOF(config_keys)

static void origins_done(KeyOrigin (*origins)[N_CONFIG_KEYS]) {
        for (size_t i = 0; i < N_CONFIG_KEYS; i++)
                free((*origins)[i].file);
}

static const KeyOrigin *origin_of(const KeyOrigin *origins, Section section, const char *key) {
        for (size_t i = 0; i < N_CONFIG_KEYS; i++)
                if (config_keys[i].section == section && streq(config_keys[i].key, key))
                        return &origins[i];
        return NULL;
}

static int unknown_key(Parser *p, Section section, const char *key) {
        char keys[512] = "";
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (config_keys[i].section == section)
                        appendf(keys, sizeof(keys), "%s%s", keys[0] ? ", " : "", config_keys[i].key);
        return fail(p, key, "unknown key in [%s]; known keys are %s", section_table[section], keys);
}

static int parse_key(Parser *p, Section section, const char *key, const char *value) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const struct ConfigKey *k = &config_keys[i];
                if (k->section != section || !streq(k->key, key))
                        continue;

                void *base = section == SECTION_SCRATCH ? (void *) current_volume(p) : (void *) p->config;
                if (!base)
                        return -ENOMEM;
                int r = k->parse(p, key, value, (uint8_t *) base + k->offset);
                if (r <= 0)
                        return r;

                /* An empty value is the default again: as if never set. */
                KeyOrigin *o = &p->origins[i];
                free(o->file);
                *o = (KeyOrigin) {};
                if (*value) {
                        o->file = strdup(p->file);
                        if (!o->file)
                                return -ENOMEM;
                        o->line = p->line;
                }
                return 1;
        }
        return unknown_key(p, section, key);
}

static int handler(void *userdata, const char *section, const char *name, const char *raw_value) {
        Parser *p = userdata;
        const char *value = raw_value;
        char list[64];
        int r;

        if (p->error)
                return 1;   /* report only the first problem */
        if (p->long_value && streq(raw_value, LONG_VALUE_PLACEHOLDER)) {
                /* inih strips blanks around values; so do we. */
                value = p->long_value;
                while (isspace((unsigned char) *value))
                        value++;
        }

        Section s = section_from_string(section);
        if (s >= 0)
                r = parse_key(p, s, name, value);
        else if (!*section)
                r = fail(p, name, "key outside any section; put it under %s",
                         section_list(list, sizeof(list), " or "));
        else
                r = 1;   /* reported by check_line() on the header's own line */
        if (r == -ENOMEM)
                return 0;
        return 1;
}

static int parse_stream(Parser *p) {
        int r = ini_parse_stream(reader, p, handler, p);
        free(p->long_value);
        p->long_value = NULL;
        if (p->error)
                return -EINVAL;
        if (r > 0) {   /* something inih disliked that check_line() let through */
                p->line = (unsigned) r;
                fail(p, NULL, "syntax error; expected [Section] or Key=value");
                return -EINVAL;
        }
        return r < 0 ? -ENOMEM : 0;
}

static int validate(Config *c, const char *file, const KeyOrigin *origins, char **ret_error) {
        if (c->n_scratch == 0)
                return errorf(ret_error, -EINVAL, "%s: no [Scratch] section; add one with Devices= and MountPoint=", file);

        ScratchConfig *v = &c->scratch[0];
        if (strv_length(v->devices) == 0)
                return errorf(ret_error, -EINVAL, "%s: [Scratch] Devices= is not set; name the scratch disk(s)", file);
        if (strv_contains(v->devices, "auto") && strv_length(v->devices) > 1)
                return errorf(ret_error, -EINVAL, "%s: [Scratch] Devices=auto cannot be combined with named disks", file);
        if (!v->mount_point && set_string(&v->mount_point, "/scratch") < 0)
                return -ENOMEM;
        if (!v->name && set_string(&v->name, "scratch") < 0)
                return -ENOMEM;

        /* Here, not as the keys are read: a drop-in may set Mode= after the
         * main file set JobSize=. The error names the line to remove. */
        static const char *const shared_only[] = { "JobSize", "MaxJobs" };
        for (size_t i = 0; v->mode != SCRATCH_MODE_SHARED && i < ELEMENTSOF(shared_only); i++) {
                const KeyOrigin *o = origin_of(origins, SECTION_SCRATCH, shared_only[i]);
                if (o && o->file)
                        return errorf(ret_error, -EINVAL, "%s:%u: %s= applies to Mode=shared only; remove it or set "
                                      "Mode=shared", o->file, o->line, shared_only[i]);
        }
        /* Releasing stale volumes needs a way to tell a job is gone. */
        const KeyOrigin *o = origin_of(origins, SECTION_DAEMON, "ReleaseStale");
        if (c->daemon.release_stale && c->daemon.job_check == JOB_CHECK_NONE && o && o->file)
                return errorf(ret_error, -EINVAL, "%s:%u: ReleaseStale=yes needs JobCheck=slurm (how scratchd tells a "
                              "job is gone); set it, or remove ReleaseStale=", o->file, o->line);
        return 0;
}

static Config *config_new(void) {
        Config *c = calloc(1, sizeof(Config));
        if (!c)
                return NULL;
        c->daemon = (DaemonConfig) {
                .socket_mode = 0666,
                .idle_timeout_sec = 30,
                .work_timeout_sec = 300,
                .max_connections = 256,
                .max_connections_per_user = 32,
                .stale_after_sec = 600,
                .records_keep_days = 400,
                .records_keep_count = 100000,
                .audit_log = strdup(DEFAULT_AUDIT_LOG),
        };
        if (!c->daemon.audit_log) {
                free(c);
                return NULL;
        }
        return c;
}

static int parse_file(Config *c, const char *path, KeyOrigin *origins, char **ret_error) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return errorf(ret_error, -errno, "%s: cannot open: %s; create it or pass --config FILE", path,
                                strerror(errno));

        Parser p = { .file = path, .stream = f, .config = c, .origins = origins };
        int r = parse_stream(&p);
        if (r < 0)
                *ret_error = p.error;
        return r;
}

static int filter_conf(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return d->d_name[0] != '.' && n > 5 && streq(d->d_name + n - 5, ".conf");
}

int config_load(const char *path, Config **ret, char **ret_error) {
        _cleanup_config_free_ Config *c = config_new();
        _cleanup_(origins_done) KeyOrigin origins[N_CONFIG_KEYS] = {};
        int r;

        if (!c)
                return -ENOMEM;
        r = parse_file(c, path, origins, ret_error);
        if (r < 0)
                return r;

        _cleanup_free_ char *copy = strdup(path), *dropins = NULL;
        if (!copy || asprintf(&dropins, "%s/conf.d", dirname(copy)) < 0)
                return -ENOMEM;

        struct dirent **list = NULL;
        int n = scandir(dropins, &list, filter_conf, alphasort);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *file = NULL;
                if (r >= 0) {
                        if (asprintf(&file, "%s/%s", dropins, list[i]->d_name) < 0)
                                r = -ENOMEM;
                        else
                                r = parse_file(c, file, origins, ret_error);
                }
                free(list[i]);
        }
        free(list);
        if (r < 0)
                return r;

        r = validate(c, path, origins, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int config_load_string(const char *name, const char *text, Config **ret, char **ret_error) {
        _cleanup_config_free_ Config *c = config_new();
        _cleanup_(origins_done) KeyOrigin origins[N_CONFIG_KEYS] = {};
        if (!c)
                return -ENOMEM;

        /* fmemopen() refuses a zero-length buffer; one newline parses the same. */
        _cleanup_fclose_ FILE *f = *text ? fmemopen((void *) text, strlen(text), "r") : fmemopen("\n", 1, "r");
        if (!f)
                return -errno;
        Parser p = { .file = name, .stream = f, .config = c, .origins = origins };
        int r = parse_stream(&p);
        if (r < 0) {
                *ret_error = p.error;
                return r;
        }
        r = validate(c, name, origins, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_scratch; i++) {
                free(c->scratch[i].name);
                strv_free(c->scratch[i].devices);
                free(c->scratch[i].mount_point);
        }
        free(c->scratch);
        free(c->read_group);
        free(c->operator_group);
        free(c->daemon.audit_log);
        free(c->daemon.metrics_directory);
        free(c);
        return NULL;
}

static bool value_equal(const struct ConfigKey *k, const void *a, const void *b) {
        switch (k->kind) {
        case VALUE_STRING:
                return streq_ptr(*(char *const *) a, *(char *const *) b);
        case VALUE_STRV: {
                char *const *x = *(char **const *) a, *const *y = *(char **const *) b;
                for (; x && *x && y && *y; x++, y++)
                        if (!streq(*x, *y))
                                return false;
                return !(x && *x) && !(y && *y);
        }
        case VALUE_JOB_SIZE: {
                const JobSize *x = a, *y = b;
                return x->bytes == y->bytes && x->percent == y->percent;
        }
        case VALUE_PLAIN:
                break;
        }
        return memcmp(a, b, k->size) == 0;
}

int config_compare(const Config *old, const Config *new, char *changed, size_t size, char **ret_error) {
        changed[0] = 0;
        if (old->n_scratch != new->n_scratch)
                return errorf(ret_error, -EINVAL, "the [Scratch] sections changed; that takes a restart (systemctl "
                              "restart scratchd); the running config stays");
        for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
                const struct ConfigKey *k = &config_keys[i];
                size_t n = k->section == SECTION_SCRATCH ? old->n_scratch : 1;
                for (size_t v = 0; v < n; v++) {
                        const void *a = k->section == SECTION_SCRATCH ? (const void *) &old->scratch[v] : (const void *) old;
                        const void *b = k->section == SECTION_SCRATCH ? (const void *) &new->scratch[v] : (const void *) new;
                        if (value_equal(k, (const char *) a + k->offset, (const char *) b + k->offset))
                                continue;
                        if (k->restart)
                                return errorf(ret_error, -EINVAL, "[%s] %s= changed; scratchd holds its volumes and "
                                              "socket by it, so that takes a restart (systemctl restart scratchd); "
                                              "the running config stays", section_table[k->section], k->key);
                        appendf(changed, size, "%s%s=", changed[0] ? ", " : "", k->key);
                }
        }
        return 0;
}
