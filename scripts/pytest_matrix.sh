#!/usr/bin/env bash
# Run pytest once per virtualenv, each with its own throwaway AIRFLOW_HOME (SQLite metadata DB
# created with `airflow db migrate`), then print one summary line per Airflow version.
#
#   scripts/pytest_matrix.sh VENV=LABEL [VENV=LABEL ...]
#
# Environment:
#   PYTEST_ARGS     extra arguments for every pytest run (word-split)
#   ALLOW_NO_TESTS  if 1, pytest's "no tests collected" (exit 5) counts as success
#
# Exit status: non-zero if any run failed.
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$(pwd)"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 VENV=LABEL [VENV=LABEL ...]" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/seekrflow-pytest.XXXXXX")"
trap 'rm -rf "$work"' EXIT

read -r -a extra_args <<<"${PYTEST_ARGS:-}"

summary=()
tot_passed=0
tot_failed=0
tot_skipped=0
overall=0

for spec in "$@"; do
    venv="${spec%%=*}"
    label="${spec#*=}"
    [ "$label" = "$spec" ] && label="$(basename "$venv")"
    py="$repo_root/$venv/bin/python"
    [ -x "$py" ] || py="$venv/bin/python"
    if [ ! -x "$py" ]; then
        echo "!!! $label: no python in $venv" >&2
        summary+=("$label: 0 passed, 1 failed")
        tot_failed=$((tot_failed + 1))
        overall=1
        continue
    fi

    home="$work/$label"
    mkdir -p "$home"
    junit="$home/junit.xml"

    echo
    echo "================================================================ $label ($venv)"
    rc=0
    (
        export AIRFLOW_HOME="$home"
        export AIRFLOW__CORE__LOAD_EXAMPLES=False
        # The SQLite DB, logs etc. go to their defaults under AIRFLOW_HOME. The DAGs folder is
        # left to tests/conftest.py (example_dags/: Airflow 3's dag.test() needs the DAG in a bundle).
        unset AIRFLOW__CORE__DAGS_FOLDER AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW__CORE__UNIT_TEST_MODE
        # Nothing from the caller's shell should leak into the tests' connections.
        unset AIRFLOW_CONN_SEEKRFLOW_DEFAULT SEEKR_API_KEY SEEKR_BASE_URL SEEKR_TEAM_ID
        export PATH="$(dirname "$py"):$PATH"
        export VIRTUAL_ENV="$(dirname "$(dirname "$py")")"

        start=$(date +%s)
        if ! "$py" -m airflow db migrate >"$home/db-migrate.log" 2>&1; then
            echo "!!! $label: 'airflow db migrate' failed; last lines of its log:" >&2
            tail -n 40 "$home/db-migrate.log" >&2
            exit 3
        fi
        echo ">>> $label: metadata DB ready in $(($(date +%s) - start))s ($home)"
        exec "$py" -m pytest -p no:cacheprovider --junitxml="$junit" "${extra_args[@]}"
    ) || rc=$?

    if [ "$rc" -eq 5 ] && [ "${ALLOW_NO_TESTS:-0}" = "1" ]; then
        echo ">>> $label: no tests collected (allowed)"
        rc=0
    fi

    # Counts from the JUnit report (errors count as failures).
    counts="0 0 0"
    if [ -f "$junit" ]; then
        counts="$("$py" - "$junit" <<'EOF'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = failures = errors = skipped = 0
for s in suites:
    tests += int(s.get("tests", 0))
    failures += int(s.get("failures", 0))
    errors += int(s.get("errors", 0))
    skipped += int(s.get("skipped", 0))
print(tests - failures - errors - skipped, failures + errors, skipped)
EOF
)"
    fi
    read -r passed failed skipped <<<"$counts"
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        # pytest (or the DB set-up) failed without a failing test: count the run itself.
        failed=1
    fi
    status="ok"
    if [ "$rc" -ne 0 ]; then
        status="FAILED (exit $rc)"
        overall=1
    fi
    echo ">>> $label: $status"
    summary+=("$label: $passed passed, $failed failed, $skipped skipped")
    tot_passed=$((tot_passed + passed))
    tot_failed=$((tot_failed + failed))
    tot_skipped=$((tot_skipped + skipped))
done

echo
echo "================================================================ summary"
for line in "${summary[@]}"; do
    echo "$line"
done
if [ "$overall" -ne 0 ]; then
    echo "RESULT: FAILED"
else
    echo "RESULT: OK"
fi
echo "total: $tot_passed passed, $tot_failed failed, $tot_skipped skipped"
exit "$overall"
