"""Keep vector databases, their files and their ingestion jobs; an ingestion's progress is computed from wall-clock time.

An ingestion job is ``queued`` for a quarter of ``seconds``, then ingests its files one after
another, ``seconds`` each (``running``); then it is ``completed``, or ``failed`` with an
``error_message`` naming each file whose name was in the ``vector_ingestion_fail`` switch when the
job was made. Each file's record in the database follows its own slot of that schedule
(``queued``, ``running``, ``completed`` or ``failed`` with an ``error_message`` naming the file). The
schedule and the outcome are fixed at the start, so a read is a pure computation and a restarted
emulator carries on where the last one stopped.

A file's id in a database is the uploaded file's id (the contract does not say; the provider
assumes the same). Ingesting a file the database already holds replaces its record. Removing a
file (``DELETE .../files/{id}``) does not change the job that ingested it: the contract says
nothing of that, so the job's status stays its schedule's.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from airflow_provider_seekrflow.emulator.store import RecordDir, Store, iso, public

__all__ = ["COMPLETED", "FAILED", "QUEUED", "RUNNING", "VectorDatabaseService", "dimension_of"]

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
# The embedding dimension of the models the docs name; any other model gets the default.
DIMENSIONS = {"intfloat/e5-mistral-7b-instruct": 4096, "BAAI/bge-large-en-v1.5": 1024}
DEFAULT_DIMENSION = 768
# The share of ``seconds`` a new job waits queued before its first file.
QUEUED_SHARE = 0.25
FILE_FAILURE = "Could not ingest {name}: no text could be extracted from the document (emulated failure)"
JOB_FAILURE = "{failed} of {total} file(s) failed to ingest: {names}"


def dimension_of(model: str) -> int:
    """Return the dimension of ``model``'s vectors."""
    return DIMENSIONS.get(model, DEFAULT_DIMENSION)


def _status(start: float, end: float, failed: bool, now: float) -> str:
    if now < start:
        return QUEUED
    if now < end:
        return RUNNING
    return FAILED if failed else COMPLETED


