"""Upload local or object-storage files to SeekrFlow."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_seekrflow.defaults import DEFAULT_CONN_ID
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
    SeekrFlowError,
    SeekrFlowInvalidFileError,
    SeekrFlowNotFoundError,
)
from airflow_provider_seekrflow.links import SeekrFlowFileLink
from airflow_provider_seekrflow.operators.job_submission import task_state_store
from airflow_provider_seekrflow.vocabulary import FilePurpose

# DAG parsing imports this module: the hook and the client load when a task runs, where they are used.
if TYPE_CHECKING:
    from pathlib import Path

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
    from airflow_provider_seekrflow.sources import Source

# Task state store key (Airflow 3.3+) of the files this task's tries have uploaded.
UPLOADED_STATE_KEY = "uploaded_files"


class _UploadRecord:
    """
    The task state store's list of the files earlier tries uploaded, one readable entry each.

    An entry reads ``{"source", "bytes", "purpose", "vector_database_id", "file_id"}``, so the
    UI's task state view shows what was uploaded. Before a file is sent, an entry with ``sent_at``
    and no ``file_id`` notes it: a try killed while the file was in flight (its worker lost, the
    task marked failed) leaves that note with the files the service listed just before, and its
    retry asks the service for the one new file of that name and size instead of sending it again.
    Anything stored that is not such a list reads as no uploads.
    """

    def __init__(self, stored: Any) -> None:
        self.entries: list[dict[str, Any]] = []
        if isinstance(stored, list):
            self.entries = [dict(entry) for entry in stored if isinstance(entry, dict)]

    @staticmethod
    def _matches(entry: dict[str, Any], facts: dict[str, Any]) -> bool:
        return all(entry.get(name) == value for name, value in facts.items())

    def find(self, facts: dict[str, Any]) -> str | None:
        """Return the file id recorded for these facts, if any."""
        for entry in self.entries:
            if entry.get("file_id") and self._matches(entry, facts):
                return str(entry["file_id"])
        return None

    def sent_without_answer(self, facts: dict[str, Any]) -> Snapshot | None:
        """Return what the service listed before an earlier try first sent these facts and never recorded an answer."""
        from airflow_provider_seekrflow.client.lost_answers import Snapshot

        for entry in self.entries:
            if entry.get("file_id") or not self._matches(entry, facts):
                continue
            snapshot = Snapshot.from_state(entry.get("snapshot"))
            if snapshot is not None:
                return snapshot
            try:  # a note of an earlier release: only the time it was sent
                return Snapshot.sent_at(datetime.fromisoformat(str(entry["sent_at"])))
            except (KeyError, ValueError):
                continue
        return None

    def note_sending(self, facts: dict[str, Any], when: datetime, snapshot: Snapshot) -> None:
        """
        Note that these facts are about to be sent (replaced by ``add`` once the answer is in).

        An earlier try's note is kept: its snapshot is the oldest, so a file that try stored late
        still counts as new (and two candidates fail as ambiguous rather than store a third).
        """
        self.entries.append({**facts, "sent_at": when.isoformat(), "snapshot": snapshot.to_state()})

    def forget_sending(self, facts: dict[str, Any]) -> None:
        """Drop the notes of sending these facts: the service refused them, so it stored nothing."""
        self.entries = [e for e in self.entries if e.get("file_id") or not self._matches(e, facts)]

    def add(self, facts: dict[str, Any], file_id: str) -> None:
        """Record an upload, in place of the notes of its sending."""
        self.entries = [e for e in self.entries if e.get("file_id") or not self._matches(e, facts)]
        self.entries.append({**facts, "file_id": file_id})


class SeekrFlowUploadFileOperator(BaseOperator):
    """
    Upload one or more files to SeekrFlow and return the file id, or the ids in input order.

    Every source is checked before anything is sent, in two rounds. First what a listing tells,
    for every file: it exists, is a non-empty regular file of at most 4 GB, with an extension the
    purpose accepts. Then JSONL training data is read, as a stream, against the purpose's line
    schema. One bad file fails the task before any byte is uploaded, so a batch is never half
    uploaded, and a refused object in a bucket is never downloaded. Objects in a bucket are
    streamed straight into the upload, never staged on local disk. On Airflow 3.3 and later each
    stored id is kept in the task state store, so a retry after a partial batch uploads only the
    files still missing; a file in flight when its try was killed is noted there before it is sent,
    and the retry reuses what the service stored of it since then instead of sending it again.

    An object-storage source is read with, first match wins: the connection it names itself
    (``s3://my_aws@bucket/key``, ``ObjectStoragePath(..., conn_id="my_aws")``), then
    ``source_conn_id``, then the scheme's default Airflow connection (``aws_default`` for ``s3://``,
    ``google_cloud_default`` for ``gs://``). Reading ``s3://`` needs ``apache-airflow-providers-amazon[s3fs]``.

    :param file_path: A path, a glob, an object-storage URI or ``ObjectStoragePath``, or a list of them. (templated)
    :param purpose: ``alignment`` (source documents, the default), ``fine-tune``, ``preference-fine-tune``,
        ``pre-train`` or ``reinforcement-fine-tune``. (templated)
    :param vector_database_id: Vector database to add alignment documents to. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param source_conn_id: The Airflow connection that reads object-storage URIs naming none of their
        own, e.g. an AWS connection for ``s3://`` (templated); None uses the scheme's default connection.
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``.
    :param check_content: Whether to check every JSONL line before uploading; the other checks always run.
    """

    template_fields: Sequence[str] = (
        "file_path",
        "purpose",
        "vector_database_id",
        "seekrflow_conn_id",
        "source_conn_id",
    )
    ui_color = "#e8f0ff"
    #: The uploaded file's page; for several files, the first file's.
    operator_extra_links = (SeekrFlowFileLink(),)

    def __init__(
        self,
        *,
        file_path: Any,
        purpose: str = FilePurpose.ALIGNMENT.value,
        vector_database_id: str | None = None,
        seekrflow_conn_id: str = DEFAULT_CONN_ID,
        source_conn_id: str | None = None,
        hook_params: dict[str, Any] | None = None,
        check_content: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.file_path = file_path
        self.purpose = purpose
        self.vector_database_id = vector_database_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.source_conn_id = source_conn_id
        self.hook_params = dict(hook_params or {})
        self.check_content = check_content
        #: ``(source as shown, local path or None, file id)`` of each file this try stored or reused,
        #: for OpenLineage; filled as it goes, so a batch that failed half way reports its first half.
        self.uploaded: list[tuple[str, Path | None, str]] = []

    @cached_property
    def hook(self) -> SeekrFlowHook:
        """Return the SeekrFlow hook of this task's connection."""
        from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

        return SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id, **self.hook_params)

    def execute(self, context: Context) -> str | list[str]:
        """Check every source, then upload each and return the id or ids."""
        from airflow_provider_seekrflow.sources import resolve

        purposes = [member.value for member in FilePurpose]
        if self.purpose not in purposes:
            raise SeekrFlowConfigError(f"purpose: {self.purpose!r} is not one of {', '.join(purposes)}")
        sources, single = resolve(self.file_path, source_conn_id=self.source_conn_id)
        self._check(sources)
        for source in sources:
            self.hook.check_file_with_service(
                source.name, self.purpose, size=source.size, filename=source.name
            )
        self.log.info("Checked %d file(s) for purpose %s; uploading", len(sources), self.purpose)
        store = task_state_store(context)
        uploaded = _UploadRecord(store.get(UPLOADED_STATE_KEY) if store is not None else None)
        ids: list[str] = []
        self.uploaded = []
        for source in sources:
            facts = self._facts(source)
            stored_id = self._reuse(uploaded.find(facts), source)
            if stored_id is None:
                stored_id = self._find_unanswered(uploaded.sent_without_answer(facts), source, ids)
                if stored_id is None:
                    stored_id = self._send(source, facts, uploaded, store, ids)
                uploaded.add(facts, stored_id)
                if store is not None:
                    # Recorded file by file, so a retry after a partial batch sends only the rest.
                    store.set(UPLOADED_STATE_KEY, uploaded.entries)
            ids.append(stored_id)
            self.uploaded.append((source.shown, source.local, stored_id))
            if len(ids) == 1:  # the link, as soon as the first file exists
                SeekrFlowFileLink.persist(context, self, stored_id)
        return ids[0] if single else ids

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Return this run's OpenLineage datasets: each source read (a local file or an object) and each file stored.

        :param task_instance: The task instance that ended (unused: the operator kept what it uploaded).
        """
        from airflow_provider_seekrflow.lineage import upload_lineage

        return upload_lineage(self)

    def _check(self, sources: list[Source]) -> None:
        """Check what the listing tells of every file, then (``check_content``) read the JSONL ones."""
        from airflow_provider_seekrflow.validation import (
            FileCheckError,
            check_file,
            check_jsonl_stream,
            check_listed,
            needs_content_check,
        )

        try:
            # Every file's listing first: a refused file is found before any object is read.
            for source in sources:
                check_listed(source.shown, source.size, self.purpose)
            for source in sources:
                if not self.check_content or not needs_content_check(source.name, self.purpose):
                    continue
                if source.local is not None:
                    check_file(source.local, self.purpose)  # buffered line batches: the fast path
                else:
                    self.log.info("%s: checking its lines as it streams", source.shown)
                    # Closed at once on a bad line: the object's stream and its read-ahead end there.
                    with contextlib.closing(source.lines()) as lines:
                        check_jsonl_stream(lines, self.purpose, source.shown)
        except FileCheckError as err:
            raise SeekrFlowInvalidFileError(str(err)) from None

    def _facts(self, source: Source) -> dict[str, Any]:
        """Return what identifies an upload of ``source`` in the task state store."""
        return {
            "source": source.shown,
            "bytes": source.size,
            "purpose": self.purpose,
            "vector_database_id": self.vector_database_id,
        }

    def _reuse(self, file_id: str | None, source: Source) -> str | None:
        """Return the id an earlier try stored for this source, if the service still has that file."""
        if not file_id:
            return None
        try:
            stored = self.hook.get_file(file_id)
        except SeekrFlowNotFoundError:
            return None
        if stored.deleted or stored.bytes != source.size:
            return None
        self.log.info("%s: already uploaded by an earlier try as %s", source.name, file_id)
        return file_id

    def _find_unanswered(self, snapshot: Snapshot | None, source: Source, held: list[str]) -> str | None:
        """Return the file an earlier try sent (after listing ``snapshot``) and ended before hearing of, if stored."""
        if snapshot is None:
            return None
        found = self.hook.find_uploaded_file(
            source.name, source.size, self.purpose, snapshot=snapshot, exclude=held
        )
        if found is None:
            self.log.info(
                "%s: an earlier try was sending it when it ended; not stored, sending it", source.shown
            )
            return None
        self.log.info(
            "%s: an earlier try was sending it when it ended; the service stored it as %s, reusing it",
            source.shown,
            found.id,
        )
        return found.id

    def _send(
        self, source: Source, facts: dict[str, Any], uploaded: _UploadRecord, store: Any, held: list[str]
    ) -> str:
        """Upload ``source`` once, noting first (on Airflow 3.3+) what the service listed before it."""
        from airflow_provider_seekrflow.jobs.submissions import is_definite_refusal

        snapshot = self.hook.snapshot_files(self.purpose)
        if store is not None:
            # Noted before sending: if this try dies with the file in flight, the retry looks for
            # it on the service instead of storing it twice.
            uploaded.note_sending(facts, datetime.now(timezone.utc), snapshot)
            store.set(UPLOADED_STATE_KEY, uploaded.entries)
        if source.local is None:
            self.log.info(
                "%s: streaming %d bytes from object storage (connection %s)",
                source.shown,
                source.size,
                source.connection or "none: the filesystem's own credentials",
            )
        try:
            stored = self.hook.upload_stream(
                source.open,
                source.size,
                self.purpose,
                filename=source.name,
                vector_database_id=self.vector_database_id,
                snapshot=snapshot,
                exclude=held,
                chunk_bytes=source.chunk_bytes,
            )
        except SeekrFlowError as err:
            if store is not None and is_definite_refusal(err):
                uploaded.forget_sending(facts)  # refused: a retry must not look for (and adopt) a file
                store.set(UPLOADED_STATE_KEY, uploaded.entries)
            raise
        return stored.id
