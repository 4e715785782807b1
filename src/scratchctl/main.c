/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scratchctl: the client of scratchd's io.scratchd socket, for admins and
 * scheduler hooks. */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "config.h"
#include "scratchd/api.h"
#include "scratchd/metrics.h"
#include "scratchd/reserve.h"
#include "scratchd/util.h"
#include "scratchd/varlink.h"
#include "records.h"
#include "verify.h"

enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,          /* the operation failed: volume FAILED, busy, no clean volume, no space */
        EXIT_USAGE = 2,
        EXIT_NOT_AUTHORIZED = 3,
        EXIT_UNREACHABLE = 4,     /* scratchd not running, not answering, or answering nonsense */
        EXIT_NOT_FOUND = 5,       /* no such job, user or volume */
        EXIT_NOT_READY = 6,       /* status --check: a volume being wiped, set up or not there (yet) */
};

static const char *socket_path = DEFAULT_SOCKET_PATH;
static int timeout_sec = -1;     /* -1: the command's default */
static bool arg_json, arg_check, arg_force, arg_no_wait;
/* The connection closed before the answer (scratchd restarting): not said
 * yet, for call() to ask again (EXIT_CLOSED). */
static bool quiet_eof;
#define EXIT_CLOSED 100

static void help(void) {
        printf("Usage: scratchctl [OPTIONS] COMMAND\n"
               "\n"
               "Talks to scratchd, which keeps this node's scratch disk encrypted and\n"
               "crypto-erases it between jobs.\n"
               "\n"
               "Commands:\n"
               "  status [--json] [--check]            every volume's state (a table, or JSON); --check:\n"
               "                                       exit 0 only if every volume, and every job volume,\n"
               "                                       is CLEAN or IN_USE (for node health checks)\n"
               "  prepare --job ID --user NAME         hand a CLEAN volume to a job; prints the job's\n"
               "          (or --uid UID) [--volume NAME] directory (0700, owned by the user)\n"
               "          [--size SIZE]                shared mode: the job volume's size, in bytes or\n"
               "                                       with K, M, G, T or P (100G; JobSize= when not given)\n"
               "  release --job ID                     take the job's volume back; returns once it is\n"
               "                                       crypto-erased and CLEAN again (a job no volume\n"
               "                                       holds: nothing to erase, success)\n"
               "  job-dir --job ID                     the directory of a job that a volume holds (for\n"
               "                                       the job's own user, as in a task prolog, and readers)\n"
               "  wipe [--volume NAME] [--force]       crypto-erase and re-key now; a volume a job\n"
               "                                       holds only with --force (the job loses its data)\n"
               "  metrics [--output-dir DIR]           metrics in the Prometheus text format; with\n"
               "                                       --output-dir, written atomically as\n"
               "                                       DIR/scratchd.prom (node_exporter's textfile\n"
               "                                       collector; scratchd-metrics.timer does this)\n"
               "  watch [--json]                       print each state change as it happens\n"
               "  reload                               read scratchd.conf again (systemctl reload does\n"
               "                                       this); a bad file is refused, the running config\n"
               "                                       stays, and the error says why\n"
               "  verify FILE... [--pubkey FILE]       check erase records' signatures, offline (with the\n"
               "                                       node's public key; without it, only that each is\n"
               "                                       intact under the key it carries)\n"
               "  records [--job ID] [--since TIME]    the erase records scratchd keeps, oldest first: a\n"
               "          [--json]                     table, or with --json the records as stored (signed)\n"
               "                                       in a JSON array; TIME: 2026-12-03, 2026-12-03T12:00:00Z\n"
               "                                       (RFC 3339; no zone: UTC) or an age: 30m, 24h, 7d\n"
               "  pubkey [--raw]                       the node's public key, which signs the records (PEM;\n"
               "                                       --raw: base64), for verify --pubkey\n"
               "\n"
               "Options:\n"
               "      --socket PATH    scratchd's socket (default " DEFAULT_SOCKET_PATH ")\n"
               "      --timeout SEC    give up after SEC seconds (default 300 for prepare,\n"
               "                       release and wipe, 30 for the others; 0: never); until\n"
               "                       then, a restarting scratchd or a volume being adopted,\n"
               "                       wiped or set up is waited for\n"
               "      --no-wait        fail at once instead (tests that crash scratchd on purpose)\n"
               "  -h, --help           show this help\n"
               "      --version        show the version\n"
               "\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  the operation failed: the volume is FAILED (fenced), busy, or not CLEAN;\n"
               "     or, shared mode, too little space for --size, or MaxJobs= jobs running;\n"
               "     records: a file among them could not be read (the rest is shown)\n"
               "  2  bad command line\n"
               "  3  not authorized: run as root or as a member of OperatorGroup (ReadGroup\n"
               "     for status, metrics, watch, records and pubkey)\n"
               "  4  scratchd is not running or did not answer\n"
               "  5  no such job, user or volume\n"
               "  6  status --check: a volume is being wiped or set up, or is not there: look\n"
               "     again later (1: a volume is FAILED and needs an admin)\n"
               "Scheduler hooks should drain the node on any status but 0; the reason is on\n"
               "stderr, in one line.\n");
}

