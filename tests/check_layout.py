#!/usr/bin/env python3
"""The dependency direction of docs/architecture.md, checked on the includes:
api -> fleet -> store, with server/ (the runtime) under everything. Includes are
flat (#include "registry.h"), so a header is known by the folder holding it.

    check_layout.py SOURCE_ROOT
"""
import os
import re
import sys

root = sys.argv[1]
folders = ["server", "store", "fleet", "api", "middleware", "web", "cli"]
home = {}
for d in folders:
    for name in os.listdir(os.path.join(root, d)):
        if name.endswith(".h"):
            home[name] = d

# what each folder must not include from; serve.c and main.c compose the
# process (and routes.c, the route table, names the api/ handlers by design)
forbidden = {
    "server": {"fleet"},
    "store": {"fleet", "api", "middleware", "web", "cli"},
    "fleet": {"api", "middleware", "web", "cli"},
}
composition_root = {"server/serve.c", "server/main.c"}

bad = []
for d, banned in forbidden.items():
    for name in sorted(os.listdir(os.path.join(root, d))):
        rel = d + "/" + name
        if not name.endswith((".c", ".h")) or rel in composition_root:
            continue
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if m and home.get(m.group(1)) in banned:
                    bad.append("%s:%d: includes %s from %s/" % (rel, lineno, m.group(1), home[m.group(1)]))
for b in bad:
    print(b)
if bad:
    print("%d include(s) against the dependency direction (docs/architecture.md)" % len(bad))
    sys.exit(1)
print("layout: every include follows api -> fleet -> store, server/ under everything")
