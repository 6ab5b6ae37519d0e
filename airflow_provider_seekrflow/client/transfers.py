"""
Streamed uploads and downloads of files, an upload never storing a file twice.

Functions over a :class:`~airflow_provider_seekrflow.client.sync_transport.SyncTransport`. An upload
whose answer is lost is reconciled (:mod:`.reconcile`) against the newest files of its purpose: the
one new file of the same name and size is the upload's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from airflow_provider_seekrflow.client import files
from airflow_provider_seekrflow.client.errors import read_answer
from airflow_provider_seekrflow.client.log_text import for_log
from airflow_provider_seekrflow.client.lost_answers import Snapshot
from airflow_provider_seekrflow.client.multipart import (
    CHUNK_BYTES,
    FileSource,
    MultipartFileBody,
    UploadProgress,
)
from airflow_provider_seekrflow.client.reconcile import once_sending
from airflow_provider_seekrflow.client.sync_transport import SyncTransport
from airflow_provider_seekrflow.client.transport_errors import from_requests_error
from airflow_provider_seekrflow.exceptions import SeekrFlowConnectionError, SeekrFlowError

# Uploads end with the service checking the whole file; give it longer than an ordinary call.
UPLOAD_MIN_READ_TIMEOUT = 600.0
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# Seconds to wait before each look for a file whose upload timed out, before sending it again.
LOST_UPLOAD_LOOKUP_PAUSES = (0.0, 5.0, 15.0, 30.0)


def upload_file(
    transport: SyncTransport,
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
    before = snapshot or snapshot_files(transport, purpose)
    fields = {"purpose": purpose, "filename": filename}
    if vector_database_id:
        fields["vector_database_id"] = vector_database_id
    endpoint = files.UPLOAD_FILE
    path = endpoint.render()
    read_timeout = max(transport.config.timeout, UPLOAD_MIN_READ_TIMEOUT)

    def progress() -> UploadProgress:
        return UploadProgress(size, lambda message: transport.log.info("%s: %s", filename, message))

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
        response = transport.send(endpoint, path, body=body, read_timeout=read_timeout)
        return read_answer(
            files.SeekrFlowFile,
            method=endpoint.method,
            path=path,
            status=response.status_code,
            headers=response.headers,
            body=response.content,
        )

    def lookup(err: SeekrFlowError) -> files.SeekrFlowFile | None:
        # After a timeout the service may still be storing the file: it is given a little while to appear.
        keep_looking = isinstance(err, SeekrFlowConnectionError) and err.timed_out
        return _look_for_lost_upload(transport, filename, size, purpose, before, exclude, keep_looking)

    stored = once_sending(transport, endpoint, path, send, lookup)
    transport.log.info(
        "%s: stored as %s (%s bytes, purpose %s)",
        filename,
        for_log(stored.id),
        stored.bytes,
        for_log(stored.purpose or ""),
    )
    return stored


def snapshot_files(transport: SyncTransport, purpose: str) -> Snapshot:
    """Return the ids of the newest files of ``purpose`` listed now, to tell a new one from them later."""
    listed = transport.call(files.lost_upload_search(purpose)).data
    return Snapshot.of(listed, page_size=files.LOST_UPLOAD_SEARCH_DEPTH)


def _look_for_lost_upload(
    transport: SyncTransport,
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
        stored = find_uploaded_file(transport, filename, size, purpose, snapshot=snapshot, exclude=exclude)
        if stored is not None:
            return stored
    return None


def find_uploaded_file(
    transport: SyncTransport,
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
    newest = transport.call(files.lost_upload_search(purpose)).data
    return files.find_lost_upload(newest, filename, size, snapshot, exclude=exclude)


def download_file(transport: SyncTransport, file_id: str, target: Path) -> Path:
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

    from airflow_provider_seekrflow.client.downloads import (
        announced_length,
        open_partial,
        raw_bytes_read,
    )
    from airflow_provider_seekrflow.exceptions import SeekrFlowUnexpectedResponseError

    endpoint = files.GET_FILE_CONTENT
    path = endpoint.render(file_id=file_id)

    def attempt() -> Path:
        response = transport.open(endpoint, path)
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
                err, method=endpoint.method, path=path, base_url=transport.config.base_url
            ) from None
        finally:
            response.close()
            if partial is not None:
                partial.unlink(missing_ok=True)
        return target

    return transport.retrying(endpoint, attempt)
