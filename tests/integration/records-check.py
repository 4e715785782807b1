#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest side of test-records.sh: checks every erase record in a directory
# against the schema (python3-jsonschema), against both verifiers (scratchctl
# verify, and python3-cryptography over json.dumps's canonical form) with the
# node's exported public key, with one byte changed in each field (both must
# fail), and against the audit log's erase events. Prints "PASS what" or
# "FAIL what", a line each.
#
# records-check.py DIR PUBKEY.pem SCHEMA AUDIT_LOG
import base64, glob, json, os, subprocess, sys, tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.exceptions import InvalidSignature
import jsonschema

records_dir, pubkey_file, schema_file, audit_file = sys.argv[1:5]
SCRATCHCTL = os.environ["SCRATCHCTL"]


def say(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


pub = serialization.load_pem_public_key(open(pubkey_file, "rb").read())
pub_raw = base64.b64encode(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def python_verifies(record):
    """The independent verifier: the node's exported key, not the record's."""
    sig = record.get("signature") or {}
    if sig.get("algorithm") != "ed25519" or sig.get("public_key") != pub_raw:
        return False
    body = {k: v for k, v in record.items() if k != "signature"}
    try:
        pub.verify(base64.b64decode(sig["value"]), canonical(body))
        return True
    except (InvalidSignature, ValueError, KeyError):
        return False


def scratchctl_verify(paths):
    """{path: True if OK} from one run of scratchctl verify --pubkey."""
    p = subprocess.run([SCRATCHCTL, "verify", "--pubkey", pubkey_file, *paths], capture_output=True, text=True)
    out = {}
    for line in p.stdout.splitlines():
        path, _, verdict = line.partition(": ")
        out[path] = verdict.startswith("OK")
    return out


def leaves(obj, path=()):
    """Every scalar in the record but the signature, with its path."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if path == () and k == "signature":
                continue
            yield from leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, path + (i,))
    else:
        yield path, obj


def changed(value):
    """The value with one byte changed."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value ^ 1
    if value is None:
        return 0
    if value == "":
        return "x"
    last = value[-1]
    return value[:-1] + ("y" if last != "y" else "z")


def set_path(obj, path, value):
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value


schema = json.load(open(schema_file))
names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(records_dir, "*.json")))
print("# %d records: %s" % (len(names), " ".join(names)))
records = {}
for name in names:
    with open(os.path.join(records_dir, name)) as f:
        records[name] = json.load(f)

# Schema and both verifiers, as written.
verdicts = scratchctl_verify([os.path.join(records_dir, n) for n in names])
for name, r in records.items():
    try:
        jsonschema.validate(r, schema, format_checker=jsonschema.FormatChecker())
        say(True, "%s is valid against docs/erasure-record.schema.json" % name)
    except jsonschema.ValidationError as e:
        say(False, "%s is valid against the schema: %s" % (name, e.message))
    say(verdicts.get(os.path.join(records_dir, name), False), "%s verifies with scratchctl verify --pubkey" % name)
    say(python_verifies(r), "%s verifies with python3-cryptography against the exported key" % name)

# The node: this boot, this machine (the host name alone can change).
boot_id = open("/proc/sys/kernel/random/boot_id").read().strip()
machine_id = open("/etc/machine-id").read().strip()
say(bool(machine_id), "control: this node has a machine id (%s)" % machine_id)
for name, r in records.items():
    say(r.get("boot_id") == boot_id and r.get("machine_id") == machine_id,
        "%s names this boot and this machine (%s, %s)" % (name, r.get("boot_id"), r.get("machine_id")))

# One byte changed in each field: both verifiers refuse every one.
with tempfile.TemporaryDirectory() as tmp:
    for name, r in records.items():
        paths, python_ok = [], []
        for i, (path, value) in enumerate(leaves(r)):
            bad = json.loads(json.dumps(r))
            set_path(bad, path, changed(value))
            p = os.path.join(tmp, "%s.%d" % (name, i))
            with open(p, "w") as f:
                json.dump(bad, f, indent=2)
            paths.append(p)
            if python_verifies(bad):
                python_ok.append("/".join(map(str, path)))
        v = scratchctl_verify(paths)
        passed_anyway = [p for p in paths if v.get(p, True)]
        say(len(paths) > 20 and not passed_anyway,
            "%s: each of its %d fields changed by one byte fails scratchctl verify (passed: %s)"
            % (name, len(paths), passed_anyway[:3]))
        say(len(paths) > 20 and not python_ok,
            "%s: ... and fails python3-cryptography (passed: %s)" % (name, python_ok[:3]))
    # The control: an unchanged copy, written the same way, passes both.
    any_name = names[0]
    p = os.path.join(tmp, "control.json")
    with open(p, "w") as f:
        json.dump(records[any_name], f, indent=2)
    say(scratchctl_verify([p]).get(p, False) and python_verifies(json.load(open(p))),
        "control: the same record rewritten with another layout still verifies with both")

# The audit log: each erase event names its record, with the same job and
# key generations.
events = [json.loads(l) for l in open(audit_file) if l.strip()]
named = [e for e in events if e.get("record")]
print("# audit events naming a record: %d" % len(named))
for e in named:
    r = records.get(e["record"])
    if r is None:
        # Pruned since (RecordsKeepCount=), or never written: said by the caller.
        continue
    say(r["job"] == e.get("job") and r["key_generation"] == e.get("erased_key_generation") and
        (r["next_key_generation"] in (None, e.get("key_generation"))) and r["volume"].startswith(e["volume"]),
        "%s: job %s, key generation %s -> %s, as the audit line (%s: job %s, %s -> %s)"
        % (e["record"], r["job"], r["key_generation"], r["next_key_generation"], e["event"], e.get("job"),
           e.get("erased_key_generation"), e.get("key_generation")))
