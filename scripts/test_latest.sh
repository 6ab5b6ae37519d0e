#!/usr/bin/env bash
# make test-latest: the pytest matrix on what PyPI has today instead of the locked sets.
#
# For each Airflow of the matrix (locks/targets.sh), a venv .venvs/latest-<target> on the same Python
# gets the package with the same extras and Airflow pin, resolved afresh (--refresh, no lock, none of
# the known-break constraints). Then the matrix runs as `make test`'s pytest step does, and
# scripts/latest_report.py prints, per Airflow version: the failures grouped by their error, the
# packages that moved against the lock, and whether each known break still breaks. Exit status:
# non-zero when any run failed. Not part of .ci/run: it watches the registry, it does not gate.
#
# Environment: UV (uv binary), VENVS (.venvs), PYTEST_ARGS, PYTEST_MATRIX_SHARDS (as make pytest),
# TEST_LATEST_WORK (kept: each run's pytest.log and junit.xml; default a new /tmp folder).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=../locks/targets.sh
source locks/targets.sh
uv="${UV:-uv}"
venvs="${VENVS:-.venvs}"
work="${TEST_LATEST_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/seekrflow-latest.XXXXXX")}"
mkdir -p "$work"
export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1

specs=()
targets=()
for target in af2 af31 af3; do
    python_var="${target^^}_PYTHON" airflow_var="${target^^}_AIRFLOW" extras_var="${target^^}_EXTRAS"
    python="${!python_var}" airflow="${!airflow_var}" extras="${!extras_var}"
    venv="$venvs/latest-$target"
    echo ">>> $venv: Python $python, apache-airflow==$airflow + -e .[$extras], newest versions"
    start=$(date +%s)
    rm -rf "$venv"
    "$uv" venv --quiet --python "$(UV="$uv" bash scripts/find_python.sh "$python")" "$venv"
    "$uv" pip install --quiet --refresh --python "$venv/bin/python" -e ".[$extras]" "apache-airflow==$airflow"
    echo ">>> $venv ready in $(($(date +%s) - start))s"
    specs+=("$venv=airflow-$airflow")
    targets+=("$target=$venv=airflow-$airflow")
done

rc=0
PYTEST_MATRIX_WORK="$work" bash scripts/pytest_matrix.sh "${specs[@]}" >"$work/matrix.log" 2>&1 || rc=$?
echo ">>> the matrix's whole output: $work/matrix.log"
sed -n '/^=* summary$/,$p' "$work/matrix.log"
echo
"$venvs/latest-af3/bin/python" scripts/latest_report.py "$work" "${targets[@]}"
exit "$rc"
