#!/usr/bin/env python3
"""Writes N generated nodes straight into a hydracluster database (the schema
of migrations/*.sql, created first with `hydracluster migrate`), with the
spread of a real fleet: ~60 districts, ~600 venues, a handful of versions,
OS, owners and role sets, unique names, hostnames and addresses; some nodes
with diagnostics, some with imported extra fields; about 5 % heads (a kiosk
role and a heads row).

Each node gets a token; the token hash is the server's keyed BLAKE2b
(server/secret.c: crypto_generichash, 32 bytes, keyed with meta.token_hash_key,
which this script creates when the database has none). The tokens go to
TOKENS_FILE as "node_id token" lines, for the fleet simulator (tests/sim).

usage: gen_fleet.py DB N [TOKENS_FILE] [--seed S] [--online-now]
"""
import hashlib
import os
import random
import sqlite3
import sys
import time


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seed = 1
    for i, a in enumerate(sys.argv):
        if a == "--seed":
            seed = int(sys.argv[i + 1])
    if len(args) < 2:
        sys.exit(__doc__)
    db_path, n = args[0], int(args[1])
    tokens_path = args[2] if len(args) > 2 and not args[2].isdigit() else None
    online_now = "--online-now" in sys.argv
    rnd = random.Random(seed)

    db = sqlite3.connect(db_path)
    row = db.execute("SELECT value FROM meta WHERE key = 'token_hash_key'").fetchone()
    if row is None:
        key = os.urandom(32)
        db.execute("INSERT INTO meta (key, value) VALUES ('token_hash_key', ?)", (key,))
    else:
        key = bytes(row[0])

    districts = ["d%02d-%s" % (i, rnd.choice(["bxl", "ams", "par", "ber", "lon", "mad"])) for i in range(60)]
    venues = ["venue-%03d" % i for i in range(600)]
    versions = ["v0.23.%d" % i for i in range(8, 12)]
    oses = [("windows", "amd64")] * 8 + [("linux", "amd64"), ("darwin", "arm64")]
    owners = ["ops", "render-team", "events", "lab"]
    # bodies; about 5 % are heads (a kiosk role and their heads row, as after a first start)
    role_sets = ['["render-node"]', '["render-node","hydraguard-air"]', '["render-node"]', "[]"]
    heads = []
    providers = ["running", "running", "running", "stopped", ""]
    now = time.time()
    tokens = open(tokens_path, "w") if tokens_path else None
    rows = []
    for i in range(n):
        node_id = "node-%016x" % rnd.getrandbits(64)
        token = hashlib.sha256(b"%d-%d" % (seed, i)).hexdigest()
        th = hashlib.blake2b(token.encode(), digest_size=32, key=key).digest()
        os_, arch = rnd.choice(oses)
        d = rnd.randrange(len(districts))
        venue = venues[(d * 10 + rnd.randrange(10)) % len(venues)]
        seen = now - (rnd.random() * 20 if online_now or rnd.random() < 0.9 else 3600 + rnd.random() * 86400)
        enrolled = now - 86400 * (30 + rnd.random() * 300)
        diag = '{"wireguard":"up","gpu":"ok"}' if rnd.random() < 0.3 else "{}"
        extra = '{"gpu_model":"RTX 4080","rack":"r%02d"}' % rnd.randrange(40) if rnd.random() < 0.2 else "{}"
        rows.append((
            node_id, th, "render-%s-%05d" % (districts[d], i), "DESKTOP-%07X" % rnd.getrandbits(28), os_, arch,
            rnd.choice(versions), rnd.choice(owners), districts[d], venue, rnd.choice(role_sets), "approved",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(enrolled)),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seen)),
            "203.0.%d.%d" % (i // 250 % 256, i % 250 + 1), "10.%d.%d.%d" % (66 + i // 65000, i // 250 % 256, i % 250 + 1),
            "192.168.%d.%d" % (i // 250 % 256, i % 250 + 1), rnd.choice(providers),
            "streaming" if rnd.random() < 0.2 else "idle", diag, extra))
        if rnd.random() < 0.05:
            heads.append(node_id)
            rows[-1] = rows[-1][:10] + ('["hydraheadflatscreen"]',) + rows[-1][11:]
        if tokens:
            tokens.write("%s %s\n" % (node_id, token))
    db.executemany(
        "INSERT INTO nodes (id, token_hash, name, hostname, os, arch, version, owner, district, venue, roles, "
        "approval, enrolled_at, last_seen, ip, wireguard_ip, lan_ip, provider_status, stream_status, diagnostics, "
        "extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.executemany("INSERT INTO heads (node_id, status) VALUES (?, 'idle')", [(h,) for h in heads])
    for name in ("render-node", "hydraguard-air", "hydraheadflatscreen"):
        db.execute("INSERT OR IGNORE INTO roles (name, description, recipe) VALUES (?, '', '{}')", (name,))
    db.commit()
    db.close()
    if tokens:
        tokens.close()


if __name__ == "__main__":
    main()
