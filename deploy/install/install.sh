#!/bin/sh
# hydranode installer for Linux (systemd) and macOS (launchd).
#
# Served by hydracluster at /install.sh with this server's URL and its
# releases.base_url filled in. The command that POST /api/v1/enrollments
# prints runs it:
#
#   curl -fsSL 'https://cluster.example.com/install.sh' | sudo sh -s -- \
#       --server 'https://cluster.example.com' --enrollment-token '<token>'
#
# It downloads the agent for this OS and CPU from the release server
# (<base_url>/hydranode-<os>-<arch>, checked against <that URL>.sha256),
# installs it as /usr/local/bin/hydranode, writes the enroll file
# <state dir>/enroll.json ({"server_url", "enrollment_token"}, mode 0600),
# and installs and (re)starts the agent as a service that runs
# `hydranode run --state-dir <state dir>`:
#   Linux: systemd unit hydranode.service, state dir /var/lib/hydranode
#   macOS: launchd daemon com.hydracluster.hydranode,
#          state dir "/Library/Application Support/hydranode"
# Running it again replaces the binary and the enroll file and restarts the
# agent. POSIX sh only.
set -eu

RELEASES_BASE_URL='@RELEASES_BASE_URL@'
SERVER_URL='@SERVER_URL@'
TOKEN=''
ROOT=''

usage() {
    cat <<'USAGE'
usage: install.sh --server URL --enrollment-token TOKEN [--base-url URL] [--root DIR]

  --server URL              the hydracluster server the agent enrolls with
  --enrollment-token TOKEN  the one-time token from POST /api/v1/enrollments (or the /enroll page)
  --base-url URL            where to download the agent (default: the server's releases.base_url);
                            file:///DIR works for an offline copy of the release files
  --root DIR                install into an image rooted at DIR and enable the service there
                            without starting it (for building machine images); no root needed
USAGE
}

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

need_value() {
    [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"
}

while [ $# -gt 0 ]; do
    case $1 in
    --server) need_value "$1" $#; SERVER_URL=$2; shift 2 ;;
    --server=*) SERVER_URL=${1#*=}; shift ;;
    --enrollment-token) need_value "$1" $#; TOKEN=$2; shift 2 ;;
    --enrollment-token=*) TOKEN=${1#*=}; shift ;;
    --base-url) need_value "$1" $#; RELEASES_BASE_URL=$2; shift 2 ;;
    --base-url=*) RELEASES_BASE_URL=${1#*=}; shift ;;
    --root) need_value "$1" $#; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument \"$1\" (see --help)" ;;
    esac
done

# Both values end up in a JSON file and a service definition: accept only
# characters that need no quoting there.
check_url() {
    case $2 in
    http://?* | https://?*) ;;
    file:///?*) [ "$1" = --base-url ] || die "$1 must be an http:// or https:// URL, not \"$2\"" ;;
    *) die "$1 must be an http:// or https:// URL, not \"$2\"" ;;
    esac
    case $2 in
    *[!A-Za-z0-9:/._~%@+=,\;\[\]-]*) die "$1 contains characters that are not allowed in a URL here: \"$2\"" ;;
    esac
}

[ -n "$TOKEN" ] || die "--enrollment-token is required: mint one with POST /api/v1/enrollments or on the /enroll page"
case $TOKEN in
*[!A-Za-z0-9]*) die "the enrollment token must be letters and digits only (copy it again)" ;;
esac
check_url --server "$SERVER_URL"
check_url --base-url "$RELEASES_BASE_URL"
SERVER_URL=${SERVER_URL%/}
RELEASES_BASE_URL=${RELEASES_BASE_URL%/}

case $(uname -s) in
Linux) OS=linux ;;
Darwin) OS=darwin ;;
*) die "unsupported system $(uname -s): this script installs on Linux and macOS (Windows: install.ps1)" ;;
esac
case $(uname -m) in
x86_64 | amd64) ARCH=amd64 ;;
aarch64 | arm64) ARCH=arm64 ;;
*) die "unsupported CPU $(uname -m): agents are built for amd64 and arm64" ;;
esac

