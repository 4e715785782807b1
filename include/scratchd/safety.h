/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "scratchd/disk.h"

typedef enum SafetyVerdict {
        SAFETY_BLANK,       /* no signature, and zeros where signatures live, at both ends */
        SAFETY_OURS,        /* our own mapping is active on it */
        SAFETY_LABELLED,    /* scratchd's header for this very disk, and no foreign signature */
        SAFETY_EXPENDABLE,  /* foreign signatures, but config says they may be destroyed */
        SAFETY_REFUSED,     /* never touch it */
} SafetyVerdict;

/* Decides whether scratchd may own the disk described by `f`, on positive
 * evidence: its own header for this disk, or zeros. Refusals (and
 * SAFETY_EXPENDABLE, which destroys data) get a one-line reason in `reason`
 * that names the disk and what was found. In use (root, swap, mounted, held
 * by md/LVM/dm) is refused even with `expendable`, and so are a header that
 * names another disk and one from a newer scratchd; foreign signatures and
 * unrecognised data (random bytes: perhaps a headerless encrypted volume)
 * only without it. */
SafetyVerdict safety_check(const DiskFacts *f, bool expendable, char *reason, size_t reason_size);

/* What a signature type is, for people: "ext4" -> "an ext4 filesystem",
 * "LVM2_member" -> "an LVM physical volume". */
const char *signature_describe(const char *type, char *buf, size_t size);