static int die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int die(int code, const char *fmt, ...) {
        va_list ap;
        fputs("scratchctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return code;
}

typedef struct Client {
        int fd;
        char buf[VARLINK_MESSAGE_MAX * 16];
        size_t len;
        uint64_t deadline;   /* 0: none */
} Client;

static uint64_t deadline_of(int default_timeout) {
        int t = timeout_sec >= 0 ? timeout_sec : default_timeout;
        return t > 0 ? now_usec() + (uint64_t) t * USEC_PER_SEC : 0;
}

/* Whether there is time for another try: a pause (at most 1.5 s) and a
 * call after it, before the deadline, so that the last answer is the
 * real one, not a timeout. Without a deadline (--timeout 0, watch), or
 * with --no-wait, none: asked again for ever, a call would hang without a
 * word. */
static bool time_for_another(uint64_t deadline) {
        return !arg_no_wait && deadline && now_usec() + 5 * USEC_PER_SEC / 2 < deadline;
}

/* Connects by `deadline`. A daemon that is restarting without systemd's
 * socket (no socket file, or nobody listening on it) is waited for. */
static int client_connect_by(Client *c, uint64_t deadline) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        c->len = 0;
        c->fd = -1;
        c->deadline = deadline;
        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return die(EXIT_USAGE, "socket path %s is too long", socket_path);
        strcpy(sa.sun_path, socket_path);
        bool said = false;
        for (;;) {
                c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (c->fd >= 0 && connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        return 0;
                int e = errno;
                if (c->fd >= 0)
                        close(c->fd);
                c->fd = -1;
                if ((e == ENOENT || e == ECONNREFUSED) && time_for_another(deadline)) {
                        /* An admin at a terminal is told why nothing happens
                         * (hooks, whose stderr is a log, are not). */
                        if (!said && isatty(STDERR_FILENO))
                                fprintf(stderr, "scratchctl: cannot reach scratchd at %s (%s); waiting for it, "
                                        "up to --timeout (--no-wait: fail at once)\n", socket_path, strerror(e));
                        said = true;
                        (void) nanosleep(&(struct timespec) { .tv_sec = 1 }, NULL);
                        continue;
                }
                return die(EXIT_UNREACHABLE, "cannot reach scratchd at %s: %s; is scratchd.service running?",
                           socket_path, strerror(e));
        }
}

static int client_connect(Client *c, int default_timeout) {
        return client_connect_by(c, deadline_of(default_timeout));
}

static int client_send(Client *c, const char *method, json_object *params, bool more) {
        size_t len;
        _cleanup_free_ char *m = varlink_encode_call(method, params, more, &len);
        if (!m)
                return die(EXIT_FAILED, "out of memory");
        for (size_t done = 0; done < len;) {
                ssize_t k = send(c->fd, m + done, len - done, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return die(EXIT_UNREACHABLE, "cannot talk to scratchd: %s", strerror(errno));
                }
                done += (size_t) k;
        }
        return 0;
}

/* Reads the next reply. */
static int client_receive(Client *c, char **ret_error, json_object **ret_params, bool *ret_continues) {
        for (;;) {
                char *nul = memchr(c->buf, 0, c->len);
                if (nul) {
                        size_t n = (size_t) (nul - c->buf);
                        int r = varlink_parse_reply(c->buf, n, ret_error, ret_params, ret_continues);
                        memmove(c->buf, nul + 1, c->len - n - 1);
                        c->len -= n + 1;
                        if (r < 0)
                                return die(EXIT_UNREACHABLE, "scratchd sent a malformed reply");
                        return 0;
                }
                if (c->len == sizeof(c->buf))
                        return die(EXIT_UNREACHABLE, "scratchd sent a reply too large to read");

                int wait = -1;
                if (c->deadline) {
                        uint64_t now = now_usec();
                        if (now >= c->deadline)
                                return die(EXIT_UNREACHABLE, "scratchd did not answer in time (--timeout)");
                        wait = (int) ((c->deadline - now) / USEC_PER_MSEC) + 1;
                }
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                int k = poll(&p, 1, wait);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k == 0)
                        continue;   /* the deadline check above reports it */
                ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 && quiet_eof)
                        return EXIT_CLOSED;
                if (n <= 0)
                        return die(EXIT_UNREACHABLE, "scratchd closed the connection%s%s", n < 0 ? ": " : "",
                                   n < 0 ? strerror(errno) : "");
                c->len += (size_t) n;
        }
}

static const char *param_string(json_object *p, const char *key) {
        json_object *v;
        if (p && json_object_object_get_ex(p, key, &v) && json_object_is_type(v, json_type_string))
                return json_object_get_string(v);
        return NULL;
}

static int64_t get_int(json_object *o, const char *key, int64_t fallback) {
        json_object *v;
        if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int))
                return json_object_get_int64(v);
        return fallback;
}

