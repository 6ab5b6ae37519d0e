"""
What a vector database sync keeps between tries and runs: its record (an Airflow Variable), and an ingestion an earlier try left.

A mixin of ``SeekrFlowVectorDatabaseSyncOperator``; imported when DAGs are parsed, so it imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.vector_sync.record import SyncRecord

#: The Airflow Variable a database's record is kept in, unless ``record_key`` names another.
RECORD_KEY_TEMPLATE = "seekrflow_vector_sync.{vector_database_id}"


class KeepsSyncRecord:
    """The record of a sync, and the finishing of an ingestion an earlier try or run started (a mixin)."""

    # The operator's.
    record_key: str | None
    file_ids: Any
    dag_id: str
    task_id: str
    hook: Any
    log: Any
    kind: Any
    #: An earlier try of this run's sync, recorded by this try: its counts, files and ingestion.
    _carried: tuple[dict[str, int], list[str], str] | None = None

    if TYPE_CHECKING:

        def job_status(self, job_id: str) -> str | None:
            """Return the job's status, or None when the service no longer has it."""

        def _wait(self, job_id: str, context: Context) -> Any:
            """Wait for the ingestion (or return at once without ``wait_for_completion``)."""

    def _record_key(self, database_id: str) -> str:
        key = self.record_key or RECORD_KEY_TEMPLATE.format(vector_database_id=database_id)
        if not isinstance(key, str) or not key.strip():
            raise SeekrFlowConfigError(f"record_key: must be a Variable name, got {self.record_key!r}")
        return key

    # -- an earlier try's ingestion ------------------------------------------------------------------

    def _settle_in_flight(self, record: SyncRecord, context: Context) -> Any:
        """
        Finish what an earlier try (or run) left: wait for its ingestion, record it, or undo it; return a result when waiting.

        A completed ingestion is recorded; one still running is waited on (this task's result is
        then that sync's); one that failed, or that cannot be found, has its files removed from the
        database (they are this sync's own), so the documents are sent again.
        """
        pending = record.pending
        if not pending:
            return None
        database_id = record.database_id
        job_id = pending.get("ingestion_job_id") or self._find_started(pending, database_id)
        status = self.job_status(job_id) if job_id else None
        held = self._database_files(database_id)
        if job_id and any(d["file_id"] not in held for d in pending.get("documents", [])):
            # A kill or a timeout removed the job's files (the service has no cancel): it is undone,
            # whatever the job's status says.
            status = "undone (its files were removed)"
        elif job_id and status is not None and status not in self.kind.terminal_states:
            self.log.info("Ingestion %s of an earlier try is %s: waiting for it to end", job_id, status)
            self.file_ids = [d["file_id"] for d in pending.get("documents", [])]
            return self._wait(job_id, context)
        elif job_id and status == self.kind.success_status:
            self.log.info("Ingestion %s of an earlier try completed: recording it", job_id)
            counts, file_ids = self._apply_pending(record, job_id)
            if pending.get("run") == self._run_key(context):
                self._carried = (counts, file_ids, str(job_id))
            return None
        stale = [d["file_id"] for d in pending.get("documents", [])]
        self.log.warning(
            "Ingestion %s of an earlier try ended %s: removing its %d file(s) from the database, "
            "so their documents are sent again",
            job_id or "(never started)",
            status or "unknown",
            len(stale),
        )
        self._remove_files(database_id, stale)
        record.pending = None
        self._save(record)
        return None

    def _run_key(self, context: Context) -> str:
        """Return what names this task's run (its tries share it): DAG, run, task and map index."""
        ti = context.get("ti")
        parts = (self.dag_id, getattr(ti, "run_id", None), self.task_id, getattr(ti, "map_index", -1))
        return "/".join(str(part) for part in parts)

    def _find_started(self, pending: dict[str, Any], database_id: str) -> str | None:
        """Return the ingestion of the pending files if the service started it (its answer, or the try, lost)."""
        from airflow_provider_seekrflow.client import vector_databases
        from airflow_provider_seekrflow.client.vector_database_creates import list_ingestions

        wanted = sorted(d["file_id"] for d in pending.get("documents", []))
        for job in list_ingestions(self.hook.transport, database_id):
            if sorted(job.file_ids or []) == wanted:
                return vector_databases.ingestion_ref(database_id, str(job.id))
        return None

    def _apply_pending(self, record: SyncRecord, job_id: str) -> tuple[dict[str, int], list[str]]:
        """Put the ingested documents into the record, remove the files they supersede, and save it."""
        from airflow_provider_seekrflow.vector_sync.record import Entry

        pending = record.pending or {}
        documents = pending.get("documents", [])
        for document in documents:
            record.put(
                Entry(**{k: document[k] for k in ("key", "fingerprint", "file_id", "filename", "size")})
            )
        self._save(record)
        superseded = list(pending.get("superseded", []))
        self._remove_files(record.database_id, superseded)
        if superseded:
            self.log.info(
                "Removed the old versions of %d changed document(s): %s",
                len(superseded),
                ", ".join(superseded),
            )
        counts, file_ids = dict(pending.get("counts", {})), [str(d["file_id"]) for d in documents]
        record.pending = None
        record.last = {
            "run": pending.get("run"),
            "counts": counts,
            "file_ids": file_ids,
            "ingestion_job_id": job_id,
        }
        self._save(record)
        return counts, file_ids

    def _database_files(self, database_id: str) -> dict[str, str]:
        from airflow_provider_seekrflow.client import vector_databases

        listed = self.hook.call(vector_databases.list_files(database_id))
        return {str(f.id): str(f.status) for f in listed.data or [] if f.id}

    def _remove_files(self, database_id: str, file_ids: list[str]) -> None:
        """Remove files from the database; one already gone is what the removal wanted."""
        from airflow_provider_seekrflow.jobs.ingestion import remove_files

        if file_ids:
            self.hook.run(remove_files(database_id, file_ids))

    # -- the record --------------------------------------------------------------------------------

    def _load_record(self, database_id: str) -> SyncRecord:
        from airflow.providers.common.compat.sdk import Variable

        from airflow_provider_seekrflow.vector_sync.record import SyncRecord

        key = self._record_key(database_id)
        record, why = SyncRecord.from_json(Variable.get(key, None), database_id)
        if why:
            self.log.warning("Variable %s: %s; every document counts as new", key, why)
        return record

    def _save(self, record: SyncRecord) -> None:
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(self._record_key(record.database_id), record.to_json())
