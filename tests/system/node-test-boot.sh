#!/bin/bash
# Runs inside the booted node image as a systemd unit (see image-lib.sh):
# scratchd came up through systemd, the volume is CLEAN and mounted where
# jobs see it, the decoy is untouched.
R=/results/result
n=0
ok() { n=$((n + 1)); echo "ok $n - $*" >> $R; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*" >> $R; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
note() { echo "# $*" >> $R; }

state() { scratchctl status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["volumes"][0]["state"])' 2>/dev/null; }
for _ in $(seq 1 120); do [ "$(state)" = CLEAN ] && break; sleep 0.5; done

check "scratchd.socket is active" systemctl -q is-active scratchd.socket
check "scratchd.service is active" systemctl -q is-active scratchd.service
check "the volume is CLEAN" test "$(state)" = CLEAN
check "scratchctl status answers" scratchctl status
scratchctl status | sed 's/^/#   /' >> $R
check "/scratch is mounted where jobs see it (PID 1's namespace), nodev,nosuid" \
        bash -c "findmnt -n -o OPTIONS /scratch | grep -q nosuid,nodev"
check "... from the dm-crypt mapping" test "$(findmnt -n -o SOURCE /scratch)" = /dev/mapper/scratchd-scratch
check "the mapping is aes-xts-plain64 with 4096-byte sectors" \
        bash -c "dmsetup table scratchd-scratch | grep -q 'aes-xts-plain64.*sector_size:4096'"
check "the scratch disk is the by-id one" \
        test "$(readlink -f /dev/disk/by-id/ubd-SCRATCH0)" = "$(scratchctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["volumes"][0]["device"])')"
check "the decoy still carries its ext4 filesystem" test "$(blkid -p -o value -s TYPE /dev/ubdb)" = ext4
live_key() { dmsetup table --showkeys scratchd-scratch | awk '{ print $5 }'; }
keys=("$(live_key)")
dir=$(scratchctl prepare --job 1 --user nobody)
check "a job gets its directory" test "$(stat -c '%U %a' "$dir")" = "nobody 700"
check "and gives it back" scratchctl release --job 1
keys+=("$(live_key)")
check "a wipe by hand" scratchctl wipe
keys+=("$(live_key)")

# Whether HEXKEY is in the journal: its bytes or its hex, in any field of any
# entry this boot (journalctl -o export) or anywhere in the journal files.
in_journal() {  # in_journal HEXKEY
        journalctl --sync 2>/dev/null
        python3 - "$1" <<'PY'
import glob, subprocess, sys
hexkey = sys.argv[1].lower()
needles = [bytes.fromhex(hexkey), hexkey.encode(), hexkey.upper().encode()]
blobs = [subprocess.run(["journalctl", "-b", "-o", "export", "--no-pager"], capture_output=True).stdout]
for f in glob.glob("/run/log/journal/**/*.journal", recursive=True) + glob.glob("/var/log/journal/**/*.journal", recursive=True):
    with open(f, "rb") as j:
        blobs.append(j.read())
sys.exit(0 if any(n in b for b in blobs for n in needles) else 1)
PY
}
not_in_journal() { ! in_journal "$1"; }
check "three 512-bit live keys read: setup, the release's wipe, the wipe by hand" \
        test "$(printf '%s\n' "${keys[@]}" | grep -c '^[0-9a-f]\{128\}$')" = 3
check "... all different" test "$(printf '%s\n' "${keys[@]}" | sort -u | wc -l)" = 3
for i in "${!keys[@]}"; do
        check "key $((i + 1)) of ${#keys[@]} is nowhere in the journal" not_in_journal "${keys[$i]}"
done
# The control: a key-like string logged on purpose is found.
probe=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$probe" | systemd-cat -t scratchd-journal-probe
check "control: the journal scan finds a logged key-like string" in_journal "$probe"
pid=$(systemctl show -p MainPID --value scratchd.service)
check "the service runs confined (ProtectSystem=strict: / is read-only for it)" \
        bash -c "awk '\$5 == \"/\" { print \$6 }' /proc/$pid/mountinfo | grep -q '^ro'"
check "the service cannot dump core (LimitCORE=0)" bash -c "grep -Eq '^Max core file size +0 +0' /proc/$pid/limits"
check "the service's capabilities are only what the unit grants" \
        test "$(awk '/^CapBnd/ { print $2 }' /proc/$pid/status)" = 00000000002c0001
systemd-analyze blame 2>/dev/null | head -n 5 | sed 's/^/#   blame: /' >> $R
journalctl -b -u scratchd.service --no-pager 2>/dev/null | tail -n 15 | sed 's/^/#   journal: /' >> $R
echo done >> $R
