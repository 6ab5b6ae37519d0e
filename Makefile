# airflow-provider-seekrflow: developer and CI entry points.
#
#   make test         lint + mypy + pytest against Airflow $(AIRFLOW_LOW), $(AIRFLOW_MID) and $(AIRFLOW_HIGH)
#   make unit         the fast layer alone: tests/unit (no emulator, no Airflow database), Airflow $(AIRFLOW_HIGH)
#   make demo         run the example pipeline against the local emulator (Airflow $(AIRFLOW_HIGH))
#   make lint         ruff check + ruff format --check
#   make typecheck    mypy in each virtualenv
#   make integration  the slow suite against a real deployment: PostgreSQL + Airflow $(AIRFLOW_HIGH) processes + emulator
#   make integration-mid  its kill and execution_timeout tests on Airflow $(AIRFLOW_MID) (triggers without a database)
#   make browser      Airflow $(AIRFLOW_HIGH)'s UI in Debian's Chromium (Playwright) on that deployment; docs/ui.md
#   make distributed  CeleryExecutor + Redis, 2 workers, 2 triggerers: load, failover, worker loss, kills, secrets
#   make bench        benchmarks/run_all.py (.venvs/bench: Airflow $(AIRFLOW_HIGH) + [bench] extra)
#   make clean        remove the virtualenvs and caches
#
# Needs only Python >= 3.10 with pip/venv: uv is bootstrapped into .venvs/bootstrap if it
# is not on PATH. Everything else is installed into .venvs/ from PyPI.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
AIRFLOW_LOW ?= 2.11.2
# 3.0-3.2 run triggers as API clients without database access: the middle of the matrix.
AIRFLOW_MID ?= 3.1.8
AIRFLOW_HIGH ?= 3.3.2
VENVS ?= .venvs
AF2 := $(VENVS)/af2
AF31 := $(VENVS)/af31
AF3 := $(VENVS)/af3
# A literal comma, for extras lists inside $(call ...).
, := ,
# Extra arguments for every pytest run, e.g. make test PYTEST_ARGS="-k hook -x"
PYTEST_ARGS ?=

# uv: the one on PATH if it actually runs (a stale pyenv shim does not), otherwise one
# installed with pip into a bootstrap venv.
UV_ON_PATH := $(shell uv --version >/dev/null 2>&1 && command -v uv)
ifeq ($(strip $(UV_ON_PATH)),)
UV := $(VENVS)/bootstrap/bin/uv
UV_DEP := $(UV)
else
UV := $(UV_ON_PATH)
UV_DEP :=
endif

# Never let uv fetch a Python build: use the interpreter we were given.
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

AF2_STAMP := $(AF2)/.installed-airflow-$(AIRFLOW_LOW)
AF31_STAMP := $(AF31)/.installed-airflow-$(AIRFLOW_MID)
AF3_STAMP := $(AF3)/.installed-airflow-$(AIRFLOW_HIGH)
BENCH := $(VENVS)/bench
BENCH_STAMP := $(BENCH)/.installed-airflow-$(AIRFLOW_HIGH)
# seekrai (<= 0.35) pins typer<0.13, Airflow 3's fastapi-cli needs typer>=0.15: seekrai only
# uses typer for its CLI, so the bench venv overrides that pin. seekrai also pins httpx<0.28,
# which is why the benchmarks get their own venv instead of changing .venvs/af3.
BENCH_OVERRIDES := typer>=0.15

.PHONY: help test unit venvs venv-af2 venv-af31 venv-af3 lint format typecheck pytest demo integration integration-mid browser distributed bench clean

help:
	@sed -n '2,13s/^# \{0,1\}//p' Makefile \
	  | sed -e 's/$$(AIRFLOW_LOW)/$(AIRFLOW_LOW)/g' -e 's/$$(AIRFLOW_MID)/$(AIRFLOW_MID)/g' -e 's/$$(AIRFLOW_HIGH)/$(AIRFLOW_HIGH)/g'

# ----------------------------------------------------------------------------- virtualenvs

$(VENVS)/bootstrap/bin/uv:
	@echo ">>> uv not found on PATH: bootstrapping it into $(VENVS)/bootstrap"
	$(PYTHON) -m venv $(VENVS)/bootstrap
	$(VENVS)/bootstrap/bin/pip install --quiet --disable-pip-version-check uv
	@$@ --version

# $(call install_venv,<venv dir>,<airflow version>,<extras>[,<extra uv pip install args>])
# One `uv pip install` of the package (editable) with its extras and the Airflow pin; the
# stamp file (named after the Airflow version, newer than pyproject.toml) makes re-runs free.
define install_venv
	@echo ">>> $(1): apache-airflow==$(2) + -e .[$(3)] (uv: $(UV))"
	@start=$$(date +%s); \
	if [ ! -x "$(1)/bin/python" ]; then \
	  $(UV) venv --quiet --python "$$(command -v $(PYTHON))" "$(1)"; \
	fi; \
	$(UV) pip install --quiet --python "$(1)/bin/python" -e ".[$(3)]" "apache-airflow==$(2)" $(4); \
	rm -f $(1)/.installed-airflow-*; \
	touch "$(1)/.installed-airflow-$(2)"; \
	echo ">>> $(1) ready in $$(( $$(date +%s) - start ))s"
endef

$(AF2_STAMP): pyproject.toml $(UV_DEP)
	$(call install_venv,$(AF2),$(AIRFLOW_LOW),test$(,)emulator)

$(AF31_STAMP): pyproject.toml $(UV_DEP)
	$(call install_venv,$(AF31),$(AIRFLOW_MID),test$(,)emulator)

