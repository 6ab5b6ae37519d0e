"""Fine-tunes and the projects they live in, computed lazily from wall-clock time like alignment jobs.

A fine-tune created at ``t0`` with duration ``d`` is ``pending`` for the first 5% of ``d``,
``queued`` until 15%, then ``running`` through its ``n_epochs`` epochs, the last ending at
``t0 + d`` when it is ``completed`` (``inference_available: true``). Each finished epoch is one
``fine-tune-event`` with a falling ``loss`` (and a rising ``reward`` for reinforcement
fine-tuning). With the outcome ``failed`` it fails half-way through its epochs, with an
``error_analysis``. Only a cancel writes to the disk; every other read is a pure computation.

Projects have integer ids from 1; a project's ``runs`` counts its fine-tunes, ``runs_deployed``
those whose model (the fine-tune's id) an ``Active`` deployment serves.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from airflow_provider_seekrflow.emulator.jobs import PENDING_END, QUEUED_END
from airflow_provider_seekrflow.emulator.store import Store, iso, public
from airflow_provider_seekrflow.vocabulary import FineTuneStatus, FineTuneType

__all__ = ["FINE_TUNE_OUTCOMES", "PROJECT_USER_ID", "FineTuneService", "ProjectService"]

PENDING = FineTuneStatus.PENDING.value
QUEUED = FineTuneStatus.QUEUED.value
RUNNING = FineTuneStatus.RUNNING.value
COMPLETED = FineTuneStatus.COMPLETED.value
FAILED = FineTuneStatus.FAILED.value
CANCELLED = FineTuneStatus.CANCELLED.value
FINE_TUNE_OUTCOMES = (COMPLETED, FAILED)
# Where in the run a failing fine-tune fails: half-way through its epochs.
FAILURE_POINT = QUEUED_END + (1.0 - QUEUED_END) / 2
REWARDED_TYPES = (FineTuneType.REINFORCEMENT.value, FineTuneType.GRPO.value)
ERROR_ANALYSIS = (
    "Training stopped after epoch {epoch} of {n_epochs}: the loss became NaN, which usually means "
    "the learning rate is too high for this model or the training file holds malformed "
    "conversations. Lower learning_rate, check the training file, and start a new fine-tune "
    "(emulated failure)."
)
# The optional TrainingConfig fields a fine-tune repeats as sent (None when not sent).
_ECHOED_OPTIONS = (
    "batch_size",
    "learning_rate",
    "lora_config",
    "beta",
    "gradient_checkpointing",
    "experiment_name",
    "reward_components",
    "n_checkpoints",
    "max_length",
    "pre_train",
)


# The user id the projects of this emulator's one user carry (an integer in the client's types).
PROJECT_USER_ID = 1


def epoch_loss(epoch: int) -> float:
    """The training loss reported at the end of ``epoch`` (1-based): falls every epoch."""
    return round(0.4 + 2.0 * 0.6**epoch, 4)


def epoch_reward(epoch: int) -> float:
    """The reward reported at the end of ``epoch`` for reinforcement fine-tuning: rises every epoch."""
    return round(0.9 - 0.7 * 0.6**epoch, 4)


class FineTuneService:
    """Creates, reads and cancels fine-tunes kept in a ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records = store.fine_tunes

    def create(
        self, request: dict[str, Any], *, duration: float, outcome: str, team_id: str | None
    ) -> dict[str, Any]:
        """Create a fine-tune from a checked ``RequestConfig`` body; return its view."""
        now = time.time()
        training = request["training_config"]
        infrastructure = request["infrastructure_config"]
        job = {
            "id": f"ft-{uuid.uuid4().hex}",
            "project_id": request["project_id"],
            "fine_tune_type": training.get("fine_tune_type") or FineTuneType.STANDARD.value,
            "training_files": list(training["training_files"]),
            "validation_files": list(training.get("validation_files") or []),
            "model": training["model"],
            "n_epochs": training["n_epochs"],
            "accel_type": infrastructure["accel_type"],
            "n_accel": infrastructure["n_accel"],
            "n_node": infrastructure.get("n_node") or 1,
            "created_at": iso(now),
            "deleted_at": None,
            "description": None,
            **{key: training.get(key) for key in _ECHOED_OPTIONS},
            "_created_ts": now,
            "_duration": max(0.0, float(duration)),
            "_outcome": outcome,
            "_team_id": team_id,
            "_final": None,
        }
        self.records.save(job)
        return self.view(job, now)

    # ------------------------------------------------------------------ read
    def get(self, job_id: str) -> dict[str, Any] | None:
        job = self.records.get(job_id)
        return None if job is None else self.view(job, time.time())

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every fine-tune, newest first."""
        now = time.time()
        jobs = sorted(self.records.all(), key=lambda job: job["_created_ts"], reverse=True)
        return [self.view(job, now) for job in jobs]

    def events(self, job_id: str) -> list[dict[str, Any]] | None:
        view = self.get(job_id)
        return None if view is None else view["events"]

    def runs(self, project_id: int) -> list[dict[str, Any]]:
        """The stored fine-tunes of a project."""
        return [job for job in self.records.all() if job["project_id"] == project_id]

    def _at(self, job: dict[str, Any], fraction: float) -> float:
        return job["_created_ts"] + fraction * job["_duration"]

    def _end(self, job: dict[str, Any]) -> tuple[str, float]:
        """Return how and when the job ends (or ended): its cancel, else its configured outcome."""
        if job["_final"] is not None:
            return job["_final"]["status"], job["_final"]["ended_ts"]
        if job["_outcome"] == FAILED:
            return FAILED, self._at(job, FAILURE_POINT)
        return COMPLETED, self._at(job, 1.0)

    def _epoch_events(self, job: dict[str, Any], until: float) -> list[dict[str, Any]]:
        n_epochs = max(1, int(job["n_epochs"]))
        events = []
        for epoch in range(1, n_epochs + 1):
            ended = self._at(job, QUEUED_END + (1.0 - QUEUED_END) * epoch / n_epochs)
            if ended > until:
                break
            event = {
                "object": "fine-tune-event",
                "created_at": iso(ended),
                "type": "EPOCH_COMPLETE",
                "level": "Info",
                "message": f"Epoch {epoch}/{n_epochs} complete",
                "epoch": epoch,
                "loss": epoch_loss(epoch),
            }
            if job["fine_tune_type"] in REWARDED_TYPES:
                event["reward"] = epoch_reward(epoch)
            events.append(event)
        return events

    def view(self, job: dict[str, Any], now: float) -> dict[str, Any]:
        outcome, ended = self._end(job)
        if now >= ended:
            status, changed = outcome, ended
        elif now >= self._at(job, QUEUED_END):
            status, changed = RUNNING, self._at(job, QUEUED_END)
        elif now >= self._at(job, PENDING_END):
            status, changed = QUEUED, self._at(job, PENDING_END)
        else:
            status, changed = PENDING, job["_created_ts"]
        events = self._epoch_events(job, min(now, ended))
        out = public(job)
        out.update(
            status=status,
            updated_at=iso(changed),
            completed_at=iso(ended) if status == COMPLETED else None,
            inference_available=status == COMPLETED,
            error_analysis=(
                ERROR_ANALYSIS.format(epoch=len(events), n_epochs=job["n_epochs"])
                if status == FAILED
                else None
            ),
            events=events,
        )
        return out

    # ------------------------------------------------------------ transitions
    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel an active fine-tune; one already ended is returned unchanged."""
        with self.store.lock:
            job = self.records.get(job_id)
            if job is None:
                return None
            now = time.time()
            if now < self._end(job)[1]:
                job = {**job, "_final": {"status": CANCELLED, "ended_ts": now}}
                self.records.save(job)
            return self.view(job, now)


