#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""load.py SOCKET CONNECTIONS REQUESTS: opens CONNECTIONS connections at once
and sends REQUESTS GetStatus calls over them, each connection one call at a
time; prints "answered N errors E refused R seconds S"."""
import json
import selectors
import socket
import sys
import time

path, nconn, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
msg = json.dumps({"method": "io.scratchd.GetStatus"}).encode() + b"\0"
sel = selectors.DefaultSelector()
conns = []
refused = 0
for _ in range(nconn):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        refused += 1
        continue
    s.setblocking(False)
    conns.append(s)
sent = answered = errors = 0
buf = {}
start = time.monotonic()
for s in conns:
    if sent < total:
        s.send(msg)
        sent += 1
        buf[s] = b""
        sel.register(s, selectors.EVENT_READ)
while answered + errors < sent and time.monotonic() - start < 600:
    for key, _ in sel.select(timeout=5):
        s = key.fileobj
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            refused += 1
            sent -= 1
            continue
        buf[s] += data
        while b"\0" in buf[s]:
            one, buf[s] = buf[s].split(b"\0", 1)
            if "error" in json.loads(one):
                errors += 1
            else:
                answered += 1
            if sent < total:
                s.send(msg)
                sent += 1
for s in conns:
    s.close()
print("answered %d errors %d refused %d seconds %.1f" % (answered, errors, refused, time.monotonic() - start))
