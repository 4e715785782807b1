#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs a guest script inside User-Mode Linux, with the host's root as the
# guest's root (hostfs), so the guest runs the binaries just built, and files
# as block devices. Real dm-crypt: the UML kernel loads dm-mod and dm-crypt.
#
#   uml.sh [--mem SIZE] [--disk FILE[,,SERIAL]] [--new-disk SIZE]... GUEST-SCRIPT [ARGS...]
#
# --new-disk makes a sparse file of SIZE in the run's directory, removed after.
# The guest script runs as PID 1's child with /proc, /sys, /dev and a private
# /run; it writes TAP lines to $RESULT (a file on the host) with the helpers of
# guest-lib.sh. The guest's console is not a reliable channel, so the host
# reads only $RESULT. Exit status: 0 all passed, 1 something failed or the
# guest did not finish, 77 this machine lacks User-Mode Linux (skipped).
set -u

mem=1G
disks=()
new_disks=()
while [ $# -gt 0 ]; do
        case "$1" in
        --mem) mem=$2; shift 2 ;;
        --disk) disks+=("$2"); shift 2 ;;
        --new-disk) disks+=(""); new_disks+=("$2"); shift 2 ;;
        *) break ;;
        esac
done
[ $# -ge 1 ] || { echo "usage: uml.sh [--mem SIZE] [--disk FILE]... GUEST-SCRIPT [ARGS...]" >&2; exit 2; }
guest=$(realpath "$1"); shift

. "$(dirname "$(realpath "$0")")/../lib.sh"   # skip
command -v linux.uml >/dev/null || skip "linux.uml not found (apt-get install user-mode-linux)"
moddir=$(ls -d /usr/lib/uml/modules/*/ 2>/dev/null | head -n1)
[ -n "$moddir" ] || skip "no UML modules under /usr/lib/uml/modules (apt-get install user-mode-linux)"
kver=$(basename "$moddir")
for tool in modprobe dmsetup mkfs.xfs mkfs.ext4; do
        command -v "$tool" >/dev/null || skip "$tool not found (see tools/install-deps)"
done

# Everything the guest writes on the host stays in this directory.
work=$(mktemp -d "${TMPDIR:-/tmp}/scratchd-uml.XXXXXX")
chmod 755 "$work"   # the guest's test users must reach the mounts inside it
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/modroot/lib/modules" "$work/lib"   # lib: STATE_DIRECTORY's parent, as /var/lib
ln -s "${moddir%/}" "$work/modroot/lib/modules/$kver"
: > "$work/result"

cat > "$work/init" <<INIT
#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
# Load order matters: encrypted-keys needs cbc(aes), dm-crypt needs encrypted-keys.
# The guest kernel cannot load modules on demand (they live under modroot), so
# what a cipher may need is loaded here: essiv for cryptsetup's plain default,
# the Adiantum parts for Cipher=auto.
for m in cbc ecb xts essiv sha512_generic chacha_generic poly1305_generic nhpoly1305 adiantum af_alg algif_skcipher dm-mod encrypted-keys dm-crypt; do
        modprobe -d "$work/modroot" \$m || echo "Bail out! modprobe \$m failed" >> "$work/result"
done
# No udevd in this guest: libdevmapper makes the /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1
# The node key and erase records: the test's, not the host's /var/lib (the
# guest's root is the host's), through STATE_DIRECTORY (ending in /scratchd).
export STATE_DIRECTORY="$work/lib/scratchd"
export WORK="$work" RESULT="$work/result" GUEST_LIB="$(dirname "$(realpath "$0")")/guest-lib.sh"
export CRASH_TRIALS="${CRASH_TRIALS:-}" CRASH_FIRST="${CRASH_FIRST:-}" CRASH_LAST="${CRASH_LAST:-}" ROUNDS="${ROUNDS:-}" RUNTIME="${RUNTIME:-}" PREPARES="${PREPARES:-}" RELEASE_SIZES="${RELEASE_SIZES:-}" RELEASE_ROUNDS="${RELEASE_ROUNDS:-}" DIRTY_SIZES="${DIRTY_SIZES:-}" WHERE="${WHERE:-}" SCRATCHD="${SCRATCHD:-}" SCRATCHCTL="${SCRATCHCTL:-}" STATUS_BENCH="${STATUS_BENCH:-}" SOURCE_ROOT="${SOURCE_ROOT:-$(realpath "$(dirname "$(realpath "$0")")/../..")}"
cd "$work"
timeout ${GUEST_TIMEOUT:-500} "$guest" $(printf '%q ' "$@") > "$work/guest.log" 2>&1
echo "guest-exit \$?" >> "$work/status"
sync
halt -f
INIT
chmod +x "$work/init"

ubd=()
i=0
k=0
for d in "${disks[@]}"; do
        if [ -z "$d" ]; then   # --new-disk, in order with --disk
                d=$work/disk$i.img
                truncate -s "${new_disks[$k]}" "$d"
                k=$((k + 1))
        fi
        ubd+=("ubd$i=$d")
        i=$((i + 1))
done

start=$(date +%s.%N)
timeout "${UML_TIMEOUT:-600}" linux.uml mem="$mem" "${ubd[@]}" root=/dev/root rootfstype=hostfs rootflags=/ rw \
        init="$work/init" con=null con0=fd:0,fd:1 pty.legacy_count=0 quiet </dev/null > "$work/console.log" 2>&1
uml_rc=$?
end=$(date +%s.%N)

cat "$work/result"
if ! grep -q '^guest-exit ' "$work/status" 2>/dev/null; then
        echo "not ok - the guest did not finish (linux.uml exit $uml_rc); console tail:"
        tail -n 30 "$work/console.log" | sed 's/^/# /'
        sed 's/^/# guest: /' "$work/guest.log" | tail -n 40
        exit 1
fi
printf '# UML run took %.1f s\n' "$(echo "$end - $start" | bc)"
if grep -q -e '^not ok' -e '^Bail out' "$work/result" || ! grep -q '^ok' "$work/result" \
        || ! grep -q '^guest-exit 0$' "$work/status"; then
        echo "# guest log:"
        sed 's/^/# guest: /' "$work/guest.log" | tail -n 60
        # Last, so that a log cut to its tail (CI keeps only the end) still
        # names what failed.
        echo "# failed in this guest:"
        grep -e '^not ok' -e '^Bail out' "$work/result" | head -n 20 | sed 's/^/#   /'
        grep -q '^guest-exit 0$' "$work/status" || echo "#   the guest's script exited $(sed -n 's/^guest-exit //p' "$work/status")"
        exit 1
fi
exit 0
