"""A data job's file ingestion (conversion to Markdown), computed lazily from wall-clock time.

Attaching files schedules one ingestion run: a Markdown (``md``) file is ready at once; every other
file takes ``seconds`` of its own, one after another behind the job's files still in the queue.
A record is ``queued`` before its start, ``running`` until its end, then ``completed`` (or
``failed``, when its file name was in the ``ingestion_fail`` switch as it was attached). The
schedule and the outcome are fixed when the files are attached, so a read is a pure computation
and a restarted emulator carries on where the last one stopped.
"""

from __future__ import annotations

import uuid
from typing import Any

from airflow_provider_seekrflow.emulator.store import iso

__all__ = [
    "COMPLETED",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "files_view",
    "ingestion_events",
    "live_records",
    "record_status",
    "runs_view",
    "schedule",
]

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
READY_AT_ONCE = ("md",)
FAILURE_MESSAGE = "Could not convert {name} to Markdown: the document could not be parsed (emulated failure)"
FAILURE_FIX = (
    "Check that {name} opens and is not encrypted or damaged, then remove it from the job "
    "(remove-files), upload a fixed copy and attach it again (add-files)."
)


def record_status(record: dict[str, Any], now: float) -> str:
    """Return a record's status at ``now``."""
    if now < record["start_ts"]:
        return QUEUED
    if now < record["end_ts"]:
        return RUNNING
    return FAILED if record["error_message"] else COMPLETED


def live_records(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the latest record of each attached file, in the order the files were attached."""
    latest: dict[str, dict[str, Any]] = {}
    for run in job["_ingestion"]:
        for record in run["records"]:
            if not record["deleted"]:
                latest[record["file_id"]] = record
    return [latest[file_id] for file_id in job["_files"] if file_id in latest]


def schedule(
    job: dict[str, Any],
    files: list[dict[str, Any]],
    *,
    now: float,
    seconds: float,
    fail_names: list[str],
    method: str,
) -> dict[str, Any]:
    """Return a new ingestion run of ``files`` (file records), queued behind the job's unfinished ones.

    A file attached again supersedes its earlier records, which are marked deleted in ``job``.
    """
    ids = {record["id"] for record in files}
    for run in job["_ingestion"]:
        for record in run["records"]:
            if record["file_id"] in ids:
                record["deleted"] = True
    free_at = max([now, *(r["end_ts"] for r in live_records(job) if r["end_ts"] > now)])
    run_id = f"ing-{uuid.uuid4().hex}"
    records = []
    for file in files:
        name = file["filename"]
        if file.get("type") in READY_AT_ONCE:
            start = end = now
        else:
            start = free_at
            end = free_at = start + seconds
        failing = name in fail_names
        records.append(
            {
                "record_id": f"rec-{uuid.uuid4().hex}",
                "ingestion_job_id": run_id,
                "file_id": file["id"],
                "filename": name,
                "type": file.get("type"),
                "method": method,
                "created_ts": now,
                "start_ts": start,
                "end_ts": end,
                "error_message": FAILURE_MESSAGE.format(name=name) if failing else None,
                "suggested_fix": FAILURE_FIX.format(name=name) if failing else None,
                "deleted": False,
            }
        )
    return {"id": run_id, "created_ts": now, "method": method, "records": records}


def _record_view(
    record: dict[str, Any], job: dict[str, Any], status: str, queue_position: int | None
) -> dict[str, Any]:
    ended = status in (COMPLETED, FAILED)
    return {
        "record_id": record["record_id"],
        "ingestion_job_id": record["ingestion_job_id"],
        "alignment_file_id": record["file_id"],
        "user_id": job["user_id"],
        "team_id": job["team_id"],
        "filename": record["filename"],
        "status": status,
        "metaflow_job_id": None,
        "method": record["method"],
        "queue_position": queue_position,
        "error_message": record["error_message"] if ended else None,
        "suggested_fix": record["suggested_fix"] if ended else None,
        "worker_id": "emulator-worker-1" if status == RUNNING else None,
        "deleted": False,
        "created_at": iso(record["created_ts"]),
        "processing_at": iso(record["start_ts"]) if status != QUEUED else None,
        "completed_at": iso(record["end_ts"]) if status == COMPLETED else None,
        "failed_at": iso(record["end_ts"]) if status == FAILED else None,
    }


def _run_status(statuses: list[str]) -> str:
    """An ingestion run is queued or running while a record is; then failed if any record failed."""
    if all(status == QUEUED for status in statuses):
        return QUEUED
    if any(status in (QUEUED, RUNNING) for status in statuses):
        return RUNNING
    return FAILED if FAILED in statuses else COMPLETED


def runs_view(job: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Return the job's ingestion runs as the detail shows them (records of removed files left out)."""
    queued = sorted(
        (r["start_ts"], r["record_id"]) for r in live_records(job) if record_status(r, now) == QUEUED
    )
    position = {record_id: index + 1 for index, (_, record_id) in enumerate(queued)}
    out = []
    for run in job["_ingestion"]:
        records = [r for r in run["records"] if not r["deleted"]]
        if not records:
            continue
        statuses = [record_status(r, now) for r in records]
        views = [
            _record_view(r, job, status, position.get(r["record_id"]))
            for r, status in zip(records, statuses, strict=True)
        ]
        last_change = max([run["created_ts"], *(r["start_ts"] for r in records if r["start_ts"] <= now)])
        last_change = max([last_change, *(r["end_ts"] for r in records if r["end_ts"] <= now)])
        out.append(
            {
                "id": run["id"],
                "status": _run_status(statuses),
                "created_at": iso(run["created_ts"]),
                "updated_at": iso(last_change),
                "file_ids": [r["file_id"] for r in records],
                "records": views,
            }
        )
    return out


def files_view(job: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Return the attached files, each with its latest record's status and suggested fix."""
    out = []
    for record in live_records(job):
        status = record_status(record, now)
        out.append(
            {
                "file_id": record["file_id"],
                "record_id": record["record_id"],
                "name": record["filename"],
                "type": record["type"],
                "created_at": iso(record["created_ts"]),
                "status": status,
                "suggested_fix": record["suggested_fix"] if status == FAILED else None,
            }
        )
    return out


def ingestion_events(job: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Return the timeline events of the attached files' ingestion that have happened by ``now``."""
    events = []
    for record in live_records(job):
        status = record_status(record, now)
        if status not in (COMPLETED, FAILED):
            continue
        name = record["filename"]
        message = f"{name} failed ingestion" if status == FAILED else f"{name} was converted to Markdown"
        events.append(
            {
                "ts": record["end_ts"],
                "event_type": f"ingestion_{status}",
                "message": message,
                "metadata": {"file_id": record["file_id"], "record_id": record["record_id"]},
            }
        )
    return events
