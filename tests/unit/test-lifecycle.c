/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The lifecycle as a table: lifecycle_next() for every state and event,
 * lifecycle_adopt() for every state, record and kernel view, job_id_valid();
 * and the records a restart finds (record_save()/record_load() in a temporary
 * directory) fed to lifecycle_adopt(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "scratchd/lifecycle.h"
#include "scratchd/record.h"
#include "scratchd/util.h"

#define SENTINEL ((LifecycleState) 0x5a5a)

/* ---- lifecycle_next() ---- */

/* The whole table: for each state and event, the next state (result 0) or
 * the error. Written out, not computed. */
typedef struct Next {
        int r;
        LifecycleState to;
} Next;

#define TO(s) { 0, STATE_##s }
#define ERR(e) { -e, SENTINEL }

static const Next next_table[_STATE_MAX][_EVENT_MAX] = {
        /*                  PREPARE       RELEASE        WIPE_START    WIPE_OK       WIPE_FAILED   DISK_LOST */
        [STATE_ABSENT] = { ERR(ENODEV), ERR(ENOENT), TO(WIPING),   ERR(EINVAL),  ERR(EINVAL),  TO(ABSENT) },
        /* WIPING --wipe--> WIPING: a wipe a crash cut short starts over. */
        [STATE_WIPING] = { ERR(EBUSY),  ERR(ENOENT), TO(WIPING),   TO(CLEAN),    TO(FAILED),   TO(ABSENT) },
        [STATE_CLEAN] = { TO(IN_USE),   ERR(ENOENT), TO(WIPING),   ERR(EINVAL),  ERR(EINVAL),  TO(ABSENT) },
        [STATE_IN_USE] = { ERR(EBUSY),  TO(DIRTY),   TO(WIPING),   ERR(EINVAL),  ERR(EINVAL),  TO(ABSENT) },
        [STATE_DIRTY] = { ERR(EBUSY),   ERR(ENOENT), TO(WIPING),   ERR(EINVAL),  ERR(EINVAL),  TO(ABSENT) },
        [STATE_FAILED] = { ERR(EIO),    ERR(ENOENT), TO(WIPING),   ERR(EINVAL),  ERR(EINVAL),  TO(ABSENT) },
};

static void test_next_full_table(void **state) {
        for (LifecycleState s = 0; s < _STATE_MAX; s++)
                for (LifecycleEvent e = 0; e < _EVENT_MAX; e++) {
                        const Next *x = &next_table[s][e];
                        LifecycleState to = SENTINEL;
                        int r = lifecycle_next(s, e, &to);

                        print_message("%-6s --%s--> %s\n", lifecycle_state_to_string(s), lifecycle_event_to_string(e),
                                      r < 0 ? strerror(-r) : lifecycle_state_to_string(to));
                        if (r != x->r || to != x->to)
                                print_error("expected %s\n",
                                            x->r < 0 ? strerror(-x->r) : lifecycle_state_to_string(x->to));
                        assert_int_equal(r, x->r);
                        /* The next state is written only on success. */
                        assert_int_equal(to, x->to);
                }
}

static void test_next_paths(void **state) {
        /* The whole life of a volume, through lifecycle_next() alone. */
        static const struct {
                LifecycleEvent e;
                LifecycleState to;
        } life[] = {
                { EVENT_WIPE_START, STATE_WIPING }, /* found at start */
                { EVENT_WIPE_OK, STATE_CLEAN },
                { EVENT_PREPARE, STATE_IN_USE },
                { EVENT_RELEASE, STATE_DIRTY },
                { EVENT_WIPE_START, STATE_WIPING },
                { EVENT_WIPE_FAILED, STATE_FAILED },
                { EVENT_WIPE_START, STATE_WIPING }, /* an operator's wipe, once fixed */
                { EVENT_WIPE_OK, STATE_CLEAN },
                { EVENT_PREPARE, STATE_IN_USE },
        };
        LifecycleState s = STATE_ABSENT;
        for (size_t i = 0; i < ELEMENTSOF(life); i++) {
                LifecycleState to;
                assert_int_equal(lifecycle_next(s, life[i].e, &to), 0);
                assert_int_equal(to, life[i].to);
                s = to;
        }
}

static void test_next_never_clean_without_wipe(void **state) {
        /* Only a completed wipe leads to CLEAN, and only from WIPING. */
        for (LifecycleState s = 0; s < _STATE_MAX; s++)
                for (LifecycleEvent e = 0; e < _EVENT_MAX; e++) {
                        LifecycleState to;
                        if (lifecycle_next(s, e, &to) == 0 && to == STATE_CLEAN) {
                                assert_int_equal(s, STATE_WIPING);
                                assert_int_equal(e, EVENT_WIPE_OK);
                        }
                        if (lifecycle_next(s, e, &to) == 0 && to == STATE_IN_USE) {
                                assert_int_equal(s, STATE_CLEAN);
                                assert_int_equal(e, EVENT_PREPARE);
                        }
                }
}

static void test_next_invalid_values(void **state) {
        static const LifecycleState bad_states[] = { _STATE_MAX, _STATE_INVALID, (LifecycleState) 100 };
        static const LifecycleEvent bad_events[] = { _EVENT_MAX, (LifecycleEvent) -1, (LifecycleEvent) 100 };

        for (size_t i = 0; i < ELEMENTSOF(bad_events); i++)
                for (LifecycleState s = 0; s < _STATE_MAX; s++) {
                        LifecycleState to = SENTINEL;
                        assert_int_equal(lifecycle_next(s, bad_events[i], &to), -EINVAL);
                        assert_int_equal(to, SENTINEL);
                }

        /* From a state that does not exist, no event leads anywhere. */
        for (size_t i = 0; i < ELEMENTSOF(bad_states); i++)
                for (LifecycleEvent e = 0; e < _EVENT_MAX; e++) {
                        LifecycleState to = SENTINEL;
                        int r = lifecycle_next(bad_states[i], e, &to);
                        assert_true(r < 0);
                        assert_int_equal(to, SENTINEL);
                        if (e != EVENT_RELEASE)
                                assert_int_equal(r, -EINVAL);
                }
}

static void test_bug_release_from_invalid_state(void **state) {
        /* Was a bug, now fixed: src/core/lifecycle.c lifecycle_next() (lines 40-42), EVENT_RELEASE: any state
         * other than IN_USE gives -ENOENT, also a value that is no state at
         * all (_STATE_MAX, -EINVAL, 100), where every other event gives
         * -EINVAL as lifecycle.h documents. Expected -EINVAL; got -ENOENT. */
        static const LifecycleState bad_states[] = { _STATE_MAX, _STATE_INVALID, (LifecycleState) 100 };
        for (size_t i = 0; i < ELEMENTSOF(bad_states); i++) {
                LifecycleState to = SENTINEL;
                assert_int_equal(lifecycle_next(bad_states[i], EVENT_RELEASE, &to), -EINVAL);
                assert_int_equal(to, SENTINEL);
        }
}

static void test_event_strings(void **state) {
        assert_string_equal(lifecycle_event_to_string(EVENT_PREPARE), "prepare");
        assert_string_equal(lifecycle_event_to_string(EVENT_RELEASE), "release");
        assert_string_equal(lifecycle_event_to_string(EVENT_WIPE_START), "wipe");
        assert_string_equal(lifecycle_event_to_string(EVENT_WIPE_OK), "wipe-ok");
        assert_string_equal(lifecycle_event_to_string(EVENT_WIPE_FAILED), "wipe-failed");
        assert_null(lifecycle_event_to_string(_EVENT_MAX));
        assert_null(lifecycle_event_to_string((LifecycleEvent) -1));
        for (LifecycleEvent e = 0; e < _EVENT_MAX; e++)
                for (LifecycleEvent f = e + 1; f < _EVENT_MAX; f++)
                        assert_string_not_equal(lifecycle_event_to_string(e), lifecycle_event_to_string(f));
}

/* ---- lifecycle_adopt() ---- */

static void record_in(Record *rec, LifecycleState s, const char *job) {
        *rec = (Record) {
                .state = s,
                .generation = 7,
                .mapping_devnum = makedev(253, 4),
                .device = "/dev/nvme1n1",
                .mount_point = "/scratch",
                .cipher = "aes-xts-plain64",
                .sector_size = 4096,
                .uid = 1001,
        };
        snprintf(rec->job, sizeof(rec->job), "%s", job);
        if (*job)
                snprintf(rec->user, sizeof(rec->user), "alice");
}

static void test_adopt_full_table(void **state) {
        /* Kept: CLEAN, and IN_USE with a valid job, with a record and live. */
        static const bool keep_when_trusted[_STATE_MAX] = {
                [STATE_ABSENT] = false, [STATE_WIPING] = false, [STATE_CLEAN] = true,
                [STATE_IN_USE] = true,  [STATE_DIRTY] = false,  [STATE_FAILED] = false,
        };
        for (LifecycleState s = 0; s < _STATE_MAX; s++)
                for (int have = 0; have <= 1; have++)
                        for (int live = 0; live <= 1; live++) {
                                Record rec;
                                record_in(&rec, s, s == STATE_IN_USE ? "1234" : "");
                                AdoptDecision expected = have && live && keep_when_trusted[s] ? ADOPT_KEEP
                                                                                              : ADOPT_WIPE;
                                AdoptDecision d = lifecycle_adopt(have, &rec, live);
                                print_message("%-6s have_record=%d live=%d: %s\n", lifecycle_state_to_string(s), have,
                                              live, d == ADOPT_KEEP ? "keep" : "wipe");
                                assert_int_equal(d, expected);
                        }
}

static void test_adopt_job_matters(void **state) {
        static const char *const bad_jobs[] = { "", ".", "..", "../x", "a/b", "-x", "job id", "a\nb" };
        Record rec;

        /* IN_USE with a job id that is empty or invalid: wiped, even trusted and live. */
        for (size_t i = 0; i < ELEMENTSOF(bad_jobs); i++) {
                record_in(&rec, STATE_IN_USE, bad_jobs[i]);
                print_message("IN_USE job \"%s\"\n", bad_jobs[i]);
                assert_int_equal(lifecycle_adopt(true, &rec, true), ADOPT_WIPE);
        }
        /* The longest valid id (64 characters: all the record holds) is kept. */
        record_in(&rec, STATE_IN_USE, "");
        memset(rec.job, '7', sizeof(rec.job) - 1);
        rec.job[sizeof(rec.job) - 1] = 0;
        assert_int_equal(strlen(rec.job), 64);
        assert_int_equal(lifecycle_adopt(true, &rec, true), ADOPT_KEEP);

        /* IN_USE with a valid job: kept only when trusted and live. */
        static const char *const good_jobs[] = { "1234", "1234_7", "1234.pbs-server" };
        for (size_t i = 0; i < ELEMENTSOF(good_jobs); i++) {
                record_in(&rec, STATE_IN_USE, good_jobs[i]);
                assert_int_equal(lifecycle_adopt(true, &rec, true), ADOPT_KEEP);
                assert_int_equal(lifecycle_adopt(true, &rec, false), ADOPT_WIPE);
                assert_int_equal(lifecycle_adopt(false, &rec, true), ADOPT_WIPE);
        }

        /* A job named in a record of another state does not make it kept. */
        for (LifecycleState s = 0; s < _STATE_MAX; s++) {
                if (s == STATE_IN_USE || s == STATE_CLEAN)
                        continue;
                record_in(&rec, s, "1234");
                assert_int_equal(lifecycle_adopt(true, &rec, true), ADOPT_WIPE);
        }
}

static void test_adopt_invalid_state(void **state) {
        Record rec;
        record_in(&rec, _STATE_INVALID, "1234");
        assert_int_equal(lifecycle_adopt(true, &rec, true), ADOPT_WIPE);
        record_in(&rec, _STATE_MAX, "1234");
        assert_int_equal(lifecycle_adopt(true, &rec, true), ADOPT_WIPE);
}

/* ---- job_id_valid() ---- */

#define ID64 "0123456789012345678901234567890123456789012345678901234567890123"

static void test_job_id_valid_table(void **state) {
        static const struct {
                const char *job;
                bool valid;
        } table[] = {
                { "1234", true },
                { "1234_7", true },
                { "1234.pbs-server", true },
                { "1234.pbs-server.example.org", true },
                { "1", true },
                { "a", true },
                { "A-b_C.d", true },
                { "job.", true },
                { "1234-", true },
                { "_1234", true },
                { "0", true },
                { ID64, true },
                { "", false },
                { ".", false },
                { "..", false },
                { ".x", false },
                { "-x", false },
                { "-", false },
                { "../x", false },
                { "a/b", false },
                { "/1234", false },
                { "1234/", false },
                { "job id", false },
                { " 1234", false },
                { "1234 ", false },
                { ID64 "4", false },
                { "a\tb", false },
                { "a\nb", false },
                { "a:b", false },
                { "a@b", false },
                { "a$b", false },
                { "a+b", false },
                { "a\\b", false },
                { "~x", false },
                { "a*", false },
                { "\xc3\xa9", false },
                { "1234[1-3]", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                bool v = job_id_valid(table[i].job);
                if (v != table[i].valid)
                        print_error("job_id_valid(\"%s\") = %d, expected %d\n", table[i].job, v, table[i].valid);
                assert_int_equal(v, table[i].valid);
        }
        assert_int_equal(strlen(ID64), 64);
}

/* ---- records on disk, and adoption ---- */

/* A record as the daemon leaves it in state `s`. */
static void daemon_record(Record *rec, LifecycleState s) {
        *rec = (Record) {
                .state = s,
                .generation = 12,
                .device = "/dev/disk/by-id/nvme-X_1",
                .mount_point = "/scratch",
                .cipher = "aes-xts-plain64",
                .sector_size = 4096,
                .last_job = "1233",
                .last_wipe = 1718000000,
                .last_wipe_usec = 2345678,
        };
        if (s == STATE_CLEAN || s == STATE_IN_USE)
                rec->mapping_devnum = makedev(253, 2);
        if (s == STATE_IN_USE) {
                snprintf(rec->job, sizeof(rec->job), "1234.pbs-server");
                snprintf(rec->user, sizeof(rec->user), "alice");
                rec->uid = 1001;
        }
        if (s == STATE_FAILED)
                snprintf(rec->reason, sizeof(rec->reason), "mkfs failed: mkfs.xfs: no space");
}

/* What a starting scratchd does: load the record, decide. */
static AdoptDecision adopt_from_disk(const char *dir, const char *name, bool live, int *ret_load) {
        Record rec = {};
        int r = record_load(dir, name, &rec);
        if (ret_load)
                *ret_load = r;
        return lifecycle_adopt(r == 0, &rec, live);
}

static void test_persist_and_adopt_every_state(void **state) {
        TempDir *t = *state;

        for (LifecycleState s = 0; s < _STATE_MAX; s++) {
                Record in, out = {};
                char name[32];

                snprintf(name, sizeof(name), "vol-%s", lifecycle_state_to_string(s));
                daemon_record(&in, s);
                assert_int_equal(record_save(t->path, name, &in), 0);
                assert_int_equal(record_load(t->path, name, &out), 0);
                assert_record_equal(&out, &in);

                bool keep = s == STATE_CLEAN || s == STATE_IN_USE;
                int r;
                print_message("%s: %s when live\n", lifecycle_state_to_string(s), keep ? "kept" : "wiped");
                assert_int_equal(adopt_from_disk(t->path, name, true, &r), keep ? ADOPT_KEEP : ADOPT_WIPE);
                assert_int_equal(r, 0);
                assert_int_equal(adopt_from_disk(t->path, name, false, &r), ADOPT_WIPE);
                assert_int_equal(r, 0);
        }
}

static void test_persist_in_use_fields(void **state) {
        TempDir *t = *state;
        Record in, out;

        daemon_record(&in, STATE_IN_USE);
        /* The longest values that fit. */
        memset(in.job, 'j', sizeof(in.job) - 1);
        in.job[sizeof(in.job) - 1] = 0;
        memset(in.user, 'u', sizeof(in.user) - 1);
        in.user[sizeof(in.user) - 1] = 0;
        memset(in.last_job, 'l', sizeof(in.last_job) - 1);
        in.last_job[sizeof(in.last_job) - 1] = 0;
        in.uid = UINT32_MAX;
        assert_int_equal(record_save(t->path, "scratch", &in), 0);
        out = (Record) {};
        assert_int_equal(record_load(t->path, "scratch", &out), 0);
        assert_record_equal(&out, &in);
        assert_int_equal(strlen(out.job), 64);
        assert_int_equal(out.uid, UINT32_MAX);
        assert_int_equal(adopt_from_disk(t->path, "scratch", true, NULL), ADOPT_KEEP);

        /* uid 0 and empty last_job. */
        daemon_record(&in, STATE_IN_USE);
        in.uid = 0;
        in.last_job[0] = 0;
        assert_int_equal(record_save(t->path, "scratch", &in), 0);
        assert_int_equal(record_load(t->path, "scratch", &out), 0);
        assert_record_equal(&out, &in);

        /* An IN_USE record whose job is empty or invalid: wiped. */
        daemon_record(&in, STATE_IN_USE);
        in.job[0] = 0;
        assert_int_equal(record_save(t->path, "scratch", &in), 0);
        assert_int_equal(adopt_from_disk(t->path, "scratch", true, NULL), ADOPT_WIPE);
        snprintf(in.job, sizeof(in.job), "../etc");
        assert_int_equal(record_save(t->path, "scratch", &in), 0);
        assert_int_equal(record_load(t->path, "scratch", &out), 0);
        assert_string_equal(out.job, "../etc");
        assert_int_equal(adopt_from_disk(t->path, "scratch", true, NULL), ADOPT_WIPE);
}

static void write_raw(const char *dir, const char *name, const char *text, mode_t mode) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s.state", dir, name);
        (void) unlink(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(close(fd), 0);
}

static void test_corrupted_record_is_wiped(void **state) {
        TempDir *t = *state;
        Record in;
        char text[4096];
        int r;

        /* What a good CLEAN record looks like, then broken ways. */
        daemon_record(&in, STATE_CLEAN);
        assert_true(record_format(&in, text, sizeof(text)) > 0);
        write_raw(t->path, "scratch", text, 0600);
        assert_int_equal(adopt_from_disk(t->path, "scratch", true, &r), ADOPT_KEEP);
        assert_int_equal(r, 0);

        static const char *const corrupted[] = {
                "",
                "garbage\n",
                "\x01\x02\x03\n",
                "scratchd-state-v2\nstate=CLEAN\n",
                "state=CLEAN\nscratchd-state-v1\n",
                "scratchd-state-v1\nstate=clean\n",
                "scratchd-state-v1\nstate=CLEAN\ngeneration=-1\n",
                "scratchd-state-v1\nstate=CLEAN\nuid=4294967296\n",
                "scratchd-state-v1\nstate=IN_USE\njob=1234\nuid=99999999999999999999\n",
                "scratchd-state-v1\nstate=CLEAN\nbroken line\n",
                "scratchd-state-v1\ngeneration=3\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(corrupted); i++) {
                print_message("corrupted: %s\n", corrupted[i]);
                write_raw(t->path, "scratch", corrupted[i], 0600);
                assert_int_equal(adopt_from_disk(t->path, "scratch", true, &r), ADOPT_WIPE);
                assert_int_equal(r, -EBADMSG);
        }

        /* A good CLEAN record that someone else could have written: not ours. */
        write_raw(t->path, "scratch", text, 0666);
        assert_int_equal(adopt_from_disk(t->path, "scratch", true, &r), ADOPT_WIPE);
        assert_int_equal(r, -EBADMSG);

        /* No record at all. */
        assert_int_equal(adopt_from_disk(t->path, "missing", true, &r), ADOPT_WIPE);
        assert_int_equal(r, -ENOENT);
}

static void test_old_record_without_job(void **state) {
        /* A record from before the daemon: no job, user, uid or last_job.
         * A CLEAN one is still good; an IN_USE one names no job: wiped. */
        TempDir *t = *state;
        Record out;
        int r;

        write_raw(t->path, "old", "scratchd-state-v1\nstate=CLEAN\ngeneration=5\nmapping_dev=253:1\n"
                                  "device=/dev/sdb\nmount_point=/scratch\n", 0600);
        assert_int_equal(record_load(t->path, "old", &out), 0);
        assert_string_equal(out.job, "");
        assert_string_equal(out.user, "");
        assert_int_equal(out.uid, 0);
        assert_string_equal(out.last_job, "");
        assert_int_equal(adopt_from_disk(t->path, "old", true, &r), ADOPT_KEEP);

        write_raw(t->path, "old", "scratchd-state-v1\nstate=IN_USE\ngeneration=5\nmapping_dev=253:1\n", 0600);
        assert_int_equal(adopt_from_disk(t->path, "old", true, &r), ADOPT_WIPE);
        assert_int_equal(r, 0);
}

/* ---- the new fields, round trip ---- */

static void test_state_new_fields_round_trip(void **state) {
        Record in, out;
        char buf[4096];

        daemon_record(&in, STATE_IN_USE);
        snprintf(in.last_job, sizeof(in.last_job), "1233_4");
        in.uid = 4000000000u;
        int k = record_format(&in, buf, sizeof(buf));
        assert_true(k > 0);
        assert_non_null(strstr(buf, "\njob=1234.pbs-server\n"));
        assert_non_null(strstr(buf, "\nuser=alice\n"));
        assert_non_null(strstr(buf, "\nuid=4000000000\n"));
        assert_non_null(strstr(buf, "\nlast_job=1233_4\n"));
        out = (Record) {};
        assert_int_equal(record_parse(buf, &out), 0);
        assert_record_equal(&out, &in);

        /* Empty fields round-trip as empty. */
        daemon_record(&in, STATE_CLEAN);
        in.last_job[0] = 0;
        assert_true(record_format(&in, buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "\njob=\n"));
        assert_non_null(strstr(buf, "\nuser=\n"));
        assert_non_null(strstr(buf, "\nuid=0\n"));
        assert_non_null(strstr(buf, "\nlast_job=\n"));
        assert_int_equal(record_parse(buf, &out), 0);
        assert_record_equal(&out, &in);
}

static void test_state_uid_limits(void **state) {
        static const struct {
                const char *uid;
                int r;
                uint32_t value;
        } table[] = {
                { "0", 0, 0 },
                { "1001", 0, 1001 },
                { "4294967294", 0, 4294967294u },
                { "4294967295", 0, UINT32_MAX },
                { "4294967296", -EBADMSG, 0 },
                { "18446744073709551615", -EBADMSG, 0 },
                { "18446744073709551616", -EBADMSG, 0 },
                { "-1", -EBADMSG, 0 },
                { "+1", -EBADMSG, 0 },
                { " 1", -EBADMSG, 0 },
                { "1x", -EBADMSG, 0 },
                { "", -EBADMSG, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char text[256];
                Record out = { .uid = 77 };
                snprintf(text, sizeof(text), "scratchd-state-v1\nstate=IN_USE\njob=1\nuser=u\nuid=%s\n", table[i].uid);
                print_message("uid=%s\n", table[i].uid);
                assert_int_equal(record_parse(text, &out), table[i].r);
                if (table[i].r == 0)
                        assert_int_equal(out.uid, table[i].value);
                else
                        assert_int_equal(out.uid, 77);   /* untouched on failure */
        }
}

static void test_state_job_field_limits(void **state) {
        char text[512];
        Record out;

        /* 64 characters fit; 65 do not. The same for user and last_job. */
        static const char *const keys[] = { "job", "user", "last_job" };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                snprintf(text, sizeof(text), "scratchd-state-v1\nstate=IN_USE\n%s=" ID64 "\n", keys[i]);
                assert_int_equal(record_parse(text, &out), 0);
                snprintf(text, sizeof(text), "scratchd-state-v1\nstate=IN_USE\n%s=" ID64 "x\n", keys[i]);
                assert_int_equal(record_parse(text, &out), -EBADMSG);
        }
}

static void test_bug_state_numbers_truncated(void **state) {
        /* Was a bug, now fixed: src/core/state.c record_parse() (lines 127 and 130) reads
         * sector_size and last_wipe as 64-bit numbers and casts them without
         * a range check (uid has one): "sector_size=4294971392" loads as 4096
         * and "last_wipe=18446744073709551615" as -1, so a record scratchd
         * never wrote is taken for one (state.h: -EBADMSG "if it is not one we
         * wrote"). Expected -EBADMSG; got 0. */
        Record out;
        assert_int_equal(record_parse("scratchd-state-v1\nstate=CLEAN\nsector_size=4294971392\n", &out), -EBADMSG);
        assert_int_equal(record_parse("scratchd-state-v1\nstate=CLEAN\nlast_wipe=18446744073709551615\n", &out),
                         -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_next_full_table),
                cmocka_unit_test(test_next_paths),
                cmocka_unit_test(test_next_never_clean_without_wipe),
                cmocka_unit_test(test_next_invalid_values),
                cmocka_unit_test(test_bug_release_from_invalid_state),
                cmocka_unit_test(test_event_strings),
                cmocka_unit_test(test_adopt_full_table),
                cmocka_unit_test(test_adopt_job_matters),
                cmocka_unit_test(test_adopt_invalid_state),
                cmocka_unit_test(test_job_id_valid_table),
                cmocka_unit_test_setup_teardown(test_persist_and_adopt_every_state, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_persist_in_use_fields, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_corrupted_record_is_wiped, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_old_record_without_job, setup_tempdir, teardown_tempdir),
                cmocka_unit_test(test_state_new_fields_round_trip),
                cmocka_unit_test(test_state_uid_limits),
                cmocka_unit_test(test_state_job_field_limits),
                cmocka_unit_test(test_bug_state_numbers_truncated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
