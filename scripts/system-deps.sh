#!/usr/bin/env bash
# Debian packages the tests use: kcat (a real Kafka command-line client), postgresql and
# postgresql-15-wal2json (the Connect tests start their own PostgreSQL server with them), chromium and
# chromium-driver (the web console's browser tests, Selenium), tmux (kraft top in a real terminal),
# nodejs and npm (the kafkajs tests; only when there is no node or npm at all: a Node.js installed
# otherwise, e.g. NodeSource's, which brings its own npm, is kept).
# Installs what is missing when it can (root, or passwordless sudo); otherwise says what is missing
# and carries on: the tests that need a package then fail (CI=1) or skip, naming it.
set -euo pipefail
PACKAGES="kcat postgresql postgresql-15-wal2json chromium chromium-driver tmux"
missing=""
for pkg in $PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "system-deps: missing Debian packages:$missing (install them as root: apt-get install$missing)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing >/dev/null
