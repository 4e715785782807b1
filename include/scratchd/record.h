/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "scratchd/lifecycle.h"

/* What scratchd knows of a volume, kept in <state dir>/<name>.state on a
 * tmpfs (/run): never the key, only its generation. In shared mode the pool
 * has one under its name, and each job volume one under "<name>.<thin id>"
 * (jobvol.h), where `device` is its thin volume, `data_size` its size and
 * `mount_point` MountPoint/JOB. */
struct Record {
        LifecycleState state;
        uint64_t generation;         /* bumped at each re-key */
        dev_t mapping_devnum;        /* of /dev/mapper/scratchd-<name> when CLEAN or IN_USE */
        char device[1024];           /* the raw disks, space-separated, in stripe order */
        uint64_t data_size;          /* of the data device under dm-crypt, bytes (0: not known) */
        uint64_t chunk_size;         /* the stripe's chunk, bytes; 0: one disk */
        char mount_point[256];
        char cipher[64];             /* "aes-xts-plain64" */
        unsigned key_bits;
        unsigned sector_size;
        bool bypass_workqueues;
        bool allow_discards;
        char tuning[320];            /* where each setting came from (CryptTuning.why) */
        char reason[512];            /* why FAILED, or why ABSENT (the disk cannot be taken) */
        char job[65];                /* IN_USE: the job that holds it */
        char user[65];               /* IN_USE: the job's user, and uid */
        uint32_t uid;
        char last_job[65];           /* the job last released, so a repeated Release succeeds */
        uint32_t thin_id;            /* shared mode: a job volume's thin id; the pool's next one to hand out */
        time_t created;              /* shared mode: when the job volume was made, realtime seconds */
        time_t last_wipe;            /* realtime, seconds */
        uint64_t last_wipe_usec;     /* how long it took */
};

/* Writes atomically: a temporary file, fsync, rename, fsync of the directory. */
int record_save(const char *dir, const char *name, const Record *rec);

/* -ENOENT if there is no record; -EBADMSG if it is not one we wrote. */
int record_load(const char *dir, const char *name, Record *ret);

int record_format(const Record *rec, char *buf, size_t size);
int record_parse(const char *text, Record *ret);
