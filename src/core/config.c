/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <dirent.h>
#include <ini.h>
#include <libgen.h>
#include <stdarg.h>

#include "scratchd/config.h"
#include "scratchd/util.h"

static const char *const file_system_table[_FILE_SYSTEM_MAX] = {
        [FILE_SYSTEM_XFS] = "xfs",
        [FILE_SYSTEM_EXT4] = "ext4",
};

DEFINE_STRING_TABLE_LOOKUP(file_system, FileSystem, _FILE_SYSTEM_MAX);

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

typedef struct Parser {
        const char *file;       /* for messages */
        FILE *stream;
        unsigned line;          /* line the handler is looking at */
        char *long_value;       /* see reader() */
        char *error;            /* first error, one line */
        Config *config;
} Parser;

/* Appends the NULL-terminated strings to the string in buf; what does not
 * fit is cut off (the lists in messages are far shorter). */
static void append(char *buf, size_t size, ...) __attribute__((sentinel));
static void append(char *buf, size_t size, ...) {
        size_t n = strlen(buf);
        va_list ap;
        va_start(ap, size);
        for (const char *s = va_arg(ap, const char *); s && n + 1 < size; s = va_arg(ap, const char *))
                n += (size_t) snprintf(buf + n, size - n, "%s", s);
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

static bool known_section(const char *s, size_t n) {
        return (n == 7 && strncmp(s, "Scratch", n) == 0) || (n == 6 && strncmp(s, "Access", n) == 0) ||
               (n == 6 && strncmp(s, "Daemon", n) == 0);
}

/* Checks one stripped, non-empty, non-comment line the way we want it read;
 * inih is lenient (a lone word is an error only at the end, a section header
 * is never seen by the handler), and the first problem must be reported first. */
static void check_line(Parser *p, const char *s) {
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1])
                        fail(p, NULL, "syntax error: a section header must be [Name] alone on its line");
                else if (!known_section(s + 1, (size_t) (close - s - 1)))
                        fail(p, NULL, "unknown section %s; known sections are [Scratch], [Access] and [Daemon]", s);
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
#define LINE_MAX_LEN 1024
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

static int parse_devices(Parser *p, ScratchConfig *v, const char *value) {
        if (!*value) {   /* "Devices=" resets the list, as in systemd units */
                strv_free(v->devices);
                v->devices = NULL;
                return 1;
        }

        _cleanup_free_ char *copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                if (!streq(w, "auto") && w[0] != '/')
                        return fail(p, "Devices", "'%s' is neither an absolute path, a glob nor \"auto\"; "
                                    "name disks like /dev/disk/by-id/nvme-...", w);
                if (strv_extend(&v->devices, w) < 0)
                        return -ENOMEM;
        }
        return 1;
}

static int handle_scratch(Parser *p, const char *name, const char *value) {
        ScratchConfig *v = current_volume(p);
        if (!v)
                return -ENOMEM;

        if (streq(name, "Devices"))
                return parse_devices(p, v, value);

        if (streq(name, "Name")) {
                if (!valid_name(value))
                        return fail(p, "Name", "'%s' is not a valid volume name; use 1-64 letters, digits, '-' or '_'",
                                    value);
                return set_string(&v->name, value) < 0 ? -ENOMEM : 1;
        }
        if (streq(name, "MountPoint")) {
                if (!valid_mount_point(value))
                        return fail(p, "MountPoint", "'%s' is not a normalized absolute path other than /; "
                                    "use something like /scratch", value);
                return set_string(&v->mount_point, value) < 0 ? -ENOMEM : 1;
        }
        if (streq(name, "FileSystem")) {
                FileSystem f = file_system_from_string(value);
                if (f < 0)
                        return fail(p, "FileSystem", "'%s' is not supported; use xfs or ext4", value);
                v->file_system = f;
                return 1;
        }
        if (streq(name, "Expendable")) {
                int b = parse_boolean(value);
                if (b < 0)
                        return fail(p, "Expendable", "'%s' is not a boolean; use yes or no", value);
                v->expendable = b;
                return 1;
        }
        Tristate *tristate = streq(name, "Discard")            ? &v->discard
                             : streq(name, "BypassWorkqueues") ? &v->bypass_workqueues
                             : streq(name, "AllowDiscards")    ? &v->allow_discards
                                                               : NULL;
        if (tristate) {
                Tristate d = tristate_from_string(value);
                if (d < 0)
                        return fail(p, name, "'%s' is not valid; use auto, yes or no", value);
                *tristate = d;
                return 1;
        }
        if (streq(name, "Cipher")) {
                CipherChoice c = cipher_choice_from_string(value);
                if (c < 0) {
                        char choices[256] = "";
                        for (CipherChoice i = 0; i < _CIPHER_MAX; i++)
                                /* Quoted: the Adiantum names have commas of their own. */
                                append(choices, sizeof(choices), i == 0 ? "" : i + 1 < _CIPHER_MAX ? ", " : " or ",
                                       "'", cipher_choice_to_string(i), "'", NULL);
                        return fail(p, "Cipher", "'%s' is not supported; use %s", value, choices);
                }
                v->cipher = c;
                return 1;
        }
        if (streq(name, "SectorSize")) {
                if (streq(value, "auto"))
                        v->sector_size = 0;
                else if (streq(value, "512"))
                        v->sector_size = 512;
                else if (streq(value, "4096"))
                        v->sector_size = 4096;
                else
                        return fail(p, "SectorSize", "'%s' is not valid; use auto, 512 or 4096", value);
                return 1;
        }
        return fail(p, name, "unknown key in [Scratch]; known keys are Name, Devices, MountPoint, FileSystem, "
                    "Expendable, Discard, SectorSize, Cipher, BypassWorkqueues, AllowDiscards");
}