class ProjectService:
    """Creates, lists and reads projects kept in a ``Store``; ``runs`` come from the fine-tunes."""

    def __init__(
        self, store: Store, fine_tunes: FineTuneService, served_models: Callable[[], set[str]] = set
    ) -> None:
        """``served_models`` returns the model ids an ``Active`` deployment serves now."""
        self.store = store
        self.records = store.projects
        self.fine_tunes = fine_tunes
        self.served_models = served_models

    def create(self, name: str, description: str, *, team_id: str | None) -> dict[str, Any]:
        with self.store.lock:
            now = time.time()
            project = {
                "id": max((p["id"] for p in self.records.all()), default=0) + 1,
                "name": name,
                "description": description,
                "user_id": PROJECT_USER_ID,
                "team_id": team_id,
                "created_at": iso(now),
                "updated_at": iso(now),
                "_created_ts": now,
            }
            self.records.save(project)
        return public(project)

    def exists(self, project_id: int) -> bool:
        return self.records.get(project_id) is not None

    def get(self, project_id: int) -> dict[str, Any] | None:
        project = self.records.get(project_id)
        return None if project is None else public(project)

    def list_projects(self, skip: int, limit: int) -> list[dict[str, Any]]:
        """One page of projects, by id, each with its ``runs``, ``runs_deployed`` and ``last_modified``."""
        projects = sorted(self.records.all(), key=lambda p: p["id"])[skip : skip + limit]
        served = self.served_models()
        out = []
        for project in projects:
            runs = self.fine_tunes.runs(project["id"])
            last = max([project["_created_ts"], *(run["_created_ts"] for run in runs)])
            deployed = sum(run["id"] in served for run in runs)
            out.append(
                {**public(project), "runs": len(runs), "runs_deployed": deployed, "last_modified": iso(last)}
            )
        return out