$(AF3_STAMP): pyproject.toml $(UV_DEP)
	$(call install_venv,$(AF3),$(AIRFLOW_HIGH),test$(,)emulator)

$(BENCH_STAMP): pyproject.toml $(UV_DEP)
	@mkdir -p $(VENVS)
	@printf '%s\n' $(BENCH_OVERRIDES) > $(VENVS)/bench-overrides.txt
	$(call install_venv,$(BENCH),$(AIRFLOW_HIGH),test$(,)emulator$(,)bench,--overrides $(VENVS)/bench-overrides.txt)

venv-af2: $(AF2_STAMP)
venv-af31: $(AF31_STAMP)
venv-af3: $(AF3_STAMP)
venvs: venv-af2 venv-af31 venv-af3

# ----------------------------------------------------------------------------- checks

lint: venv-af3
	$(AF3)/bin/ruff check .
	$(AF3)/bin/ruff format --check .

format: venv-af3
	$(AF3)/bin/ruff check --fix .
	$(AF3)/bin/ruff format .

typecheck: venvs
	@echo ">>> mypy (Airflow $(AIRFLOW_HIGH))"
	$(AF3)/bin/mypy
	@echo ">>> mypy (Airflow $(AIRFLOW_MID))"
	$(AF31)/bin/mypy
	@echo ">>> mypy (Airflow $(AIRFLOW_LOW))"
	$(AF2)/bin/mypy

# The versions run concurrently; Airflow $(AIRFLOW_MID)'s run, the longest (dag.test() is slowest there:
# 17 min against 10-12 for the others), is split in two halves, each with its own metadata DB.
PYTEST_MATRIX_SHARDS ?= airflow-$(AIRFLOW_MID)=2
pytest: venvs
	bash scripts/install_test_tools.sh
	PYTEST_ARGS="$(PYTEST_ARGS)" PYTEST_MATRIX_SHARDS="$(PYTEST_MATRIX_SHARDS)" bash scripts/pytest_matrix.sh \
	  "$(AF2)=airflow-$(AIRFLOW_LOW)" \
	  "$(AF31)=airflow-$(AIRFLOW_MID)" \
	  "$(AF3)=airflow-$(AIRFLOW_HIGH)"

unit: venv-af3
	@start=$$(date +%s%N); \
	$(AF3)/bin/python -m pytest -p no:cacheprovider -q tests/unit; \
	echo ">>> fast layer wall time: $$(( ($$(date +%s%N) - start) / 1000000 )) ms"

test: venvs
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory typecheck
	$(MAKE) --no-print-directory pytest

# ----------------------------------------------------------------------------- demo & friends

demo: venv-af3
	PATH="$(CURDIR)/$(AF3)/bin:$$PATH" VIRTUAL_ENV="$(CURDIR)/$(AF3)" bash scripts/demo.sh

# PostgreSQL (apt-get, as root), its drivers in $(IT_VENV), then the real-deployment suite; see
# docs/reliability.md. INTEGRATION_WORK_DIR keeps AIRFLOW_HOME, logs and results.json there.
# IT_VENV is the Airflow deployed: $(AF3) ($(AIRFLOW_HIGH)) unless integration-mid picks $(AF31).
INTEGRATION_WORK_DIR ?=
IT_VENV ?= $(AF3)
integration: $(if $(filter $(AF31),$(IT_VENV)),venv-af31,venv-af3) $(UV_DEP)
	UV="$(UV)" IT_PYTHON="$(CURDIR)/$(IT_VENV)/bin/python" IT_WORK_DIR="$(INTEGRATION_WORK_DIR)" \
	  bash scripts/integration/run.sh $(PYTEST_ARGS)

# Airflow 3.0-3.2 run triggers as API clients without database access: kill while deferred and
# execution_timeout there, in the same harness (its own database, so it never clobbers a 3.3 run's).
integration-mid:
	IT_PG_DB=seekrflow_it_mid $(MAKE) --no-print-directory integration IT_VENV=$(AF31) \
	  PYTEST_ARGS="-k 'marking_deferred or execution_timeout' $(PYTEST_ARGS)"

# Debian's Chromium (apt-get, as root) and the browser extra (Playwright) into $(AF3) when missing,
# then tests/browser on the integration harness's deployment, its own database (docs/ui.md).
# BROWSER_WORK_DIR keeps AIRFLOW_HOME, logs and screenshots/ there; BROWSER_SCREENSHOT_DIR moves those.
BROWSER_WORK_DIR ?=
browser: venv-af3 $(UV_DEP)
	UV="$(UV)" IT_PYTHON="$(CURDIR)/$(AF3)/bin/python" IT_WORK_DIR="$(BROWSER_WORK_DIR)" \
	  bash scripts/browser/run.sh $(PYTEST_ARGS)

# Airflow on CeleryExecutor (issue 13): Debian's Redis (apt-get, as root) as broker and the celery
# extra installed into $(AF3) when missing, then tests/distributed on its own database.
# DISTRIBUTED_WORK_DIR keeps AIRFLOW_HOME, logs (one per worker and triggerer) and results.json there.
DISTRIBUTED_WORK_DIR ?=
distributed: venv-af3 $(UV_DEP)
	UV="$(UV)" IT_PYTHON="$(CURDIR)/$(AF3)/bin/python" IT_WORK_DIR="$(DISTRIBUTED_WORK_DIR)" \
	  IT_SUITE=distributed IT_PG_DB=seekrflow_dist bash scripts/integration/run.sh $(PYTEST_ARGS)

bench: $(BENCH_STAMP)
	$(BENCH)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENVS) .pytest_cache .mypy_cache .ruff_cache .demo build dist benchmarks/.work
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
