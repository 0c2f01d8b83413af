#!/usr/bin/env python3
"""Counts test cases across the cmocka programs run by meson and prints the
closing line CI reads: 'N passed, N failed' (', N skipped' when any).
A program that died without its cmocka summary counts as one failure."""
import json, re, sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = (t.get('stdout') or '') + (t.get('stderr') or '')
        p = re.findall(r'\[  PASSED  \] (\d+) test', out)
        fl = re.findall(r'\[  FAILED  \] (\d+) test', out)
        sk = re.findall(r'\[  SKIPPED \] (\d+) test', out)
        passed += sum(map(int, p))
        failed += sum(map(int, fl))
        skipped += sum(map(int, sk))
        if t.get('result') not in ('OK', 'SKIP', 'EXPECTEDFAIL') and not fl:
            failed += 1
            print('summary: %s ended %s without a cmocka failure count' % (t.get('name'), t.get('result')))
        if t.get('result') == 'SKIP' and not p and not sk:
            skipped += 1
print('%d passed, %d failed%s' % (passed, failed, ', %d skipped' % skipped if skipped else ''))
