"""Alignment job lifecycle, computed lazily from wall-clock time on every read.

A job created at ``t0`` with duration ``d`` is ``pending`` for the first 5% of ``d``, ``queued``
until 15%, then ``running`` through three steps until ``t0 + d``, when it ends in its configured
outcome (``completed`` by default). Completion writes real output files into the store: a
Markdown summary and the ``fine-tune`` training pairs as parquet. Only transitions to a terminal
status touch the disk; a status read is a pure computation.

``legacy_shape`` restyles a job view as older servers sent it (``progress`` and
``step_progress`` as strings such as ``"40%"``, ``LEGACY_EXTRA_STATUS`` instead of ``queued``).
"""

from __future__ import annotations

import math
import time
from typing import Any

from airflow_provider_seekrflow.emulator import pairs
from airflow_provider_seekrflow.emulator.store import Store, iso, public
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus, AlignmentType, FilePurpose

__all__ = [
    "ACTIVE_STATUSES",
    "FORCEABLE_STATUSES",
    "LEGACY_EXTRA_STATUS",
    "TERMINAL_STATUSES",
    "JobService",
    "legacy_shape",
]

PENDING = AlignmentJobStatus.PENDING.value
QUEUED = AlignmentJobStatus.QUEUED.value
RUNNING = AlignmentJobStatus.RUNNING.value
COMPLETED = AlignmentJobStatus.COMPLETED.value
FAILED = AlignmentJobStatus.FAILED.value
CANCELLED = AlignmentJobStatus.CANCELLED.value
STOPPED = AlignmentJobStatus.STOPPED.value


def _in_declared_order(statuses: frozenset[str]) -> tuple[str, ...]:
    """Return ``statuses`` in the vocabulary's order, so the messages that list them read the same each run."""
    return tuple(status.value for status in AlignmentJobStatus if status.value in statuses)


ACTIVE_STATUSES = _in_declared_order(AlignmentJobStatus.active_states())
TERMINAL_STATUSES = _in_declared_order(AlignmentJobStatus.terminal_states())
# What an admin may end a job in: any terminal status, the unsuccessful ones (the default, failed,
# first) before completed.
FORCEABLE_STATUSES = (*_in_declared_order(AlignmentJobStatus.unsuccessful_states()), COMPLETED)
PENDING_END = 0.05
QUEUED_END = 0.15
RUN_STEPS = ("Parsing documents", "Generating questions", "Writing answers")
# A status the provider does not know, shown by the legacy shape where ``queued`` would be: clients
# must treat an unknown status as "not finished" rather than fail on it.
LEGACY_EXTRA_STATUS = "preparing"
PERCENT_FIELDS = ("progress", "step_progress")
DEFAULT_MESSAGES = {
    COMPLETED: None,
    FAILED: "Alignment job failed (emulated failure)",
    CANCELLED: "Alignment job was cancelled",
    STOPPED: "Alignment job was stopped",
}


def _phase(f: float) -> tuple[str, str, float, float]:
    """(status, current_step, step start fraction, step end fraction) at job fraction ``f``."""
    if f < PENDING_END:
        return PENDING, "Waiting to start", 0.0, PENDING_END
    if f < QUEUED_END:
        return QUEUED, "Waiting for a worker", PENDING_END, QUEUED_END
    width = (1.0 - QUEUED_END) / len(RUN_STEPS)
    index = min(int((f - QUEUED_END) / width), len(RUN_STEPS) - 1)
    start = QUEUED_END + index * width
    return RUNNING, RUN_STEPS[index], start, start + width


def _percent(value: float) -> str:
    """``40.0 -> "40%"``, ``12.5 -> "12.5%"``: percentages as older servers wrote them."""
    return f"{value:g}%"