/* "busy (IN_USE by job 101)", "busy (CLEAN, adopting)", "FAILED (fenced): why". */
static const char *describe_unavailable(json_object *v, char *buf, size_t size) {
        const char *state = param_string(v, "state") ?: "?", *job = param_string(v, "job");
        const char *activity = param_string(v, "activity"), *reason = param_string(v, "reason");
        if (streq(state, "FAILED"))
                snprintf(buf, size, "FAILED (fenced): %s", reason ?: "unknown reason");
        else if (streq(state, "ABSENT"))
                snprintf(buf, size, "ABSENT (no usable disk): %s", reason ?: "unknown reason");
        else
                snprintf(buf, size, "busy (%s%s%s%s%s)", state, job ? " by job " : "", job ?: "",
                         activity ? ", " : "", activity ?: "");
        return buf;
}

/* One line for each error a call can get, saying what to do. */
static int explain_error(const char *error, json_object *p) {
        const char *volume = param_string(p, "volume") ?: "?";
        if (streq(error, API_ERROR_NOT_AUTHORIZED))
                return die(EXIT_NOT_AUTHORIZED, "not authorized: uid %u may not do this; run as root or as a member "
                           "of the OperatorGroup= (or ReadGroup=) in scratchd.conf", (unsigned) getuid());
        if (streq(error, API_ERROR_VOLUME_FAILED))
                return die(EXIT_FAILED, "scratchd: volume %s is FAILED (fenced): %s; fix the cause, then run "
                           "'scratchctl wipe'", volume, param_string(p, "reason") ?: "unknown reason");
        if (streq(error, API_ERROR_VOLUME_BUSY)) {
                char why[256];
                const char *reason = param_string(p, "reason");
                return die(EXIT_FAILED, "scratchd: volume %s is %s; %s", volume,
                           describe_unavailable(p, why, sizeof(why)), reason ?: "wait, or release that job first");
        }
        if (streq(error, API_ERROR_NO_CLEAN_VOLUME)) {
                /* Each volume and why it cannot be had, on one line. */
                json_object *a;
                char line[1024] = "";
                bool failed = false, absent = false;
                if (p && json_object_object_get_ex(p, "volumes", &a) && json_object_is_type(a, json_type_array))
                        for (size_t i = 0; i < json_object_array_length(a); i++) {
                                json_object *v = json_object_array_get_idx(a, i);
                                char why[256];
                                failed = failed || streq_ptr(param_string(v, "state"), "FAILED");
                                absent = absent || streq_ptr(param_string(v, "state"), "ABSENT");
                                size_t n = strlen(line);
                                snprintf(line + n, sizeof(line) - n, "%s%s is %s", i ? "; " : "",
                                         param_string(v, "volume") ?: "?", describe_unavailable(v, why, sizeof(why)));
                        }
                /* The hint fits the states: a hook's drain reason is
                 * classed by its words (FAILED, ABSENT, busy). */
                return die(EXIT_FAILED, "scratchd: no CLEAN volume: %s; %s", line[0] ? line : "none configured",
                           failed   ? "fix the cause, then run 'scratchctl wipe'"
                           : absent ? "fix the disk or Devices= (scratchd tries again by itself)"
                                    : "wait, or release a job first");
        }
        /* Shared mode: the node is fine, it is full for now. */
        if (streq(error, API_ERROR_NO_SPACE)) {
                char want[32], free_bytes[32];
                int64_t w = get_int(p, "requested_bytes", -1), f = get_int(p, "free_bytes", -1);
                const char *reason = param_string(p, "reason");
                if (w >= 0)
                        format_bytes(want, sizeof(want), (uint64_t) w);
                else
                        snprintf(want, sizeof(want), "the job");
                if (reason)
                        return die(EXIT_FAILED, "scratchd: no space for %s on %s: %s", want, volume, reason);
                if (f >= 0)
                        format_bytes(free_bytes, sizeof(free_bytes), (uint64_t) f);
                else
                        snprintf(free_bytes, sizeof(free_bytes), "?");
                return die(EXIT_FAILED, "scratchd: no space for %s on %s: %s free; ask for less with --size, or wait "
                           "for a job to end", want, volume, free_bytes);
        }
        if (streq(error, API_ERROR_TOO_MANY_JOBS)) {
                int64_t n = get_int(p, "max_jobs", -1);
                if (n < 0)
                        return die(EXIT_FAILED, "scratchd: no room for another job on %s: %s", volume,
                                   param_string(p, "reason") ?: "too many jobs");
                return die(EXIT_FAILED, "scratchd: volume %s has MaxJobs=%" PRId64 " job volumes already; wait for a "
                           "job to end, or raise MaxJobs= in scratchd.conf", volume, n);
        }
        if (streq(error, API_ERROR_NO_SUCH_JOB))
                return die(EXIT_NOT_FOUND, "scratchd: no volume is held by job %s", param_string(p, "job") ?: "?");
        if (streq(error, API_ERROR_NO_SUCH_USER))
                return die(EXIT_NOT_FOUND, "scratchd: no user '%s' on this node", param_string(p, "user") ?: "?");
        if (streq(error, API_ERROR_NO_SUCH_VOLUME))
                return die(EXIT_NOT_FOUND, "scratchd: no volume named '%s' in scratchd.conf", volume);
        if (streq(error, API_ERROR_INVALID_PARAMETER) && streq_ptr(param_string(p, "parameter"), "size"))
                return die(EXIT_USAGE, "scratchd refused parameter 'size'; --size takes bytes, or a whole number "
                           "with K, M, G, T or P (such as 100G)");
        if (streq(error, API_ERROR_INVALID_PARAMETER) && streq_ptr(param_string(p, "parameter"), "since"))
                return die(EXIT_USAGE, "scratchd refused parameter 'since'; --since takes 2026-12-03, "
                           "2026-12-03T12:00:00Z or an age such as 24h");
        if (streq(error, API_ERROR_INVALID_PARAMETER))
                return die(EXIT_USAGE, "scratchd refused parameter '%s'; job ids are 1-64 letters, digits, '.', "
                           "'_' or '-'", param_string(p, "parameter") ?: "?");
        if (streq(error, API_ERROR_TOO_MANY_CONNECTIONS))
                return die(EXIT_UNREACHABLE, "scratchd has too many connections; try again");
        if (streq(error, API_ERROR_CONFIG_REFUSED))
                return die(EXIT_FAILED, "scratchd refused the reload: %s", param_string(p, "reason") ?: "?");
        const char *reason = param_string(p, "reason");
        return die(EXIT_FAILED, "scratchd answered %s%s%s", error, reason ? ": " : "", reason ?: "");
}

