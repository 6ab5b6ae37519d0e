#!/usr/bin/env bash
# The browser suite (tests/system/browser, see docs/ui.md): Debian's Chromium, driven with Playwright,
# through Airflow 3's UI on the integration harness's deployment (PostgreSQL, api-server, scheduler,
# triggerer, dag-processor, the emulator as SeekrFlow).
#
#   1. Chromium: scripts/browser/install_chromium.sh (apt-get as root, when missing);
#   2. Playwright: the `browser` extra, in the venv's locked deploy set that run.sh installs (its
#      wheel bundles the driver; Playwright's own browser download is not used);
#   3. scripts/integration/run.sh with IT_SUITE=browser: PostgreSQL, its drivers, then
#      pytest -m browser tests/system/browser.
#
#   scripts/browser/run.sh [pytest args...]      e.g. -k connection, -x
#
# Environment: IT_PYTHON (default .venvs/af3/bin/python), IT_PG_DB (default seekrflow_browser: its
# own database, so a browser run never resets an integration run's), IT_WORK_DIR (default: a new
# /tmp/seekrflow-browser.* directory, kept), BROWSER_SCREENSHOT_DIR (default
# <work dir>/screenshots), BROWSER_CHROMIUM (default /usr/bin/chromium), UV (uv binary).
set -euo pipefail

cd "$(dirname "$0")/../.."
repo_root="$(pwd)"
py="${IT_PYTHON:-$repo_root/.venvs/af3/bin/python}"
if [ ! -x "$py" ]; then
    echo "!!! no Python at $py: run 'make venv-af3' first, or set IT_PYTHON" >&2
    exit 2
fi

echo ">>> Chromium"
BROWSER_CHROMIUM="$(bash scripts/browser/install_chromium.sh | tail -n 1)"
export BROWSER_CHROMIUM

export IT_PG_DB="${IT_PG_DB:-seekrflow_browser}"
IT_WORK_DIR="${IT_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/seekrflow-browser.XXXXXX")}"
export IT_WORK_DIR
export BROWSER_SCREENSHOT_DIR="${BROWSER_SCREENSHOT_DIR:-$IT_WORK_DIR/screenshots}"
IT_SUITE=browser exec bash scripts/integration/run.sh "$@"
