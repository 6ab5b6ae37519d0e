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
# Sections 1 and 2 (the emulator, the connection, a throwaway AIRFLOW_HOME): shared with demo_rag.sh.
source scripts/demo_env.sh
dag_id="${DEMO_DAG:-example_seekrflow_pipeline}"

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