/* One call, one reply. On success *ret_params holds the reply's parameters. */
/* An error that clears by itself: every volume it names is being adopted,
 * wiped or set up, not held by a job nor FAILED. Asked again, within the
 * timeout, rather than failed (a hook would drain the node for it). */
static bool transient(const char *error, json_object *p) {
        json_object *vols;
        /* Every slot taken (a task prolog for each of 128 ranks at once). */
        if (streq(error, API_ERROR_TOO_MANY_CONNECTIONS))
                return true;
        if (streq(error, API_ERROR_VOLUME_BUSY))
                return param_string(p, "activity") && !streq(param_string(p, "state") ?: "", "FAILED");
        if (!streq(error, API_ERROR_NO_CLEAN_VOLUME) || !json_object_object_get_ex(p, "volumes", &vols) ||
            !json_object_is_type(vols, json_type_array) || json_object_array_length(vols) == 0)
                return false;
        for (size_t i = 0; i < json_object_array_length(vols); i++) {
                json_object *v = json_object_array_get_idx(vols, i);
                const char *state = param_string(v, "state") ?: "";
                if (streq(state, "FAILED") || (!param_string(v, "activity") && !streq(state, "WIPING")))
                        return false;
        }
        return true;
}

/* About a second, never the same for two callers: many that were refused
 * together do not all come back together. */
static void pause_before_asking_again(void) {
        long ms = 500 + (long) (((unsigned) getpid() * 2654435761u + (unsigned) now_usec()) % 1000);
        (void) nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 }, NULL);
}

static int call(const char *method, json_object *params, int default_timeout, json_object **ret_params) {
        uint64_t deadline = deadline_of(default_timeout);
        /* A connection closed before the answer (the daemon restarted) is
         * asked again: every call is, but for a wipe, which would run twice. */
        bool again_on_close = !streq(method, "io.scratchd.Wipe");
        for (;;) {
                Client c;
                int r = client_connect_by(&c, deadline);
                if (r == 0)
                        r = client_send(&c, method, json_object_get(params), false);
                if (r == 0) {
                        _cleanup_free_ char *error = NULL;
                        json_object *p = NULL;
                        quiet_eof = again_on_close;
                        r = client_receive(&c, &error, &p, NULL);
                        quiet_eof = false;
                        if (r == EXIT_CLOSED) {
                                close(c.fd);
                                if (time_for_another(deadline)) {
                                        pause_before_asking_again();
                                        continue;
                                }
                                json_object_put(params);
                                return die(EXIT_UNREACHABLE, "scratchd closed the connection before it answered");
                        }
                        if (r == 0 && error && transient(error, p) && time_for_another(deadline)) {
                                json_object_put(p);
                                close(c.fd);
                                pause_before_asking_again();
                                continue;
                        }
                        if (r == 0 && error) {
                                r = explain_error(error, p);
                                json_object_put(p);
                        } else if (r == 0)
                                *ret_params = p;
                }
                if (c.fd >= 0)
                        close(c.fd);
                json_object_put(params);
                return r;
        }
}

int scratchctl_call(const char *method, json_object *params, int default_timeout, json_object **ret_params) {
        return call(method, params, default_timeout, ret_params);
}

static bool get_bool(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean) &&
               json_object_get_boolean(v);
}

/* JobCheck=: a job gone from the node (its epilog never came), and a check
 * that cannot see. */
static void print_stale(const char *name, json_object *v) {
        int64_t since = get_int(v, "job_gone_since", 0);
        const char *job = param_string(v, "job") ?: "?", *blind = param_string(v, "job_check");
        if (since > 0) {
                time_t t = (time_t) since;
                struct tm tm;
                char ts[32];
                strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
                if (get_bool(v, "stale"))
                        printf("%s: job %s is stale: gone from this node since %s; release it with 'scratchctl "
                               "release --job %s' (or set ReleaseStale=yes)\n", name, job, ts, job);
                else
                        printf("%s: job %s is gone from this node since %s; stale after StaleAfterSec= unless its "
                               "epilog comes\n", name, job, ts);
        }
        if (blind)
                printf("%s: JobCheck= cannot see the jobs: %s\n", name, blind);
        const char *record_error = param_string(v, "erase_record_error");
        if (record_error)
                printf("%s: %s\n", name, record_error);
}

