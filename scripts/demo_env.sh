# What both demos set up (sourced by scripts/demo.sh and scripts/demo_rag.sh, from the repository root):
#
#  1. the emulator on a free loopback port (alignment DEMO_JOB_DURATION s, fine-tune
#     DEMO_FINE_TUNE_DURATION s, a deployment Pending DEMO_DEPLOYMENT_DURATION s, chat completions at
#     once, vector database ingestion DEMO_VECTOR_INGESTION_SECONDS s per file), stopped on exit;
#  2. the `seekrflow_default` connection pointing at it (AIRFLOW_CONN_SEEKRFLOW_DEFAULT), a throwaway
#     AIRFLOW_HOME with a fresh SQLite metadata DB, and the example DAGs folder.
#
# Leaves: repo_root, PYTHON, work (removed on exit), base_url, api_key.
repo_root="$(pwd)"
PYTHON="${PYTHON:-python}"
job_duration="${DEMO_JOB_DURATION:-15}"
fine_tune_duration="${DEMO_FINE_TUNE_DURATION:-20}"
deployment_duration="${DEMO_DEPLOYMENT_DURATION:-3}"
vector_ingestion_seconds="${DEMO_VECTOR_INGESTION_SECONDS:-0.5}"
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
SEEKRFLOW_EMULATOR_API_KEY="$api_key" "$PYTHON" - "$base_url" "$deployment_duration" "$vector_ingestion_seconds" <<'PY'
import json
import os
import sys
import urllib.request

base_url, duration, per_file = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
config = {"deployment_duration": duration, "chat_latency": 0, "vector_ingestion_seconds": per_file}
request = urllib.request.Request(
    f"{base_url}/_emulator/config",
    data=json.dumps(config).encode(),
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

