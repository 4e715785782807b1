#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# scratchctl verify against records signed by an independent implementation
# (python3-cryptography, the canonical form as json.dumps writes it with
# sorted keys and no spaces): a good record verifies, pinned or not; one
# byte changed in any field, another key, or a record with no signature
# fails; a bad --pubkey is a usage error. TAP.
import base64, json, os, subprocess, sys, tempfile

SCRATCHCTL = os.environ["SCRATCHCTL"]
n = 0
failed = False


def report(ok, what):
    global n, failed
    n += 1
    print(("ok %d - " if ok else "not ok %d - ") % n + what)
    failed = failed or not ok


try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
except ImportError:
    if os.environ.get("CI"):
        print("not ok 1 - python3-cryptography is missing (tools/install-deps installs it)")
        sys.exit(1)
    print("1..0 # SKIP python3-cryptography is missing (tools/install-deps installs it)")
    sys.exit(0)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signed(record, key):
    body = {k: v for k, v in record.items() if k != "signature"}
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    out = dict(body)
    out["signature"] = {"algorithm": "ed25519", "public_key": base64.b64encode(raw).decode(),
                        "value": base64.b64encode(key.sign(canonical(body))).decode()}
    return out


def verify(*args):
    p = subprocess.run([SCRATCHCTL, "verify", *args], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
record = {"format": 1, "volume": "scratch", "job": "1234", "user": "alice", "key_generation": 7,
          "method": {"category": "Purge", "technique": "cryptographic erase", "key_bits": 512},
          "media": [{"model": "Example SSD", "serial": "S\u00e9rie-1", "size_bytes": 2 ** 40}],
          "result": "ok", "weakening": []}
with tempfile.TemporaryDirectory() as tmp:
    def put(name, obj, indent=2):
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=indent, ensure_ascii=False)
        return path

    pub = os.path.join(tmp, "node.pub")
    with open(pub, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    good = put("good.json", signed(record, key))
    rc, out = verify(good, "--pubkey", pub)
    report(rc == 0 and "OK, signed by the given key" in out, "a record signed by Python verifies, pinned (%r)" % out.strip())
    rc, out = verify(good)
    report(rc == 0 and "not pinned" in out, "... and unpinned, saying so")
    # Layout is not signed: the same record on one line verifies too.
    rc, out = verify(put("oneline.json", signed(record, key), indent=None), "--pubkey", pub)
    report(rc == 0, "... whatever its layout")

    # One byte changed in each field (the last character of its text).
    def mutate(obj, path):
        *parents, last = path
        o = obj
        for p in parents:
            o = o[p]
        v = o[last]
        o[last] = v + 1 if isinstance(v, int) else v[:-1] + chr(ord(v[-1]) ^ 1)

    paths = [("volume",), ("job",), ("user",), ("key_generation",), ("method", "category"),
             ("method", "technique"), ("method", "key_bits"), ("media", 0, "model"), ("media", 0, "serial"),
             ("media", 0, "size_bytes"), ("result",), ("format",)]
    caught = []
    for p in paths:
        rec = json.loads(json.dumps(signed(record, key)))
        mutate(rec, p)
        rc, out = verify(put("changed.json", rec), "--pubkey", pub)
        caught.append(rc == 1 and "FAILED" in out)
    report(all(caught), "one byte changed in any of %d fields fails (%d caught)" % (len(paths), sum(caught)))
    rec = json.loads(json.dumps(signed(record, key)))
    sig = base64.b64decode(rec["signature"]["value"])
    rec["signature"]["value"] = base64.b64encode(bytes([sig[0] ^ 1]) + sig[1:]).decode()
    rc, out = verify(put("badsig.json", rec), "--pubkey", pub)
    report(rc == 1 and "bad signature" in out, "a changed signature fails")
    rc, out = verify(put("other.json", signed(record, other)), "--pubkey", pub)
    report(rc == 1 and "FAILED" in out, "a record signed with another key fails against the node's key")
    rc, out = verify(put("unsigned.json", record), "--pubkey", pub)
    report(rc == 1 and "not signed" in out, "an unsigned record fails, saying so")
    rc, out = verify(good, put("changed2.json", dict(signed(record, key), job="1235")), "--pubkey", pub)
    report(rc == 1 and out.count(": OK") == 1 and out.count("FAILED") == 1, "several files: one line each, exit 1 if any fails")

    with open(os.path.join(tmp, "bad.pub"), "w") as f:
        f.write("not a key\n")
    rc, out = verify(good, "--pubkey", os.path.join(tmp, "bad.pub"))
    report(rc == 2 and "not an Ed25519 public key" in out, "a --pubkey that is no key is a usage error, saying so")
    rc, out = verify()
    report(rc == 2 and "needs one or more record files" in out, "no file is a usage error")
print("1..%d" % n)
sys.exit(1 if failed else 0)