/* Shared mode: the pool's numbers, then a line for each job volume. */
static void print_pool(json_object *v) {
        json_object *pool, *jobs;
        char a[32], b[32], c[32], d[32];
        const char *name = param_string(v, "name") ?: "?";

        if (!json_object_object_get_ex(v, "pool", &pool))
                return;
        printf("%s: shared pool of %s: %s reserved by %" PRId64 " job%s (MaxJobs=%" PRId64 "), %s free, %s written; "
               "spare %s\n", name, format_bytes(a, sizeof(a), (uint64_t) get_int(pool, "size_bytes", 0)),
               format_bytes(b, sizeof(b), (uint64_t) get_int(pool, "reserved_bytes", 0)), get_int(pool, "jobs", 0),
               get_int(pool, "jobs", 0) == 1 ? "" : "s", get_int(pool, "max_jobs", 0),
               format_bytes(c, sizeof(c), (uint64_t) get_int(pool, "free_bytes", 0)),
               format_bytes(d, sizeof(d), (uint64_t) get_int(pool, "written_bytes", 0)),
               get_bool(pool, "spare_ready") ? "ready" : "not ready");
        if (!json_object_object_get_ex(v, "jobs", &jobs) || !json_object_is_type(jobs, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                json_object *j = json_object_array_get_idx(jobs, i);
                int64_t used = get_int(j, "used_bytes", -1);
                const char *reason = param_string(j, "reason");
                printf("%s: job %s, user %s, %s, %s, %s used, key generation %" PRId64 ", %s%s%s\n", name,
                       param_string(j, "job") ?: "?", param_string(j, "user") ?: "?", param_string(j, "state") ?: "?",
                       format_bytes(a, sizeof(a), (uint64_t) get_int(j, "size_bytes", 0)),
                       used >= 0 ? format_bytes(b, sizeof(b), (uint64_t) used) : "-", get_int(j, "key_generation", 0),
                       param_string(j, "directory") ?: "?", reason ? ": " : "", reason ?: "");
                print_stale(name, j);
        }
}

static void print_table(json_object *volumes) {
        static const char *const head[] = { "VOLUME", "DEVICE", "STATE", "JOB", "USER", "GEN", "CIPHER", "SECTOR",
                                            "SIZE", "USED", "LAST WIPE" };
        enum { NCOL = ELEMENTSOF(head) };
        size_t n = json_object_array_length(volumes);
        char cells[n + 1][NCOL][96];
        size_t width[NCOL] = {};

        for (size_t k = 0; k < NCOL; k++)
                snprintf(cells[0][k], sizeof(cells[0][k]), "%s", head[k]);
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(volumes, i);
                char (*row)[96] = cells[i + 1];
                char a[32];
                snprintf(row[0], 96, "%s", param_string(v, "name") ?: "?");
                json_object *layout, *disks;
                size_t n_disks = json_object_object_get_ex(v, "layout", &layout) &&
                                                 json_object_object_get_ex(layout, "disks", &disks) &&
                                                 json_object_is_type(disks, json_type_array)
                                         ? json_object_array_length(disks)
                                         : 0;
                if (n_disks > 1)
                        snprintf(row[1], 96, "%zu disks", n_disks);
                else
                        snprintf(row[1], 96, "%s", param_string(v, "device") ?: "-");
                snprintf(row[2], 96, "%s", param_string(v, "state") ?: "?");
                snprintf(row[3], 96, "%s", param_string(v, "job") ?: "-");
                snprintf(row[4], 96, "%s", param_string(v, "user") ?: "-");
                snprintf(row[5], 96, "%" PRId64, get_int(v, "key_generation", 0));
                snprintf(row[6], 96, "%s", param_string(v, "cipher") ?: "-");
                int64_t sector = get_int(v, "sector_size", -1);
                if (sector > 0)
                        snprintf(row[7], 96, "%" PRId64, sector);
                else
                        snprintf(row[7], 96, "-");
                int64_t size = get_int(v, "size_bytes", -1), used = get_int(v, "used_bytes", -1);
                snprintf(row[8], 96, "%s", size >= 0 ? format_bytes(a, sizeof(a), (uint64_t) size) : "-");
                snprintf(row[9], 96, "%s", used >= 0 ? format_bytes(a, sizeof(a), (uint64_t) used) : "-");
                int64_t when = get_int(v, "last_wipe", 0);
                if (when > 0) {
                        time_t t = (time_t) when;
                        struct tm tm;
                        char ts[32];
                        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
                        snprintf(row[10], 96, "%s (%s)", ts,
                                 format_duration(a, sizeof(a), (uint64_t) get_int(v, "last_wipe_usec", 0)));
                } else
                        snprintf(row[10], 96, "-");
        }
        for (size_t i = 0; i <= n; i++)
                for (size_t k = 0; k < NCOL; k++)
                        if (strlen(cells[i][k]) > width[k])
                                width[k] = strlen(cells[i][k]);
        for (size_t i = 0; i <= n; i++) {
                for (size_t k = 0; k + 1 < NCOL; k++)
                        printf("%-*s  ", (int) width[k], cells[i][k]);
                printf("%s\n", cells[i][NCOL - 1]);
        }
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(volumes, i);
                const char *reason = param_string(v, "reason"), *tuning = param_string(v, "tuning");
                if (reason)
                        printf("%s: %s\n", param_string(v, "name") ?: "?", reason);
                print_stale(param_string(v, "name") ?: "?", v);
                json_object *layout, *disks;
                if (json_object_object_get_ex(v, "layout", &layout) &&
                    json_object_object_get_ex(layout, "disks", &disks) && json_object_is_type(disks, json_type_array) &&
                    json_object_array_length(disks) > 1) {
                        char a[32], b[32];
                        printf("%s: striped over %zu disks (%s) in %s chunks, %s\n", param_string(v, "name") ?: "?",
                               json_object_array_length(disks), param_string(v, "device") ?: "?",
                               format_bytes(a, sizeof(a), (uint64_t) get_int(layout, "chunk_bytes", 0)),
                               format_bytes(b, sizeof(b), (uint64_t) get_int(layout, "data_bytes", 0)));
                }
                if (tuning)
                        printf("%s: %" PRId64 "-bit key, workqueues %s, discards %s (%s)\n",
                               param_string(v, "name") ?: "?", get_int(v, "key_bits", 0),
                               get_bool(v, "bypass_workqueues") ? "bypassed" : "used",
                               get_bool(v, "allow_discards") ? "passed" : "not passed", tuning);
                print_pool(v);
        }
}

