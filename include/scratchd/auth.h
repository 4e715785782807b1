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

/* Reads the peer's credentials from a connected AF_UNIX socket. */
int auth_get_caller(int fd, Caller *ret);

/* Resolves a group name from the config; GID_NONE for NULL. */
int auth_resolve_group(const char *name, gid_t *ret);
