#!/bin/sh
# Replaces the live hydracluster database with a backup.
#
#   restore.sh BACKUP.db
#
# 1. checks the backup (PRAGMA integrity_check, when the sqlite3 CLI exists),
# 2. stops the service,
# 3. moves the current hydracluster.db AND its -wal/-shm files aside into
#    DATA_DIR/before-restore-<time>/ (a WAL left next to the restored file
#    would be replayed onto it: never keep it),
# 4. installs the backup as hydracluster.db (owner: the service user, 0600),
# 5. starts the service (which applies newer migrations if the backup is older).
# Everything acknowledged before the backup began is then served again; what
# was written after it is in the set-aside copy only.
#
# Environment: DATA_DIR (/var/lib/hydracluster), SERVICE (hydracluster; empty:
# do not stop/start, the caller has stopped the server), OWNER (hydracluster;
# empty: leave ownership as is).
set -eu

BACKUP=${1:?usage: restore.sh BACKUP.db}
DATA_DIR=${DATA_DIR:-/var/lib/hydracluster}
SERVICE=${SERVICE-hydracluster}
OWNER=${OWNER-hydracluster}

if [ ! -r "$BACKUP" ]; then
    echo "restore.sh: cannot read $BACKUP" >&2
    exit 1
fi
if command -v sqlite3 >/dev/null 2>&1; then
    check=$(sqlite3 -readonly "$BACKUP" 'PRAGMA integrity_check' 2>&1 | head -n 1)
    if [ "$check" != "ok" ]; then
        echo "restore.sh: $BACKUP fails PRAGMA integrity_check: $check" >&2
        exit 1
    fi
fi

if [ -n "$SERVICE" ]; then
    systemctl stop "$SERVICE"
fi

db="$DATA_DIR/hydracluster.db"
aside="$DATA_DIR/before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$aside"
chmod 700 "$aside"
for f in "$db" "$db-wal" "$db-shm"; do
    if [ -e "$f" ]; then
        mv -- "$f" "$aside/"
    fi
done

cp -- "$BACKUP" "$db.restoring"
chmod 600 "$db.restoring"
if [ -n "$OWNER" ]; then
    chown "$OWNER:" "$db.restoring"
fi
sync "$db.restoring" 2>/dev/null || sync
mv -- "$db.restoring" "$db"

if [ -n "$SERVICE" ]; then
    systemctl start "$SERVICE"
fi
echo "restored $BACKUP into $db; the previous database is in $aside"