class VectorDatabaseService:
    """Creates, lists and deletes vector databases; starts and reads ingestion jobs; lists and removes files."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.databases: RecordDir = store.vector_databases
        self.ingestions: RecordDir = store.vector_ingestions

    # ------------------------------------------------------------- databases
    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        """Create a database from a checked ``VectorDatabaseCreate`` body; return its view."""
        now = time.time()
        record = {
            "id": f"vdb-{uuid.uuid4().hex}",
            "name": request["name"],
            "model": request["model"],
            "dimension": dimension_of(request["model"]),
            "description": request.get("description"),
            "created_at": iso(now),
            "_created_ts": now,
            "_updated_ts": now,
            # file id -> {"job", "filename", "bytes", "start", "end", "failed", "metadata", "created_ts"}
            "_files": {},
        }
        self.databases.save(record)
        return self.view(record, now)

    def get(self, database_id: str) -> dict[str, Any] | None:
        record = self.databases.get(database_id)
        return None if record is None else self.view(record, time.time())

    def list_databases(self) -> list[dict[str, Any]]:
        """Every database, oldest first."""
        now = time.time()
        records = sorted(self.databases.all(), key=lambda record: record["_created_ts"])
        return [self.view(record, now) for record in records]

    def delete(self, database_id: str) -> bool:
        """Delete a database and its ingestion jobs; False when there is none."""
        with self.store.lock:
            if not self.databases.delete(database_id):
                return False
            for job in self.ingestions.all():
                if job["vector_database_id"] == database_id:
                    self.ingestions.delete(job["id"])
        return True

    def view(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        """Return what the API shows of a database at ``now``: its files' count and bytes so far."""
        files = record["_files"].values()
        updated = max([record["_updated_ts"], *(f["end"] for f in files if f["end"] <= now)])
        out = public(record)
        out.update(
            updated_at=iso(updated),
            file_count=len(record["_files"]),
            size_in_bytes=sum(f["bytes"] for f in files if not f["failed"] and f["end"] <= now),
        )
        return out

    # ------------------------------------------------------------- ingestion
    def start_ingestion(
        self,
        database_id: str,
        request: dict[str, Any],
        uploads: list[dict[str, Any]],
        *,
        seconds: float,
        fail_names: list[str],
    ) -> dict[str, Any] | None:
        """
        Start an ingestion of ``uploads`` (the uploaded files' records, in request order); None for an unknown database.

        :param request: The checked ``VectorDatabaseIngestionRequest`` body.
        :param seconds: How long each file takes.
        :param fail_names: File names whose ingestion fails.
        """
        with self.store.lock:
            database = self.databases.get(database_id)
            if database is None:
                return None
            now = time.time()
            job_id = f"vdbjob-{uuid.uuid4().hex}"
            slot = now + QUEUED_SHARE * seconds
            files = dict(database["_files"])
            schedule = []
            for upload in uploads:
                failed = upload["filename"] in fail_names
                files[upload["id"]] = {
                    "job": job_id,
                    "filename": upload["filename"],
                    "bytes": upload.get("bytes") or 0,
                    "start": slot,
                    "end": slot + seconds,
                    "failed": failed,
                    "metadata": request.get("metadata"),
                    "created_ts": now,
                }
                schedule.append({"file_id": upload["id"], "filename": upload["filename"], "failed": failed})
                slot += seconds
            job = {
                "id": job_id,
                "vector_database_id": database_id,
                "file_ids": [upload["id"] for upload in uploads],
                "metaflow_run_id": None,
                "created_at": iso(now),
                "_created_ts": now,
                "_start_ts": now + QUEUED_SHARE * seconds,
                "_end_ts": slot,
                "_schedule": schedule,
                "_request": request,
            }
            self.ingestions.save(job)
            self.databases.save({**database, "_files": files, "_updated_ts": now})
            return self.job_view(job, now)

    def get_ingestion(self, database_id: str, job_id: str) -> dict[str, Any] | None:
        job = self.ingestions.get(job_id)
        if job is None or job["vector_database_id"] != database_id:
            return None
        return self.job_view(job, time.time())

    def list_ingestions(self, database_id: str) -> list[dict[str, Any]]:
        """The database's ingestion jobs, oldest first."""
        now = time.time()
        jobs = [job for job in self.ingestions.all() if job["vector_database_id"] == database_id]
        return [self.job_view(job, now) for job in sorted(jobs, key=lambda job: job["_created_ts"])]

    @staticmethod
    def job_view(job: dict[str, Any], now: float) -> dict[str, Any]:
        """Return what the API shows of an ingestion job at ``now``."""
        failed = [entry["filename"] for entry in job["_schedule"] if entry["failed"]]
        status = _status(job["_start_ts"], job["_end_ts"], bool(failed), now)
        changed = {QUEUED: job["_created_ts"], RUNNING: job["_start_ts"]}.get(status, job["_end_ts"])
        out = public(job)
        out.update(status=status, updated_at=iso(changed), error_message=None)
        if status == FAILED:
            out["error_message"] = JOB_FAILURE.format(
                failed=len(failed), total=len(job["_schedule"]), names=", ".join(failed)
            )
        return out

    # ----------------------------------------------------------------- files
    def list_files(self, database_id: str) -> list[dict[str, Any]] | None:
        """The database's files with their status at this moment; None for an unknown database."""
        record = self.databases.get(database_id)
        if record is None:
            return None
        now = time.time()
        listed = []
        for file_id, entry in sorted(record["_files"].items(), key=lambda item: item[1]["start"]):
            status = _status(entry["start"], entry["end"], entry["failed"], now)
            listed.append(
                {
                    "id": file_id,
                    "vector_database_id": database_id,
                    "filename": entry["filename"],
                    "created_at": iso(entry["created_ts"]),
                    "status": status,
                    "error_message": FILE_FAILURE.format(name=entry["filename"])
                    if status == FAILED
                    else None,
                    "metadata": entry["metadata"],
                }
            )
        return listed

    def delete_file(self, database_id: str, file_id: str) -> bool | None:
        """Remove a file from a database: True, False when it holds no such file, None for an unknown database."""
        with self.store.lock:
            record = self.databases.get(database_id)
            if record is None:
                return None
            if file_id not in record["_files"]:
                return False
            files = {key: value for key, value in record["_files"].items() if key != file_id}
            self.databases.save({**record, "_files": files, "_updated_ts": time.time()})
        return True
