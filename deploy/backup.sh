#!/bin/sh
# Online backup of the hydracluster database, safe while the server runs.
#
#   backup.sh [DIR]        (default /var/backups/hydracluster)
#
# Writes DIR/hydracluster-<UTC time>.db with `hydracluster backup` (SQLite's
# online backup from one read snapshot, verified with PRAGMA integrity_check,
# fsynced, renamed into place) and keeps the newest $KEEP copies (default 14).
# Run it as root (it switches to the service user) or as the service user
# (the hydracluster-backup.service unit does). Restore: deploy/restore.sh and
# docs/operations.md.
#
# Environment: HYDRACLUSTER_BIN (/usr/local/bin/hydracluster),
# HYDRACLUSTER_CONFIG (/etc/hydracluster/config.yaml), KEEP (14),
# RUN_AS (hydracluster; empty: run as the calling user).
set -eu

DIR=${1:-/var/backups/hydracluster}
BIN=${HYDRACLUSTER_BIN:-/usr/local/bin/hydracluster}
CONFIG=${HYDRACLUSTER_CONFIG:-/etc/hydracluster/config.yaml}
KEEP=${KEEP:-14}
RUN_AS=${RUN_AS-hydracluster}

case "$KEEP" in
    ''|*[!0-9]*|0) echo "backup.sh: KEEP must be a positive number" >&2; exit 2 ;;
esac

# As root, the copy is made by the service user: a root-owned -wal or -shm
# file left next to the live database would lock the server out of it.
as_user() {
    if [ -z "$RUN_AS" ] || [ "$(id -un)" = "$RUN_AS" ]; then
        "$@"
    else
        runuser -u "$RUN_AS" -- "$@"
    fi
}

if [ ! -d "$DIR" ]; then
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    if [ -n "$RUN_AS" ] && [ "$(id -u)" -eq 0 ]; then
        chown "$RUN_AS:" "$DIR"
    fi
fi

dest="$DIR/hydracluster-$(date -u +%Y%m%dT%H%M%S.%NZ).db"
as_user "$BIN" backup "$dest" --config "$CONFIG"

# keep the newest $KEEP (the names sort by time; they hold no spaces)
for f in "$DIR"/hydracluster-*Z.db; do
    [ -e "$f" ] && printf '%s\n' "$f"
done | sort -r | tail -n +"$((KEEP + 1))" | while read -r old; do
    rm -f -- "$old"
done
