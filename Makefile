# airflow-provider-seekrflow: developer and CI entry points.
#
#   make test         lint + mypy + pytest against Airflow $(AIRFLOW_LOW), $(AIRFLOW_MID) and $(AIRFLOW_HIGH)
#   make unit         the fast layer alone: tests/unit (no emulator, no Airflow database), Airflow $(AIRFLOW_HIGH)
#   make demo         run the example pipeline against the local emulator (Airflow $(AIRFLOW_HIGH))
#   make demo-rag     sync a folder into a vector database, change it, sync again: only the difference moves
#   make lint         ruff check + ruff format --check
#   make typecheck    mypy in each virtualenv
#   make integration  the slow suite against a real deployment: PostgreSQL + Airflow $(AIRFLOW_HIGH) processes + emulator
#   make integration-mid  its kill and execution_timeout tests on Airflow $(AIRFLOW_MID) (triggers without a database)
#   make browser      Airflow $(AIRFLOW_HIGH)'s UI in Debian's Chromium (Playwright) on that deployment; docs/ui.md
#   make distributed  CeleryExecutor + Redis, 2 workers, 2 triggerers: load, failover, worker loss, kills, secrets
#   make bench        benchmarks/run_all.py (.venvs/bench: Airflow $(AIRFLOW_HIGH) + [bench] extra)
#   make lock         re-resolve the pinned sets in locks/ (newest versions); review their diff like code
#   make test-latest  the pytest matrix on the newest packages instead of the locks: what broke, what moved
#   make clean        remove the virtualenvs and caches
#
# Needs Python 3.10, 3.12 and 3.13 (pyenv's will do) with pip/venv: uv is bootstrapped into
# .venvs/bootstrap at a pinned version. Every venv installs from its locked set in locks/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
# What each venv is locked for (Airflow, Python, extras): locks/targets.sh, read here and by scripts/lock.sh.
target = $(shell . locks/targets.sh && echo "$$$(1)")
AIRFLOW_LOW := $(call target,AF2_AIRFLOW)
# 3.0-3.2 run triggers as API clients without database access: the middle of the matrix.
AIRFLOW_MID := $(call target,AF31_AIRFLOW)
AIRFLOW_HIGH := $(call target,AF3_AIRFLOW)
PYTHON_LOW := $(call target,AF2_PYTHON)
PYTHON_MID := $(call target,AF31_PYTHON)
PYTHON_HIGH := $(call target,AF3_PYTHON)
PYTHON_BENCH := $(call target,BENCH_PYTHON)
VENVS ?= .venvs
# The uv that bootstraps when none is on PATH: pinned, as everything else is.
UV_VERSION ?= 0.13.9
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

# The installed metadata's version (what `airflow providers get` shows) is read from here.
VERSION_FILE := airflow_provider_seekrflow/__init__.py
AF2_STAMP := $(AF2)/.installed-lock
AF31_STAMP := $(AF31)/.installed-lock
AF3_STAMP := $(AF3)/.installed-lock
# seekrai pins httpx<0.28 (and typer, overridden in its lock), which is why the benchmarks get
# their own venv instead of changing .venvs/af3.
BENCH := $(VENVS)/bench
BENCH_STAMP := $(BENCH)/.installed-lock

.PHONY: help test unit venvs venv-af2 venv-af31 venv-af3 lint format typecheck pytest demo demo-rag integration integration-mid browser distributed bench lock test-latest clean

help:
	@sed -n '2,15s/^# \{0,1\}//p' Makefile \
	  | sed -e 's/$$(AIRFLOW_LOW)/$(AIRFLOW_LOW)/g' -e 's/$$(AIRFLOW_MID)/$(AIRFLOW_MID)/g' -e 's/$$(AIRFLOW_HIGH)/$(AIRFLOW_HIGH)/g'

# ----------------------------------------------------------------------------- virtualenvs

$(VENVS)/bootstrap/bin/uv:
	@echo ">>> uv not found on PATH: bootstrapping uv $(UV_VERSION) into $(VENVS)/bootstrap"
	$(PYTHON) -m venv $(VENVS)/bootstrap
	$(VENVS)/bootstrap/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@$@ --version

