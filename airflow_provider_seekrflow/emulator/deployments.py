"""Keep deployments: created ``Pending``, ``Active`` (or ``Failed``) after a set time, promoted and demoted.

A deployment starts serving when it is created and again when it is promoted: it is ``Pending``
for its ``duration`` seconds, then ``Active`` (serving) or, with the outcome ``Failed``, ``Failed``
with a ``status_message``. The status is computed from wall-clock time on every read, like the
fine-tunes'; only create, promote, demote and the usage of a chat completion write to the disk.

- Promote (``PUT .../promote``) starts an ``Inactive`` deployment (-> ``Pending`` -> ``Active``);
  any other status is refused with 409 (``DeploymentConflict``), as the contract says.
- Demote (``PUT .../demote``) stops a ``Pending``, ``Active`` or ``Failed`` one (-> ``Inactive``:
  its instances are released, nothing is deleted); demoting an ``Inactive`` one is refused (409).
- ``total_input_tokens`` / ``total_output_tokens`` grow with each chat completion it answers.
- ``n_instances`` is fixed at create: the contract has no scale and no delete route.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from airflow_provider_seekrflow.emulator.fine_tunes import PROJECT_USER_ID
from airflow_provider_seekrflow.emulator.store import RecordDir, Store, iso, public

__all__ = [
    "ACTIVE",
    "BASE_MODEL",
    "DEPLOYMENT_OUTCOMES",
    "FAILED",
    "FINE_TUNED_RUN",
    "INACTIVE",
    "PENDING",
    "DeploymentConflict",
    "DeploymentService",
]

# The contract's DeploymentStatus values the emulator moves through (Started and Success, which the
# client lists undocumented, never appear).
INACTIVE = "Inactive"
PENDING = "Pending"
ACTIVE = "Active"
FAILED = "Failed"
DEPLOYMENT_OUTCOMES = (ACTIVE, FAILED)
# The contract's DeploymentType values.
FINE_TUNED_RUN = "Fine-tuned Run"
BASE_MODEL = "Base Model"
DEFAULT_FAILURE_MESSAGE = (
    "The deployment could not start: no accelerator was free for its instances (emulated failure)."
)
# What every emulated deployment reports it runs on (the contract lists these as plain strings).
HARDWARE_TYPE = "Dedicated"
PROCESSOR = "H100"


class DeploymentConflict(Exception):
    """A promote or demote the deployment's current status does not allow (answered 409)."""


