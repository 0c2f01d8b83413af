#!/usr/bin/env python3
"""docs/api.md must carry the route table the binary prints (`hydracluster
routes`), between the routes:begin/end markers. `--write` updates the doc."""
import subprocess, sys

binary, doc = sys.argv[1], sys.argv[2]
table = subprocess.run([binary, 'routes'], check=True, capture_output=True, text=True).stdout
text = open(doc).read()
begin, end = '<!-- routes:begin -->\n', '<!-- routes:end -->'
a, b = text.index(begin) + len(begin), text.index(end)
if '--write' in sys.argv:
    open(doc, 'w').write(text[:a] + table + text[b:])
    sys.exit(0)
if text[a:b] != table:
    sys.exit('docs/api.md route table is out of date: run  python3 tests/check_docs_routes.py build/hydracluster docs/api.md --write')
print('docs/api.md route table matches the binary (%d routes)' % (table.count('\n') - 2))
