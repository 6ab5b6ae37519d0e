"""On-disk state of the emulator: file metadata and bytes, alignment jobs, data jobs, fine-tunes, projects, deployments.

Layout under the data directory::

    files/<file id>.json        file metadata
    blobs/<file id>             file bytes (uploads land in blobs/<file id>.part, then are renamed)
    jobs/<job id>.json          alignment job records
    data_jobs/<dj- id>.json     data job records (attached files, ingestion runs, timeline)
    fine_tunes/<ft- id>.json    fine-tune records
    projects/<integer id>.json  project records
    deployments/<dep- id>.json  deployment records (status timing, token counters)
    vector_databases/<vdb- id>.json  vector databases with their files (ingestion timing)
    vector_ingestions/<vdbjob- id>.json  vector database ingestion jobs

Every JSON write is atomic (temp file + ``os.replace``), so a restarted emulator on the same
directory picks up where the last one stopped. Records are cached in memory; the disk is only
read at start-up. Keys starting with ``_`` are internal and never sent to clients.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

__all__ = ["CREATED_BY", "RecordDir", "Store", "iso", "public", "utcnow_iso"]

log = logging.getLogger("seekrflow.emulator")

# The ``created_by`` of every file the emulator stores, uploaded or generated.
CREATED_BY = "seekrflow-emulator"


def iso(ts: float) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and microseconds (sorts chronologically as a string)."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utcnow_iso() -> str:
    return iso(datetime.now(tz=timezone.utc).timestamp())


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its internal (``_``-prefixed) keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, separators=(",", ":"))
    os.replace(tmp, path)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


class RecordDir:
    """Records of one kind (files' metadata, jobs...): one JSON file each in a directory, cached in memory."""

    def __init__(self, directory: str, lock: threading.RLock) -> None:
        self.directory = directory
        self.lock = lock
        self._records: dict[str | int, dict[str, Any]] = {}  # project ids are integers
        os.makedirs(directory, exist_ok=True)

    def load(self) -> None:
        """Read every record on disk, dropping the temp files of writes a stop cut off."""
        for name in os.listdir(self.directory):
            path = os.path.join(self.directory, name)
            if name.endswith(".tmp"):
                _remove(path)
                continue
            if not name.endswith(".json"):
                continue
            try:
                with open(path, encoding="utf-8") as fh:
                    record = json.load(fh)
            except (OSError, ValueError):
                continue
            ident = record.get("id") if isinstance(record, dict) else None
            if not isinstance(ident, (str, int)) or isinstance(ident, bool):
                # Not a record this emulator wrote (hand-edited, another tool's): serving it would
                # fail on every request that lists this kind, so leave it out and say so.
                log.warning('skipping %s: a JSON record without an "id"', path)
                continue
            self._records[ident] = record

    def _path(self, ident: str | int) -> str:
        return os.path.join(self.directory, f"{ident}.json")

    def save(self, record: dict[str, Any]) -> None:
        with self.lock:
            _write_json(self._path(record["id"]), record)
            self._records[record["id"]] = record

    def get(self, ident: str | int) -> dict[str, Any] | None:
        return self._records.get(ident)

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._records.values())

    def delete(self, ident: str | int) -> bool:
        with self.lock:
            if self._records.pop(ident, None) is None:
                return False
            _remove(self._path(ident))
        return True


