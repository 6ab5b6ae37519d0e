#!/usr/bin/env bash
# The vector database sync demo against the local SeekrFlow emulator, no prompts (`make demo-rag`).
#
#  1-2. the emulator, the connection and a throwaway AIRFLOW_HOME, as `make demo` (scripts/demo_env.sh);
#  3. copies the example documents into a work folder, the `seekrflow_rag_folder` Variable, and runs
#     `airflow dags test example_seekrflow_rag_refresh`: the database is created and every document
#     added, then a context_grounded_vector_db data job reads it;
#  4. edits one document, adds one and deletes one, and runs the DAG again: only those three move
#     (one upload for the edit, one for the addition, two removals: the deleted document and the
#     edited one's old version), the unchanged one is left alone;
#  5. prints what each sync did, and how many requests of each kind the second one sent.
#
# Environment: PYTHON (default: python on PATH), DEMO_JOB_DURATION (default 5 s, the data job),
# DEMO_VECTOR_INGESTION_SECONDS (default 0.5 s per file).
set -euo pipefail
export DEMO_JOB_DURATION="${DEMO_JOB_DURATION:-5}"

cd "$(dirname "$0")/.."
source scripts/demo_env.sh
dag_id=example_seekrflow_rag_refresh

folder="$work/documents"
cp -r "$repo_root/example_dags/data/documents" "$folder"
export AIRFLOW_VAR_SEEKRFLOW_RAG_FOLDER="$folder"
strip_log() { sed -E 's/^[0-9T:.Z-]+ \[[a-z ]+\] //; s/ +\[(airflow|task|airflow[^]]*)[^]]*\] loc=.*$//; s/^\[[^]]*\] \{[^}]*\} [A-Z]+ - //'; }
once() { awk '!seen[$0]++'; }
journal() {  # journal: the emulator's request counts by route since the last clear, then clear
    SEEKRFLOW_EMULATOR_API_KEY="$api_key" "$PYTHON" - "$base_url" "$1" <<'PY'
import collections
import json
import os
import sys
import urllib.request

base_url, clear = sys.argv[1], sys.argv[2] == "clear"
headers = {"Authorization": os.environ["SEEKRFLOW_EMULATOR_API_KEY"]}
if clear:
    urllib.request.urlopen(urllib.request.Request(f"{base_url}/_emulator/journal", method="DELETE", headers=headers), timeout=10).read()
    sys.exit(0)
with urllib.request.urlopen(urllib.request.Request(f"{base_url}/_emulator/journal", headers=headers), timeout=10) as answer:
    entries = json.load(answer)
entries = entries.get("entries", entries) if isinstance(entries, dict) else entries
counts = collections.Counter(entry["route"] for entry in entries if entry.get("route"))
print("requests of the second sync's run, by route: " + ", ".join(f"{route} {n}" for route, n in sorted(counts.items())))
PY
}
run() {  # run N: one `airflow dags test`, its log kept as $work/run-N.log
    echo ">>> run $1: airflow dags test $dag_id (full log: scroll up)"
    airflow dags test "$dag_id" 2>&1 | tee "$work/run-$1.log"
    grep -q "state=success" "$work/run-$1.log" || { echo "!!! run $1 did not succeed; see the log above" >&2; exit 1; }
}

started=$(date +%s)
run 1
echo ">>> changing the folder: shipping.md edited, gift_cards.md added, warranty.txt deleted"
printf '# Shipping\n\nStandard orders ship within 2 business days; express orders the same day.\n' >"$folder/shipping.md"
printf '# Gift cards\n\nNorthwind gift cards never expire and can be used online or in store.\n' >"$folder/gift_cards.md"
rm "$folder/warranty.txt"
journal clear
run 2
elapsed=$(($(date +%s) - started))

echo
echo "================ what happened ($dag_id, two runs, ${elapsed}s) ================"
for n in 1 2; do
    echo "---------------- run $n ----------------"
    grep -E "Sync of vector database|Removed .*gone from the source|Removed the old versions|stored as file-|Started ingestion|Synced vector database|Data job [^ ]+ completed" "$work/run-$n.log" \
        | strip_log | sed "s#$folder/##g" | once
done
journal show
echo "-----------------------------------------------------------"
echo ">>> demo-rag finished in ${elapsed}s: both runs succeeded, the second moved only the difference"
