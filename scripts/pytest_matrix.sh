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
#   PYTEST_MATRIX_JOBS  how many runs at once (default: all of them; 1 = one after another)
#   PYTEST_MATRIX_SHARDS  e.g. "airflow-3.1.8=2": split that version's test files over 2 runs (by their
#                   durations in tests/durations.json, longest first to the least loaded run:
#                   scripts/shard_files.py), each with its own AIRFLOW_HOME; its summary lines are
#                   LABEL.1of2 and LABEL.2of2
#   PYTEST_MATRIX_ONCE  "LABEL=PATH PATH...": tests whose outcome does not depend on the Airflow version
#                   (a folder, a file, or a file::test) run only in LABEL's runs; the others ignore or
#                   deselect them
#   PYTEST_MATRIX_WORK  keep each run's folder (LABEL/junit.xml, pytest.log) here instead of a removed
#                   temporary one (scripts/test_latest.sh reads the JUnit reports)
#
# Exit status: non-zero if any run failed.
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$(pwd)"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 VENV=LABEL [VENV=LABEL ...]" >&2
    exit 2
fi

if [ -n "${PYTEST_MATRIX_WORK:-}" ]; then
    work="$PYTEST_MATRIX_WORK"
    mkdir -p "$work"
else
    work="$(mktemp -d "${TMPDIR:-/tmp}/seekrflow-pytest.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
fi

read -r -a extra_args <<<"${PYTEST_ARGS:-}"

# The test files a shard runs: every test module outside the suites that need a real deployment
# (tests/system: integration, browser, distributed).
test_files=()
while IFS= read -r file; do test_files+=("$file"); done < <(
    find tests -name 'test_*.py' -not -path 'tests/system/*' | LC_ALL=C sort
)
shards_of() {  # shards_of LABEL: how many runs PYTEST_MATRIX_SHARDS gives that version (1 by default)
    local entry
    for entry in ${PYTEST_MATRIX_SHARDS:-}; do
        if [ "${entry%%=*}" = "$1" ]; then echo "${entry#*=}"; return; fi
    done
    echo 1
}

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
        files=()
        if [ -f "$home/files" ]; then
            while IFS= read -r file; do files+=("$file"); done <"$home/files"
        fi
        skip_args=()
        if [ -f "$home/skip" ]; then
            while IFS= read -r path; do
                if [[ "$path" == *::* ]]; then skip_args+=(--deselect "$path"); else skip_args+=(--ignore "$path"); fi
            done <"$home/skip"
        fi
        exec "$py" -m pytest -p no:cacheprovider --junitxml="$home/junit.xml" "${extra_args[@]}" \
            "${skip_args[@]}" "${files[@]}"
    ) >"$home/pytest.log" 2>&1 </dev/null || rc=$?
    echo "$rc" >"$home/rc"
}

labels=()
runs=()  # label|python|home of each run, a version's shards one after another
for spec in "$@"; do
    venv="${spec%%=*}"
    label="${spec#*=}"
    [ "$label" = "$spec" ] && label="$(basename "$venv")"
    py="$repo_root/$venv/bin/python"
    [ -x "$py" ] || py="$venv/bin/python"
    shards="$(shards_of "$label")"
    for ((shard = 1; shard <= shards; shard++)); do
        run_label="$label"
        [ "$shards" -gt 1 ] && run_label="$label.${shard}of$shards"
        home="$work/$run_label"
        mkdir -p "$home"
        labels+=("$run_label")
        if [ ! -x "$py" ]; then
            echo "!!! $run_label: no python in $venv" >"$home/pytest.log"
            echo 1 >"$home/rc"
            continue
        fi
        once_label="${PYTEST_MATRIX_ONCE%%=*}"
        skipped=()
        if [ -n "${PYTEST_MATRIX_ONCE:-}" ] && [ "$label" != "$once_label" ]; then
            read -r -a skipped <<<"${PYTEST_MATRIX_ONCE#*=}"
            printf '%s\n' "${skipped[@]}" >"$home/skip"
        fi
        if [ "$shards" -gt 1 ]; then
            # A whole file or folder left to another version is not passed at all; the rest is split by
            # how long each file took (tests/durations.json, scripts/shard_files.py), so the shards end together.
            for file in "${test_files[@]}"; do
                keep=1
                for path in "${skipped[@]}"; do
                    [[ "$path" != *::* && "$file" == "$path"* ]] && keep=0
                done
                [ "$keep" -eq 1 ] && echo "$file"
            done | "$py" scripts/shard_files.py --shards "$shards" --shard "$shard" >"$home/files"
        fi
        runs+=("$run_label|$py|$home")
    done
done

jobs="${PYTEST_MATRIX_JOBS:-${#runs[@]}}"
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
started_at=$(date +%s)
for run in "${runs[@]}"; do
    IFS='|' read -r run_label py home <<<"$run"
    # At most $jobs runs at once.
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    echo ">>> $run_label: pytest started ($py)"
    run_one "$run_label" "$py" "$home" &
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
