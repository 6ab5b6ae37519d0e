#!/usr/bin/env bash
# The integration suite against a real deployment (see docs/reliability.md):
#
#   1. PostgreSQL: installed with apt-get if missing, cluster started, role + database created
#      (scripts/integration/postgres.sh);
#   2. the PostgreSQL drivers (psycopg2-binary, asyncpg) installed into the Airflow venv from its lock;
#   3. pytest -m integration tests/system/integration: the session fixture resets the metadata DB and
#      starts the emulator, api-server, scheduler (LocalExecutor), triggerer and dag-processor as
#      separate processes, then the tests drive DAG runs through the REST API.
#
# Step 2 installs the venv's locked deploy set (IT_LOCK, default locks/<venv>-deploy.txt): the
# `deployment` extra (the drivers), and for Airflow 3.3 also `browser` (Playwright) and `celery`.
#
# With IT_SUITE=distributed (make distributed, tests/system/distributed: CeleryExecutor), also, before 3:
# Redis installed if missing (scripts/integration/redis.sh install; the harness starts and stops a
# private server in $IT_WORK_DIR/redis, and this script stops it again on exit, whatever happened);
# the database defaults to seekrflow_dist.
#
#   scripts/integration/run.sh [pytest args...]      e.g. -k soak, -x
#
# Environment: IT_PYTHON (default .venvs/af3/bin/python, built by `make venv-af3`; `make integration-mid`
# passes .venvs/af31's), IT_PG_DB (the database, see postgres.sh), IT_WORK_DIR
# (default: a new /tmp/seekrflow-it.* directory, kept: AIRFLOW_HOME, logs, results.json), IT_LOCK,
# IT_SOAK_RUNS (50), IT_SOAK_FAULT_RATE (0.2), UV (uv binary), IT_SUITE (integration: the pytest
# marker and the folder tests/system/<suite>; scripts/browser/run.sh passes browser, make distributed
# passes distributed), IT_DIST_RUNS (40: the load batch), IT_DIST_FAULT_RATE (0.2).
set -euo pipefail

cd "$(dirname "$0")/../.."
repo_root="$(pwd)"
py="${IT_PYTHON:-$repo_root/.venvs/af3/bin/python}"
if [ ! -x "$py" ]; then
    echo "!!! no Python at $py: run 'make venv-af3' (or venv-af31) first, or set IT_PYTHON" >&2
    exit 2
fi
suite="${IT_SUITE:-integration}"
start=$(date +%s)
if [ "$suite" = distributed ]; then
    export IT_PG_DB="${IT_PG_DB:-seekrflow_dist}"
fi

echo ">>> PostgreSQL"
IT_SQL_ALCHEMY_CONN="$(bash scripts/integration/postgres.sh | tail -n 1)"
export IT_SQL_ALCHEMY_CONN
echo ">>> metadata DB: ${IT_SQL_ALCHEMY_CONN%%://*}://...@${IT_SQL_ALCHEMY_CONN##*@}"

# The deployment's additions (PostgreSQL drivers; Playwright and Celery for Airflow 3.3) from the
# venv's locked deploy set, resolved under its base set's pins: installing it adds packages and
# moves none. uv pip install is a no-op in about a second when all is there.
lock="${IT_LOCK:-$repo_root/locks/$(basename "$(dirname "$(dirname "$py")")")-deploy.txt}"
if [ ! -f "$lock" ]; then
    echo "!!! no locked deploy set at $lock (locks/targets.sh *_DEPLOY_EXTRAS; make lock)" >&2
    exit 2
fi
uv="${UV:-}"
if [ -z "$uv" ]; then
    if uv --version >/dev/null 2>&1; then uv=uv; else uv="$repo_root/.venvs/bootstrap/bin/uv"; fi
fi
echo ">>> installing $(basename "$lock") into $(dirname "$(dirname "$py")")"
"$uv" pip install --quiet --python "$py" -r "$lock"

if [ "$suite" = distributed ]; then
    echo ">>> Redis"
    bash scripts/integration/redis.sh install
fi

IT_WORK_DIR="${IT_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/seekrflow-it.XXXXXX")}"
export IT_WORK_DIR
mkdir -p "$IT_WORK_DIR"
if [ "$suite" = distributed ]; then
    # The harness stops its Redis in Deployment.stop(); this covers a session killed before that.
    export IT_REDIS_DIR="$IT_WORK_DIR/redis"
    trap 'bash scripts/integration/redis.sh stop || true' EXIT
fi
echo ">>> work dir (AIRFLOW_HOME, logs, results.json): $IT_WORK_DIR"

# Nothing from the caller's shell may leak into the deployment or the tests.
unset AIRFLOW_CONN_SEEKRFLOW_DEFAULT SEEKR_API_KEY SEEKR_BASE_URL SEEKR_TEAM_ID AIRFLOW__CORE__DAGS_FOLDER \
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW_HOME
rc=0
"$py" -m pytest -p no:cacheprovider -m "$suite" "tests/system/$suite" \
    --junitxml="$IT_WORK_DIR/junit.xml" -o junit_family=xunit2 "$@" || rc=$?

echo
echo ">>> $suite suite: exit $rc, harness run time $(($(date +%s) - start)) s"
if [ -f "$IT_WORK_DIR/results.json" ]; then
    echo ">>> figures ($IT_WORK_DIR/results.json):"
    cat "$IT_WORK_DIR/results.json"
fi
exit "$rc"
