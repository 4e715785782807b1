/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Who holds a file system, found without touching any file system: the
 * scan reads only /proc (mountinfo, fdinfo's mnt_id, the cwd and root links
 * read as text), so a dead NFS hard mount, an evicted Lustre client
 * or a stopped FUSE daemon elsewhere on the node cannot make it hang. */

typedef enum HolderWhy {
        HOLDER_FILE = 1 << 0,        /* an open file on it */
        HOLDER_CWD = 1 << 1,         /* its cwd or root on it */
        HOLDER_MAP = 1 << 2,         /* a mapping of a file on it: not looked for yet; such a
                                      * holder keeps the mapping open, its removal fails: fenced */
        HOLDER_NAMESPACE = 1 << 3,   /* a mount namespace of its own that keeps it mounted */
} HolderWhy;

typedef struct Holder {
        pid_t pid;
        uid_t uid;                   /* real uid */
        char comm[17];
        unsigned why;                /* HolderWhy bits */
} Holder;

/* Every process that holds the file system of device `dev`, but this one.
 * A namespace holder is a process whose mount namespace has `dev` mounted
 * without propagation from ours (`unshare -m`): an unmount here leaves its
 * copy, which keeps the device open. -errno if /proc cannot be read: a
 * scan that cannot see is not a pass. */
int holders_find(dev_t dev, Holder **ret, size_t *ret_n);

/* The scan and the kills need ptrace rights over every process and
 * CAP_KILL, which the daemon's unit does not grant: under systemd they are
 * made by scratchd-holders, a small helper of its own unit, reached through
 * the socket below (scratchd-holders.socket). Where that socket does not
 * exist (no systemd: initramfs, tests) they are made here, in this process.
 * $SCRATCHD_HOLDERS_SOCKET names another socket, or "" for here. */
#define HOLDERS_SOCKET "/run/scratchd-holders.sock"

/* The same, here: what the helper runs. -EPERM without CAP_SYS_PTRACE. */
int holders_find_local(dev_t dev, Holder **ret, size_t *ret_n);
/* SIGKILLs the holders of `dev` whose real uid is `uid` (never uid 0),
 * waits up to `wait_usec` for them to be gone; the killed into *ret. */
int holders_kill_local(dev_t dev, uid_t uid, unsigned long long wait_usec, Holder **ret, size_t *ret_n);

/* The helper's side of one call: reads a request from `in`, answers it on
 * `out` (see holders-client.c for the lines). */
int holders_serve(int in, int out);

/* "123 (bash, uid 1000, cwd), 456 (sleep, uid 1000, namespace)". */
void holders_format(const Holder *h, size_t n, char *buf, size_t size);

/* SIGKILLs the holders of `dev` whose real uid is `uid`, waits up to
 * `wait_usec` for them to be gone, and names them in `killed` (as
 * holders_format). The number killed, or -errno. */
int holders_kill(dev_t dev, uid_t uid, unsigned long long wait_usec, char *killed, size_t size);

/* What holders_kill() killed on this thread since holders_killed_reset():
 * for the audit event of the work that did it. */
void holders_killed_reset(void);
const char *holders_killed(void);

/* The mount points below `where` (not `where` itself) in the mount table
 * at `mountinfo` (/proc/1/mountinfo: the host's), deepest first, as a
 * NULL-terminated list. */
int holders_submounts(const char *mountinfo, const char *where, char ***ret);


/* Parses one line of a mountinfo file: its mount id, device, mount point
 * (unescaped) and whether it propagates (a shared: or master: tag). */
int holders_parse_mountinfo_line(const char *line, int *ret_id, dev_t *ret_dev, char *mount_point, size_t size,
                                 bool *ret_propagates);
