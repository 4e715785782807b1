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
journalctl -b -u scratchd --no-pager | tail -n 5 | sed 's/^/#   journal: /' >> $R
echo done >> $R
