#!/usr/bin/env python3
"""Counts test cases across the test programs run by meson and prints the
closing line CI reads: 'N passed, N failed' (', N skipped' when any).
cmocka programs count their cases; a program without a cmocka summary counts
as one case by its meson result; a cmocka program that died before its
summary counts one more failure."""
import json, re, sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = (t.get('stdout') or '') + (t.get('stderr') or '')
        result = t.get('result')
        p = sum(map(int, re.findall(r'\[  PASSED  \] (\d+) test', out)))
        fl = sum(map(int, re.findall(r'\[  FAILED  \] (\d+) test', out)))
        sk = sum(map(int, re.findall(r'\[  SKIPPED \] (\d+) test', out)))
        # node --test / TAP style summaries from the browser tests
        tp = re.findall(r'^# pass (\d+)$', out, re.M)
        tf = re.findall(r'^# fail (\d+)$', out, re.M)
        ts = re.findall(r'^# skipped (\d+)$', out, re.M)
        p += sum(map(int, tp)); fl += sum(map(int, tf)); sk += sum(map(int, ts))
        has_summary = bool(re.search(r'\[==========\] \d+ test\(s\) run|^# pass \d+$', out, re.M))
        passed += p; failed += fl; skipped += sk
        if not has_summary:
            if result == 'OK':
                passed += 1
            elif result == 'SKIP':
                skipped += 1
            else:
                failed += 1
                print('summary: %s ended %s' % (t.get('name'), result))
        elif result not in ('OK', 'SKIP', 'EXPECTEDFAIL') and fl == 0:
            failed += 1
            print('summary: %s ended %s without a failure count (crash, leak or timeout)' % (t.get('name'), result))
print('%d passed, %d failed%s' % (passed, failed, ', %d skipped' % skipped if skipped else ''))
