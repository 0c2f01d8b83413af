#!/usr/bin/env python3
"""Counts test cases and prints the closing line CI reads: 'N passed, N failed'
(', N skipped' when any).

  summarize.py [TESTLOG.json]... [--tap FILE]...

Each TESTLOG.json is a meson testlog (the C tests; the fuzz runs): cmocka programs count their cases; a program
without a cmocka or TAP summary counts as one case by its meson result; a
program that died before its summary counts one more failure.
--tap FILE is the output of a node --test run (the browser tests, run by
./dev after meson): its '# pass N', '# fail N', '# skipped N' lines are
added; a file without them (the runner died) counts as one failure."""
import json, re, sys

TAP_PASS = re.compile(r'^# pass (\d+)$', re.M)
TAP_FAIL = re.compile(r'^# fail (\d+)$', re.M)
TAP_SKIP = re.compile(r'^# skipped (\d+)$', re.M)
TAP_CANCELLED = re.compile(r'^# cancelled (\d+)$', re.M)


def count(regex, text):
    return sum(map(int, regex.findall(text)))


def main(argv):
    passed = failed = skipped = 0
    testlogs, taps = [], []
    args = iter(argv)
    for a in args:
        if a == '--tap':
            taps.append(next(args))
        else:
            testlogs.append(a)
    for testlog in testlogs:
        with open(testlog) as f:
            for line in f:
                t = json.loads(line)
                out = (t.get('stdout') or '') + (t.get('stderr') or '')
                result = t.get('result')
                p = sum(map(int, re.findall(r'\[  PASSED  \] (\d+) test', out)))
                fl = sum(map(int, re.findall(r'\[  FAILED  \] (\d+) test', out)))
                sk = sum(map(int, re.findall(r'\[  SKIPPED \] (\d+) test', out)))
                p += count(TAP_PASS, out)
                fl += count(TAP_FAIL, out) + count(TAP_CANCELLED, out)
                sk += count(TAP_SKIP, out)
                has_summary = bool(re.search(r'\[==========\] \d+ test\(s\) run|^# pass \d+$', out, re.M))
                passed += p
                failed += fl
                skipped += sk
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
    for path in taps:
        try:
            out = open(path, errors='replace').read()
        except OSError as e:
            out = ''
            print('summary: cannot read %s: %s' % (path, e))
        if not TAP_PASS.search(out):
            failed += 1
            print('summary: %s has no test runner summary (the browser tests did not run to the end)' % path)
            continue
        passed += count(TAP_PASS, out)
        failed += count(TAP_FAIL, out) + count(TAP_CANCELLED, out)
        skipped += count(TAP_SKIP, out)
    print('%d passed, %d failed%s' % (passed, failed, ', %d skipped' % skipped if skipped else ''))


main(sys.argv[1:])
