# The virtualenvs the project builds: which Airflow, Python and extras each one is locked for.
# Read by the Makefile (make venvs, make lock) and scripts/lock.sh; a change here needs `make lock`.
#
# The matrix: the lowest supported Airflow on the lowest Python it supports, the newest Airflow on
# the newest Python these machines have (3.13), the middle one in between (3.12).
LOCK_TARGETS=(af2 af31 af3 bench)

# Upstream breaks a set avoids (<TARGET>_KNOWN_BREAKS, constraints): make test-latest resolves without
# them to see whether they still break. README "Install" tells users the same.
#
# cryptography 51 makes MultiFernet an object without attributes; Airflow 2.11 and 3.1 set
# `_fernet.is_encrypted = True` on it (airflow/models/crypto.py::get_fernet), the AttributeError is
# swallowed by the secrets-backend loop, and every AIRFLOW_CONN_* connection reads as missing once
# airflow.cfg holds a Fernet key. Airflow 3.3 wraps MultiFernet and is unaffected.
FERNET_BREAK="cryptography<51"
# What a failing test says when a break hits it (<PACKAGE>_BREAK_SYMPTOM): make test-latest counts them.
CRYPTOGRAPHY_BREAK_SYMPTOM="isn't defined"

AF2_AIRFLOW=2.11.2
AF2_PYTHON=3.10
AF2_EXTRAS=test,emulator
AF2_KNOWN_BREAKS="$FERNET_BREAK"

AF31_AIRFLOW=3.1.8
AF31_PYTHON=3.12
AF31_EXTRAS=test,emulator
AF31_KNOWN_BREAKS="$FERNET_BREAK"
# make integration-mid deploys Airflow 3.1 on PostgreSQL.
AF31_DEPLOY_EXTRAS=deployment

AF3_AIRFLOW=3.3.2
AF3_PYTHON=3.13
AF3_EXTRAS=test,emulator
# make integration, browser and distributed deploy Airflow 3.3 on PostgreSQL, Chromium and Celery.
AF3_DEPLOY_EXTRAS=deployment,browser,celery

# make bench: Airflow 3.3 with the bench extra. seekrai (<= 0.35) pins typer<0.13 while Airflow 3's
# fastapi-cli needs typer>=0.15; seekrai uses typer only for its CLI, so the set overrides that pin.
BENCH_AIRFLOW=3.3.2
BENCH_PYTHON=3.13
BENCH_EXTRAS=test,emulator,bench
BENCH_OVERRIDES="typer>=0.15"

# The build backend of the editable install (pyproject.toml [build-system]).
BUILD_PYTHON=3.10
