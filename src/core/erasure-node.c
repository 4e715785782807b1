/* SPDX-License-Identifier: GPL-2.0-or-later */
/* erasure-node.c: what an erase record says of the node: its name, its boot,
 * and the conditions that weaken the claim that the key is gone (a copy of
 * memory that may outlive the mapping). Each under a root prefix, for tests. */
#include <limits.h>
#include <sys/stat.h>

#include "scratchd/erasure.h"
#include "scratchd/util.h"

static int read_under(const char *root, const char *path, char **ret) {
        char full[PATH_MAX];
        if ((size_t) snprintf(full, sizeof(full), "%s%s", streq(root, "/") ? "" : root, path) >= sizeof(full))
                return -ENAMETOOLONG;
        return read_one_line(full, ret);
}

int erasure_crash_kernel_armed(const char *root) {
        _cleanup_free_ char *v = NULL;
        int r = read_under(root, "/sys/kernel/kexec_crash_loaded", &v);
        if (r == -ENOENT || r == -ENODATA)
                return 0;   /* a kernel without kexec */
        if (r < 0)
                return r;
        return streq(v, "1");
}

int erasure_hibernation_available(const char *root) {
        _cleanup_free_ char *v = NULL;
        int r = read_under(root, "/sys/power/state", &v);
        if (r == -ENOENT || r == -ENODATA)
                return 0;   /* no power management at all (or none offered, as in a container) */
        if (r < 0)
                return r;
        /* Space-separated words ("freeze mem disk"); "disk" is hibernation. */
        for (const char *w = v; *w; w += strspn(w, " ")) {
                size_t n = strcspn(w, " ");
                if (n == 4 && strncmp(w, "disk", 4) == 0)
                        return 1;
                w += n;
        }
        return 0;
}

typedef struct Condition {
        const char *name;
        int (*present)(const char *root);
        const char *why;   /* the detail of a present one */
} Condition;

static const Condition conditions[] = {
        { "crash-kernel-armed", erasure_crash_kernel_armed,
          "a crash kernel is loaded (kdump): a crash dump copies all of memory, the live key of a volume "
          "in use included, to disk or the network; unload it (kdump-config unload, or kexec -p -u) where "
          "records must stand without that caveat" },
        { "hibernation-available", erasure_hibernation_available,
          "hibernation is available (\"disk\" in /sys/power/state): its image holds all of memory, the live "
          "key of a volume in use included; boot with nohibernate where records must stand without that "
          "caveat" },
};

void erasure_node_read(const char *root, ErasureNode *ret) {
        ErasureNode n = {};
        _cleanup_free_ char *host = NULL, *boot_id = NULL, *machine_id = NULL;

        /* Unreadable: written empty; the schema allows it, an auditor sees it. */
        if (read_under(root, "/proc/sys/kernel/hostname", &host) >= 0)
                snprintf(n.host, sizeof(n.host), "%s", host);
        if (read_under(root, "/proc/sys/kernel/random/boot_id", &boot_id) >= 0)
                snprintf(n.boot_id, sizeof(n.boot_id), "%s", boot_id);
        /* The host name can change (DHCP, cloud-init) or be stale in our
         * namespace (ProtectHostname=); the machine id ties a record to a
         * node for good. The initramfs may have none: empty then. */
        if (read_under(root, "/etc/machine-id", &machine_id) >= 0 && erasure_machine_id_valid(machine_id))
                snprintf(n.machine_id, sizeof(n.machine_id), "%s", machine_id);

        for (size_t i = 0; i < ELEMENTSOF(conditions) && i < ERASURE_CONDITIONS_MAX; i++) {
                const Condition *c = &conditions[i];
                n.checked[n.n_checked++] = c->name;
                int r = c->present(root);
                if (r == 0)
                        continue;
                ErasureCondition *p = &n.present[n.n_present++];
                p->name = c->name;
                if (r > 0)
                        snprintf(p->detail, sizeof(p->detail), "%s", c->why);
                else   /* not seen is not absent */
                        snprintf(p->detail, sizeof(p->detail), "could not be read (%s): counted as present",
                                 strerror(-r));
        }
        *ret = n;
}

int erasure_machine_id_transient(const char *root) {
        char etc[PATH_MAX], id[PATH_MAX];
        struct stat a, b;
        snprintf(etc, sizeof(etc), "%s/etc", streq(root, "/") ? "" : root);
        snprintf(id, sizeof(id), "%s/machine-id", etc);
        if (stat(etc, &a) < 0 || stat(id, &b) < 0)
                return -errno;
        /* systemd mounts a machine id made for this boot over a read-only
         * /etc's (stateless nodes): another file system than /etc's. */
        return a.st_dev != b.st_dev;
}
