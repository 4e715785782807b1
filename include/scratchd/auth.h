/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Who called, from SO_PEERCRED and SO_PEERGROUPS: what the kernel vouches for. */
typedef struct Caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t groups[64];
        size_t n_groups;
} Caller;

typedef enum Access {
        ACCESS_PUBLIC,    /* introspection: anyone */
        ACCESS_READ,      /* status, metrics, watch: root, ReadGroup, OperatorGroup */
        ACCESS_OPERATE,   /* prepare, release, wipe: root, OperatorGroup */
} Access;

#define GID_NONE ((gid_t) -1)

/* The authorization table: may `c` do what `need` allows? */
bool auth_allowed(Access need, const Caller *c, gid_t read_gid, gid_t operator_gid);

/* auth_allowed(), with each group the caller's credentials name also
 * checked in the group database now (the user's primary group, or a
 * member): credentials are fixed when the peer connects, so an admin who
 * removes a user from OperatorGroup= must revoke its open connections too.
 * The database is asked at most every AUTH_GROUP_CACHE_USEC per user and
 * group. */
typedef bool (*AuthGroupListsFn)(uid_t uid, gid_t g);
bool auth_allowed_now(Access need, const Caller *c, gid_t read_gid, gid_t operator_gid, AuthGroupListsFn lists);

/* Whether the group database puts `uid` in group `g` now: its primary group,
 * or a member of it. No such user or group: false. */
bool auth_group_lists(uid_t uid, gid_t g);
/* The same, each answer kept for AUTH_GROUP_CACHE_USEC (a hook calls twice
 * a job, a dashboard every few seconds; NSS may be LDAP). For one thread. */
#define AUTH_GROUP_CACHE_USEC (5 * UINT64_C(1000000))
bool auth_group_lists_cached(uid_t uid, gid_t g);

/* Reads the peer's credentials from a connected AF_UNIX socket. */
int auth_get_caller(int fd, Caller *ret);

/* Resolves a group name from the config; GID_NONE for NULL. */
int auth_resolve_group(const char *name, gid_t *ret);
