# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for guest scripts run by uml.sh. Results go to $RESULT as TAP lines.

n=0
ok() { n=$((n + 1)); echo "ok $n - $*" >> "$RESULT"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*" >> "$RESULT"; }
note() { echo "# $*" >> "$RESULT"; }
check() {  # check DESCRIPTION COMMAND...: ok if COMMAND succeeds
        local what=$1; shift
        if "$@"; then ok "$what"; else not_ok "$what"; fi
}
bail() { echo "Bail out! $*" >> "$RESULT"; exit 1; }

# Write a config for one volume: conf FILE DEVICE MOUNTPOINT [Key=Value]...
conf() {
        local file=$1 dev=$2 mnt=$3; shift 3
        { echo "[Scratch]"; echo "Devices=$dev"; echo "MountPoint=$mnt"; for kv in "$@"; do echo "$kv"; done; } > "$file"
}

# Run scratchd, keeping its stderr in $WORK/stderr; returns its exit status.
scratchd() {
        "$SCRATCHD" "$@" 2> "$WORK/stderr"
        local rc=$?
        sed 's/^/    /' "$WORK/stderr" >> "$WORK/scratchd.log"
        return $rc
}

mount_options() { awk -v m="$1" '$5 == m { print $6 }' /proc/self/mountinfo | tail -n1; }

# The volume key as the kernel holds it: field 5 of `dmsetup table --showkeys`.
live_key() { dmsetup table --showkeys "$1" | awk '{ print $5 }'; }

# How many times the marker occurs in the whole device (grep -c counts lines,
# -o counts each hit; -a reads binary).
count_marker() { grep -a -o -F "$2" "$1" 2>/dev/null | wc -l; }

sum() { sha256sum "$1" | cut -d' ' -f1; }
