#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""memscan.py PID HEXKEY: counts the places in PID's readable memory where the
key's bytes (or its hex spelling) occur; prints "hits N regions M bytes B"."""
import re
import sys

pid, hexkey = sys.argv[1], sys.argv[2].lower()
needles = [bytes.fromhex(hexkey), hexkey.encode(), hexkey.upper().encode()]
hits = regions = scanned = 0
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        start, end, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        if perms[0] != "r" or "[vvar]" in line or "[vsyscall]" in line:
            continue
        try:
            mem.seek(start)
            data = mem.read(end - start)
        except (OSError, ValueError, OverflowError):
            continue
        regions += 1
        scanned += len(data)
        for n in needles:
            hits += data.count(n)
print("hits %d regions %d bytes %d" % (hits, regions, scanned))