static bool valid_group(const char *s) {
        if (!*s || strlen(s) > 32 || s[0] == '-')
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("-_.", *c))
                        return false;
        return true;
}

static int handle_access(Parser *p, const char *name, const char *value) {
        char **field;
        if (streq(name, "ReadGroup"))
                field = &p->config->read_group;
        else if (streq(name, "OperatorGroup"))
                field = &p->config->operator_group;
        else
                return fail(p, name, "unknown key in [Access]; known keys are ReadGroup, OperatorGroup");

        if (!*value) {
                free(*field);
                *field = NULL;
                return 1;
        }
        if (!valid_group(value))
                return fail(p, name, "'%s' is not a valid group name", value);
        return set_string(field, value) < 0 ? -ENOMEM : 1;
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

static int handle_daemon(Parser *p, const char *name, const char *value) {
        DaemonConfig *d = &p->config->daemon;

        if (streq(name, "SocketMode")) {
                if (parse_uint(value, 0, 0777, 8, &d->socket_mode) < 0)
                        return fail(p, name, "'%s' is not an octal file mode; use e.g. 0666 or 0660", value);
                return 1;
        }
        if (streq(name, "IdleTimeoutSec")) {
                if (parse_uint(value, 1, 3600, 10, &d->idle_timeout_sec) < 0)
                        return fail(p, name, "'%s' is not a number of seconds from 1 to 3600", value);
                return 1;
        }
        if (streq(name, "MaxConnections")) {
                if (parse_uint(value, 1, 65536, 10, &d->max_connections) < 0)
                        return fail(p, name, "'%s' is not a number from 1 to 65536", value);
                return 1;
        }
        if (streq(name, "MaxConnectionsPerUser")) {
                if (parse_uint(value, 1, 65536, 10, &d->max_connections_per_user) < 0)
                        return fail(p, name, "'%s' is not a number from 1 to 65536", value);
                return 1;
        }
        if (streq(name, "AuditLog"))
                return set_path_or_empty(p, name, &d->audit_log, value, "/var/log/scratchd/audit.log");
        if (streq(name, "MetricsDirectory"))
                return set_path_or_empty(p, name, &d->metrics_directory, value,
                                         "/var/lib/prometheus/node-exporter");
        return fail(p, name, "unknown key in [Daemon]; known keys are SocketMode, IdleTimeoutSec, MaxConnections, "
                    "MaxConnectionsPerUser, AuditLog, MetricsDirectory");
}

static int handler(void *userdata, const char *section, const char *name, const char *raw_value) {
        Parser *p = userdata;
        const char *value = raw_value;
        int r;

        if (p->error)
                return 1;   /* report only the first problem */
        if (p->long_value && streq(raw_value, LONG_VALUE_PLACEHOLDER)) {
                /* inih strips blanks around values; so do we. */
                value = p->long_value;
                while (isspace((unsigned char) *value))
                        value++;
        }

        if (streq(section, "Scratch"))
                r = handle_scratch(p, name, value);
        else if (streq(section, "Access"))
                r = handle_access(p, name, value);
        else if (streq(section, "Daemon"))
                r = handle_daemon(p, name, value);
        else if (!*section)
                r = fail(p, name, "key outside any section; put it under [Scratch], [Access] or [Daemon]");
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

static int validate(Config *c, const char *file, char **ret_error) {
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
        return 0;
}

static Config *config_new(void) {
        Config *c = calloc(1, sizeof(Config));
        if (!c)
                return NULL;
        c->daemon = (DaemonConfig) {
                .socket_mode = 0666,
                .idle_timeout_sec = 30,
                .max_connections = 256,
                .max_connections_per_user = 32,
                .audit_log = strdup(DEFAULT_AUDIT_LOG),
        };
        if (!c->daemon.audit_log) {
                free(c);
                return NULL;
        }
        return c;
}

static int parse_file(Config *c, const char *path, char **ret_error) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return errorf(ret_error, -errno, "%s: cannot open: %s; create it or pass --config FILE", path,
                                strerror(errno));

        Parser p = { .file = path, .stream = f, .config = c };
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
        int r;

        if (!c)
                return -ENOMEM;
        r = parse_file(c, path, ret_error);
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
                                r = parse_file(c, file, ret_error);
                }
                free(list[i]);
        }
        free(list);
        if (r < 0)
                return r;

        r = validate(c, path, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int config_load_string(const char *name, const char *text, Config **ret, char **ret_error) {
        _cleanup_config_free_ Config *c = config_new();
        if (!c)
                return -ENOMEM;

        /* fmemopen() refuses a zero-length buffer; one newline parses the same. */
        _cleanup_fclose_ FILE *f = *text ? fmemopen((void *) text, strlen(text), "r") : fmemopen("\n", 1, "r");
        if (!f)
                return -errno;
        Parser p = { .file = name, .stream = f, .config = c };
        int r = parse_stream(&p);
        if (r < 0) {
                *ret_error = p.error;
                return r;
        }
        r = validate(c, name, ret_error);
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
