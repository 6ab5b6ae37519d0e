"""
The blocking SeekrFlow client: the operations that take more than one call.

Streamed uploads and downloads, and the requests whose lost answers are reconciled against what
the service lists (uploads and generate), so a retry never makes a second file or job. Single
calls go through :meth:`SyncClient.call` with a call built by a resource module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from airflow_provider_seekrflow._client import alignment, files
from airflow_provider_seekrflow._client.endpoints import Call
from airflow_provider_seekrflow._client.errors import read_answer
from airflow_provider_seekrflow._client.log_text import for_log
from airflow_provider_seekrflow._client.lost_answers import Snapshot
from airflow_provider_seekrflow._client.multipart import (
    CHUNK_BYTES,
    FileSource,
    MultipartFileBody,
    UploadProgress,
)
from airflow_provider_seekrflow._client.polling import plan_next_check
from airflow_provider_seekrflow._client.retry import answer_may_be_lost, resendable
from airflow_provider_seekrflow._client.sync_pipeline import PipelineOperations
from airflow_provider_seekrflow._client.sync_transport import SyncTransport
from airflow_provider_seekrflow._client.transport_errors import from_requests_error
from airflow_provider_seekrflow._client.waiting import limit_text, wait_until
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowConnectionError,
    SeekrFlowError,
)

T = TypeVar("T")

# Uploads end with the service checking the whole file; give it longer than an ordinary call.
UPLOAD_MIN_READ_TIMEOUT = 600.0
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# Seconds to wait before each look for a file whose upload timed out, before sending it again.
LOST_UPLOAD_LOOKUP_PAUSES = (0.0, 5.0, 15.0, 30.0)


class SyncClient(PipelineOperations):
    """
    Run SeekrFlow operations over a :class:`SyncTransport`.

    :param transport: The transport (connection settings, session, retries).
    """

    def __init__(self, transport: SyncTransport) -> None:
        self.transport = transport
        self.log = transport.log

    def call(self, call: Call[T]) -> T:
        """Send one call, retrying what the policy allows, and return its answer."""
        return self.transport.call(call)

    # -- files ----------------------------------------------------------------------------------

    def upload_file(
        self,
        source: FileSource,
        purpose: str,
        *,
        filename: str,
        size: int,
        vector_database_id: str | None = None,
        snapshot: Snapshot | None = None,
        exclude: Iterable[str] = (),
        chunk_bytes: int = CHUNK_BYTES,
    ) -> files.SeekrFlowFile:
        """
        Stream a file to the service and return the stored file, never storing it twice.

        When the answer is lost (the connection drops after the body was sent, or a 500/502/504),
        the service may have stored the file; before sending it again, the newest files of the
        purpose are searched for the one new file of the same name and size, which is returned
        instead. When that search fails or finds more than one, the upload fails and is not resent.

        :param source: The local file, or a callable opening a fresh stream of it (each try re-opens it).
        :param purpose: What the file is for.
        :param filename: The name to store it under.
        :param size: Its size in bytes.
        :param vector_database_id: Optional vector database to add an alignment document to.
        :param snapshot: The files of the purpose listed before the upload (taken now when not given).
        :param exclude: Ids the caller already holds (files stored earlier in its batch): never adopted.
        :param chunk_bytes: How much of the file is read (and held) at a time.
        """
        before = snapshot or self.snapshot_files(purpose)
        fields = {"purpose": purpose, "filename": filename}
        if vector_database_id:
            fields["vector_database_id"] = vector_database_id
        endpoint = files.UPLOAD_FILE
        path = endpoint.render()
        read_timeout = max(self.transport.config.timeout, UPLOAD_MIN_READ_TIMEOUT)

        def progress() -> UploadProgress:
            return UploadProgress(size, lambda message: self.log.info("%s: %s", filename, message))

        def send() -> files.SeekrFlowFile:
            body = MultipartFileBody(
                fields,
                file_field="files",
                source=source,
                filename=filename,
                size=size,
                progress=progress,
                chunk_bytes=chunk_bytes,
            )
            response = self.transport.send(endpoint, path, body=body, read_timeout=read_timeout)
            return read_answer(
                files.SeekrFlowFile,
                method=endpoint.method,
                path=path,
                status=response.status_code,
                headers=response.headers,
                body=response.content,
            )

        def attempt() -> files.SeekrFlowFile:
            try:
                return send()
            except SeekrFlowError as err:
                if not answer_may_be_lost(err):
                    raise
                timed_out = isinstance(err, SeekrFlowConnectionError) and err.timed_out
                stored = self._look_up(
                    endpoint.method,
                    path,
                    err,
                    lambda: self._look_for_lost_upload(filename, size, purpose, before, exclude, timed_out),
                )
                if stored is not None:
                    return stored
                raise resendable(err) from None

        stored = self.transport.retrying(endpoint, attempt)
        self.log.info(
            "%s: stored as %s (%s bytes, purpose %s)",
            filename,
            for_log(stored.id),
            stored.bytes,
            for_log(stored.purpose or ""),
        )
        return stored

    def snapshot_files(self, purpose: str) -> Snapshot:
        """Return the ids of the newest files of ``purpose`` listed now, to tell a new one from them later."""
        listed = self.call(files.lost_upload_search(purpose)).data
        return Snapshot.of(listed, page_size=files.LOST_UPLOAD_SEARCH_DEPTH)

    def _look_for_lost_upload(
        self,
        filename: str,
        size: int,
        purpose: str,
        snapshot: Snapshot,
        exclude: Iterable[str],
        keep_looking: bool,
    ) -> files.SeekrFlowFile | None:
        # After a timeout the service may still be storing the file; give it a little while to appear.
        for pause in LOST_UPLOAD_LOOKUP_PAUSES if keep_looking else (0.0,):
            time.sleep(pause)
            stored = self.find_uploaded_file(filename, size, purpose, snapshot=snapshot, exclude=exclude)
            if stored is not None:
                return stored
        return None

    def find_uploaded_file(
        self,
        filename: str,
        size: int,
        purpose: str,
        *,
        snapshot: Snapshot,
        exclude: Iterable[str] = (),
    ) -> files.SeekrFlowFile | None:
        """
        Return the one file of this name, size and purpose stored since ``snapshot`` was taken, if any.

        :param filename: The name the upload stored the file under.
        :param size: Its size in bytes.
        :param purpose: Its purpose.
        :param snapshot: The files listed before the upload was sent.
        :param exclude: Ids never to adopt (already held by the caller).
        :raises SeekrFlowAmbiguousResultError: More than one new file may be it.
        """
        newest = self.call(files.lost_upload_search(purpose)).data
        return files.find_lost_upload(newest, filename, size, snapshot, exclude=exclude)

    def download_file(self, file_id: str, target: Path) -> Path:
        """
        Stream a stored file's bytes to ``target``, through a temporary file renamed into place when complete.

        The temporary file is made beside ``target`` with an unpredictable name (``O_EXCL``), so a
        symlink planted in a shared folder is never followed. A body compressed in transit
        (``Content-Encoding: gzip``) is written decompressed and checked against its announced
        length as sent.

        :param file_id: The file's id.
        :param target: The file path to write.
        """
        import requests

        from airflow_provider_seekrflow._client.downloads import (
            announced_length,
            open_partial,
            raw_bytes_read,
        )
        from airflow_provider_seekrflow.exceptions import SeekrFlowUnexpectedResponseError

        endpoint = files.GET_FILE_CONTENT
        path = endpoint.render(file_id=file_id)

        def attempt() -> Path:
            response = self.transport.open(endpoint, path)
            partial: Path | None = None
            try:
                try:
                    expected = announced_length(response.headers)
                except ValueError as err:
                    raise SeekrFlowUnexpectedResponseError(
                        f"{endpoint.method} {path}: {err}",
                        status_code=response.status_code,
                        method=endpoint.method,
                        path=path,
                    ) from None
                handle, partial = open_partial(target)
                with handle:
                    for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                        handle.write(chunk)
                # Content-Length counts the bytes as sent, before a Content-Encoding is undone.
                received = raw_bytes_read(response)
                if received is None and not response.headers.get("content-encoding"):
                    received = partial.stat().st_size
                if expected is not None and received is not None and received != expected:
                    raise SeekrFlowConnectionError(
                        f"{endpoint.method} {path}: got {received} of {expected} bytes",
                        may_have_reached_service=True,
                        method=endpoint.method,
                        path=path,
                    )
                os.replace(partial, target)
            except requests.exceptions.RequestException as err:
                raise from_requests_error(
                    err, method=endpoint.method, path=path, base_url=self.transport.config.base_url
                ) from None
            finally:
                response.close()
                if partial is not None:
                    partial.unlink(missing_ok=True)
            return target

        return self.transport.retrying(endpoint, attempt)

    # -- alignment ------------------------------------------------------------------------------

    def generate_alignment(self, body: dict[str, Any]) -> alignment.AlignmentJob:
        """
        Start an alignment job from a checked request body, never starting it twice.

        When the answer is lost, the jobs made since a snapshot taken before sending are searched
        for the one this request made; the request is sent again only when the service provably
        has none, and a failed or ambiguous search fails the call without resending.

        :param body: A body from :func:`alignment.generate_request`.
        """
        before = Snapshot.of(self.call(alignment.list_jobs()).data)
        call = alignment.generate(body)

        def lookup() -> alignment.AlignmentJob | None:
            found, _absent = alignment.find_lost_job(self.call(alignment.list_jobs()).data, body, before)
            return found

        def attempt() -> alignment.AlignmentJob:
            try:
                return self.transport.call_once(call)
            except SeekrFlowError as err:
                if not answer_may_be_lost(err):
                    raise
                found = self._look_up(call.endpoint.method, call.path, err, lookup)
                if found is not None:
                    return found
                raise resendable(err) from None

        return self.transport.retrying(call.endpoint, attempt)

    def wait_for_alignment_job(
        self,
        job_id: str,
        *,
        poll_interval: float,
        min_poll_interval: float,
        timeout: float | None,
        on_poll: Callable[[alignment.AlignmentJob], None] | None = None,
    ) -> alignment.AlignmentJob:
        """Block until the job ends and return it; see ``SeekrFlowHook.wait_for_alignment_job``."""

        def timed_out(job: alignment.AlignmentJob | None) -> Exception:
            seen = job.describe() if job is not None else "no status read in time"
            return SeekrFlowAlignmentJobTimeoutError(
                f"Alignment job {job_id} did not finish {limit_text(timeout)} ({seen})",
                job_id=job_id,
                status=job.status if job is not None else "unknown",
            )

        return wait_until(
            lambda: self.call(alignment.get_job(job_id)),
            done=lambda job: job.is_terminal,
            delay=lambda job: (
                plan_next_check(job, poll_interval=poll_interval, min_interval=min_poll_interval).seconds
            ),
            timeout=timeout,
            timed_out=timed_out,
            on_poll=on_poll,
        )
