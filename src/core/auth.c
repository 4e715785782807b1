/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "scratchd/auth.h"
#include "scratchd/log.h"
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

/* 1 when the user database puts `uid` in `g` now, 0 when it does not, a
 * negative errno when it cannot say. Through getgrouplist(), which NSS
 * modules answer for users whose groups list no members (sssd, LDAP with
 * enumeration off). */
static int group_lists(uid_t uid, gid_t g) {
        struct passwd pw, *p = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ gid_t *groups = NULL;
        int r;

        if (g == GID_NONE)
                return 0;
        for (size_t size = 16384;; size *= 2) {
                if (size > (size_t) 1024 * 1024)
                        return -ERANGE;
                free(buf);
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = getpwuid_r(uid, &pw, buf, size, &p);
                if (r != ERANGE)
                        break;
        }
        if (r != 0)
                return -r;
        if (!p)
                return 0;
        if (p->pw_gid == g)
                return 1;
        int n = 64;
        for (;;) {
                int want = n;
                gid_t *grown = realloc(groups, sizeof(gid_t) * (size_t) n);
                if (!grown)
                        return -ENOMEM;
                groups = grown;
                if (getgrouplist(p->pw_name, p->pw_gid, groups, &n) >= 0)
                        break;
                if (n <= want)  /* no larger count given: a lookup error */
                        n = want * 2;
                if (n > 65536)
                        return -ERANGE;
        }
        for (int i = 0; i < n; i++)
                if (groups[i] == g)
                        return 1;
        return 0;
}

bool auth_group_lists(uid_t uid, gid_t g) {
        return group_lists(uid, g) > 0;
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
        int r = group_lists(uid, g);
        if (r < 0) {
                /* Refused now, asked again next time: an error is not an answer. */
                log_warning("cannot tell whether uid %u is in group %u: %s; refusing this call", (unsigned) uid,
                            (unsigned) g, strerror(-r));
                return false;
        }
        cache[next] = (GroupAnswer) { .uid = uid, .gid = g, .member = r > 0, .when = now ?: 1 };
        next = (next + 1) % ELEMENTSOF(cache);
        return r > 0;
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
