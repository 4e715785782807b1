#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad clients against scratchd's socket: each gets its error or is dropped,
and a well-behaved client is served right after each. Prints TAP lines.

    varlink-abuse.py SOCKET IDLE-TIMEOUT-SECONDS
"""
import json
import socket
import sys
import time

path = sys.argv[1]
idle = float(sys.argv[2])
n = 0
failed = False


def report(good, what):
    global n, failed
    n += 1
    print(("ok %d - %s" if good else "not ok %d - %s") % (n, what), flush=True)
    failed |= not good


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def receive(s):
    """One reply, or None if the server closed the connection."""
    buf = b""
    while b"\0" not in buf:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not chunk:
            return None
        buf += chunk
    return json.loads(buf.split(b"\0", 1)[0])


def closed(s, timeout=5):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def call(s, method, params=None, more=False):
    msg = {"method": method}
    if params is not None:
        msg["parameters"] = params
    if more:
        msg["more"] = True
    s.sendall(json.dumps(msg).encode() + b"\0")
    return receive(s)


def served(what):
    s = connect()
    r = call(s, "io.scratchd.GetStatus")
    s.close()
    report(r is not None and "error" not in r and len(r["parameters"]["volumes"]) == 1,
           "a well-behaved client is served right after " + what)


# Malformed JSON: an error naming it, then the connection is dropped.
s = connect()
s.sendall(b'{"method": "io.scratchd.GetStatus", \0')
r = receive(s)
report(r is not None and r.get("error") == "io.scratchd.InvalidMessage", "malformed JSON gets InvalidMessage")
report(closed(s), "the malformed client is dropped")
served("malformed JSON")

# Valid JSON that is not a call.
s = connect()
s.sendall(b'[1, 2, 3]\0')
r = receive(s)
report(r is not None and r.get("error") == "io.scratchd.InvalidMessage", "a JSON array gets InvalidMessage")
s.close()

# Unknown method: a named error; the connection stays usable.
s = connect()
r = call(s, "io.scratchd.Format")
report(r.get("error") == "org.varlink.service.MethodNotFound" and r["parameters"]["method"] == "io.scratchd.Format",
       "an unknown method gets MethodNotFound naming it")
r = call(s, "io.scratchd.GetStatus")
report(r is not None and "error" not in r, "the same connection is served after MethodNotFound")
s.close()

# Missing and wrongly typed parameters.
for params, bad in [({"user": "nobody"}, "job"), ({"job": "1"}, "user"), ({"job": 7, "user": "nobody"}, "job"),
                    ({"job": "1", "user": ["x"]}, "user"), ({"job": "../etc", "user": "nobody"}, "job"),
                    ({"job": "1", "user": "nobody", "colour": "red"}, "colour")]:
    s = connect()
    r = call(s, "io.scratchd.Prepare", params)
    report(r.get("error") == "org.varlink.service.InvalidParameter" and r["parameters"].get("parameter") == bad,
           "Prepare(%s) gets InvalidParameter naming '%s'" % (json.dumps(params), bad))
    s.close()
s = connect()
r = call(s, "io.scratchd.Release", {"job": "no-such-job"})
report(not r.get("error") and r.get("parameters", {}).get("unknown") is True,
       "Release of an unknown job succeeds, saying it was unknown (nothing to erase)")
s.close()
s = connect()
r = call(s, "io.scratchd.Subscribe")
report(r.get("error") == "org.varlink.service.ExpectedMore", "Subscribe without more gets ExpectedMore")
s.close()
served("bad parameters")

# 1 MiB message: refused once it passes 64 KiB, then dropped.
s = connect()
try:
    s.sendall(b'{"method": "io.scratchd.GetStatus", "parameters": {"x": "' + b"A" * (1 << 20) + b'"}}\0')
except (BrokenPipeError, ConnectionResetError):
    pass
r = receive(s)
report(r is not None and r.get("error") == "io.scratchd.InvalidMessage", "a 1 MiB message gets InvalidMessage")
report(closed(s), "the 1 MiB client is dropped")
served("a 1 MiB message")

# Half a message, then silence: dropped after the idle timeout.
s = connect()
s.sendall(b'{"method": "io.scratchd.GetSt')
start = time.monotonic()
gone = closed(s, timeout=idle + 5)
took = time.monotonic() - start
report(gone and took < idle + 3, "a client that stalls mid-message is dropped (after %.1f s; idle timeout %.0f s)"
       % (took, idle))
served("a stalled client")

# 500 connections at once: each is served or refused with an error, none hangs.
conns = []
refused = 0
for i in range(500):
    try:
        conns.append(connect())
    except OSError:
        refused += 1
answered = errors = 0
for c in conns:
    try:
        c.sendall(json.dumps({"method": "io.scratchd.GetStatus"}).encode() + b"\0")
    except (BrokenPipeError, ConnectionResetError):
        pass
for c in conns:
    r = receive(c)
    if r is None:
        refused += 1
    elif "error" in r:
        errors += 1 if r["error"] == "io.scratchd.TooManyConnections" else 1000
    else:
        answered += 1
for c in conns:
    c.close()
report(answered + errors + refused == 500 and errors < 1000,
       "500 connections at once: %d answered, %d refused with TooManyConnections, %d closed"
       % (answered, errors, refused))
report(answered >= 1, "some of the 500 were answered")
served("500 connections")
sys.exit(1 if failed else 0)
