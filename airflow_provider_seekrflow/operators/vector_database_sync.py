"""Keep a vector database in step with a folder, a glob or a bucket prefix: move only the difference."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.defaults import DEFAULT_UPLOAD_CONCURRENCY
from airflow_provider_seekrflow.operators.vector_database import _VectorIngestionTask
from airflow_provider_seekrflow.operators.vector_sync_record import KeepsSyncRecord

# DAG parsing imports this module: the hook, the client and the sync's logic load when a task runs.
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.sources import Source
    from airflow_provider_seekrflow.vector_sync.plan import Document, SyncPlan
    from airflow_provider_seekrflow.vector_sync.record import SyncRecord


class SeekrFlowVectorDatabaseSyncOperator(KeepsSyncRecord, _VectorIngestionTask):
    """
    Make a vector database hold exactly a source's current documents, moving only the difference.

    The source is read as the upload operator reads it: a local folder (every file under it), a
    path, a glob, an ``s3://``/``gs://`` URI or prefix (``.../prefix/`` means every object directly
    under it) through Airflow connections, or a list of them. Each document is told by its key (where
    it is, as written) and its fingerprint: size plus the store's ETag, or size plus a SHA-256 of a
    local file's content. Against the record of what earlier syncs put in the database (an Airflow
    Variable, ``seekrflow_vector_sync.<database id>`` unless ``record_key`` says otherwise) and the
    database's own file listing, each document is *added* (new, or its file is gone from the
    database or failed), *changed* (another fingerprint), *removed* (gone from the source) or
    *unchanged*. A re-run with nothing changed sends no upload and starts no ingestion.

    What is new or changed is checked (every file, before anything is sent), uploaded, at most
    ``max_concurrency`` at once, and ingested in one job, waited on on the worker or deferred, like
    ``SeekrFlowVectorDatabaseIngestionOperator`` (``failed`` names each failed file; a kill or
    timeout removes this job's files). Documents gone from the source are removed from the database
    first; a changed document's old file only once its new version is ingested, so retrieval never
    has a gap. Only files a sync recorded are ever removed: what another party added is counted and
    left alone. The record is written as each step ends: a retry, or the next run, finishes an
    ingestion an earlier try started rather than sending its documents again.

    ``plan_only`` (a dry run) logs the plan and changes nothing. The result and the log give the counts; each
    asset in ``outlets`` (:func:`~airflow_provider_seekrflow.assets.vector_database_asset`) gets an
    event whose ``extra`` holds the database id and the counts, so a ``context_grounded_vector_db``
    data job can be scheduled on every refresh.

    Returns ``{"vector_database_id", "added", "changed", "removed", "unchanged", "file_ids",
    "ingestion_job_id", "plan_only"}``: ``file_ids`` are the files uploaded by this sync, in source
    order, and ``ingestion_job_id`` the job that ingested them (None when nothing was sent).

    :param source: A folder, path, glob, object-storage URI or prefix, or a list of them. (templated)
    :param vector_database_id: The database: its id, or the create operator's result. (templated)
    :param source_conn_id: The connection for object-storage URIs that name none of their own. (templated)
    :param plan_only: Whether to only log what would be added, changed and removed.
    :param max_concurrency: The most files uploaded at once, 1 to 32; 1 sends them one by one, in order.
    :param check_content: Whether JSONL documents are read and checked line by line before sending.
    :param record_key: The Airflow Variable the record is kept in. (templated)
    :param method: The ingestion method. (templated)
    :param chunking_method: How documents are cut into chunks. (templated)
    :param token_count: Tokens per chunk, at least 1.
    :param overlap_tokens: Tokens neighbouring chunks share, 0 to less than ``token_count``.
    :param metadata: Flat JSON attached to every chunk this sync ingests. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook; the deferred wait's trigger gets them too.
    :param wait_for_completion: Whether to wait for the ingestion (else the next run records it).
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: The longest time between two status checks, in seconds.
    :param min_poll_interval: The shortest time between two status checks, in seconds.
    :param timeout: Seconds to wait for the ingestion before removing its files and failing.
    :param cancel_on_kill: Whether a kill or a timeout removes the ingesting job's files.
    :param durable: Whether a retry picks up the ingestion of an earlier try (Airflow 3.3+).
    """

    template_fields: Sequence[str] = (
        "source",
        "vector_database_id",
        "source_conn_id",
        "record_key",
        "method",
        "chunking_method",
        "metadata",
        "seekrflow_conn_id",
    )

    def __init__(
        self,
        *,
        source: Any,
        vector_database_id: str | dict[str, Any],
        source_conn_id: str | None = None,
        plan_only: bool = False,
        max_concurrency: int | str = DEFAULT_UPLOAD_CONCURRENCY,
        check_content: bool = True,
        record_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(vector_database_id=vector_database_id, **kwargs)
        self.source = source
        self.source_conn_id = source_conn_id
        self.plan_only = plan_only
        self.max_concurrency = max_concurrency
        self.check_content = check_content
        self.record_key = record_key
        self._stop = threading.Event()

    # -- checks ------------------------------------------------------------------------------------

    def prepare_request(self) -> None:
        """Check the database id and the ingestion settings locally (with any file id: the files come later)."""
        from airflow_provider_seekrflow.client import vector_databases

        self._database_id()
        vector_databases.ingestion_request(
            file_ids=["file-to-come"],
            method=self.method,
            chunking_method=self.chunking_method,
            token_count=self.token_count,
            overlap_tokens=self.overlap_tokens,
            metadata=self.metadata,
        )

    # -- the sync ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """List, compare, remove, upload, ingest; or finish what an earlier try left in flight."""
        from airflow_provider_seekrflow.assets import check_outlets_can_be_announced
        from airflow_provider_seekrflow.operators.upload_sources import concurrency_of
        from airflow_provider_seekrflow.vector_sync.plan import plan_sync

        self.last_result = None
        check_outlets_can_be_announced(self.task_id, self.outlets, self.wait_for_completion)
        self.prepare_request()
        max_concurrency = concurrency_of(self.max_concurrency)
        database_id = self._database_id()
        record = self._load_record(database_id)
        self._carried = None
        in_flight = self._settle_in_flight(record, context)
        if in_flight is not None:
            return in_flight
        last = record.last or {}
        if (
            self._carried is None
            and last.get("run") == self._run_key(context)
            and last.get("ingestion_job_id")
        ):
            # An earlier try of this run recorded its ingestion itself, then was killed before its end.
            self._carried = (
                dict(last.get("counts") or {}),
                list(last.get("file_ids") or []),
                str(last["ingestion_job_id"]),
            )
        sources, documents = self._documents()
        plan = plan_sync(documents, record, self._database_files(database_id))
        self.log.info("Sync of vector database %s: %s", database_id, plan.describe())
        if self.plan_only:
            self._log_plan(plan)
            return self.keep_result(self._result(database_id, plan.counts(), [], None, plan_only=True))
        to_send = [sources[document.key] for document, _ in plan.send]
        self._check_sources(to_send, max_concurrency, context)
        self._remove_gone(database_id, plan, record)
        if plan.moves_nothing and self._carried is not None:
            # An earlier try of this run did the moving (Airflow then killed it, e.g. a resumed deferral
            # failed on a stale executor event); its counts are this run's.
            counts, file_ids, job_id = self._carried
            return self.keep_result(self._done(database_id, counts, file_ids, job_id, context))
        if not plan.send:
            return self.keep_result(self._done(database_id, plan.counts(), [], None, context))
        file_ids = self._upload(to_send, max_concurrency, context)
        record.pending = {
            "counts": plan.counts(),
            "documents": [
                {
                    "key": d.key,
                    "fingerprint": d.fingerprint,
                    "filename": d.filename,
                    "size": d.size,
                    "file_id": f,
                }
                for (d, _), f in zip(plan.send, file_ids, strict=True)
            ],
            "superseded": [entry.file_id for entry in plan.superseded],
            "ingestion_job_id": None,
            # Which task run made it: its own retry reports these counts if it only records them.
            "run": self._run_key(context),
        }
        self._save(record)
        self.file_ids = file_ids
        job_id = self._submit(context)
        record.pending["ingestion_job_id"] = job_id
        self._save(record)
        return self._wait(job_id, context)

    def _wait(self, job_id: str, context: Context) -> Any:
        from airflow_provider_seekrflow.client.deadline import bounded_by

        self.remember(job_id, context)
        with bounded_by(self._seconds_to(self._execution_deadline(context))):
            if not self.wait_for_completion:
                self.log.info(
                    "Not waiting for ingestion %s: the next sync records it once it completed", job_id
                )
                pending = self._load_record(self._database_id()).pending or {}
                uploaded = [str(d["file_id"]) for d in pending.get("documents", [])]
                return self.keep_result(
                    self._result(self._database_id(), pending.get("counts", {}), uploaded, job_id)
                )
            return self.keep_result(self.defer_or_wait(job_id, context))

    def finish(self, job: Any, context: Context) -> dict[str, Any]:
        """Record a completed ingestion (and remove the old files of changed documents), or raise its failure."""
        super().finish(job, context)  # raises the failure naming each failed file
        database_id = self._database_id()
        record = self._load_record(database_id)
        counts, file_ids = self._apply_pending(record, job.ref)
        return self._done(database_id, counts, file_ids, job.ref, context)

    def _done(
        self,
        database_id: str,
        counts: dict[str, int],
        file_ids: list[str],
        job_id: str | None,
        context: Context,
    ) -> dict[str, Any]:
        from airflow_provider_seekrflow.assets import announce_vector_database_sync

        result = self._result(database_id, counts, file_ids, job_id)
        announced = announce_vector_database_sync(
            context, self.outlets, vector_database_id=database_id, counts=counts
        )
        if announced:
            self.log.info("Sync announced on %s", ", ".join(announced))
        return result

    def _result(
        self,
        database_id: str,
        counts: dict[str, int],
        file_ids: list[str],
        job_id: str | None,
        *,
        plan_only: bool = False,
    ) -> dict[str, Any]:
        line = ", ".join(
            f"{counts.get(name, 0)} {name}" for name in ("added", "changed", "removed", "unchanged")
        )
        self.log.info(
            "%s vector database %s: %s%s",
            "Would sync" if plan_only else "Synced",
            database_id,
            line,
            f" (ingestion {job_id})" if job_id else "",
        )
        return {
            "vector_database_id": database_id,
            **{name: int(counts.get(name, 0)) for name in ("added", "changed", "removed", "unchanged")},
            "file_ids": list(file_ids),
            "ingestion_job_id": job_id,
            "plan_only": plan_only,
        }

    # -- steps -------------------------------------------------------------------------------------

    def _documents(self) -> tuple[dict[str, Source], list[Document]]:
        """List the source's documents with their fingerprints (a local file is read to hash it)."""
        from airflow_provider_seekrflow.sources.folders import resolve_documents
        from airflow_provider_seekrflow.vector_sync.fingerprint import of_content, of_tag
        from airflow_provider_seekrflow.vector_sync.plan import Document

        sources = resolve_documents(self.source, source_conn_id=self.source_conn_id)
        by_key: dict[str, Source] = {}
        documents = []
        for source in sources:
            print_ = of_tag(source.size, source.etag) if source.etag else of_content(source.size, source.open)
            documents.append(
                Document(key=source.shown, fingerprint=print_, filename=source.name, size=source.size)
            )
            by_key[source.shown] = source
        return by_key, documents

    def _log_plan(self, plan: SyncPlan) -> None:
        for document, why in plan.send:
            self.log.info("Dry run: would upload and ingest %s (%s)", document.key, why)
        for entry in plan.remove:
            self.log.info(
                "Dry run: would remove %s (file %s): gone from the source", entry.key, entry.file_id
            )
        for entry in plan.superseded:
            self.log.info("Dry run: would then remove %s's old file %s", entry.key, entry.file_id)

    def _remove_gone(self, database_id: str, plan: SyncPlan, record: SyncRecord) -> None:
        self._remove_files(database_id, [entry.file_id for entry in plan.remove])
        for entry in plan.remove:
            self.log.info("Removed %s (file %s): gone from the source", entry.key, entry.file_id)
            record.drop(entry.key)
        for entry in plan.vanished:
            record.drop(entry.key)
        if plan.remove or plan.vanished:
            self._save(record)

    def _check_sources(self, sources: list[Source], max_concurrency: int, context: Context) -> None:
        from airflow_provider_seekrflow.operators.upload_sources import check_sources

        check_sources(sources, "alignment", check_content=self.check_content, log=self.log)

    def _upload(self, sources: list[Source], max_concurrency: int, context: Context) -> list[str]:
        from airflow_provider_seekrflow.client.deadline import bounded_by
        from airflow_provider_seekrflow.operators.upload_sources import upload_sources

        with bounded_by(self._seconds_to(self._execution_deadline(context))):
            return upload_sources(
                self.hook,
                context,
                sources,
                "alignment",
                max_concurrency=max_concurrency,
                log=self.log,
                send=lambda journal: self.hook.upload_batch(
                    sources, "alignment", max_concurrency=max_concurrency, journal=journal, stop=self._stop
                ),
            )

    def on_kill(self) -> None:
        """Stop the uploads (no further file starts), and remove the ingesting job's files."""
        self._stop.set()
        super().on_kill()