if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root: curl -fsSL '$SERVER_URL/install.sh' | sudo sh -s -- --server ... --enrollment-token ..."
fi
case $ROOT in
'' | /*) ;;
*) die "--root must be an absolute path" ;;
esac
ROOT=${ROOT%/}

BIN="/usr/local/bin/hydranode"
if [ "$OS" = linux ]; then
    STATE_DIR="/var/lib/hydranode"
    UNIT="/etc/systemd/system/hydranode.service"
else
    STATE_DIR="/Library/Application Support/hydranode"
    LABEL="com.hydracluster.hydranode"
    PLIST="/Library/LaunchDaemons/$LABEL.plist"
    LOG_DIR="/Library/Logs/hydranode"
fi

fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    else
        die "neither curl nor wget is installed"
    fi
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d ' ' -f 1
    elif command -v openssl >/dev/null 2>&1; then
        openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
    else
        die "no SHA-256 tool (sha256sum, shasum or openssl) to check the download"
    fi
}

TMP=$(mktemp -d 2>/dev/null || mktemp -d -t hydranode)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

URL="$RELEASES_BASE_URL/hydranode-$OS-$ARCH"
echo "install.sh: downloading $URL"
fetch "$URL" "$TMP/hydranode" || die "cannot download $URL (is releases.base_url right?)"
fetch "$URL.sha256" "$TMP/hydranode.sha256" || die "cannot download $URL.sha256"
read -r WANT _ <"$TMP/hydranode.sha256" || [ -n "${WANT:-}" ] || die "$URL.sha256 is empty"
WANT=$(printf '%s' "$WANT" | tr 'ABCDEF' 'abcdef')
GOT=$(sha256_of "$TMP/hydranode")
[ "$WANT" = "$GOT" ] || die "the download does not match $URL.sha256 (expected $WANT, got $GOT)"

# stop a running agent before its binary is replaced
if [ -z "$ROOT" ]; then
    if [ "$OS" = linux ]; then
        command -v systemctl >/dev/null 2>&1 || die "systemd (systemctl) is required on Linux"
        systemctl stop hydranode.service >/dev/null 2>&1 || true
    else
        launchctl bootout "system/$LABEL" >/dev/null 2>&1 || true
    fi
fi

mkdir -p "$ROOT${BIN%/*}"
cp "$TMP/hydranode" "$ROOT$BIN.new"
chmod 0755 "$ROOT$BIN.new"
mv -f "$ROOT$BIN.new" "$ROOT$BIN"

# the enroll file holds a secret: only root reads it
mkdir -p "$ROOT$STATE_DIR"
chmod 0700 "$ROOT$STATE_DIR"
(
    umask 077
    printf '{"server_url":"%s","enrollment_token":"%s"}\n' "$SERVER_URL" "$TOKEN" >"$ROOT$STATE_DIR/enroll.json.new"
)
mv -f "$ROOT$STATE_DIR/enroll.json.new" "$ROOT$STATE_DIR/enroll.json"

if [ "$OS" = linux ]; then
    mkdir -p "$ROOT${UNIT%/*}"
    cat >"$ROOT$UNIT" <<UNIT_EOF
[Unit]
Description=hydranode agent (hydracluster node)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=$BIN run --state-dir $STATE_DIR
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT_EOF
    chmod 0644 "$ROOT$UNIT"
    if [ -n "$ROOT" ]; then
        # what `systemctl enable` does, without a running systemd
        mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
        ln -sf "$UNIT" "$ROOT/etc/systemd/system/multi-user.target.wants/hydranode.service"
    else
        systemctl daemon-reload
        systemctl enable hydranode.service >/dev/null 2>&1
        systemctl restart hydranode.service
    fi
    SERVICE="systemd unit hydranode.service"
else
    mkdir -p "$ROOT${PLIST%/*}" "$ROOT$LOG_DIR"
    cat >"$ROOT$PLIST" <<PLIST_EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>$LABEL</string>
  <key>ProgramArguments</key>
  <array>
    <string>$BIN</string>
    <string>run</string>
    <string>--state-dir</string>
    <string>$STATE_DIR</string>
  </array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
  <key>StandardOutPath</key><string>$LOG_DIR/hydranode.log</string>
  <key>StandardErrorPath</key><string>$LOG_DIR/hydranode.log</string>
</dict>
</plist>
PLIST_EOF
    chmod 0644 "$ROOT$PLIST"
    if [ -z "$ROOT" ]; then
        launchctl bootstrap system "$PLIST" 2>/dev/null || launchctl load -w "$PLIST"
        launchctl kickstart -k "system/$LABEL" >/dev/null 2>&1 || true
    fi
    SERVICE="launchd daemon $LABEL"
fi

if [ -n "$ROOT" ]; then
    echo "install.sh: installed into $ROOT ($SERVICE enabled, not started)"
else
    echo "install.sh: hydranode installed and started ($SERVICE); it enrolls with $SERVER_URL"
    echo "install.sh: an admin approves it there (it shows as pending until then)"
fi
