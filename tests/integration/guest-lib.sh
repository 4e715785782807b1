# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for guest scripts run by uml.sh. Results go to $RESULT as TAP lines
# through the shared helpers (ok, not_ok, note, check, bail, field).
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

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
# -z: records end at NUL, not newline, so that a never-written stretch of
# zeros is not one line of gigabytes for grep to hold (it runs out of memory,
# and a failed scan must not read as "not found": it prints "unreadable").
count_marker() {
        local n
        n=$(LC_ALL=C grep -a -z -o -F "$2" "$1" | tr -dc '\0' | wc -c; exit $((PIPESTATUS[0] > 1))) || n="unreadable:$1"
        echo "$n"
}

sum() { sha256sum "$1" | cut -d' ' -f1; }

# The daemon, in the background, logging to $WORK/daemon.log.
start_daemon() {  # start_daemon CONFIG [VAR=VALUE]...
        local config=$1; shift
        env "$@" "$SCRATCHD" --config "$config" --socket "$SOCK" >> "$WORK/daemon.log" 2>&1 &
        DAEMON_PID=$!
        local i
        for ((i = 0; i < 100; i++)); do [ -S "$SOCK" ] && return 0; sleep 0.1; done
        return 1
}
SOCK=/run/scratchd/io.scratchd

# --no-wait: these tests kill and crash the daemon on purpose, with no
# systemd to start it again, and want each call's failure at once, not
# after scratchctl has waited its timeout for a daemon that is not coming.
ctl() { "$SCRATCHCTL" --socket "$SOCK" --no-wait "$@"; }

# Waits until every volume is in STATE (CLEAN by default), at most 60 s.
wait_state() {
        local want=${1:-CLEAN}
        for _ in $(seq 1 600); do
                [ "$(ctl status --json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(v["state"] + ("?" if v.get("adopting") else "") for v in json.load(sys.stdin)["volumes"]))')" = "$want" ] && return 0
                sleep 0.1
        done
        return 1
}

# Every scalar field of the first volume, from one `scratchctl status --json`,
# into the associative array VOL (VOL[state], VOL[key_generation], ...:
# strings without their quotes, escapes kept; true/false as JSON writes them;
# a field the volume lacks is unset). Bash only: where a guest loops, starting
# python for each field (`field`) costs a third of a second. Returns 1, VOL
# empty, where status fails. Only keys match: inside a string every quote is
# escaped, and each match takes its whole value.
declare -A VOL
read_vol() {
        local json first m re='"([A-Za-z_]+)":[[:space:]]*("(([^"\\]|\\.)*)"|[-+.0-9A-Za-z]+)'
        VOL=()
        json=$(ctl status --json) || return 1
        [[ $json == *'"volumes":'*'"name":'* ]] || return 1
        json=${json#*\"volumes\":}
        first=${json#*\"name\":}
        first="\"name\":${first%%\"name\":*}"   # up to the next volume's first key
        while [[ $first =~ $re ]]; do
                m=${BASH_REMATCH[0]}
                if [[ ${BASH_REMATCH[2]} == \"* ]]; then VOL[${BASH_REMATCH[1]}]=${BASH_REMATCH[3]}
                else VOL[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}; fi
                first=${first#*"$m"}
        done
        return 0
}

# Run as another user: as_user USER[:GROUP,...] COMMAND... Each user's ids
# are looked up once (forks are dear in UML; the crash trials run it often).
declare -A _uid_of _gid_of
as_user() {
        local who=${1%%:*} groups=
        [ "$who" != "$1" ] && groups=${1#*:}
        shift
        [ -n "${_uid_of[$who]:-}" ] || { _uid_of[$who]=$(id -u "$who") && _gid_of[$who]=$(id -g "$who"); } || return 1
        local uid=${_uid_of[$who]} gid=${_gid_of[$who]}
        if [ -n "$groups" ]; then
                setpriv --reuid="$uid" --regid="$gid" --groups="$(getent group ${groups//,/ } | cut -d: -f3 | paste -sd,)" -- "$@"
        else
                setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
        fi
}