# $(call install_venv,<venv dir>,<Python X.Y>,<lock file>)
# The venv gets exactly the locked set (uv pip sync: nothing more, nothing less), then the package
# itself, editable and without dependencies, built by the locked build backend. A venv of another
# Python is made anew. The stamp (newer than the lock, pyproject.toml and the file holding
# __version__, which the editable install's metadata copies) makes re-runs free.
define install_venv
	@echo ">>> $(1): Python $(2), $(3) (uv: $(UV))"
	@start=$$(date +%s); \
	interpreter="$$(UV="$(UV)" bash scripts/find_python.sh $(2))"; \
	if [ -x "$(1)/bin/python" ] && ! "$(1)/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(,),$(2))))' 2>/dev/null; then \
	  echo ">>> $(1) is not Python $(2): made anew"; rm -rf "$(1)"; \
	fi; \
	if [ ! -x "$(1)/bin/python" ]; then \
	  $(UV) venv --quiet --python "$$interpreter" "$(1)"; \
	fi; \
	$(UV) pip sync --quiet --python "$(1)/bin/python" "$(3)"; \
	$(UV) pip install --quiet --python "$(1)/bin/python" --no-deps --build-constraints locks/build.txt -e .; \
	rm -f $(1)/.installed-*; \
	touch "$(1)/.installed-lock"; \
	echo ">>> $(1) ready in $$(( $$(date +%s) - start ))s"
endef

$(AF2_STAMP): locks/af2.txt locks/build.txt pyproject.toml $(VERSION_FILE) $(UV_DEP)
	$(call install_venv,$(AF2),$(PYTHON_LOW),locks/af2.txt)

$(AF31_STAMP): locks/af31.txt locks/build.txt pyproject.toml $(VERSION_FILE) $(UV_DEP)
	$(call install_venv,$(AF31),$(PYTHON_MID),locks/af31.txt)

$(AF3_STAMP): locks/af3.txt locks/build.txt pyproject.toml $(VERSION_FILE) $(UV_DEP)
	$(call install_venv,$(AF3),$(PYTHON_HIGH),locks/af3.txt)

$(BENCH_STAMP): locks/bench.txt locks/build.txt pyproject.toml $(VERSION_FILE) $(UV_DEP)
	$(call install_venv,$(BENCH),$(PYTHON_BENCH),locks/bench.txt)

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

# The versions run concurrently, each split in two halves with their own metadata DB: six runs. The
# halves are cut by each test file's duration in the last measured run (tests/durations.json), so they
# end together: split round-robin by name, 3.1's halves took 2,400 s and 900 s (the two job-kind contract
# suites in one). Most of a run is waiting on emulated jobs, so six runs share 2 cores well.
PYTEST_MATRIX_SHARDS ?= airflow-$(AIRFLOW_LOW)=2 airflow-$(AIRFLOW_MID)=2 airflow-$(AIRFLOW_HIGH)=2
# What those tests check does not depend on the Airflow version: the emulator (tests/emulator/emulator; every
# other test runs it under each version's Python anyway) and the 1 GiB object's memory bound. They run
# with the newest Airflow only: about 145 s of work off the 2.11 and 3.1 runs (docs/reliability.md).
PYTEST_MATRIX_ONCE ?= airflow-$(AIRFLOW_HIGH)=tests/emulator/emulator tests/emulator/sources/test_s3_sources.py::test_one_gib_object_streams_with_bounded_memory
pytest: venvs
	bash scripts/install_test_tools.sh
	PYTEST_ARGS="$(PYTEST_ARGS)" PYTEST_MATRIX_SHARDS="$(PYTEST_MATRIX_SHARDS)" PYTEST_MATRIX_ONCE="$(PYTEST_MATRIX_ONCE)" \
	  bash scripts/pytest_matrix.sh \
	  "$(AF2)=airflow-$(AIRFLOW_LOW)" \
	  "$(AF31)=airflow-$(AIRFLOW_MID)" \
	  "$(AF3)=airflow-$(AIRFLOW_HIGH)"

unit: venv-af3
	@start=$$(date +%s%N); \
	$(AF3)/bin/python -m pytest -p no:cacheprovider -q tests/unit; \
	echo ">>> fast layer wall time: $$(( ($$(date +%s%N) - start) / 1000000 )) ms"

# ruff and mypy run beside the pytest matrix (half a minute off the critical path); any failing one
# fails the target. No --output-sync: the matrix's progress lines must reach a CI log as they come.
test: venvs
	$(MAKE) --no-print-directory -j3 lint typecheck pytest

# ----------------------------------------------------------------------------- demo & friends

demo: venv-af3
	PATH="$(CURDIR)/$(AF3)/bin:$$PATH" VIRTUAL_ENV="$(CURDIR)/$(AF3)" bash scripts/demo.sh

