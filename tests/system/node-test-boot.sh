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
dir=$(scratchctl prepare --job 1 --user nobody)
check "a job gets its directory" test "$(stat -c '%U %a' "$dir")" = "nobody 700"
check "and gives it back" scratchctl release --job 1
pid=$(systemctl show -p MainPID --value scratchd.service)
check "the service runs confined (ProtectSystem=strict: / is read-only for it)" \
        bash -c "awk '\$5 == \"/\" { print \$6 }' /proc/$pid/mountinfo | grep -q '^ro'"
check "the service cannot dump core (LimitCORE=0)" bash -c "grep -Eq '^Max core file size +0 +0' /proc/$pid/limits"
check "the service's capabilities are only what the unit grants" \
        test "$(awk '/^CapBnd/ { print $2 }' /proc/$pid/status)" = 00000000002c0001
systemd-analyze blame 2>/dev/null | head -n 5 | sed 's/^/#   blame: /' >> $R
journalctl -b -u scratchd.service --no-pager 2>/dev/null | tail -n 15 | sed 's/^/#   journal: /' >> $R
echo done >> $R