/* status --check: FAILED anywhere is 1 (an admin must look: the volume or
 * a job volume is fenced); a volume in any other state but CLEAN or IN_USE
 * is 6 (it clears by itself: a wipe or a setup runs, a disk is not there
 * yet), a job volume being released is not (the pool gives other jobs
 * theirs meanwhile). Each in one line on stderr. */
static int check_one(json_object *v, const char *job_of, int worst) {
        const char *state = param_string(v, "state") ?: "?", *reason = param_string(v, "reason");
        const char *name = param_string(v, job_of ? "job" : "name") ?: "?";
        if (streq(state, "CLEAN") || streq(state, "IN_USE") || (job_of && !streq(state, "FAILED")))
                return worst;
        int code = streq(state, "FAILED") ? EXIT_FAILED : EXIT_NOT_READY;
        fprintf(stderr, "scratchctl: %s%s%s %s is %s%s%s\n", job_of ? "volume " : "", job_of ?: "",
                job_of ? ": job" : "volume", name, state, reason && reason[0] ? ": " : "", reason ?: "");
        return worst == EXIT_FAILED ? worst : code;
}

static int check_volumes(json_object *volumes) {
        int worst = EXIT_OK;
        size_t n = json_object_array_length(volumes);
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(volumes, i), *jobs;
                worst = check_one(v, NULL, worst);
                if (json_object_object_get_ex(v, "jobs", &jobs) && json_object_is_type(jobs, json_type_array))
                        for (size_t j = 0; j < json_object_array_length(jobs); j++)
                                worst = check_one(json_object_array_get_idx(jobs, j), param_string(v, "name") ?: "?",
                                                  worst);
        }
        if (n == 0) {
                fprintf(stderr, "scratchctl: scratchd has no volume\n");
                worst = EXIT_NOT_READY;
        }
        return worst;
}