def legacy_shape(view: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a job view in the legacy shape: string percentages, an unknown status.

    Applied when a job is shown, never stored, so switching the shape takes effect on the next read.
    Terminal statuses are left alone: only the ``queued`` phase becomes ``LEGACY_EXTRA_STATUS``.
    """
    out = dict(view)
    for key in PERCENT_FIELDS:
        value = out.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = _percent(value)
    if out.get("status") == QUEUED:
        out["status"] = LEGACY_EXTRA_STATUS
    return out


def _progress(f: float) -> float:
    if f <= QUEUED_END:
        return 0.0
    return round(min(100.0, 100.0 * (f - QUEUED_END) / (1.0 - QUEUED_END)), 1)


class JobService:
    """Creates, reads, cancels and ends alignment jobs kept in a ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---------------------------------------------------------------- create
    def create(
        self,
        request: dict[str, Any],
        *,
        duration: float,
        outcome: str,
        status_message: str | None,
        eta: bool,
        team_id: str | None,
    ) -> dict[str, Any]:
        now = time.time()
        job = {
            "id": self.store.new_job_id(),
            "created_at": iso(now),
            "instructions": request["instructions"],
            "files": list(request["files"]),
            "type": request.get("type", AlignmentType.PRINCIPLE.value),
            "system_prompt": request.get("system_prompt"),
            "vector_database_id": request.get("vector_database_id"),
            "_created_ts": now,
            "_duration": max(0.0, float(duration)),
            "_outcome": outcome,
            "_outcome_message": status_message if status_message is not None else DEFAULT_MESSAGES[outcome],
            "_eta": bool(eta),
            "_team_id": team_id,
            "_final": None,
            "_outputs": [],
        }
        self.store.save_job(job)
        return self.view(job, now)

    # ------------------------------------------------------------------ read
    def _due(self, job: dict[str, Any], now: float) -> bool:
        return job["_final"] is None and now >= job["_created_ts"] + job["_duration"]

    def _ended_if_due(self, job: dict[str, Any], now: float) -> dict[str, Any]:
        """Return the stored job, ended first in its outcome if its time is up."""
        if not self._due(job, now):
            return job
        return self._end_due(job["id"]) or job

    def get(self, job_id: str) -> dict[str, Any] | None:
        """Return the job's current public view (ending it first if its time is up), or None."""
        job = self.store.get_job(job_id)
        if job is None:
            return None
        now = time.time()
        return self.view(self._ended_if_due(job, now), now)

    def list_jobs(self) -> list[dict[str, Any]]:
        now = time.time()
        out = [self.view(self._ended_if_due(job, now), now) for job in self.store.list_jobs()]
        out.sort(key=lambda j: j["created_at"], reverse=True)
        return out

    def end_due_jobs(self) -> None:
        """End every job whose time is up (so its output files exist before files are listed)."""
        now = time.time()
        for job in self.store.list_jobs():
            self._ended_if_due(job, now)

    def outputs(self, job_id: str) -> list[dict[str, Any]] | None:
        view = self.get(job_id)
        return None if view is None else view["output_files"]

    def view(self, job: dict[str, Any], now: float) -> dict[str, Any]:
        out = public(job)
        created = job["_created_ts"]
        duration = job["_duration"]
        final = job["_final"]
        if final is not None:
            ended = final["ended_ts"]
            status = final["status"]
            f = (ended - created) / duration if duration > 0 else 1.0
            if status == COMPLETED:
                step, step_progress, progress = "Completed", 100.0, 100.0
            else:
                _, step, s0, s1 = _phase(min(f, 0.999999))
                step_progress = round(min(100.0, 100.0 * (f - s0) / (s1 - s0)), 1)
                progress = min(_progress(f), 99.0)
            out.update(
                status=status,
                updated_at=iso(final.get("updated_ts", ended)),
                completed_at=iso(ended) if status == COMPLETED else None,
                current_step=step,
                step_progress=step_progress,
                progress=progress,
                estimated_completion_at=None,
                eta_minutes=None,
                status_message=final.get("status_message"),
                output_files=list(job["_outputs"]),
            )
            return out
        f = (now - created) / duration if duration > 0 else 1.0
        f = min(max(f, 0.0), 0.999999)
        status, step, s0, s1 = _phase(f)
        remaining = max(0.0, created + duration - now)
        out.update(
            status=status,
            updated_at=iso(created + s0 * duration),
            completed_at=None,
            current_step=step,
            step_progress=round(min(100.0, 100.0 * (f - s0) / (s1 - s0)), 1),
            progress=_progress(f),
            estimated_completion_at=iso(created + duration) if job["_eta"] else None,
            eta_minutes=max(1, math.ceil(remaining / 60.0)) if job["_eta"] else None,
            status_message=None,
            output_files=[],
        )
        return out

    # ------------------------------------------------------------ transitions
    def _end_due(self, job_id: str) -> dict[str, Any] | None:
        with self.store.lock:
            job = self.store.get_job(job_id)
            if job is None or job["_final"] is not None:
                return job
            ended = job["_created_ts"] + job["_duration"]
            return self._finish(job, job["_outcome"], job["_outcome_message"], ended)

    def _finish(self, job: dict[str, Any], status: str, message: str | None, ended: float) -> dict[str, Any]:
        """End an active job at ``ended`` in ``status``; return the saved record."""
        return self._settle(job, {"status": status, "status_message": message, "ended_ts": ended}, ended)

    def _settle(self, job: dict[str, Any], final: dict[str, Any], outputs_at: float) -> dict[str, Any]:
        """Save ``job`` in terminal state ``final``; a completed job without outputs gets them, dated ``outputs_at``."""
        job = dict(job)
        if final["status"] == COMPLETED and not job["_outputs"]:
            job["_outputs"] = self._write_outputs(job, outputs_at)
        job["_final"] = final
        self.store.save_job(job)
        return job

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel an active job; a job already in a terminal status is returned unchanged."""
        with self.store.lock:
            job = self.store.get_job(job_id)
            if job is None:
                return None
            now = time.time()
            job = self._ended_if_due(job, now)
            if job["_final"] is None:
                job = self._finish(job, CANCELLED, "Cancelled by user", now)
            return self.view(job, now)

    def force(self, job_id: str, status: str, message: str | None) -> dict[str, Any] | None:
        """Admin: end a job now in ``status`` (any terminal status), whatever its state."""
        with self.store.lock:
            job = self.store.get_job(job_id)
            if job is None:
                return None
            now = time.time()
            if message is None:
                message = DEFAULT_MESSAGES[status]
            if job["_final"] is None:
                job = self._finish(job, status, message, now)
            else:  # already ended: change how, keeping when
                final = {**job["_final"], "status": status, "status_message": message, "updated_ts": now}
                job = self._settle(job, final, now)
            return self.view(job, now)

    def delete(self, job_id: str) -> bool:
        return self.store.delete_job(job_id)

    # ---------------------------------------------------------------- outputs
    def _write_outputs(self, job: dict[str, Any], ended: float) -> list[dict[str, Any]]:
        sources: list[tuple[str, str]] = []
        for file_id in job["files"]:
            record = self.store.get_file(file_id)
            if record is None:
                continue
            try:
                with open(self.store.blob_path(file_id), "rb") as fh:
                    data = fh.read(pairs.MAX_SOURCE_BYTES)
            except OSError:
                continue
            sources.append((record["filename"], pairs.extract_text(data, record.get("type"))))
        conversations = pairs.build_conversations(
            sources,
            job["instructions"],
            job.get("system_prompt"),
            job.get("type") or AlignmentType.PRINCIPLE.value,
        )
        # The service's fine-tune output is parquet (API.md "Alignment"); to_parquet checks the rows.
        training = pairs.to_parquet(conversations)
        name = f"{job['id']}-training-pairs.parquet"
        summary = (
            f"# Alignment job {job['id']}\n\n"
            f"Instructions: {job['instructions']}\n\n"
            f"Sources: {', '.join(name for name, _ in sources) or '(none found)'}\n\n"
            f"Training pairs generated: {len(conversations)}\n"
        ).encode()
        outputs = [
            self.store.add_file(
                summary,
                filename=f"{job['id']}-summary.md",
                purpose=FilePurpose.ALIGNMENT.value,
                file_type="md",
                created_ts=ended,
            ),
            self.store.add_file(
                training,
                filename=name,
                purpose=FilePurpose.FINE_TUNE.value,
                file_type="parquet",
                created_ts=ended,
            ),
        ]
        return [
            {
                "id": r["id"],
                "filename": r["filename"],
                "bytes": r["bytes"],
                "created_at": r["created_at"],
                "file_type": r["type"],
                "purpose": r["purpose"],
            }
            for r in outputs
        ]
