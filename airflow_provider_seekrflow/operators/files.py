"""Upload local or object-storage files to SeekrFlow."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_seekrflow.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_UPLOAD_CONCURRENCY,
    check_concurrency,
)
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
)
from airflow_provider_seekrflow.links import SeekrFlowFileLink
from airflow_provider_seekrflow.vocabulary import FilePurpose

# DAG parsing imports this module: the hook and the client load when a task runs, where they are used.
if TYPE_CHECKING:
    from pathlib import Path

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
    from airflow_provider_seekrflow.hooks.upload_batch_methods import UploadJournal
    from airflow_provider_seekrflow.operators.upload_record import RecordJournal
    from airflow_provider_seekrflow.sources import Source


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
    :param max_concurrency: The most files in flight at once, 1 to 32; ``1`` sends them one after the
        other, in input order. 16 by default: each file's requests cross a WAN, and at thousands of
        files the round trips set the time (``benchmarks/README.md``, "Upload concurrency"). A
        rendered template's number is read as one. (templated)
    """

    template_fields: Sequence[str] = (
        "file_path",
        "purpose",
        "vector_database_id",
        "seekrflow_conn_id",
        "source_conn_id",
        "max_concurrency",
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
        max_concurrency: int | str = DEFAULT_UPLOAD_CONCURRENCY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_concurrency, str):  # a template is checked once rendered
            check_concurrency(max_concurrency)
        self.file_path = file_path
        self.purpose = purpose
        self.vector_database_id = vector_database_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.source_conn_id = source_conn_id
        self.hook_params = dict(hook_params or {})
        self.check_content = check_content
        self.max_concurrency = max_concurrency
        #: ``(source as shown, local path or None, file id)`` of each file this try stored or reused,
        #: for OpenLineage; filled as it goes, so a batch that failed half way reports its first half.
        self.uploaded: list[tuple[str, Path | None, str]] = []

    @cached_property
    def hook(self) -> SeekrFlowHook:
        """Return the SeekrFlow hook of this task's connection."""
        from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

        return SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id, **self.hook_params)

    def execute(self, context: Context) -> str | list[str]:
        """Check every source, then upload them, at most ``max_concurrency`` at once, and return the id or ids."""
        from airflow_provider_seekrflow.client.deadline import bounded_by
        from airflow_provider_seekrflow.operators.job_deadlines import execution_deadline, seconds_to
        from airflow_provider_seekrflow.operators.upload_sources import (
            check_sources,
            concurrency_of,
            upload_sources,
        )
        from airflow_provider_seekrflow.sources import resolve

        purposes = [member.value for member in FilePurpose]
        if self.purpose not in purposes:
            raise SeekrFlowConfigError(f"purpose: {self.purpose!r} is not one of {', '.join(purposes)}")
        max_concurrency = concurrency_of(self.max_concurrency)
        self._stop = threading.Event()
        sources, single = resolve(self.file_path, source_conn_id=self.source_conn_id)
        # Both rounds of checks run on every file before the first byte is sent.
        check_sources(sources, self.purpose, check_content=self.check_content, log=self.log)
        self.uploaded = []

        # The task's execution_timeout holds while requests are in flight, in every thread of the batch.
        with bounded_by(seconds_to(execution_deadline(self.execution_timeout, context))):

            def send(journal: RecordJournal) -> list[str]:
                def on_stored(index: int, file_id: str) -> None:
                    # In this thread, as each file is stored: a batch that failed half way reports what it stored.
                    self.uploaded.append((sources[index].shown, sources[index].local, file_id))
                    if index == 0:  # the link, as soon as the first file exists
                        with journal.lock:  # one message to the supervisor at a time
                            SeekrFlowFileLink.persist(context, self, file_id)

                return self._upload(sources, journal, max_concurrency, on_stored)

            ids = upload_sources(
                self.hook,
                context,
                sources,
                self.purpose,
                max_concurrency=max_concurrency,
                log=self.log,
                send=send,
                vector_database_id=self.vector_database_id,
            )
        order = {file_id: index for index, file_id in enumerate(ids)}
        self.uploaded.sort(key=lambda uploaded: order.get(uploaded[2], len(order)))
        return ids[0] if single else ids

    def _upload(
        self, sources: list[Source], journal: UploadJournal, max_concurrency: int, on_stored: Any
    ) -> list[str]:
        """Upload the checked sources through the hook's batch, and return their ids in input order."""
        return self.hook.upload_batch(
            sources,
            self.purpose,
            vector_database_id=self.vector_database_id,
            max_concurrency=max_concurrency,
            journal=journal,
            stop=self._stop,
            on_stored=on_stored,
        )

    def on_kill(self) -> None:
        """Stop the batch: no further file starts; those in flight end on their own, their notes kept for a retry."""
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Return this run's OpenLineage datasets: each source read (a local file or an object) and each file stored.

        :param task_instance: The task instance that ended (unused: the operator kept what it uploaded).
        """
        from airflow_provider_seekrflow.lineage import upload_lineage

        return upload_lineage(self)
