#!/usr/bin/env bash
# Builds librdkafka's own test suite (tests/test-runner) from the source that the npm package
# node-rdkafka ships in deps/librdkafka, into a cache outside the repository, and prints the path of
# the built tests/ directory on its last line (the runner reads it).
#
# Idempotent and cached: the tarball is fetched once (npm pack, no install scripts, so no node addon
# is built), and a build stamp naming the version and configure flags makes a second run a no-op.
# It never touches the repository's tree.
#
#   KRAFT_COMPAT_CACHE     where to keep it (default ~/.cache/kraft-compat)
#   NODE_RDKAFKA_VERSION   the npm package's version (default 3.6.1: librdkafka 2.12.0)
#   COMPAT_JOBS            make -j (default 2: the machine is shared)
set -euo pipefail

CACHE="${KRAFT_COMPAT_CACHE:-$HOME/.cache/kraft-compat}"
VERSION="${NODE_RDKAFKA_VERSION:-3.6.1}"
JOBS="${COMPAT_JOBS:-2}"
# No SASL/GSSAPI, SSL or HTTP client: the tests that need them are excluded (excluded.txt), and
# leaving them out keeps the build to three -dev packages. zlib and zstd are on (and lz4 and snappy,
# built in) so the compression tests exercise every codec kraft passes through.
CONFIGURE_FLAGS="--no-download --disable-curl --disable-sasl --disable-ssl --disable-lz4-ext --enable-zlib --enable-zstd"
# Debian packages the build needs: compilers, the headers of the two external codecs, and RapidJSON
# (header-only: without it the tests that check statistics JSON, e.g. 0053 and 0101, skip themselves).
PACKAGES="gcc g++ make zlib1g-dev libzstd-dev rapidjson-dev"

ROOT="$CACHE/node-rdkafka-$VERSION"
SRC="$ROOT/package/deps/librdkafka"
STAMP="$ROOT/.kraft-built"
WANT_STAMP="node-rdkafka $VERSION; configure $CONFIGURE_FLAGS; packages $PACKAGES"

log() { echo "compat/librdkafka/build: $*" >&2; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT_STAMP" ] && [ -x "$SRC/tests/test-runner" ]; then
    log "up to date ($WANT_STAMP)"
    echo "$SRC/tests"
    exit 0
fi

install_packages() {
    local missing="" pkg
    for pkg in $PACKAGES; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            log "missing Debian packages:$missing (install them as root: apt-get install$missing)"
            exit 1
        fi
    fi
    log "installing$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}

if command -v dpkg >/dev/null 2>&1; then
    # npm only fetches the tarball: any npm will do (Debian's package when there is none at all).
    command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
    install_packages
fi
command -v npm >/dev/null 2>&1 || { log "npm is needed to fetch node-rdkafka (apt-get install npm)"; exit 1; }

mkdir -p "$ROOT"
if [ ! -f "$SRC/configure" ]; then
    log "fetching node-rdkafka@$VERSION"
    tmp="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "node-rdkafka@$VERSION" >/dev/null)
    tar -xzf "$tmp/node-rdkafka-$VERSION.tgz" -C "$tmp"
    [ -f "$tmp/package/deps/librdkafka/configure" ] || { log "no deps/librdkafka in node-rdkafka@$VERSION"; exit 1; }
    rm -rf "$ROOT/package"
    mv "$tmp/package" "$ROOT/package"
fi

cd "$SRC"
rm -f "$STAMP"
log "configure $CONFIGURE_FLAGS"
# The npm tarball drops the executable bits of some helper scripts.
chmod +x configure lds-gen.py tests/run-test.sh 2>/dev/null || true
./configure $CONFIGURE_FLAGS >"$ROOT/configure.log" 2>&1 || { tail -30 "$ROOT/configure.log" >&2; exit 1; }
log "make libs (log: $ROOT/build.log)"
make -j"$JOBS" libs >"$ROOT/build.log" 2>&1 || { tail -30 "$ROOT/build.log" >&2; exit 1; }
log "make -C tests build"
make -j"$JOBS" -C tests build >>"$ROOT/build.log" 2>&1 || { tail -30 "$ROOT/build.log" >&2; exit 1; }
echo "$WANT_STAMP" >"$STAMP"
log "built $SRC/tests/test-runner"
echo "$SRC/tests"