class Store:
    """Thread-safe file and job store backed by a directory."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = os.path.abspath(data_dir)
        self.blobs_dir = os.path.join(self.data_dir, "blobs")
        os.makedirs(self.blobs_dir, exist_ok=True)
        self.lock = threading.RLock()
        self._files = RecordDir(os.path.join(self.data_dir, "files"), self.lock)
        self._jobs = RecordDir(os.path.join(self.data_dir, "jobs"), self.lock)
        # The pipeline's records, read and written by their services (data_jobs.py, fine_tunes.py).
        self.data_jobs = RecordDir(os.path.join(self.data_dir, "data_jobs"), self.lock)
        self.fine_tunes = RecordDir(os.path.join(self.data_dir, "fine_tunes"), self.lock)
        self.projects = RecordDir(os.path.join(self.data_dir, "projects"), self.lock)
        self.deployments = RecordDir(os.path.join(self.data_dir, "deployments"), self.lock)
        self.vector_databases = RecordDir(os.path.join(self.data_dir, "vector_databases"), self.lock)
        self.vector_ingestions = RecordDir(os.path.join(self.data_dir, "vector_ingestions"), self.lock)
        for name in os.listdir(self.blobs_dir):
            if name.endswith(".part"):  # an upload cut off by a stop
                _remove(os.path.join(self.blobs_dir, name))
        for records in (self._files, *self._other_records()):
            records.load()

    # ----------------------------------------------------------------- files
    @staticmethod
    def new_file_id() -> str:
        return f"file-{uuid.uuid4().hex}"

    def blob_path(self, file_id: str) -> str:
        return os.path.join(self.blobs_dir, file_id)

    def part_path(self, file_id: str) -> str:
        return os.path.join(self.blobs_dir, f"{file_id}.part")

    def _file_record(
        self,
        file_id: str,
        *,
        filename: str,
        purpose: str,
        file_type: str | None,
        nbytes: int,
        created_ts: float,
        created_by: str = CREATED_BY,
        vector_database_id: str | None = None,
        original_file_id: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "created_at": iso(created_ts),
            "type": file_type or None,
            "purpose": purpose,
            "filename": filename,
            "bytes": nbytes,
            "created_by": created_by,
            "original_file_id": original_file_id,
            "deleted": False,
            "vector_database_id": vector_database_id,
            "_created_ts": created_ts,
        }

    def commit_upload(self, file_id: str, part_path: str, **fields: Any) -> dict[str, Any]:
        """Move a fully received upload into place and record its metadata (no copy: a rename)."""
        record = self._file_record(file_id, **fields)
        with self.lock:
            os.replace(part_path, self.blob_path(file_id))
            self._files.save(record)
        return record

    def add_file(self, data: bytes, **fields: Any) -> dict[str, Any]:
        """Store generated bytes as a new file (used for alignment outputs)."""
        file_id = self.new_file_id()
        part = self.part_path(file_id)
        with open(part, "wb") as fh:
            fh.write(data)
        return self.commit_upload(file_id, part, nbytes=len(data), **fields)

    def get_file(self, file_id: str) -> dict[str, Any] | None:
        return self._files.get(file_id)

    def list_files(self) -> list[dict[str, Any]]:
        return self._files.all()

    def delete_file(self, file_id: str) -> bool:
        with self.lock:
            if not self._files.delete(file_id):
                return False
            _remove(self.blob_path(file_id))
        return True

    # ------------------------------------------------------------------ jobs
    @staticmethod
    def new_job_id() -> str:
        return f"al-{uuid.uuid4().hex}"

    def save_job(self, job: dict[str, Any]) -> None:
        self._jobs.save(job)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        return self._jobs.get(job_id)

    def list_jobs(self) -> list[dict[str, Any]]:
        return self._jobs.all()

    def delete_job(self, job_id: str) -> bool:
        return self._jobs.delete(job_id)

    def _other_records(self) -> tuple[RecordDir, ...]:
        """Return every kind of record but the files (whose blobs go with them)."""
        return (
            self._jobs,
            self.data_jobs,
            self.fine_tunes,
            self.projects,
            self.deployments,
            self.vector_databases,
            self.vector_ingestions,
        )

    def wipe(self) -> None:
        """Delete every file, job, project, deployment and vector database (an empty service, as at first start)."""
        with self.lock:
            for record in self._files.all():
                self.delete_file(record["id"])
            for records in self._other_records():
                for record in records.all():
                    records.delete(record["id"])
