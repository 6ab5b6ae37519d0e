"""The SeekrFlow hook: the Airflow connection, the task log, and every SeekrFlow call a worker makes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow._client import alignment, files
from airflow_provider_seekrflow._client.alignment import AlignmentJob, AlignmentOutput
from airflow_provider_seekrflow._client.config import ClientConfig
from airflow_provider_seekrflow._client.files import (
    FileMetadataValidation,
    SeekrFlowFile,
    SeekrFlowFileDeleted,
)
from airflow_provider_seekrflow._client.retry import RetryPolicy
from airflow_provider_seekrflow._client.sync_client import SyncClient
from airflow_provider_seekrflow._client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowError,
    SeekrFlowInvalidFileError,
    SeekrFlowUnexpectedResponseError,
    SeekrFlowValidationError,
)
from airflow_provider_seekrflow.hooks.base import SeekrFlowBaseHook, connection_config
from airflow_provider_seekrflow.hooks.pipeline_methods import PipelineHookMethods
from airflow_provider_seekrflow.training_data import DEFAULT_BATCH_ROWS
from airflow_provider_seekrflow.vocabulary import AlignmentType, FilePurpose

if TYPE_CHECKING:
    import requests

__all__ = ["SeekrFlowHook", "connection_config"]


class SeekrFlowHook(PipelineHookMethods, SeekrFlowBaseHook):
    """
    Talk to the SeekrFlow API from a worker: files, alignment, data jobs, projects and fine-tunes.

    The connection is read as :class:`~airflow_provider_seekrflow.hooks.base.SeekrFlowBaseHook` says.

    :param seekrflow_conn_id: The Airflow connection to use.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param max_retries: Retries of a failed request, overriding the connection's ``max_retries`` extra.
    """

    # Airflow 2 reads a connection type's form only from its hook class's own attributes.
    get_ui_field_behaviour = SeekrFlowBaseHook.__dict__["get_ui_field_behaviour"]
    get_connection_form_widgets = SeekrFlowBaseHook.__dict__["get_connection_form_widgets"]

    @cached_property
    def config(self) -> ClientConfig:
        """Return the validated client settings of the connection."""
        conn = self.get_connection(self.seekrflow_conn_id)
        return self._config_from(conn, conn.extra_dejson)

    @cached_property
    def client(self) -> SyncClient:
        """Return the SeekrFlow client of this connection, logging to the task log."""
        return SyncClient(SyncTransport(self.config, self.log, conn_id=self.seekrflow_conn_id))

    @property
    def retry_policy(self) -> RetryPolicy:
        """Return the retry policy built from the connection's ``max_retries``."""
        return self.client.transport.retry_policy

    @property
    def session(self) -> requests.Session:
        """Return the hook's one HTTP session, carrying the authentication headers."""
        return self.client.transport.session

    def get_conn(self) -> requests.Session:
        """Return the authenticated ``requests.Session``."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        if "client" in self.__dict__:
            self.client.transport.close()

    # -- files ----------------------------------------------------------------------------------

    def check_file(self, path: str | os.PathLike[str], purpose: str, *, check_content: bool = True) -> int:
        """
        Check a file locally the way the service will, and return its size; nothing is sent.

        :param path: The file.
        :param purpose: The purpose it will be uploaded for.
        :param check_content: Whether to check every JSONL line against the purpose's schema.
        """
        from airflow_provider_seekrflow.validation import FileCheckError, check_file

        try:
            check_file(path, purpose, check_content=check_content)
        except FileCheckError as err:
            raise SeekrFlowInvalidFileError(str(err)) from None
        return os.stat(path).st_size

    def upload_file(
        self,
        path: str | os.PathLike[str],
        purpose: str = FilePurpose.ALIGNMENT.value,
        *,
        vector_database_id: str | None = None,
        filename: str | None = None,
        check: bool = True,
        check_content: bool = True,
        check_with_service: bool = True,
        since: datetime | None = None,
    ) -> SeekrFlowFile:
        """
        Upload a file, streaming it from disk, and return the stored file.

        When the connection drops after the body was sent, the service may have stored the file;
        before sending it again, the hook looks for a file of the same name, size and purpose
        created since ``since`` and returns it instead, so a retry never stores a duplicate.

        :param path: The local file.
        :param purpose: What the file is for: ``alignment`` (a source document), ``fine-tune``, ...
        :param vector_database_id: Optional vector database to add an alignment document to.
        :param filename: The name to store it under; the file's own name by default.
        :param check: Whether to check the file locally before sending anything.
        :param check_content: Whether the local check reads every JSONL line.
        :param check_with_service: Whether to ask the service if it accepts an alignment document's
            type and size before sending it, as the official client does.
        :param since: The earliest creation time of a file that an earlier ambiguous try may have
            stored; the start of this call by default.
        """
        source = Path(path)
        name = filename or source.name
        size = (
            self.check_file(source, purpose, check_content=check_content) if check else source.stat().st_size
        )
        if check_with_service:
            self.check_file_with_service(source, purpose, size=size, filename=name)
        return self.client.upload_file(
            source, purpose, filename=name, size=size, vector_database_id=vector_database_id, since=since
        )

    def check_file_with_service(
        self,
        path: str | os.PathLike[str],
        purpose: str,
        *,
        size: int | None = None,
        filename: str | None = None,
    ) -> None:
        """
        Ask the service whether it accepts an alignment document's type and size; raise if not.

        Only ``alignment`` documents have a metadata check; other purposes pass untouched.

        :param path: The local file.
        :param purpose: The purpose it will be uploaded for.
        :param size: Its size, when already known.
        :param filename: The name it will be stored under.
        """
        if purpose != FilePurpose.ALIGNMENT.value:
            return
        source = Path(path)
        name = filename or source.name
        suffix = Path(name).suffix.lstrip(".").lower()
        verdict = self.validate_file_metadata(
            purpose, suffix, size if size is not None else source.stat().st_size
        )
        if not verdict.is_valid:
            raise SeekrFlowValidationError(f"{name}: SeekrFlow refuses this document: {verdict.errors}")

    def find_uploaded_file(
        self, filename: str, size: int, purpose: str, *, since: datetime
    ) -> SeekrFlowFile | None:
        """
        Return the newest file of this name, size and purpose created since ``since``, if any.

        :param filename: The stored file name.
        :param size: The size in bytes.
        :param purpose: The purpose it was uploaded for.
        :param since: The earliest creation time to consider.
        """
        return self.client.find_uploaded_file(filename, size, purpose, since=since)

    def list_files(
        self,
        *,
        purpose: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> list[SeekrFlowFile]:
        """
        List stored files.

        :param purpose: Only files of this purpose.
        :param limit: At most this many (1 to 1000).
        :param offset: Skip this many.
        :param sort_by: ``created_at``, ``filename``, ``type`` or ``size``.
        :param sort_order: ``asc`` or ``desc``.
        """
        call = files.list_files(
            purpose=purpose, limit=limit, offset=offset, sort_by=sort_by, sort_order=sort_order
        )
        return self.client.call(call).data

    def get_file(self, file_id: str) -> SeekrFlowFile:
        """
        Return a stored file's metadata.

        :param file_id: The file's id.
        """
        return self.client.call(files.get_file(file_id))

    def delete_file(self, file_id: str) -> SeekrFlowFileDeleted:
        """
        Delete a stored file; a retry finding it gone counts as done.

        :param file_id: The file's id.
        """
        return self.client.transport.delete(
            files.delete_file(file_id), gone=lambda: SeekrFlowFileDeleted(id=file_id, deleted=True)
        )

    def validate_file_metadata(self, purpose: str, suffix: str, size: int) -> FileMetadataValidation:
        """
        Ask the service whether it accepts a file of this type and size for this purpose.

        :param purpose: The purpose the file will be uploaded for.
        :param suffix: The file name's extension, without the dot.
        :param size: The size in bytes.
        """
        return self.client.call(files.validate_file_metadata(purpose, suffix, size))

    def download_file(self, file_id: str, destination: str | os.PathLike[str]) -> Path:
        """
        Stream a stored file's bytes to a local path and return the path written.

        The bytes go to a temporary file beside the destination, renamed into place only when
        complete, so an interrupted download never leaves a truncated file under the final name.

        :param file_id: The file's id.
        :param destination: A file path, or an existing directory to write the file's own name into.
        """
        target = Path(destination)
        if target.is_dir():
            target = target / files.local_name(self.get_file(file_id).filename, file_id)
        written = self.client.download_file(file_id, target)
        self.log.info("Downloaded %s to %s (%d bytes)", file_id, written, written.stat().st_size)
        return written

    def iter_conversations(
        self, file_id: str, *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[dict[str, Any]]:
        """
        Download a training-data file and yield its rows, one conversation each.

        Reads the parquet the service writes for an alignment job's ``fine-tune`` output (needs
        the ``parquet`` extra) and JSONL training files alike. The file is streamed to a
        temporary folder, read a batch of rows at a time and deleted when the iteration ends, so
        memory stays flat however large it is. Each row is a dict such as
        ``{"messages": [{"role": "system", "content": ...}, ...]}``, with every column the file has.

        :param file_id: The stored file's id, e.g. the ``fine_tune_file_id`` XCom of the generate operator.
        :param batch_rows: Parquet rows read per step.
        """
        from airflow_provider_seekrflow.training_data import detect_format, iter_rows

        stored = self.get_file(file_id)
        with tempfile.TemporaryDirectory(prefix="seekrflow-training-data-") as folder:
            local = self.download_file(file_id, Path(folder) / files.local_name(stored.filename, file_id))
            yield from iter_rows(local, detect_format(local, stored.type), batch_rows=batch_rows)

    # -- alignment ------------------------------------------------------------------------------

    def generate_alignment(
        self,
        instructions: str,
        files: Sequence[str],
        *,
        alignment_type: str = AlignmentType.PRINCIPLE.value,
        system_prompt: str | None = None,
        vector_database_id: str | None = None,
    ) -> AlignmentJob:
        """
        Start an alignment job that generates training pairs from uploaded documents.

        SeekrFlow's reference marks this endpoint deprecated in favour of data jobs.

        :param instructions: What the training pairs should teach; must not be blank.
        :param files: Ids of files uploaded with purpose ``alignment``.
        :param alignment_type: ``principle`` or ``context_data``.
        :param system_prompt: System prompt for the generated conversations (``principle`` only).
        :param vector_database_id: Vector database for ``context_data`` retrieval.
        """
        body = alignment.generate_request(
            instructions,
            files,
            alignment_type=alignment_type,
            system_prompt=system_prompt,
            vector_database_id=vector_database_id,
        )
        job = self.client.generate_alignment(body)
        self.log.info("Started alignment job %s (%s)", job.id, job.describe())
        return job

    def get_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Return an alignment job.

        :param job_id: The job's id.
        """
        return self.client.call(alignment.get_job(job_id))

    def list_alignment_jobs(self) -> list[AlignmentJob]:
        """List alignment jobs."""
        return self.client.call(alignment.list_jobs()).data

    def cancel_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Cancel an alignment job; a job that already ended is returned unchanged.

        :param job_id: The job's id.
        """
        return self.client.call(alignment.cancel_job(job_id))

    def delete_alignment_job(self, job_id: str) -> None:
        """
        Delete an alignment job; a retry finding it gone counts as done.

        :param job_id: The job's id.
        """
        self.client.transport.delete(alignment.delete_job(job_id), gone=lambda: None)

    def get_alignment_outputs(self, job_id: str) -> list[AlignmentOutput]:
        """
        Return an alignment job's output files.

        :param job_id: The job's id.
        """
        return self.client.call(alignment.get_outputs(job_id))

    def wait_for_alignment_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        timeout: float | None = None,
        on_poll: Callable[[AlignmentJob], None] | None = None,
    ) -> AlignmentJob:
        """
        Block until the job ends and return it, whatever its final status.

        Sleeps toward the service's completion estimate rather than at a fixed pace.

        :param job_id: The job's id.
        :param poll_interval: The longest sleep between two status checks, in seconds.
        :param min_poll_interval: The shortest sleep between two status checks, in seconds.
        :param timeout: Give up after this many seconds (monotonic clock), raising
            ``SeekrFlowAlignmentJobTimeoutError``; wait for ever when None.
        :param on_poll: Called with the job after every status check.
        """
        return self.client.wait_for_alignment_job(
            job_id,
            poll_interval=poll_interval,
            min_poll_interval=min_poll_interval,
            timeout=timeout,
            on_poll=on_poll,
        )

    # -- connection test ------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with one cheap authenticated call; never raises."""
        try:
            config = self.config
            transport = SyncTransport(
                config,
                self.log,
                conn_id=self.seekrflow_conn_id,
                retry_policy=RetryPolicy(max_retries=min(config.max_retries, 1), max_retry_after=5.0),
            )
            try:
                transport.call(files.list_files(limit=1))
            finally:
                transport.close()
        except SeekrFlowUnexpectedResponseError as err:
            return False, f"{config.base_url} does not answer like the SeekrFlow API: {err}"
        except SeekrFlowError as err:
            return False, str(err)
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        return True, f"Connected to SeekrFlow at {config.base_url}; the API key was accepted."
