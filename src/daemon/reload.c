/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading the config again (systemctl reload, SIGHUP, io.scratchd.Reload):
 * all of it is checked before any of it applies, so a bad file changes
 * nothing. The [Scratch] keys apply from each volume's next work (a worker
 * in flight keeps the settings it started with: the old config stays in
 * memory until the end), the rest at once. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "scratchd/log.h"
#include "scratchd/manager.h"
#include "scratchd/util.h"

/* *ret_error becomes the one line (the old one, if any, freed after: it
 * may be an argument). */
static int refuse(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char **ret_error, int r, const char *fmt, ...) {
        char *line = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                line = NULL;
        va_end(ap);
        free(*ret_error);
        *ret_error = line;
        return r;
}

/* Whether work in flight still reads `c` (its order's [Scratch] is one of c's). */
static bool config_in_use(const Manager *m, const Config *c) {
        for (size_t i = 0; i < m->n_volumes; i++) {
                const Volume *v = &m->volumes[i];
                for (size_t k = 0; k <= v->n_jobs; k++) {
                        const Volume *x = k == 0 ? v : v->jobs[k - 1];
                        if (!volume_idle(x) && x->order.sc >= c->scratch && x->order.sc < c->scratch + c->n_scratch)
                                return true;
                }
        }
        return false;
}

/* Frees the configs that reloads replaced and no work reads any more
 * (manager_new()'s is its caller's). */
static void retired_sweep(Manager *m) {
        size_t kept = 0;
        for (size_t i = 0; i < m->n_retired; i++) {
                Config *c = m->retired[i];
                if (c == m->config_original || config_in_use(m, c))
                        m->retired[kept++] = c;
                else
                        config_free(c);
        }
        m->n_retired = kept;
}

int manager_reload(Manager *m, const Caller *caller, char *changed, size_t size, char **ret_error) {
        _cleanup_config_free_ Config *c = NULL;
        Audit *audit = NULL;
        gid_t read_gid, operator_gid;
        int r;

        *ret_error = NULL;
        changed[0] = 0;
        if (!m->config_path)
                return refuse(ret_error, -EINVAL, "scratchd was started without a config file to read again");
        r = config_load(m->config_path, &c, ret_error);
        if (r < 0) {
                if (*ret_error)
                        return refuse(ret_error, r, "%s; the running config stays", *ret_error);
                return refuse(ret_error, r, "%s: cannot load: %s; the running config stays", m->config_path,
                              strerror(-r));
        }
        r = config_compare(m->config, c, changed, size, ret_error);
        if (r < 0)
                return r;
        if (auth_resolve_group(c->read_group, &read_gid) < 0)
                return refuse(ret_error, -ENOENT, "ReadGroup=%s: no such group; create it or fix the config; the "
                              "running config stays", c->read_group);
        if (auth_resolve_group(c->operator_group, &operator_gid) < 0)
                return refuse(ret_error, -ENOENT, "OperatorGroup=%s: no such group; create it or fix the config; "
                              "the running config stays", c->operator_group);
        bool new_audit = !streq_ptr(c->daemon.audit_log, m->config->daemon.audit_log);
        if (new_audit) {
                r = audit_open(c->daemon.audit_log, &audit);
                if (r < 0)
                        return refuse(ret_error, r, "AuditLog=%s: cannot open: %s; fix the path or its directory; the "
                                      "running config stays", c->daemon.audit_log, strerror(-r));
        }

        /* Every check passed: from here on nothing fails. Nothing changed:
         * nothing to swap (a reload in a loop must not grow the daemon). */
        if (!changed[0]) {
                log_info("reloaded %s: nothing changed", m->config_path);
                return 0;
        }
        retired_sweep(m);
        Config **retired = reallocarray(m->retired, m->n_retired + 1, sizeof(Config *));
        if (!retired) {
                audit_close(audit);
                return refuse(ret_error, -ENOMEM, "out of memory; the running config stays");
        }
        m->retired = retired;
        m->retired[m->n_retired++] = m->config;
        m->config = TAKE_PTR(c);
        m->engine.config = m->config;
        /* Read by the next record's worker (a worker in flight applies
         * the old or the new limit, either is fine). */
        m->engine.records.keep_days = m->config->daemon.records_keep_days;
        m->engine.records.keep_count = m->config->daemon.records_keep_count;
        for (size_t i = 0; i < m->n_volumes; i++) {
                Volume *v = &m->volumes[i];
                v->sc = &m->config->scratch[i];
                for (size_t k = 0; k < v->n_jobs; k++)
                        v->jobs[k]->sc = v->sc;
        }
        m->api.read_gid = read_gid;
        m->api.operator_gid = operator_gid;
        if (m->transport) {
                TransportLimits limits = manager_transport_limits(m);
                transport_set_limits(m->transport, &limits);
        }
        if (new_audit) {
                audit_close(m->audit);
                m->audit = audit;
        }

        log_info("reloaded %s: %s", m->config_path, changed);
        AuditEvent e = { .event = "reload", .caller_uid = caller ? caller->uid : (uid_t) -1,
                         .caller_pid = caller ? caller->pid : 0, .result = "ok",
                         .detail = changed };
        audit_log(m->audit, &e);
        /* The metrics (MetricsDirectory=), the stale check (JobCheck=) at once. */
        if (m->config->daemon.job_check != JOB_CHECK_NONE)
                stale_check(m);
        for (size_t i = 0; i < m->n_volumes; i++)
                manager_volume_changed(m, &m->volumes[i]);
        return 0;
}