class DeploymentService:
    """Creates, reads, promotes and demotes deployments kept in a ``Store``, and counts their tokens."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records: RecordDir = store.deployments

    def create(
        self,
        request: dict[str, Any],
        *,
        duration: float,
        outcome: str,
        status_message: str | None,
        team_id: str | None,
    ) -> dict[str, Any]:
        """Create a deployment from a checked ``NewDeploymentRequest`` body, starting it; return its view."""
        now = time.time()
        record = {
            "id": f"dep-{uuid.uuid4().hex}",
            "model_type": request["model_type"],
            "model_id": request["model_id"],
            "name": request["name"],
            "description": request["description"],
            "memory": None,
            "hardware_type": HARDWARE_TYPE,
            "processor": PROCESSOR,
            "n_instances": request["n_instances"],
            "user_id": PROJECT_USER_ID,
            "team_id": team_id,
            "total_input_tokens": 0,
            "total_output_tokens": 0,
            "created_at": iso(now),
            "_created_ts": now,
            "_serving": self._start(now, duration, outcome, status_message),
            "_inactive_ts": None,
            "_last_deployed_ts": None,
        }
        self.records.save(record)
        return self.view(record, now)

    @staticmethod
    def _start(now: float, duration: float, outcome: str, message: str | None) -> dict[str, Any]:
        """Return the record of a start at ``now``: ``Pending`` for ``duration``, then ``outcome``."""
        if outcome == FAILED and message is None:
            message = DEFAULT_FAILURE_MESSAGE
        return {
            "since": now,
            "ready": now + max(0.0, float(duration)),
            "outcome": outcome,
            "message": message if outcome == FAILED else None,
        }

    # ------------------------------------------------------------------ read
    def get(self, deployment_id: str) -> dict[str, Any] | None:
        record = self.records.get(deployment_id)
        return None if record is None else self.view(record, time.time())

    def list_deployments(self, skip: int, limit: int) -> list[dict[str, Any]]:
        """One page of deployments, oldest first (so a page does not shift as new ones are made)."""
        now = time.time()
        records = sorted(self.records.all(), key=lambda record: record["_created_ts"])[skip : skip + limit]
        return [self.view(record, now) for record in records]

    @staticmethod
    def status(record: dict[str, Any], now: float) -> str:
        serving = record["_serving"]
        if serving is None:
            return INACTIVE
        return str(serving["outcome"]) if now >= serving["ready"] else PENDING

    def view(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        """Return what the API shows of ``record`` at time ``now``."""
        status = self.status(record, now)
        serving = record["_serving"]
        last_deployed = record["_last_deployed_ts"]
        if serving is None:
            changed = record["_inactive_ts"] or record["_created_ts"]
        elif status == PENDING:
            changed = serving["since"]
        else:
            changed = serving["ready"]
            if status == ACTIVE:
                last_deployed = serving["ready"]
        out = public(record)
        out.update(
            status=status,
            updated_at=iso(changed),
            last_deployed_at=None if last_deployed is None else iso(last_deployed),
        )
        if status == FAILED:
            # The contract has no field for a reason; the emulator adds the one jobs use.
            out["status_message"] = serving["message"]
        return out

    def serving(self, model_id: str) -> dict[str, Any] | None:
        """Return the stored record of the oldest ``Active`` deployment of ``model_id``, or None."""
        now = time.time()
        active = [
            record
            for record in self.records.all()
            if record["model_id"] == model_id and self.status(record, now) == ACTIVE
        ]
        return min(active, key=lambda record: record["_created_ts"], default=None)

    def served_models(self) -> set[str]:
        """Return the model ids that have an ``Active`` deployment now."""
        now = time.time()
        return {record["model_id"] for record in self.records.all() if self.status(record, now) == ACTIVE}

    # ------------------------------------------------------------ transitions
    def promote(
        self, deployment_id: str, *, duration: float, outcome: str, status_message: str | None
    ) -> dict[str, Any] | None:
        """Start an ``Inactive`` deployment again; raise ``DeploymentConflict`` in any other status."""
        with self.store.lock:
            record = self.records.get(deployment_id)
            if record is None:
                return None
            now = time.time()
            status = self.status(record, now)
            if status != INACTIVE:
                raise DeploymentConflict(
                    f"Deployment {deployment_id} is {status}: only an Inactive deployment can be promoted"
                )
            record = {**record, "_serving": self._start(now, duration, outcome, status_message)}
            self.records.save(record)
            return self.view(record, now)

    def demote(self, deployment_id: str) -> dict[str, Any] | None:
        """Stop a deployment that is not ``Inactive``; raise ``DeploymentConflict`` for an ``Inactive`` one."""
        with self.store.lock:
            record = self.records.get(deployment_id)
            if record is None:
                return None
            now = time.time()
            status = self.status(record, now)
            if status == INACTIVE:
                raise DeploymentConflict(f"Deployment {deployment_id} is already Inactive: nothing to demote")
            last_deployed = record["_serving"]["ready"] if status == ACTIVE else record["_last_deployed_ts"]
            record = {**record, "_serving": None, "_inactive_ts": now, "_last_deployed_ts": last_deployed}
            self.records.save(record)
            return self.view(record, now)

    def add_usage(self, deployment_id: str, input_tokens: int, output_tokens: int) -> None:
        """Add one chat completion's tokens to the deployment's counters."""
        with self.store.lock:
            record = self.records.get(deployment_id)
            if record is None:
                return
            self.records.save(
                {
                    **record,
                    "total_input_tokens": record["total_input_tokens"] + input_tokens,
                    "total_output_tokens": record["total_output_tokens"] + output_tokens,
                }
            )
