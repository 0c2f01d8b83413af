#!/bin/sh
# hydranode installer for Linux and macOS, in the shape of the Windows
# runbook (install.ps1): the binary and its enroll.yaml in one folder, then
# `hydranode install` registers the agent's service.
#
# Served by hydracluster at /install.sh with this server's URL, its
# releases.base_url and releases.channel filled in. The command that
# POST /api/v1/enrollments prints runs it:
#
#   curl -fsSL 'https://cluster.example.com/install.sh' | sudo sh -s -- \
#       --server 'https://cluster.example.com' --enrollment-token '<token>'
#
# What it does (our convention where the runbook covers Windows only):
#   1. downloads <base_url>/hydranode/<channel>/latest/hydranode-<os>-<arch>
#      (os linux or darwin, arch amd64 or arm64) and checks it against
#      <that URL>.sha256 when the release server offers one (it says so when
#      it does not);
#   2. installs it as /opt/hydranode/hydranode;
#   3. with --enrollment-token: writes /opt/hydranode/enroll.yaml
#      (server_url, enrollment_token), mode 0600;
#   4. runs `/opt/hydranode/hydranode install` (in that folder), which
#      registers the agent's service (Linux: systemd unit hydranode.service;
#      macOS: launchd daemon com.hydracluster.hydranode), then starts it.
#
# Recovery: run it again WITHOUT --enrollment-token to reinstall an agent
# that is already enrolled: it keeps its node identity (nothing to approve).
# POSIX sh only.
set -eu

RELEASES_BASE_URL='@RELEASES_BASE_URL@'
CHANNEL='@RELEASES_CHANNEL@'
SERVER_URL='@SERVER_URL@'
TOKEN=''
ROOT=''
DIR='/opt/hydranode'
START=1
LABEL='com.hydracluster.hydranode'

usage() {
    cat <<'USAGE'
usage: install.sh --server URL [--enrollment-token TOKEN] [--base-url URL] [--channel NAME]
                  [--dir DIR] [--no-start] [--root DIR]

  --server URL              the hydracluster server the agent reports to
  --enrollment-token TOKEN  the one-time token from POST /api/v1/enrollments (or the /enroll page);
                            leave it out to reinstall an enrolled agent (it keeps its node identity)
  --base-url URL            the release server (default: the server's releases.base_url);
                            file:///DIR works for an offline copy of the release tree
  --channel NAME            the release channel (default: the server's releases.channel)
  --dir DIR                 where the agent lives (default /opt/hydranode)
  --no-start                run `hydranode install` but do not start the service
  --root DIR                install into an image rooted at DIR: files only, the agent's
                            `install` is left to its first boot; no root needed
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
    --channel) need_value "$1" $#; CHANNEL=$2; shift 2 ;;
    --channel=*) CHANNEL=${1#*=}; shift ;;
    --dir) need_value "$1" $#; DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#*=}; shift ;;
    --no-start) START=0; shift ;;
    --root) need_value "$1" $#; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument \"$1\" (see --help)" ;;
    esac
done

# The URLs end up in a YAML file and a download path: accept only characters
# that need no quoting there.
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

case $TOKEN in
*[!A-Za-z0-9]*) die "the enrollment token must be letters and digits only (copy it again)" ;;
esac
case $CHANNEL in
'' | *[!A-Za-z0-9._-]*) die "--channel must be a release channel name such as production, not \"$CHANNEL\"" ;;
esac
check_url --server "$SERVER_URL"
check_url --base-url "$RELEASES_BASE_URL"
SERVER_URL=${SERVER_URL%/}
RELEASES_BASE_URL=${RELEASES_BASE_URL%/}
case $DIR in
/*) DIR=${DIR%/} ;;
*) die "--dir must be an absolute path" ;;
esac
case $ROOT in
'' | /*) ROOT=${ROOT%/} ;;
*) die "--root must be an absolute path" ;;
esac

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

if [ -z "$ROOT" ] && [ "$DIR" = /opt/hydranode ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root: curl -fsSL '$SERVER_URL/install.sh' | sudo sh -s -- --server ... --enrollment-token ..."
fi

BIN="$DIR/hydranode"
ENROLL="$DIR/enroll.yaml"
if [ -z "$TOKEN" ] && [ ! -f "$ROOT$ENROLL" ]; then
    die "this machine has no enrollment yet ($ENROLL is missing): ask an admin for an install command with --enrollment-token"
fi

fetch() {
    case $1 in
    file://*)
        # an offline copy of the release tree
        [ -f "${1#file://}" ] && cp "${1#file://}" "$2"
        ;;
    *)
        if command -v curl >/dev/null 2>&1; then
            curl -fsSL --retry 3 -o "$2" "$1"
        elif command -v wget >/dev/null 2>&1; then
            wget -q -O "$2" "$1"
        else
            die "neither curl nor wget is installed"
        fi
        ;;
    esac
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

URL="$RELEASES_BASE_URL/hydranode/$CHANNEL/latest/hydranode-$OS-$ARCH"
echo "install.sh: downloading $URL"
fetch "$URL" "$TMP/hydranode" || die "cannot download $URL (are releases.base_url and releases.channel right?)"
if fetch "$URL.sha256" "$TMP/hydranode.sha256" 2>/dev/null; then
    WANT=''
    read -r WANT _ <"$TMP/hydranode.sha256" || [ -n "$WANT" ] || die "$URL.sha256 is empty"
    WANT=$(printf '%s' "$WANT" | tr 'ABCDEF' 'abcdef')
    GOT=$(sha256_of "$TMP/hydranode")
    [ "$WANT" = "$GOT" ] || die "the download does not match $URL.sha256 (expected $WANT, got $GOT)"
    echo "install.sh: checksum verified ($URL.sha256)"
else
    echo "install.sh: warning: the release server offers no checksum ($URL.sha256): the download is NOT verified" >&2
fi

# a rename over the old binary: a running agent keeps its open copy
mkdir -p "$ROOT$DIR"
cp "$TMP/hydranode" "$ROOT$BIN.new"
chmod 0755 "$ROOT$BIN.new"
mv -f "$ROOT$BIN.new" "$ROOT$BIN"

if [ -n "$TOKEN" ]; then
    # the enroll file holds a secret: only its owner (root) reads it
    (
        umask 077
        printf "server_url: '%s'\nenrollment_token: '%s'\n" "$SERVER_URL" "$TOKEN" >"$ROOT$ENROLL.new"
    )
    mv -f "$ROOT$ENROLL.new" "$ROOT$ENROLL"
else
    echo "install.sh: no --enrollment-token: reinstalling the enrolled agent, it keeps its node identity"
fi

if [ -n "$ROOT" ]; then
    echo "install.sh: installed into $ROOT$DIR; run '$BIN install' on the machine's first boot"
    exit 0
fi

# the agent registers its own service (our convention: systemd unit
# hydranode.service on Linux, launchd daemon com.hydracluster.hydranode on macOS)
(cd "$DIR" && "$BIN" install) || die "'$BIN install' failed"
if [ "$START" = 1 ]; then
    if [ "$OS" = linux ]; then
        systemctl restart hydranode.service || die "cannot start hydranode.service (see journalctl -u hydranode)"
    else
        launchctl kickstart -k "system/$LABEL" || die "cannot start the launchd daemon $LABEL"
    fi
    echo "install.sh: hydranode installed in $DIR and started; it reports to $SERVER_URL"
else
    echo "install.sh: hydranode installed in $DIR (not started: --no-start); it reports to $SERVER_URL"
fi
if [ -n "$TOKEN" ]; then
    echo "install.sh: an admin approves it there (it shows as pending until then)"
fi
