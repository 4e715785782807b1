/* SPDX-License-Identifier: GPL-2.0-or-later */
/* erasures.c: the daemon's side of erase records (erasure.h): the node key
 * at start, the initramfs's records signed, and how each erase's record
 * went, for status and metrics. */
#include <dirent.h>
#include <sys/stat.h>

#include "scratchd/erasure.h"
#include "scratchd/log.h"
#include "scratchd/manager.h"
#include "scratchd/util.h"

/* The initramfs's records that no key will sign: said, since /run goes at
 * the next reboot and them with it. */
static void pending_stranded(const char *pending_dir) {
        DIR *d = pending_dir ? opendir(pending_dir) : NULL;
        if (!d)
                return;
        unsigned n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        if (n > 0)
                log_error("%u erase record%s from the initramfs wait%s unsigned in %s, and go at the next reboot: "
                          "fix the node key, then restart scratchd", n, n == 1 ? "" : "s", n == 1 ? "s" : "",
                          pending_dir);
}

int manager_records_open(Manager *m, const char *state_dir, const char *pending_dir) {
        int r;

        free(m->records_dir);
        if (asprintf(&m->records_dir, "%s/records", state_dir) < 0) {
                m->records_dir = NULL;
                return -ENOMEM;
        }
        m->engine.records = (ErasureSink) {
                .dir = m->records_dir,
                .keep_days = m->config->daemon.records_keep_days,
                .keep_count = m->config->daemon.records_keep_count,
        };
        /* StateDirectory= makes it 0700 for us; by hand, made here. */
        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                log_error_errno(r, "cannot make %s for the node key and erase records: %m; erases go on, but "
                                "unrecorded, until it can be made", state_dir);
                snprintf(m->record_error, sizeof(m->record_error), "cannot make %s: %s", state_dir, strerror(-r));
                m->engine.records.unavailable = r;
                pending_stranded(pending_dir);
                return r;
        }
        r = erasure_key_load_or_create(state_dir, &m->node_key);
        if (r < 0) {
                log_error_errno(r, "cannot load or make the node key %s/" ERASURE_KEY_FILE ": %m; erases go on, but "
                                "unrecorded: fix the file (root's, 0600, Ed25519; or move it away for a new key, "
                                "then give auditors 'scratchctl pubkey' again) and restart scratchd", state_dir);
                snprintf(m->record_error, sizeof(m->record_error), "cannot load or make %s/" ERASURE_KEY_FILE ": %s",
                         state_dir, strerror(-r));
                m->engine.records.unavailable = r;
                pending_stranded(pending_dir);
                return r;
        }
        m->engine.records.key = m->node_key;
        ErasureNode node;
        erasure_node_read("/", &node);
        char other[64];
        /* A machine id made for this boot (a stateless node) would differ at
         * every start: nothing to compare. */
        int k = erasure_machine_id_transient("/") > 0 ? 0
                : erasure_key_origin(state_dir, node.machine_id, m->node_key, other, sizeof(other));
        if (k > 0)
                log_warning("the node key %s/" ERASURE_KEY_FILE " was made on another machine (machine id %s; this "
                            "is %s): a golden image that carried it gives every node booted from it the same key, "
                            "so no record proves which of them erased; remove " ERASURE_KEY_FILE " and "
                            ERASURE_KEY_ORIGIN_FILE " there, restart scratchd, and give auditors the new "
                            "'scratchctl pubkey'", state_dir, other, node.machine_id);
        else if (k < 0)
                log_warning_errno(k, "cannot keep the machine id beside the node key in %s/" ERASURE_KEY_ORIGIN_FILE
                                  ": %m; a key copied to another machine goes unnoticed until it can: make it a "
                                  "regular file of root's, or remove it", state_dir);
        _cleanup_free_ char *pub = NULL;
        if (erasure_key_public_base64(m->node_key, &pub) >= 0 && r > 0)
                log_notice("made a new node key %s/" ERASURE_KEY_FILE " (public half %s): give it to whoever "
                           "audits this node's erase records ('scratchctl pubkey'); records signed by an earlier "
                           "key still verify against that key", state_dir, pub);
        else if (pub)
                log_info("erase records in %s, signed with node key %s", m->records_dir, pub);

        if (pending_dir) {
                r = erasure_sign_pending(pending_dir, m->records_dir, m->node_key, &node);
                if (r > 0)
                        log_info("%d erase record%s from the initramfs signed and moved to %s", r, r == 1 ? "" : "s",
                                 m->records_dir);
                else if (r < 0)
                        log_error_errno(r, "cannot sign every erase record the initramfs left in %s: %m; what is not "
                                "one of its records (root's, unsigned, of this boot) stays there, unsigned: look "
                                "at it, and remove it", pending_dir);
        }
        return 0;
}

void volume_erasure_done(Volume *owner, const Volume *v, const WorkResult *r) {
        owner->counters.erase_records += r->erasures_recorded;
        owner->counters.erase_record_failures += r->erasure_failures;
        if (r->erasure.name[0])
                snprintf(owner->last_record, sizeof(owner->last_record), "%s", r->erasure.name);
        /* The failure: this erase's, or (a pool's adoption) a job volume's. */
        const ErasureOutcome *failed = r->erasure.error < 0 ? &r->erasure : NULL;
        const char *job = v->pool ? v->rec.job : "";
        for (size_t i = 0; !failed && i < r->n_erased; i++)
                if (r->erased[i].erasure.error < 0) {
                        failed = &r->erased[i].erasure;
                        job = r->erased[i].job;
                }
        if (failed)
                snprintf(owner->record_error, sizeof(owner->record_error),
                         "the record of the erase of %s%s%s (key generation %" PRIu64 ") could not be written: %s; "
                         "the erase stands; the journal says what to do", job[0] ? "job " : "", job[0] ? job : "",
                         job[0] ? "'s volume" : owner->sc->name, failed->key_generation, strerror(-failed->error));
        else if (r->erasures_recorded > 0)
                owner->record_error[0] = 0;
}
