#!/usr/bin/env bash
# Run pytest once per virtualenv, each with its own throwaway AIRFLOW_HOME (SQLite metadata DB
# created with `airflow db migrate`), then print one summary line per Airflow version.
#
# The versions run concurrently (PYTEST_MATRIX_JOBS at a time): most of a run is waiting on
# emulated jobs, dag.test() polling and subprocesses, so on 2 cores three runs at once take about
# as long as the slowest alone instead of the sum. Each run's output goes to its own log, printed
# whole (in the order given) when it ends, so the CI log reads as if they had run one by one.
#
#   scripts/pytest_matrix.sh VENV=LABEL [VENV=LABEL ...]
#
# Environment:
#   PYTEST_ARGS     extra arguments for every pytest run (word-split)
#   ALLOW_NO_TESTS  if 1, pytest's "no tests collected" (exit 5) counts as success
#   PYTEST_MATRIX_JOBS  how many versions run at once (default: all of them; 1 = one after another)
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

jobs="${PYTEST_MATRIX_JOBS:-$#}"
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1

# run_one LABEL PY HOME: the whole run of one version; its output to HOME/pytest.log, its exit
# status to HOME/rc.
run_one() {
    local label="$1" py="$2" home="$3"
    local rc=0
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
        # Each run's temporary files (emulator storage, proxies, DAG runs' scratch) in its own place.
        export TMPDIR="$home/tmp"
        mkdir -p "$TMPDIR"

        start=$(date +%s)
        if ! "$py" -m airflow db migrate >"$home/db-migrate.log" 2>&1; then
            echo "!!! $label: 'airflow db migrate' failed; last lines of its log:"
            tail -n 40 "$home/db-migrate.log"
            exit 3
        fi
        echo ">>> $label: metadata DB ready in $(($(date +%s) - start))s ($home)"
        exec "$py" -m pytest -p no:cacheprovider --junitxml="$home/junit.xml" "${extra_args[@]}"
    ) >"$home/pytest.log" 2>&1 </dev/null || rc=$?
    echo "$rc" >"$home/rc"
}

labels=()
started_at=$(date +%s)
for spec in "$@"; do
    venv="${spec%%=*}"
    label="${spec#*=}"
    [ "$label" = "$spec" ] && label="$(basename "$venv")"
    labels+=("$label")
    home="$work/$label"
    mkdir -p "$home"
    py="$repo_root/$venv/bin/python"
    [ -x "$py" ] || py="$venv/bin/python"
    if [ ! -x "$py" ]; then
        echo "!!! $label: no python in $venv" >"$home/pytest.log"
        echo 1 >"$home/rc"
        continue
    fi
    # At most $jobs runs at once.
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    echo ">>> $label: pytest started ($venv)"
    run_one "$label" "$py" "$home" &
done
# Say when each run ends, for a reader watching CI; the logs follow once all have ended.
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do
    wait -n || true
    for label in "${labels[@]}"; do
        if [ -f "$work/$label/rc" ] && [ ! -f "$work/$label/announced" ]; then
            touch "$work/$label/announced"
            echo ">>> $label: ended after $(($(date +%s) - started_at))s (exit $(cat "$work/$label/rc"))"
        fi
    done
done
wait

summary=()
tot_passed=0
tot_failed=0
tot_skipped=0
overall=0

for label in "${labels[@]}"; do
    home="$work/$label"
    junit="$home/junit.xml"
    py="${PYTHON:-python3}"
    echo
    echo "================================================================ $label"
    cat "$home/pytest.log"
    rc="$(cat "$home/rc" 2>/dev/null || echo 1)"

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
echo "total: $tot_passed passed, $tot_failed failed, $tot_skipped skipped ($(($(date +%s) - started_at))s, $jobs at a time)"
exit "$overall"
