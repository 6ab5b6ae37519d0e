"""What one running emulator holds (key, store, jobs, data jobs, fine-tunes, deployments, vector databases, faults, journal) and its run-time config.

The config (``GET``/``PUT``/``DELETE /_emulator/config``) is checked here, key by key, so a bad
value is refused whole and the running emulator never sees it.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow_provider_seekrflow.emulator.data_jobs import DataJobService
from airflow_provider_seekrflow.emulator.deployments import DEPLOYMENT_OUTCOMES, DeploymentService
from airflow_provider_seekrflow.emulator.faults import FaultSet
from airflow_provider_seekrflow.emulator.fine_tunes import FINE_TUNE_OUTCOMES, FineTuneService, ProjectService
from airflow_provider_seekrflow.emulator.hostile_numbers import checked_hostile_numbers
from airflow_provider_seekrflow.emulator.jobs import TERMINAL_STATUSES, JobService
from airflow_provider_seekrflow.emulator.journal import Journal
from airflow_provider_seekrflow.emulator.store import Store
from airflow_provider_seekrflow.emulator.vector_databases import VectorDatabaseService
from airflow_provider_seekrflow.vocabulary import MAX_FILE_BYTES, AlignmentJobStatus, FineTuneStatus

__all__ = ["DEFAULT_CONFIG", "EmulatorState"]

DEFAULT_CONFIG: dict[str, Any] = {
    "job_duration": 20.0,
    "job_outcome": AlignmentJobStatus.COMPLETED.value,
    "status_message": None,
    "eta": True,
    "max_file_bytes": MAX_FILE_BYTES,
    # Whether job objects repeat their request (instructions, files...); the public reference does
    # not say the real service does, so clients must cope with both.
    "echo_request": True,
    # Older servers' job shape: string percentages and a status the provider does not know.
    "legacy_job_shape": False,
    # Deprecation/Sunset/Link headers on the generate route, which the reference marks deprecated.
    "deprecation_headers": False,
    # Seconds a data job takes to ingest each attached file that is not Markdown (Markdown: none).
    "ingestion_seconds": 2.0,
    # File names whose ingestion fails (error_message + suggested_fix), putting the job in needs_review.
    "ingestion_fail": [],
    # Seconds a fine-tune takes from creation to its end, and how it ends (completed or failed).
    "fine_tune_duration": 20.0,
    "fine_tune_outcome": FineTuneStatus.COMPLETED.value,
    # Seconds a deployment is Pending after a create or a promote, and how it then ends (Active or
    # Failed); the status_message of a Failed one (None: a default message).
    "deployment_duration": 2.0,
    "deployment_outcome": "Active",
    "deployment_status_message": None,
    # Seconds a vector database ingestion takes per file (after a queued quarter of it), and the file
    # names whose ingestion fails (the file's record and the job: failed, with an error_message).
    "vector_ingestion_seconds": 1.0,
    "vector_ingestion_fail": [],
    # Seconds each chat completion waits before it answers (for benchmarks).
    "chat_latency": 0.0,
    # Field name -> NaN/Infinity/huge literal written raw into every JSON answer (hostile_numbers.py).
    "hostile_numbers": {},
}
BOOL_KEYS = ("eta", "echo_request", "legacy_job_shape", "deprecation_headers")
SECONDS_KEYS = (
    "job_duration",
    "ingestion_seconds",
    "fine_tune_duration",
    "deployment_duration",
    "chat_latency",
    "vector_ingestion_seconds",
)
# A config key whose change brings its default message back unless a message is given with it.
OUTCOME_MESSAGES = {"job_outcome": "status_message", "deployment_outcome": "deployment_status_message"}


def _checked(key: str, value: Any) -> Any:
    """Return config ``value`` for ``key`` in its stored type; raise ``ValueError`` if it does not fit."""
    if key in SECONDS_KEYS:
        if isinstance(value, bool):
            raise ValueError(f"{key} must be a number of seconds")
        value = float(value)
        if not 0 <= value < float("inf"):
            raise ValueError(f"{key} must be a number of seconds, not negative")
    elif key in ("ingestion_fail", "vector_ingestion_fail"):
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise ValueError(f"{key} must be a list of file names")
        value = list(value)
    elif key == "fine_tune_outcome":
        if value not in FINE_TUNE_OUTCOMES:
            raise ValueError(f"fine_tune_outcome must be one of {', '.join(FINE_TUNE_OUTCOMES)}")
    elif key == "deployment_outcome":
        # The contract's status names; "failed" is taken for "Failed", as the other outcomes are lower case.
        value = str(value).capitalize()
        if value not in DEPLOYMENT_OUTCOMES:
            raise ValueError(f"deployment_outcome must be one of {', '.join(DEPLOYMENT_OUTCOMES)}")
    elif key == "job_outcome":
        if value not in TERMINAL_STATUSES:
            raise ValueError(f"job_outcome must be one of {', '.join(TERMINAL_STATUSES)}")
    elif key in OUTCOME_MESSAGES.values():
        value = None if value is None else str(value)
    elif key in BOOL_KEYS:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
    elif key == "hostile_numbers":
        value = checked_hostile_numbers(value)
    elif key == "max_file_bytes":
        if isinstance(value, bool) or int(value) < 1:
            raise ValueError("max_file_bytes must be a positive integer")
        value = int(value)
    return value


class EmulatorState:
    """Everything one running emulator holds: key, store, jobs, faults, journal and config."""

    def __init__(
        self,
        api_key: str,
        data_dir: str,
        *,
        job_duration: float = 20.0,
        legacy_job_shape: bool = False,
        deprecation_headers: bool = False,
        ingestion_seconds: float | None = None,
        fine_tune_duration: float | None = None,
    ) -> None:
        """``ingestion_seconds`` and ``fine_tune_duration``: None keeps ``DEFAULT_CONFIG``'s."""
        self.api_key = api_key
        self.store = Store(data_dir)
        self.jobs = JobService(self.store)
        self.data_jobs = DataJobService(self.store, self.jobs)
        self.fine_tunes = FineTuneService(self.store)
        self.deployments = DeploymentService(self.store)
        self.vector_databases = VectorDatabaseService(self.store)
        self.projects = ProjectService(self.store, self.fine_tunes, self.deployments.served_models)
        self.faults = FaultSet()
        self.journal = Journal()
        # The start-up options are part of the initial config, so a reset returns to them.
        start_up = {
            "job_duration": job_duration,
            "legacy_job_shape": bool(legacy_job_shape),
            "deprecation_headers": bool(deprecation_headers),
            "ingestion_seconds": ingestion_seconds,
            "fine_tune_duration": fine_tune_duration,
        }
        start_up = {key: value for key, value in start_up.items() if value is not None}
        self.initial_config = {**DEFAULT_CONFIG, **{key: _checked(key, v) for key, v in start_up.items()}}
        self.config = dict(self.initial_config)
        self._config_lock = threading.Lock()

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate and apply config changes (``ValueError`` on a bad key or value)."""
        unknown = set(changes) - set(DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(sorted(unknown))}")
        clean = {key: _checked(key, value) for key, value in changes.items()}
        with self._config_lock:
            # A new outcome brings its own default message unless one is given with it.
            for outcome, message in OUTCOME_MESSAGES.items():
                if outcome in clean and message not in clean:
                    clean[message] = None
            self.config.update(clean)
            return dict(self.config)

    def reset_config(self) -> dict[str, Any]:
        """Restore the start-up config; return it."""
        with self._config_lock:
            self.config = dict(self.initial_config)
            return dict(self.config)
