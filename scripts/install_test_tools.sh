#!/usr/bin/env bash
# Install the system tools the test suite uses, when missing: Debian's tinyproxy (a real forward
# proxy for tests/emulator/network, which start their own instance on a free loopback port).
#
#   bash scripts/install_test_tools.sh        # idempotent; prints nothing when all is installed
#
# Non-interactive (no stdin needed), quiet. Runs as root, or through passwordless sudo. `apt-get
# update` runs only when the install fails without it (an empty or stale package list). The Debian
# service the package ships is not started (RUNLEVEL=1 for invoke-rc.d): tests run their own proxy.
# Exit status: 0 when every tool is on PATH afterwards, non-zero otherwise.
set -euo pipefail

packages=()
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || [ -x /usr/sbin/tinyproxy ] \
    || packages+=(tinyproxy)
[ "${#packages[@]}" -eq 0 ] && exit 0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else
        echo "!!! need root (or passwordless sudo) for: $*" >&2; return 1; fi
}
apt_get() {
    as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get -qq -y \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null
}

echo ">>> installing ${packages[*]} (apt-get)" >&2
if ! apt_get install --no-install-recommends "${packages[@]}" >/dev/null 2>&1; then
    apt_get update >/dev/null
    apt_get install --no-install-recommends "${packages[@]}" >/dev/null
fi
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || {
    echo "!!! tinyproxy is still not installed" >&2
    exit 1
}
