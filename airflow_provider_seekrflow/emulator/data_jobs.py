"""Data job lifecycle: files attached and ingested, then one alignment job run by ``jobs.py``.

Before ``start`` a job's status is derived on every read (no background work): ``file_processing``
while an ingestion record is queued or running (``ingestion.py``), else ``needs_review`` when
something needs a person (a failed record, no files, a ``principle_files`` job without a system
prompt, a ``context_grounded_vector_db`` job without a vector database id), else
``ready_to_start``. ``start`` creates an alignment job through the same ``JobService`` as
``POST /v1/flow/alignment/generate``, so the outputs are the same parquet files; from then on the
data job's status is the alignment job's.

Where the reference is silent: a ``context_grounded_vector_db`` job may be created without a
``vector_database_id`` (the official client sets it afterwards with PATCH); it sits in
``needs_review`` until it has one. ``start`` of a job that is not ``ready_to_start``, ``cancel``
of a job never started, and attaching or removing files after start are refused with 409
(``refusals.CONFLICT``; no code is documented). ``delete`` works in any status and cancels a
running alignment first.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from airflow_provider_seekrflow.emulator import ingestion
from airflow_provider_seekrflow.emulator.jobs import JobService
from airflow_provider_seekrflow.emulator.refusals import conflict
from airflow_provider_seekrflow.emulator.store import Store, iso, public
from airflow_provider_seekrflow.vocabulary import AlignmentType, DataJobStatus, DataJobType

__all__ = ["EDITABLE_FIELDS", "USER_ID", "DataJobService", "draft_system_prompt"]

USER_ID = "emulator-user"
EDITABLE_FIELDS = ("name", "description", "system_prompt", "instructions", "vector_database_id")
MAX_NAME_LENGTH = 255
FILE_PROCESSING = DataJobStatus.FILE_PROCESSING.value
NEEDS_REVIEW = DataJobStatus.NEEDS_REVIEW.value
READY_TO_START = DataJobStatus.READY_TO_START.value
PRINCIPLE = DataJobType.PRINCIPLE_FILES.value
VECTOR_DB = DataJobType.CONTEXT_GROUNDED_VECTOR_DB.value
# The ``updated_at`` of each field a PATCH can set, where the contract has one.
_STAMPED = {"system_prompt": "system_prompt_updated_at", "instructions": "instructions_updated_at"}


def draft_system_prompt(instructions: str, document_summary: str | None = None) -> str:
    """Return the system prompt the emulator drafts from instructions (deterministic: same input, same prompt)."""
    prompt = (
        "You are a knowledgeable, precise assistant. "
        f"Your task: {' '.join(instructions.split())} "
        "Answer from the source documents only, and say so when they do not cover a question."
    )
    if document_summary and document_summary.strip():
        prompt += f" The documents cover: {' '.join(document_summary.split())}"
    return prompt


def _event(ts: float, event_type: str, message: str, **metadata: Any) -> dict[str, Any]:
    return {"ts": ts, "event_type": event_type, "message": message, "metadata": metadata}


class DataJobService:
    """Creates, reads, changes, starts and cancels data jobs kept in a ``Store``."""

    def __init__(self, store: Store, jobs: JobService) -> None:
        self.store = store
        self.records = store.data_jobs
        self.jobs = jobs

    # ---------------------------------------------------------------- create
    def create(
        self, fields: dict[str, Any], *, team_id: str | None, origin: str | None = None
    ) -> dict[str, Any]:
        """Create a job with no files from the request's ``fields``; return its detail."""
        now = time.time()
        job: dict[str, Any] = {
            "id": f"dj-{uuid.uuid4().hex}",
            "user_id": USER_ID,
            "team_id": team_id,
            "name": fields["name"],
            "description": fields.get("description"),
            "job_type": fields["job_type"],
            "alignment_job_id": None,
            "origin_data_job_id": origin,
            "deleted": False,
            "created_at": iso(now),
            "system_prompt": fields.get("system_prompt"),
            "system_prompt_updated_at": iso(now) if fields.get("system_prompt") is not None else None,
            "instructions": fields.get("instructions"),
            "instructions_updated_at": iso(now) if fields.get("instructions") is not None else None,
            "vector_database_id": fields.get("vector_database_id"),
            "_created_ts": now,
            "_updated_ts": now,
            "_files": [],
            "_ingestion": [],
            "_fine_tunes": [],
            "_timeline": [_event(now, "created", f"Data job created ({fields['job_type']})")],
        }
        if origin is not None:
            job["_timeline"].append(_event(now, "cloned", f"Cloned from {origin}", origin_data_job_id=origin))
        self.records.save(job)
        return self._view(job, now, detail=True)

    def clone(
        self, job_id: str, name: str | None, *, team_id: str | None, **ingest: Any
    ) -> dict[str, Any] | None:
        """Create a copy of a job (settings and attached files, ingested anew); None if there is no such job."""
        source = self.records.get(job_id)
        if source is None:
            return None
        fields = {key: source[key] for key in (*EDITABLE_FIELDS, "job_type")}
        fields["name"] = name or f"{source['name']} (copy)"[:MAX_NAME_LENGTH]
        clone = self.create(fields, team_id=team_id, origin=job_id)
        files = [record for record in map(self.store.get_file, source["_files"]) if record is not None]
        if files:
            return self.add_files(clone["id"], files, **ingest)
        return clone

    # ------------------------------------------------------------------ read
    def get(self, job_id: str) -> dict[str, Any] | None:
        """Return the job in full (``DataJobDetailResponse``), or None."""
        job = self.records.get(job_id)
        return None if job is None else self._view(job, time.time(), detail=True)

    def list_jobs(
        self, *, job_type: str | None, sort_by: str, descending: bool, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """Return one page of jobs as the list shows them (``DataJobResponse``)."""
        records = [job for job in self.records.all() if job_type is None or job["job_type"] == job_type]
        key = "_created_ts" if sort_by == "created_at" else sort_by
        records.sort(key=lambda job: (job[key], job["_created_ts"]), reverse=descending)
        now = time.time()
        return [self._view(job, now, detail=False) for job in records[offset : offset + limit]]

    def status_of(self, job: dict[str, Any], now: float) -> tuple[str, str | None, dict[str, Any] | None]:
        """Return the job's ``(status, status_message, alignment job view or None)`` at ``now``."""
        if job["alignment_job_id"]:
            alignment = self.jobs.get(job["alignment_job_id"])
            if alignment is None:
                return DataJobStatus.FAILED.value, "The linked alignment job was deleted", None
            return alignment["status"], alignment.get("status_message"), alignment
        records = ingestion.live_records(job)
        busy = [
            r for r in records if ingestion.record_status(r, now) in (ingestion.QUEUED, ingestion.RUNNING)
        ]
        if busy:
            return FILE_PROCESSING, f"Converting {len(busy)} of {len(records)} file(s) to Markdown", None
        problems = self._problems(job, records, now)
        if problems:
            return NEEDS_REVIEW, "; ".join(problems), None
        return READY_TO_START, None, None

    @staticmethod
    def _problems(job: dict[str, Any], records: list[dict[str, Any]], now: float) -> list[str]:
        problems = [
            f"{r['filename']} failed ingestion: {r['error_message']}"
            for r in records
            if ingestion.record_status(r, now) == ingestion.FAILED
        ]
        if job["job_type"] == VECTOR_DB:
            if not job["vector_database_id"]:
                problems.append(
                    "No vector_database_id: a context_grounded_vector_db job needs one (PATCH it)"
                )
        elif not records:
            problems.append("No files attached: attach uploaded files with add-files")
        if job["job_type"] == PRINCIPLE and not (job["system_prompt"] or "").strip():
            problems.append(
                "No system prompt: a principle_files job needs one "
                "(PATCH system_prompt, or draft one with gen_system_prompt)"
            )
        return problems

    def _view(self, job: dict[str, Any], now: float, *, detail: bool) -> dict[str, Any]:
        status, message, alignment = self.status_of(job, now)
        timeline = [*job["_timeline"], *ingestion.ingestion_events(job, now)]
        final = self._alignment_end(job)
        if final is not None:
            timeline.append(final)
        timeline.sort(key=lambda event: event["ts"])
        out = public(job)
        out.update(
            status=status,
            status_message=message,
            updated_at=iso(max(job["_updated_ts"], timeline[-1]["ts"])),
            resolved_instructions=job["instructions"],
        )
        if not detail:
            return out
        out.update(
            additional_alignment_file_ids=[],
            ingestion_jobs=ingestion.runs_view(job, now),
            alignment_job=alignment,
            files=ingestion.files_view(job, now),
            fine_tuning_job_ids=list(job["_fine_tunes"]),
            timeline=[
                {
                    "timestamp": iso(event["ts"]),
                    "event_type": event["event_type"],
                    "message": event["message"],
                    "metadata": event["metadata"],
                }
                for event in timeline
            ],
        )
        return out

    def _alignment_end(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """Return the timeline event of the linked alignment job's end, if it has ended."""
        alignment_id = job["alignment_job_id"]
        record = self.store.get_job(alignment_id) if alignment_id else None
        if record is None or record["_final"] is None:
            return None
        status = record["_final"]["status"]
        return _event(
            record["_final"]["ended_ts"],
            f"alignment_{status}",
            f"Alignment job {alignment_id} ended: {status}",
            alignment_job_id=alignment_id,
        )

    # ------------------------------------------------------------- changes
    def _change(self, job_id: str, change: Any) -> dict[str, Any] | None:
        """Apply ``change(job copy, now)`` to a job under the store lock, save it, return its detail."""
        with self.store.lock:
            stored = self.records.get(job_id)
            if stored is None:
                return None
            now = time.time()
            job = {**stored, "_timeline": list(stored["_timeline"])}
            change(job, now)
            job["_updated_ts"] = now
            self.records.save(job)
            return self._view(job, now, detail=True)

    def _refuse_if_started(self, job: dict[str, Any], now: float, action: str) -> None:
        if job["alignment_job_id"]:
            status = self.status_of(job, now)[0]
            raise conflict(
                f"Data job {job['id']} was started (status {status}); its files cannot be {action}"
            )

    def update(self, job_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Set the fields in ``changes`` (None clears one); the others stay as they are."""

        def apply(job: dict[str, Any], now: float) -> None:
            for key, value in changes.items():
                job[key] = value
                if key in _STAMPED:
                    job[_STAMPED[key]] = iso(now)
            fields = sorted(changes)
            job["_timeline"].append(_event(now, "updated", f"Updated {', '.join(fields)}", fields=fields))

        return self._change(job_id, apply)

    def add_files(
        self, job_id: str, files: list[dict[str, Any]], *, seconds: float, fail_names: list[str], method: str
    ) -> dict[str, Any] | None:
        """Attach ``files`` (file records) and start one ingestion run for them."""

        def apply(job: dict[str, Any], now: float) -> None:
            self._refuse_if_started(job, now, "added")
            job["_ingestion"] = [
                {**run, "records": [dict(r) for r in run["records"]]} for run in job["_ingestion"]
            ]
            run = ingestion.schedule(
                job, files, now=now, seconds=seconds, fail_names=fail_names, method=method
            )
            job["_ingestion"].append(run)
            ids = [record["id"] for record in files]
            job["_files"] = [*(f for f in job["_files"] if f not in ids), *ids]
            job["_timeline"].append(
                _event(
                    now,
                    "files_added",
                    f"Attached {len(ids)} file(s)",
                    file_ids=ids,
                    ingestion_job_id=run["id"],
                )
            )

        return self._change(job_id, apply)

    def remove_files(self, job_id: str, file_ids: list[str]) -> dict[str, Any] | None:
        """Detach attached files; their ingestion records are marked deleted."""

        def apply(job: dict[str, Any], now: float) -> None:
            self._refuse_if_started(job, now, "removed")
            job["_ingestion"] = [
                {
                    **run,
                    "records": [
                        {**r, "deleted": r["deleted"] or r["file_id"] in file_ids} for r in run["records"]
                    ],
                }
                for run in job["_ingestion"]
            ]
            job["_files"] = [f for f in job["_files"] if f not in file_ids]
            job["_timeline"].append(
                _event(now, "files_removed", f"Removed {len(file_ids)} file(s)", file_ids=list(file_ids))
            )

        return self._change(job_id, apply)

    def start(self, job_id: str, **settings: Any) -> dict[str, Any] | None:
        """Start the alignment of a ``ready_to_start`` job (``settings``: ``JobService.create``'s keywords)."""

        def apply(job: dict[str, Any], now: float) -> None:
            status = self.status_of(job, now)[0]
            if status != READY_TO_START:
                raise conflict(
                    f"Data job {job['id']} is {status}; only a job in {READY_TO_START} can be started"
                )
            ready = [
                r["file_id"]
                for r in ingestion.live_records(job)
                if ingestion.record_status(r, now) == ingestion.COMPLETED
            ]
            request = {
                "instructions": job["instructions"] or "",
                "files": ready,
                "type": AlignmentType.PRINCIPLE.value
                if job["job_type"] == PRINCIPLE
                else AlignmentType.CONTEXT_DATA.value,
                "system_prompt": job["system_prompt"],
                "vector_database_id": job["vector_database_id"],
            }
            alignment = self.jobs.create(request, team_id=job["team_id"], **settings)
            job["alignment_job_id"] = alignment["id"]
            job["_timeline"].append(
                _event(
                    now,
                    "started",
                    f"Alignment job {alignment['id']} started",
                    alignment_job_id=alignment["id"],
                )
            )

        return self._change(job_id, apply)

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel the linked alignment job (one already ended stays as it is)."""

        def apply(job: dict[str, Any], now: float) -> None:
            if not job["alignment_job_id"]:
                status = self.status_of(job, now)[0]
                raise conflict(f"Data job {job['id']} is {status}; only a started job can be cancelled")
            self.jobs.cancel(job["alignment_job_id"])
            job["_timeline"].append(_event(now, "cancel_requested", "Cancellation requested"))

        return self._change(job_id, apply)

    def delete(self, job_id: str) -> bool:
        """Delete a job, cancelling its alignment first if it is still running."""
        with self.store.lock:
            job = self.records.get(job_id)
            if job is None:
                return False
            if job["alignment_job_id"]:
                self.jobs.cancel(job["alignment_job_id"])
            return self.records.delete(job_id)

    def record_fine_tune(self, file_ids: list[str], fine_tune_id: str) -> None:
        """Note ``fine_tune_id`` in every job whose alignment output is among ``file_ids``."""
        wanted = set(file_ids)
        with self.store.lock:
            for job in self.records.all():
                alignment = self.store.get_job(job["alignment_job_id"]) if job["alignment_job_id"] else None
                outputs = {output["id"] for output in (alignment or {}).get("_outputs", [])}
                if outputs & wanted and fine_tune_id not in job["_fine_tunes"]:
                    self.records.save({**job, "_fine_tunes": [*job["_fine_tunes"], fine_tune_id]})
