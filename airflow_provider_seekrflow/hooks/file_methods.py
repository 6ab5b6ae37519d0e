"""The sync hook's file methods: check, upload (from disk or a stream), list, read and download (mixed into ``SeekrFlowHook``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_seekrflow.client import files, transfers
from airflow_provider_seekrflow.client.files import (
    FileMetadataValidation,
    SeekrFlowFile,
    SeekrFlowFileDeleted,
)
from airflow_provider_seekrflow.client.lost_answers import Snapshot, known_before
from airflow_provider_seekrflow.client.multipart import CHUNK_BYTES, StreamOpener
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
    SeekrFlowInvalidFileError,
    SeekrFlowValidationError,
)
from airflow_provider_seekrflow.training_data import DEFAULT_BATCH_ROWS
from airflow_provider_seekrflow.vocabulary import FilePurpose

if TYPE_CHECKING:
    from airflow_provider_seekrflow.client.endpoints import Call
    from airflow_provider_seekrflow.client.sync_transport import SyncTransport

T = TypeVar("T")


class FileHookMethods:
    """Files: local checks, uploads that are never stored twice, listing, reading and downloading."""

    log: Any

    if TYPE_CHECKING:  # SeekrFlowHook's

        @property
        def transport(self) -> SyncTransport:
            """The hook's transport: connection settings, session, retries."""

        def call(self, call: Call[T]) -> T:
            """Send one request through the hook's transport."""

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
        snapshot: Snapshot | None = None,
        exclude: Iterable[str] = (),
    ) -> SeekrFlowFile:
        """
        Upload a file, streaming it from disk, and return the stored file.

        When the answer is lost (the connection drops after the body was sent, or a 500/502/504),
        the service may have stored the file; before sending it again, the hook looks for the one
        file of the same name, size and purpose that is new since a listing taken before sending,
        and returns it instead, so a retry never stores a duplicate. When that search fails or
        finds more than one, the upload fails rather than send the file again.

        :param path: The local file.
        :param purpose: What the file is for: ``alignment`` (a source document), ``fine-tune``, ...
        :param vector_database_id: Optional vector database to add an alignment document to.
        :param filename: The name to store it under; the file's own name by default.
        :param check: Whether to check the file locally before sending anything.
        :param check_content: Whether the local check reads every JSONL line.
        :param check_with_service: Whether to ask the service if it accepts an alignment document's
            type and size before sending it, as the official client does.
        :param since: Instead of a snapshot: the earliest creation time of a file that an earlier
            ambiguous try may have stored (only a file carrying a creation time counts).
        :param snapshot: The files of the purpose listed before sending (``snapshot_files``), when the
            caller keeps it for a later try; taken here otherwise.
        :param exclude: Ids the caller already holds (files stored earlier in its batch): never adopted.
        """
        source = Path(path)
        name = filename or source.name
        size = (
            self.check_file(source, purpose, check_content=check_content) if check else source.stat().st_size
        )
        if check_with_service:
            self.check_file_with_service(source, purpose, size=size, filename=name)
        return transfers.upload_file(
            self.transport,
            source,
            purpose,
            filename=name,
            size=size,
            vector_database_id=vector_database_id,
            snapshot=known_before(snapshot, since),
            exclude=exclude,
        )

    def upload_stream(
        self,
        open_stream: StreamOpener,
        size: int,
        purpose: str = FilePurpose.ALIGNMENT.value,
        *,
        filename: str,
        vector_database_id: str | None = None,
        since: datetime | None = None,
        snapshot: Snapshot | None = None,
        exclude: Iterable[str] = (),
        chunk_bytes: int = CHUNK_BYTES,
    ) -> SeekrFlowFile:
        """
        Upload a file read from a stream of known size (e.g. an object in a bucket), never staging it.

        Nothing is checked here: check first (``validation.check_listed``, ``check_jsonl_stream``).
        Each try opens a fresh stream; a lost answer is reconciled as in ``upload_file``.

        :param open_stream: Opens a fresh binary stream of the file, positioned at its start.
        :param size: Its size in bytes; the stream must give exactly this many.
        :param purpose: What the file is for.
        :param filename: The name to store it under.
        :param vector_database_id: Optional vector database to add an alignment document to.
        :param since: Instead of a snapshot: the earliest creation time of a file an earlier
            ambiguous try may have stored.
        :param snapshot: The files of the purpose listed before sending (``snapshot_files``).
        :param exclude: Ids the caller already holds (files stored earlier in its batch): never adopted.
        :param chunk_bytes: How much is read (and held in memory) at a time.
        """
        return transfers.upload_file(
            self.transport,
            open_stream,
            purpose,
            filename=filename,
            size=size,
            vector_database_id=vector_database_id,
            snapshot=known_before(snapshot, since),
            exclude=exclude,
            chunk_bytes=chunk_bytes,
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

    def snapshot_files(self, purpose: str) -> Snapshot:
        """
        Return the newest files of ``purpose`` the service lists now, to tell later which file is new.

        :param purpose: The purpose an upload is about to be sent for.
        """
        return transfers.snapshot_files(self.transport, purpose)

    def find_uploaded_file(
        self,
        filename: str,
        size: int,
        purpose: str,
        *,
        snapshot: Snapshot | None = None,
        since: datetime | None = None,
        exclude: Iterable[str] = (),
    ) -> SeekrFlowFile | None:
        """
        Return the one file of this name, size and purpose stored since a snapshot, if there is one.

        :param filename: The stored file name.
        :param size: The size in bytes.
        :param purpose: The purpose it was uploaded for.
        :param snapshot: The files listed before the upload was sent (``snapshot_files``).
        :param since: Instead of a snapshot: the earliest creation time to consider (only files
            that carry a creation time count).
        :param exclude: Ids never to return (already held by the caller).
        :raises SeekrFlowAmbiguousResultError: More than one new file matches.
        """
        known = known_before(snapshot, since)
        if known is None:
            raise SeekrFlowConfigError(
                "find_uploaded_file: give the snapshot taken before the upload, or since"
            )
        return transfers.find_uploaded_file(
            self.transport, filename, size, purpose, snapshot=known, exclude=exclude
        )

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
        return self.call(call).data

    def get_file(self, file_id: str) -> SeekrFlowFile:
        """
        Return a stored file's metadata.

        :param file_id: The file's id.
        """
        return self.call(files.get_file(file_id))

    def delete_file(self, file_id: str) -> SeekrFlowFileDeleted:
        """
        Delete a stored file; a retry finding it gone counts as done.

        :param file_id: The file's id.
        """
        return self.transport.delete(
            files.delete_file(file_id), gone=lambda: SeekrFlowFileDeleted(id=file_id, deleted=True)
        )

    def validate_file_metadata(self, purpose: str, suffix: str, size: int) -> FileMetadataValidation:
        """
        Ask the service whether it accepts a file of this type and size for this purpose.

        :param purpose: The purpose the file will be uploaded for.
        :param suffix: The file name's extension, without the dot.
        :param size: The size in bytes.
        """
        return self.call(files.validate_file_metadata(purpose, suffix, size))

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
        written = transfers.download_file(self.transport, file_id, target)
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
