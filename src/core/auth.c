/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <grp.h>
#include <pwd.h>
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

bool auth_group_lists(uid_t uid, gid_t g) {
        struct passwd pw, *p = NULL;
        struct group gr, *q = NULL;
        char buf[16384];

        if (g == GID_NONE || getpwuid_r(uid, &pw, buf, sizeof(buf), &p) != 0 || !p)
                return false;
        if (p->pw_gid == g)
                return true;
        _cleanup_free_ char *name = strdup(p->pw_name);
        if (!name || getgrgid_r(g, &gr, buf, sizeof(buf), &q) != 0 || !q)
                return false;
        for (char **m = q->gr_mem; m && *m; m++)
                if (streq(*m, name))
                        return true;
        return false;
}

typedef struct GroupAnswer {
        uid_t uid;
        gid_t gid;
        bool member;
        uint64_t when;
} GroupAnswer;

bool auth_group_lists_cached(uid_t uid, gid_t g) {
        static GroupAnswer cache[64];
        static size_t next;
        uint64_t now = now_usec();

        for (size_t i = 0; i < ELEMENTSOF(cache); i++)
                if (cache[i].when && cache[i].uid == uid && cache[i].gid == g &&
                    now - cache[i].when < AUTH_GROUP_CACHE_USEC)
                        return cache[i].member;
        bool member = auth_group_lists(uid, g);
        cache[next] = (GroupAnswer) { .uid = uid, .gid = g, .member = member, .when = now ?: 1 };
        next = (next + 1) % ELEMENTSOF(cache);
        return member;
}

bool auth_allowed_now(Access need, const Caller *c, gid_t read_gid, gid_t operator_gid, AuthGroupListsFn lists) {
        if (!auth_allowed(need, c, read_gid, operator_gid))
                return false;
        if (need == ACCESS_PUBLIC || c->uid == 0)
                return true;
        /* Let in by a group the credentials name: that group must still list the user. */
        if (in_group(c, operator_gid) && lists(c->uid, operator_gid))
                return true;
        return need == ACCESS_READ && in_group(c, read_gid) && lists(c->uid, read_gid);
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
