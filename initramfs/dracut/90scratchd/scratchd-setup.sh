#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# dracut pre-pivot hook: the real root is at $NEWROOT; see module-setup.sh.
type warn >/dev/null 2>&1 || . /lib/dracut-lib.sh

conf=$NEWROOT/etc/scratchd/scratchd.conf
[ -f "$conf" ] || return 0 2>/dev/null || exit 0
if ! scratchd --config "$conf" --root "$NEWROOT" setup; then
        warn "scratchd: setup of the scratch disk failed; it stays fenced until scratchd succeeds"
fi
