#!/usr/bin/env bash
# The README's main command, smoked as a new user runs it: `./dev run` builds
# build/ exactly as it always does (debugoptimized, -Werror) and starts the
# server on the embedded default (127.0.0.1:8080, data in ./data). Checks:
# GET /api/v1/health answers 200, the admin token generated into
# ./data/admin_token is accepted by an admin endpoint (and no token is
# refused), and SIGTERM stops it cleanly. Prints "ok"/"not ok" lines and
# "# pass N" / "# fail N", which tests/summarize.py counts (.ci/run).
#
# It needs 127.0.0.1:8080 free (CI runs with nothing else): when something
# already listens there it fails at once and says so.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "not ok - $*"; }
finish() {
    echo "# pass $pass"
    echo "# fail $fail"
    [ "$fail" = 0 ]
    exit $?
}

URL=http://127.0.0.1:8080
if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
    notok "127.0.0.1:8080 is already in use: ./dev run listens there by default; stop whatever runs there (ss -ltnp 'sport = :8080')"
    finish
fi

# the embedded default, not a config of this machine's user
home=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$home" "$log"' EXIT
env -u HYDRACLUSTER_CONFIG HOME="$home" ./dev run >"$log" 2>&1 &
pid=$! # ./dev run execs the server: this is its pid

up=0
for _ in $(seq 1 600); do # the build may run first: up to 10 minutes
    if ! kill -0 "$pid" 2>/dev/null; then
        break
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/health")" = 200 ]; then
        up=1
        break
    fi
    sleep 1
done
if [ $up = 1 ]; then
    ok "./dev run: GET /api/v1/health answers 200"
else
    notok "./dev run did not answer GET /api/v1/health with 200; its output:"
    sed 's/^/#   /' "$log"
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    finish
fi

token=$(cat data/admin_token 2>/dev/null)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$URL/api/v1/nodes")
if [ -n "$token" ] && [ "$code" = 200 ]; then
    ok "the admin token in ./data/admin_token is accepted (GET /api/v1/nodes 200)"
else
    notok "the admin token in ./data/admin_token was not accepted (GET /api/v1/nodes answered $code)"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/nodes")
if [ "$code" = 401 ]; then
    ok "without a token the admin endpoint answers 401"
else
    notok "without a token GET /api/v1/nodes answered $code, not 401"
fi

kill -TERM "$pid"
stopped=0
for _ in $(seq 1 30); do
    if ! kill -0 "$pid" 2>/dev/null; then
        stopped=1
        break
    fi
    sleep 1
done
if [ $stopped = 1 ]; then
    wait "$pid"
    rc=$?
    if [ $rc = 0 ]; then ok "SIGTERM stops it (exit 0)"; else notok "after SIGTERM it exited $rc"; fi
else
    notok "it did not stop within 30 s of SIGTERM"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
fi
finish
