#!/usr/bin/env bash
# End-to-end demo against the local SeekrFlow emulator, no prompts.
#
#  1. starts the emulator on a free loopback port (alignment ~15 s, fine-tune ~20 s, a deployment
#     Pending ~3 s, chat completions at once),
#  2. points the `seekrflow_default` connection at it (AIRFLOW_CONN_SEEKRFLOW_DEFAULT),
#  3. uses a throwaway AIRFLOW_HOME with a fresh SQLite metadata DB; the evaluation's answers go to
#     .demo/answers/ (kept, so the summary's path still points at them; `make clean` removes it),
#  4. runs `airflow dags test example_seekrflow_pipeline` (upload -> data job -> fine-tune -> deploy
#     -> evaluate -> release the instances -> promote, every wait deferrable) and prints a summary:
#     files, ingestion, training pairs, fine-tune events, model, the deployment becoming Active, the
#     evaluation's pass rate, and the usage SeekrFlow reported (scripts/demo_summary.py).
#
# Run it through `make demo`, which prepares .venvs/af3 and puts it first on PATH.
# Environment: PYTHON (default: python on PATH), DEMO_JOB_DURATION (default 15),
# DEMO_FINE_TUNE_DURATION (default 20), DEMO_DEPLOYMENT_DURATION (default 3),
# DEMO_DAG (default example_seekrflow_pipeline).
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$(pwd)"
PYTHON="${PYTHON:-python}"
job_duration="${DEMO_JOB_DURATION:-15}"
fine_tune_duration="${DEMO_FINE_TUNE_DURATION:-20}"
deployment_duration="${DEMO_DEPLOYMENT_DURATION:-3}"
dag_id="${DEMO_DAG:-example_seekrflow_pipeline}"
# A fresh random key per run: the emulator has no default key, and reads it from the environment
# (never from its command line, which every user sees in `ps`).
api_key="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))')"

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
echo ">>> starting the SeekrFlow emulator (alignment ${job_duration}s, fine-tune ${fine_tune_duration}s, deployment ${deployment_duration}s)"
SEEKRFLOW_EMULATOR_API_KEY="$api_key" PYTHONUNBUFFERED=1 "$PYTHON" -m airflow_provider_seekrflow.emulator \
    --host 127.0.0.1 --port 0 --job-duration "$job_duration" \
    --fine-tune-duration "$fine_tune_duration" \
    >"$emu_log" 2>&1 </dev/null &
emu_pid=$!

base_url=""
for _ in $(seq 1 150); do # up to 30 s
    base_url="$(grep -oE 'https?://127\.0\.0\.1:[1-9][0-9]*' "$emu_log" 2>/dev/null | head -n 1 || true)"
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
echo ">>> emulator at $base_url"
# Deployments start in DEMO_DEPLOYMENT_DURATION seconds and chat completions answer at once
# (the emulator's run-time switches; the API key goes in a header, never on a command line).
SEEKRFLOW_EMULATOR_API_KEY="$api_key" "$PYTHON" - "$base_url" "$deployment_duration" <<'PY'
import json
import os
import sys
import urllib.request

base_url, duration = sys.argv[1], float(sys.argv[2])
request = urllib.request.Request(
    f"{base_url}/_emulator/config",
    data=json.dumps({"deployment_duration": duration, "chat_latency": 0}).encode(),
    method="PUT",
    headers={"Authorization": os.environ["SEEKRFLOW_EMULATOR_API_KEY"], "content-type": "application/json"},
)
with urllib.request.urlopen(request, timeout=10) as answer:
    answer.read()
PY

# ---------------------------------------------------------------- 2. connection + AIRFLOW_HOME
export AIRFLOW_CONN_SEEKRFLOW_DEFAULT="{\"conn_type\":\"seekrflow\",\"host\":\"$base_url\",\"password\":\"$api_key\"}"
export AIRFLOW_HOME="$work/airflow"
mkdir -p "$AIRFLOW_HOME"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$repo_root/example_dags"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
# Where the evaluation writes its answers (the example's `seekrflow_answers_dir` Variable).
export AIRFLOW_VAR_SEEKRFLOW_ANSWERS_DIR="$repo_root/.demo/answers"
unset SEEKR_API_KEY SEEKR_BASE_URL SEEKR_TEAM_ID
# Warnings of Airflow's own set-up that say nothing about the pipeline: the CLI's optional
# graphviz, and the test client dags test runs the Task SDK through.
export PYTHONWARNINGS="ignore:Could not import graphviz,ignore:Using \`httpx\` with \`starlette.testclient\` is deprecated"

echo ">>> creating a temporary Airflow metadata DB (removed at the end)"
if ! airflow db migrate >"$work/db-migrate.log" 2>&1; then
    echo "!!! 'airflow db migrate' failed:" >&2
    tail -n 40 "$work/db-migrate.log" >&2
    exit 1
fi

# ---------------------------------------------------------------- 3. run
run_log="$work/dags-test.log"
echo ">>> airflow dags test $dag_id (full log: scroll up)"
started=$(date +%s)
airflow dags test "$dag_id" 2>&1 | tee "$run_log"
elapsed=$(($(date +%s) - started))

# ---------------------------------------------------------------- 4. summary
# The task log is long; pull out what a reader wants. Trigger lines (deferred waits) carry the
# same messages as worker lines; each distinct message is shown once.
strip_log() { sed -E 's/^[0-9T:.Z-]+ \[[a-z ]+\] //; s/ +\[(airflow|task|airflow[^]]*)[^]]*\] loc=.*$//; s/^\[[^]]*\] \{[^}]*\} [A-Z]+ - //'; }
once() { awk '!seen[$0]++'; }
echo
echo "================ what happened ($dag_id, ${elapsed}s) ================"
echo "---------------- files ----------------"
grep -E "stored as file-" "$run_log" | strip_log | once
echo "---------------- ingestion and training pairs ----------------"
grep -E "Created data job|Data job [^ ]+: (status=|alignment )|Started data job|Data job [^ ]+ completed" "$run_log" | strip_log | once
training_file="$(grep -oE "training file file-[0-9a-zA-Z_-]+" "$run_log" | tail -n 1 | cut -d' ' -f3 || true)"
if [ -n "$training_file" ]; then
    "$PYTHON" - "$training_file" <<'PY'
import logging
import sys

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

logging.disable(logging.INFO)  # the hook's download line; the demo prints what it read

file_id = sys.argv[1]
pairs = list(SeekrFlowHook().iter_conversations(file_id))
print(f"{len(pairs)} training pairs in {file_id}; the first:")
for message in pairs[0]["messages"] if pairs else []:
    print(f"{message['role']:>9}: {message['content']}")
PY
fi
echo "---------------- fine-tune ----------------"
grep -E "Created project|Using project|Fine-tune [^ ]+: |Fine-tune [^ ]+ completed|Fine-tuned model" "$run_log" | strip_log | once
# The deployment becoming Active, the evaluation's pass rate, the usage SeekrFlow reported.
"$PYTHON" "$repo_root/scripts/demo_summary.py" "$run_log"
echo "-----------------------------------------------------------"
if grep -q "state=success" "$run_log"; then
    echo ">>> demo finished in ${elapsed}s: the DAG run succeeded"
else
    echo "!!! the DAG run did not succeed; see the log above" >&2
    exit 1
fi
