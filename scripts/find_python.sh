#!/usr/bin/env bash
# Print the path of a Python interpreter of the given minor version that actually runs.
#
#   scripts/find_python.sh 3.12
#
# Looks, in order, at pythonX.Y on PATH (a pyenv shim of a version that is not selected fails to run
# and is skipped), at pyenv's versions ($PYENV_ROOT, ~/.pyenv), and at the interpreters uv knows
# (never downloading one). Exit status 1, with a message naming the version, when none runs.
set -euo pipefail

version="${1:?usage: $0 X.Y}"
runs() { [ -x "$1" ] && "$1" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" 2>/dev/null; }

if candidate="$(command -v "python$version" 2>/dev/null)" && runs "$candidate"; then
    echo "$candidate"
    exit 0
fi
for root in "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
    [ -n "$root" ] || continue
    for candidate in $(ls -d "$root/versions/$version".*/bin/"python$version" 2>/dev/null | sort -V -r); do
        if runs "$candidate"; then
            echo "$candidate"
            exit 0
        fi
    done
done
uv="${UV:-uv}"
if candidate="$(UV_PYTHON_DOWNLOADS=never "$uv" python find "$version" 2>/dev/null)" && runs "$candidate"; then
    echo "$candidate"
    exit 0
fi
echo "!!! no Python $version found (PATH, pyenv, uv): install it, e.g. 'pyenv install $version'" >&2
exit 1
