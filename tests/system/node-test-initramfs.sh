#!/bin/bash
# Runs inside the node image booted from an initramfs built with the project's
# hook (see test-initramfs.sh): the volume the initramfs made is adopted, not
# wiped again, and was CLEAN and mounted before sysinit (see early-check).
R=/results/result
RESULT=$R
. /usr/local/lib/scratchd-tests/lib.sh   # ok, not_ok, check, note, field (tests/lib.sh)

sed 's/^/# early: /' /results/early >> $R
check "before sysinit, /scratch was mounted from the dm-crypt mapping" grep -q '^mount: /dev/mapper/scratchd-scratch' /results/early
check "before sysinit, scratchd's record said CLEAN" grep -q '^state=CLEAN$' /results/early
check "before sysinit, the mapping was aes-xts-plain64" grep -q '^table: .*aes-xts-plain64' /results/early
for _ in $(seq 1 60); do [ "$(field state)" = CLEAN ] && break; sleep 0.5; done
check "the daemon has the volume CLEAN" test "$(field state)" = CLEAN
check "the daemon adopted it: still key generation 1, not wiped again" test "$(field key_generation)" = 1
check "the daemon said it had nothing to do" bash -c "journalctl -b -u scratchd --no-pager | grep -q 'already CLEAN'"
# The initramfs's erase: recorded there unsigned (no key, the root read-only),
# signed by the daemon at its start.
check "the daemon signed the initramfs's erase record" \
        bash -c "journalctl -b -u scratchd --no-pager | grep -q 'erase record from the initramfs signed'"
check "... none is left pending" test -z "$(ls -A /run/scratchd/records-pending 2>/dev/null)"
scratchctl pubkey > /tmp/node.pub
# This boot's erase at start-up (the boot id is the same in the initramfs).
first=$(python3 -c '
import glob, json
boot = open("/proc/sys/kernel/random/boot_id").read().strip()
for p in sorted(glob.glob("/var/lib/scratchd/records/*.json")):
    r = json.load(open(p))
    if r["boot_id"] == boot and r["trigger"] == "startup":
        print(p)
        break')
check "... it is there (this boot's, trigger startup) and verifies with the node's key" \
        bash -c "test -n '$first' && scratchctl verify --pubkey /tmp/node.pub '$first'"
check "... it names this machine (its machine id, set at the signing)" \
        python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(not (r["machine_id"] and r["machine_id"] == open("/etc/machine-id").read().strip() and r["signed_later"]))' "$first"

# The first release after boot: /scratch is the initramfs's mount, not a
# mount unit of scratchd's, so systemd's stop of it is a plain umount,
# which what the job mounted below its directory keeps busy. PID 1 then
# runs umount --lazy for us: the release succeeds, the submount goes with it.
check "control: /scratch is no transient mount unit (the initramfs mounted it)" \
        test "$(systemctl show -p Transient --value scratch.mount)" = no
dir=$(scratchctl prepare --job 1 --user nobody)
mkdir -p "$dir/sub" && mount -t tmpfs -o size=1m leftover "$dir/sub" && echo x > "$dir/sub/marker"
left_over() { findmnt -rn -o TARGET | grep -qx "$dir/sub"; }
check "control: the job left a mount below its directory" left_over
check "the release succeeds" scratchctl release --job 1
check_fails "... the submount detached with it" left_over
check "... a new key (generation 2)" test "$(field key_generation)" = 2
check "... by way of umount --lazy" bash -c "journalctl -b --no-pager | grep -q 'scratchd: umount --lazy /scratch'"
check "... CLEAN, and mounted again from the mapping" \
        test "$(field state) $(findmnt -n -o SOURCE /scratch)" = "CLEAN /dev/mapper/scratchd-scratch"
# systemd keeps its own unit of the path the initramfs mounted: PID 1 runs
# mount(8) instead of making a transient mount unit.
check "... by PID 1 running mount(8), its own unit of /scratch being in the way" \
        bash -c "journalctl -b --no-pager | grep -q 'scratchd: mount /scratch'"
journalctl -b -u scratchd --no-pager | tail -n 12 | sed 's/^/#   journal: /' >> $R
echo done >> $R