static int cmd_status(void) {
        json_object *p = NULL, *volumes;
        int r = call("io.scratchd.GetStatus", NULL, 30, &p);
        if (r != 0)
                return r;
        if (!json_object_object_get_ex(p, "volumes", &volumes) || !json_object_is_type(volumes, json_type_array)) {
                json_object_put(p);
                return die(EXIT_UNREACHABLE, "scratchd's status has no volumes list");
        }
        if (arg_check) {
                r = check_volumes(volumes);
                json_object_put(p);
                return r;
        }
        if (arg_json)
                printf("%s\n", json_object_to_json_string_ext(p, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
        else if (json_object_object_get_ex(p, "volumes", &volumes) && json_object_is_type(volumes, json_type_array))
                print_table(volumes);
        else
                r = die(EXIT_UNREACHABLE, "scratchd's status has no volumes list");
        json_object_put(p);
        return r;
}

/* --size: bytes as the API takes them (an int64), and at least a job
 * volume's smallest, so that a typo is told here and now. */
static int parse_size_arg(const char *s, uint64_t *ret) {
        JobSize js;
        char why[256];

        if (job_size_parse(s, false, &js, why, sizeof(why)) < 0)
                return die(EXIT_USAGE, "--size: %s", why);
        if (js.bytes >= (uint64_t) INT64_MAX)
                return die(EXIT_USAGE, "--size: '%s' is too large (8 EiB or more)", s);
        if (js.bytes < JOB_SIZE_MIN)
                return die(EXIT_USAGE, "--size: '%s' is below the smallest job volume; use %" PRIu64 "M or more", s,
                           JOB_SIZE_MIN >> 20);
        *ret = js.bytes;
        return 0;
}

static int cmd_prepare(const char *job, const char *user, const char *uid, const char *volume, const char *size) {
        uint64_t bytes = 0;
        int r;

        if (!job || (!user && !uid))
                return die(EXIT_USAGE, "prepare needs --job ID and --user NAME (or --uid UID)");
        if (user && uid)
                return die(EXIT_USAGE, "prepare takes --user NAME or --uid UID, not both");
        if (size) {
                r = parse_size_arg(size, &bytes);
                if (r != 0)
                        return r;
        }
        json_object *params = json_object_new_object(), *p = NULL;
        json_object_object_add(params, "job", json_object_new_string(job));
        if (user)
                json_object_object_add(params, "user", json_object_new_string(user));
        else {
                char *end;
                errno = 0;
                unsigned long long u = strtoull(uid, &end, 10);
                if (errno != 0 || *end || end == uid || uid[0] == '-' || u >= UINT32_MAX) {
                        json_object_put(params);
                        return die(EXIT_USAGE, "--uid '%s' is not a uid (0 to 4294967294)", uid);
                }
                json_object_object_add(params, "uid", json_object_new_int64((int64_t) u));
        }
        if (volume)
                json_object_object_add(params, "volume", json_object_new_string(volume));
        if (bytes > 0)
                json_object_object_add(params, "size", json_object_new_int64((int64_t) bytes));
        r = call("io.scratchd.Prepare", params, 300, &p);
        if (r != 0)
                return r;
        const char *dir = param_string(p, "directory");
        if (dir)
                printf("%s\n", dir);
        else
                r = die(EXIT_UNREACHABLE, "scratchd's reply has no directory");
        json_object_put(p);
        return r;
}

static int cmd_release(const char *job) {
        if (!job)
                return die(EXIT_USAGE, "release needs --job ID");
        json_object *params = json_object_new_object(), *p = NULL;
        json_object_object_add(params, "job", json_object_new_string(job));
        int r = call("io.scratchd.Release", params, 300, &p);
        if (r == 0 && get_bool(p, "unknown"))
                printf("scratchd: job %s holds no volume here, nor did since scratchd started (its prolog failed, "
                       "or ran before a reboot): nothing to erase\n", job);
        json_object_put(p);
        return r;
}

static int cmd_job_dir(const char *job) {
        if (!job)
                return die(EXIT_USAGE, "job-dir needs --job ID");
        json_object *params = json_object_new_object(), *p = NULL;
        json_object_object_add(params, "job", json_object_new_string(job));
        int r = call("io.scratchd.GetJob", params, 30, &p);
        if (r == 0) {
                const char *dir = param_string(p, "directory");
                if (dir)
                        printf("%s\n", dir);
                else
                        r = die(EXIT_UNREACHABLE, "scratchd's reply has no directory");
        }
        json_object_put(p);
        return r;
}

static int cmd_wipe(const char *volume) {
        json_object *params = json_object_new_object(), *p = NULL;
        if (volume)
                json_object_object_add(params, "volume", json_object_new_string(volume));
        if (arg_force)
                json_object_object_add(params, "force", json_object_new_boolean(true));
        int r = call("io.scratchd.Wipe", params, 300, &p);
        json_object_put(p);
        return r;
}

static int cmd_reload(void) {
        json_object *p = NULL;
        int r = call("io.scratchd.Reload", NULL, 30, &p);
        if (r == 0) {
                const char *changed = param_string(p, "changed");
                printf("scratchd: reloaded; %s%s\n", changed && changed[0] ? "changed: " : "nothing changed",
                       changed ?: "");
        }
        json_object_put(p);
        return r;
}

static int cmd_metrics(const char *output_dir) {
        json_object *p = NULL;
        int r = call("io.scratchd.GetMetrics", NULL, 30, &p);
        if (r != 0)
                return r;
        const char *text = param_string(p, "text");
        if (!text)
                r = die(EXIT_UNREACHABLE, "scratchd's reply has no metrics text");
        else if (!output_dir)
                fputs(text, stdout);
        else {
                int k = metrics_write_textfile(output_dir, text);
                if (k < 0)
                        r = die(EXIT_FAILED, "cannot write %s/scratchd.prom: %s", output_dir, strerror(-k));
        }
        json_object_put(p);
        return r;
}

static void print_change(json_object *v) {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
        const char *job = param_string(v, "job");
        printf("%s %s %s gen %" PRId64 "%s%s\n", ts, param_string(v, "name") ?: "?", param_string(v, "state") ?: "?",
               get_int(v, "key_generation", 0), job ? " job " : "", job ?: "");
}

static int cmd_watch(void) {
        Client c;
        int r = client_connect(&c, 0);
        if (r == 0)
                r = client_send(&c, "io.scratchd.Subscribe", NULL, true);
        while (r == 0) {
                _cleanup_free_ char *error = NULL;
                json_object *p = NULL, *v;
                bool continues = false;
                r = client_receive(&c, &error, &p, &continues);
                if (r != 0)
                        break;
                if (error) {
                        r = explain_error(error, p);
                        json_object_put(p);
                        break;
                }
                if (arg_json)
                        printf("%s\n", json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
                else if (json_object_object_get_ex(p, "volumes", &v) && json_object_is_type(v, json_type_array)) {
                        for (size_t i = 0; i < json_object_array_length(v); i++)
                                print_change(json_object_array_get_idx(v, i));
                } else if (json_object_object_get_ex(p, "volume", &v))
                        print_change(v);
                fflush(stdout);
                json_object_put(p);
                if (!continues)
                        break;
        }
        close(c.fd);
        return r;
}

int main(int argc, char *argv[]) {
        enum { ARG_SOCKET = 0x100, ARG_TIMEOUT, ARG_JOB, ARG_USER, ARG_UID, ARG_VOLUME, ARG_SIZE, ARG_JSON, ARG_VERSION,
               ARG_CHECK, ARG_FORCE, ARG_OUTPUT_DIR, ARG_NO_WAIT, ARG_PUBKEY, ARG_SINCE, ARG_RAW };
        static const struct option options[] = {
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "job", required_argument, NULL, ARG_JOB },
                { "user", required_argument, NULL, ARG_USER },
                { "uid", required_argument, NULL, ARG_UID },
                { "volume", required_argument, NULL, ARG_VOLUME },
                { "size", required_argument, NULL, ARG_SIZE },
                { "json", no_argument, NULL, ARG_JSON },
                { "check", no_argument, NULL, ARG_CHECK },
                { "force", no_argument, NULL, ARG_FORCE },
                { "output-dir", required_argument, NULL, ARG_OUTPUT_DIR },
                { "no-wait", no_argument, NULL, ARG_NO_WAIT },
                { "pubkey", required_argument, NULL, ARG_PUBKEY },
                { "since", required_argument, NULL, ARG_SINCE },
                { "raw", no_argument, NULL, ARG_RAW },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *job = NULL, *user = NULL, *uid = NULL, *volume = NULL, *size = NULL, *output_dir = NULL,
                   *pubkey = NULL, *since = NULL;
        bool raw = false;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_SOCKET:
                        socket_path = optarg;
                        break;
                case ARG_TIMEOUT: {
                        char *end;
                        long t = strtol(optarg, &end, 10);
                        if (*end || end == optarg || t < 0 || t > 86400)
                                return die(EXIT_USAGE, "--timeout '%s' is not a number of seconds from 0 to 86400",
                                           optarg);
                        timeout_sec = (int) t;
                        break;
                }
                case ARG_JOB:
                        job = optarg;
                        break;
                case ARG_USER:
                        user = optarg;
                        break;
                case ARG_UID:
                        uid = optarg;
                        break;
                case ARG_VOLUME:
                        volume = optarg;
                        break;
                case ARG_SIZE:
                        size = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_CHECK:
                        arg_check = true;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_OUTPUT_DIR:
                        output_dir = optarg;
                        break;
                case ARG_PUBKEY:
                        pubkey = optarg;
                        break;
                case ARG_SINCE:
                        since = optarg;
                        break;
                case ARG_RAW:
                        raw = true;
                        break;
                case ARG_NO_WAIT:
                        arg_no_wait = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("scratchctl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                default:
                        return die(EXIT_USAGE, "see 'scratchctl --help' for usage");
                }

        if (optind >= argc)
                return die(EXIT_USAGE, "no command given; use status, prepare, release, job-dir, wipe, metrics, watch, "
                           "reload, verify, records or pubkey "
                           "(see 'scratchctl --help')");
        const char *verb = argv[optind];
        /* The one command that takes operands: the record files. */
        if (streq(verb, "verify"))
                return cmd_verify(argv + optind + 1, (size_t) (argc - optind - 1), pubkey);
        if (pubkey)
                return die(EXIT_USAGE, "--pubkey is for verify only");
        if (optind + 1 < argc)
                return die(EXIT_USAGE, "unexpected argument '%s'; see 'scratchctl --help'", argv[optind + 1]);

        if (arg_check && !streq(verb, "status"))
                return die(EXIT_USAGE, "--check is for status only");
        if (arg_force && !streq(verb, "wipe"))
                return die(EXIT_USAGE, "--force is for wipe only");
        if (output_dir && !streq(verb, "metrics"))
                return die(EXIT_USAGE, "--output-dir is for metrics only");
        if (since && !streq(verb, "records"))
                return die(EXIT_USAGE, "--since is for records only");
        if (raw && !streq(verb, "pubkey"))
                return die(EXIT_USAGE, "--raw is for pubkey only");
        if (streq(verb, "status"))
                return cmd_status();
        if (streq(verb, "prepare"))
                return cmd_prepare(job, user, uid, volume, size);
        if (streq(verb, "release"))
                return cmd_release(job);
        if (streq(verb, "wipe"))
                return cmd_wipe(volume);
        if (streq(verb, "job-dir"))
                return cmd_job_dir(job);
        if (streq(verb, "metrics"))
                return cmd_metrics(output_dir);
        if (streq(verb, "reload"))
                return cmd_reload();
        if (streq(verb, "watch"))
                return cmd_watch();
        if (streq(verb, "records"))
                return cmd_records(job, since, arg_json);
        if (streq(verb, "pubkey"))
                return cmd_pubkey(raw);
        return die(EXIT_USAGE, "unknown command '%s'; use status, prepare, release, job-dir, wipe, metrics, watch, "
                   "reload, verify, records or pubkey", verb);
}