demo-rag: venv-af3
	PATH="$(CURDIR)/$(AF3)/bin:$$PATH" VIRTUAL_ENV="$(CURDIR)/$(AF3)" bash scripts/demo_rag.sh

# PostgreSQL (apt-get, as root), its drivers in $(IT_VENV), then the real-deployment suite; see
# docs/reliability.md. INTEGRATION_WORK_DIR keeps AIRFLOW_HOME, logs and results.json there.
# IT_VENV is the Airflow deployed: $(AF3) ($(AIRFLOW_HIGH)) unless integration-mid picks $(AF31).
INTEGRATION_WORK_DIR ?=
IT_VENV ?= $(AF3)
integration: $(if $(filter $(AF31),$(IT_VENV)),venv-af31,venv-af3) $(UV_DEP)
	UV="$(UV)" IT_PYTHON="$(CURDIR)/$(IT_VENV)/bin/python" IT_WORK_DIR="$(INTEGRATION_WORK_DIR)" \
	  IT_LOCK="locks/$(notdir $(IT_VENV))-deploy.txt" \
	  bash scripts/integration/run.sh $(PYTEST_ARGS)

# Airflow 3.0-3.2 run triggers as API clients without database access: kill while deferred and
# execution_timeout there, in the same harness (its own database, so it never clobbers a 3.3 run's).
integration-mid:
	IT_PG_DB=seekrflow_it_mid $(MAKE) --no-print-directory integration IT_VENV=$(AF31) \
	  PYTEST_ARGS="-k 'marking_deferred or execution_timeout' $(PYTEST_ARGS)"

# Debian's Chromium (apt-get, as root) and the browser extra (Playwright) into $(AF3) when missing,
# then tests/system/browser on the integration harness's deployment, its own database (docs/ui.md).
# BROWSER_WORK_DIR keeps AIRFLOW_HOME, logs and screenshots/ there; BROWSER_SCREENSHOT_DIR moves those.
BROWSER_WORK_DIR ?=
browser: venv-af3 $(UV_DEP)
	UV="$(UV)" IT_PYTHON="$(CURDIR)/$(AF3)/bin/python" IT_WORK_DIR="$(BROWSER_WORK_DIR)" IT_LOCK=locks/af3-deploy.txt \
	  bash scripts/browser/run.sh $(PYTEST_ARGS)

# Airflow on CeleryExecutor (issue 13): Debian's Redis (apt-get, as root) as broker and the celery
# extra installed into $(AF3) when missing, then tests/system/distributed on its own database.
# DISTRIBUTED_WORK_DIR keeps AIRFLOW_HOME, logs (one per worker and triggerer) and results.json there.
DISTRIBUTED_WORK_DIR ?=
distributed: venv-af3 $(UV_DEP)
	UV="$(UV)" IT_PYTHON="$(CURDIR)/$(AF3)/bin/python" IT_WORK_DIR="$(DISTRIBUTED_WORK_DIR)" IT_LOCK=locks/af3-deploy.txt \
	  IT_SUITE=distributed IT_PG_DB=seekrflow_dist bash scripts/integration/run.sh $(PYTEST_ARGS)

bench: $(BENCH_STAMP)
	$(BENCH)/bin/python benchmarks/run_all.py

# ----------------------------------------------------------------------------- dependencies

# Re-resolve every set in locks/ on purpose (newest versions that fit pyproject.toml, the Airflow pins
# and the known breaks in locks/targets.sh). `make lock LOCK_UPGRADE=0` keeps the pins that still fit.
LOCK_UPGRADE ?= 1
lock: $(UV_DEP)
	UV="$(UV)" LOCK_UPGRADE="$(LOCK_UPGRADE)" bash scripts/lock.sh

# The matrix on what PyPI has today (no lock, no known-break constraints), in .venvs/latest-*: each
# version's failures in a few lines, the packages that moved against its lock, and whether each known
# break still breaks. Not part of .ci/run: it watches the registry; it does not gate a change.
test-latest: $(UV_DEP)
	bash scripts/install_test_tools.sh
	UV="$(UV)" VENVS="$(VENVS)" PYTEST_ARGS="$(PYTEST_ARGS)" PYTEST_MATRIX_SHARDS="$(PYTEST_MATRIX_SHARDS)" \
	  bash scripts/test_latest.sh

clean:
	rm -rf $(VENVS) .pytest_cache .mypy_cache .ruff_cache .demo build dist benchmarks/.work
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
