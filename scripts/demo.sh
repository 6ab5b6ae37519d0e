#!/usr/bin/env bash
# End-to-end demo against the local SeekrFlow emulator, no prompts.
#
#  1. starts the emulator on a free loopback port (jobs take ~15 s),
#  2. points the `seekrflow_default` connection at it (AIRFLOW_CONN_SEEKRFLOW_DEFAULT),
#  3. uses a throwaway AIRFLOW_HOME with a fresh SQLite metadata DB,
#  4. runs `airflow dags test example_seekrflow_alignment` and prints a summary.
#
# Run it through `make demo`, which prepares .venvs/af3 and puts it first on PATH.
# Environment: PYTHON (default: python on PATH), DEMO_JOB_DURATION (default 15).
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$(pwd)"
PYTHON="${PYTHON:-python}"
job_duration="${DEMO_JOB_DURATION:-15}"
api_key="demo-key"

work="$(mktemp -d "${TMPDIR:-/tmp}/seekrflow-demo.XXXXXX")"
emu_pid=""

cleanup() {
    local rc=$?
    if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2>/dev/null; then
        kill "$emu_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$emu_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$emu_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- 1. emulator
emu_log="$work/emulator.log"
echo ">>> starting the SeekrFlow emulator (job duration ${job_duration}s)"
PYTHONUNBUFFERED=1 "$PYTHON" -m airflow_provider_seekrflow.emulator \
    --host 127.0.0.1 --port 0 --api-key "$api_key" --job-duration "$job_duration" \
    >"$emu_log" 2>&1 </dev/null &
emu_pid=$!

base_url=""
for _ in $(seq 1 150); do # up to 30 s
    base_url="$(grep -oE 'https?://127\.0\.0\.1:[1-9][0-9]*' "$emu_log" | head -n 1 || true)"
    [ -n "$base_url" ] && break
    if ! kill -0 "$emu_pid" 2>/dev/null; then
        echo "!!! the emulator exited before printing its URL:" >&2
        cat "$emu_log" >&2
        exit 1
    fi
    sleep 0.2
done
if [ -z "$base_url" ]; then
    echo "!!! the emulator printed no base URL within 30 s:" >&2
    cat "$emu_log" >&2
    exit 1
fi
echo ">>> emulator at $base_url (pid $emu_pid, log $emu_log)"

# ---------------------------------------------------------------- 2. connection + AIRFLOW_HOME
export AIRFLOW_CONN_SEEKRFLOW_DEFAULT="{\"conn_type\":\"seekrflow\",\"host\":\"$base_url\",\"password\":\"$api_key\"}"
export AIRFLOW_HOME="$work/airflow"
mkdir -p "$AIRFLOW_HOME"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$repo_root/example_dags"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
unset SEEKR_API_KEY SEEKR_BASE_URL SEEKR_TEAM_ID

echo ">>> creating the metadata DB in $AIRFLOW_HOME"
if ! airflow db migrate >"$work/db-migrate.log" 2>&1; then
    echo "!!! 'airflow db migrate' failed:" >&2
    tail -n 40 "$work/db-migrate.log" >&2
    exit 1
fi

# ---------------------------------------------------------------- 3. run
run_log="$work/dags-test.log"
echo ">>> airflow dags test example_seekrflow_alignment (full log: scroll up)"
airflow dags test example_seekrflow_alignment 2>&1 | tee "$run_log"

# ---------------------------------------------------------------- 4. summary
# The task log is long; pull out what a reader wants: uploads, job progress, the sample pair.
strip_log() { sed -E 's/^[0-9T:.Z-]+ \[[a-z ]+\] //; s/ +\[(airflow|task)[^]]*\] loc=.*$//'; }
echo
echo "================ what happened ================"
grep -E "stored as file-|Started alignment job|Alignment job al-[0-9a-f]+: status=|completed with [0-9]+ output" "$run_log" | strip_log
echo "---------------- a generated training pair ----------------"
strip_log <"$run_log" | grep -E "^ *(system|user|assistant): |^[0-9]+ training pairs in file-"
echo "-----------------------------------------------------------"
if grep -q "state=success" "$run_log"; then
    echo ">>> demo finished: the DAG run succeeded"
else
    echo "!!! the DAG run did not succeed; see the log above" >&2
    exit 1
fi
