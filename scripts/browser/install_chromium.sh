#!/usr/bin/env bash
# Install Debian's Chromium, the browser tests/system/browser drive with Playwright, when it is missing.
#
#   bash scripts/browser/install_chromium.sh        # prints the browser's path on its last line
#
# Idempotent: when the browser is there it only prints its version and path. Playwright's own
# browser download is never used: the suite launches this binary (executable_path). Installing
# needs root or passwordless sudo, as scripts/integration/postgres.sh does for PostgreSQL;
# `apt-get update` runs only when the install fails without it (an empty or stale package list).
# fonts-liberation gives the screenshots a Helvetica/Arial metric font (chromium only recommends it).
# Environment: BROWSER_CHROMIUM (default /usr/bin/chromium): another Chromium to use; nothing is
# installed then, and it must exist.
set -euo pipefail

chromium="${BROWSER_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$chromium" ]; then
    if [ "$chromium" != /usr/bin/chromium ]; then
        echo "!!! BROWSER_CHROMIUM=$chromium is not an executable file" >&2
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "!!! $chromium is missing, and installing Debian's chromium needs root or passwordless sudo:" >&2
        echo "!!! run 'apt-get install chromium fonts-liberation' as root, or set BROWSER_CHROMIUM" >&2
        exit 1
    fi
    apt_get() {
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get -qq -y \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null
    }
    echo ">>> installing Debian's chromium (apt-get install chromium fonts-liberation)" >&2
    if ! apt_get install --no-install-recommends chromium fonts-liberation >/dev/null 2>&1; then
        apt_get update >/dev/null
        apt_get install --no-install-recommends chromium fonts-liberation >/dev/null
    fi
    if [ ! -x "$chromium" ]; then
        echo "!!! apt-get installed chromium, but there is no $chromium" >&2
        exit 1
    fi
fi
echo ">>> $("$chromium" --version 2>/dev/null || echo "$chromium (version unknown)")" >&2
echo "$chromium"
