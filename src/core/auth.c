/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <grp.h>
#include <sys/socket.h>

#include "scratchd/auth.h"
#include "scratchd/util.h"

static bool in_group(const Caller *c, gid_t g) {
        if (g == GID_NONE)
                return false;
        if (c->gid == g)
                return true;
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i] == g)
                        return true;
        return false;
}

bool auth_allowed(Access need, const Caller *c, gid_t read_gid, gid_t operator_gid) {
        switch (need) {
        case ACCESS_PUBLIC:
                return true;
        case ACCESS_READ:
                return c->uid == 0 || in_group(c, read_gid) || in_group(c, operator_gid);
        case ACCESS_OPERATE:
                return c->uid == 0 || in_group(c, operator_gid);
        }
        return false;
}

int auth_get_caller(int fd, Caller *ret) {
        struct ucred cred;
        socklen_t n = sizeof(cred);
        Caller c = {};

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &n) < 0)
                return -errno;
        c.uid = cred.uid;
        c.gid = cred.gid;
        c.pid = cred.pid;

        /* Supplementary groups as they were when the peer connected. The
         * kernel fills nothing when they do not fit (ERANGE): such a peer is
         * judged on its primary group alone, so at worst it is refused, never
         * let in wrongly. */
        socklen_t size = sizeof(c.groups);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c.groups, &size) == 0)
                c.n_groups = size / sizeof(gid_t);
        *ret = c;
        return 0;
}

int auth_resolve_group(const char *name, gid_t *ret) {
        if (!name) {
                *ret = GID_NONE;
                return 0;
        }
        struct group *g = getgrnam(name);
        if (!g)
                return -ESRCH;
        *ret = g->gr_gid;
        return 0;
}
