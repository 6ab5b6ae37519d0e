"""The sync hook's batch uploads: many files, several at once, never one stored twice (mixed into ``SeekrFlowHook``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_seekrflow.client.upload_batch import BatchIds, BatchStopped, run_batch
from airflow_provider_seekrflow.defaults import DEFAULT_UPLOAD_CONCURRENCY, check_concurrency
from airflow_provider_seekrflow.exceptions import SeekrFlowError, SeekrFlowNotFoundError
from airflow_provider_seekrflow.vocabulary import FilePurpose

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_seekrflow.client.files import SeekrFlowFile
    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.client.multipart import StreamOpener
    from airflow_provider_seekrflow.client.sync_transport import SyncTransport


class BatchFile(Protocol):
    """One file of a batch, as listed (``sources.Source`` is one): nothing of it read yet."""

    @property
    def name(self) -> str:
        """The name it is stored under."""

    @property
    def shown(self) -> str:
        """Where it is, as the log and errors name it."""

    @property
    def size(self) -> int:
        """Its size in bytes."""

    @property
    def open(self) -> StreamOpener:
        """Opens a fresh binary stream of it."""

    @property
    def chunk_bytes(self) -> int:
        """How much is read (and held) at a time."""

    @property
    def local(self) -> Path | None:
        """The local file, or None for an object in object storage."""

    @property
    def connection(self) -> str | None:
        """The Airflow connection an object-storage file is read with."""


class UploadJournal(Protocol):
    """
    Where a batch keeps what it sent, so a later try resumes it (the operator's ``RecordJournal``).

    Called from the batch's threads: an implementation that writes must hold one lock of its own.
    """

    def held(self) -> Iterable[str]:
        """Return every id earlier tries recorded for this batch: never adopted as another file's."""

    def known(self, index: int) -> str | None:
        """Return the id an earlier try recorded for file ``index``, if any (checked on the service before reuse)."""

    def unanswered(self, index: int) -> Snapshot | None:
        """Return the listing taken before an earlier try sent file ``index`` and never heard back, if any."""

    def sending(self, index: int, snapshot: Snapshot) -> None:
        """Note, before it is sent, that file ``index`` is about to be (with the listing taken before)."""

    def refused(self, index: int) -> None:
        """Drop the note of file ``index``: the service refused it, so it stored nothing."""

    def stored(self, index: int, file_id: str) -> None:
        """Record that file ``index`` is stored as ``file_id``, in place of its note."""


class NoJournal:
    """The journal of a batch that keeps nothing for a later try (the default)."""

    def held(self) -> Iterable[str]:
        """Return no id."""
        return ()

    def known(self, index: int) -> str | None:
        """Return None: nothing was recorded."""
        return None

    def unanswered(self, index: int) -> Snapshot | None:
        """Return None: nothing was noted."""
        return None

    def sending(self, index: int, snapshot: Snapshot) -> None:
        """Keep nothing."""

    def refused(self, index: int) -> None:
        """Keep nothing."""

    def stored(self, index: int, file_id: str) -> None:
        """Keep nothing."""


class BatchUploadHookMethods:
    """Batch uploads: the service check of every file, then at most ``max_concurrency`` files in flight."""

    log: Any

    if TYPE_CHECKING:  # SeekrFlowHook's and FileHookMethods'

        @property
        def transport(self) -> SyncTransport:
            """The hook's transport: connection settings, session, retries."""

        def check_file_with_service(
            self, path: str, purpose: str, *, size: int | None = None, filename: str | None = None
        ) -> None:
            """Ask the service whether it accepts an alignment document's type and size."""

        def get_file(self, file_id: str) -> SeekrFlowFile:
            """Return a stored file's metadata."""

        def snapshot_files(self, purpose: str) -> Snapshot:
            """Return the newest files of ``purpose`` the service lists now."""

        def find_uploaded_file(
            self,
            filename: str,
            size: int,
            purpose: str,
            *,
            snapshot: Snapshot | None = None,
            exclude: Iterable[str] = (),
        ) -> SeekrFlowFile | None:
            """Return the one file of this name, size and purpose stored since a snapshot."""

        def upload_stream(
            self,
            open_stream: StreamOpener,
            size: int,
            purpose: str = ...,
            *,
            filename: str,
            vector_database_id: str | None = None,
            snapshot: Snapshot | None = None,
            exclude: Iterable[str] = (),
            chunk_bytes: int = ...,
        ) -> SeekrFlowFile:
            """Upload a file read from a stream of known size."""

    def check_files_with_service(
        self,
        files: Sequence[BatchFile],
        purpose: str,
        *,
        max_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
    ) -> None:
        """
        Ask the service whether it accepts each alignment document's type and size, several at once; raise at the first refusal.

        Each distinct (type, size) is asked once: the answer depends on nothing else. Other purposes
        pass untouched, as in ``check_file_with_service``.

        :param files: The files, as listed.
        :param purpose: The purpose they will be uploaded for.
        :param max_concurrency: The most questions in flight at once.
        """
        if purpose != FilePurpose.ALIGNMENT.value or not files:
            return
        asked: dict[tuple[str, int], BatchFile] = {}
        for item in files:
            asked.setdefault((PurePosixPath(item.name).suffix.lower(), item.size), item)
        questions = list(asked.values())
        self._touch_session()
        run_batch(
            len(questions),
            lambda index: self.check_file_with_service(
                questions[index].name, purpose, size=questions[index].size, filename=questions[index].name
            ),
            max_concurrency=check_concurrency(max_concurrency),
            describe=lambda index: questions[index].shown,
            log=self.log,
        )

    def upload_batch(
        self,
        files: Sequence[BatchFile],
        purpose: str = FilePurpose.ALIGNMENT.value,
        *,
        vector_database_id: str | None = None,
        max_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
        journal: UploadJournal | None = None,
        stop: threading.Event | None = None,
        on_stored: Callable[[int, str], None] | None = None,
    ) -> list[str]:
        """
        Upload every file, at most ``max_concurrency`` at once, and return the stored ids in input order.

        Nothing is checked here: check first (``validation``, ``check_files_with_service``). Each file
        is streamed in chunks, and only the files in flight are open. Each file's lost answer is
        reconciled on its own: the one new file of its name and size that the batch does not hold
        is its. Two files of the batch with the same name and size are never in flight together (see
        :mod:`~airflow_provider_seekrflow.client.upload_batch`), so a sibling's file is never taken
        for this one's. A failure stops new files from starting, lets those in flight finish (and be
        recorded), then raises naming the file.

        :param files: The files, as listed (``sources.resolve``).
        :param purpose: What they are for.
        :param vector_database_id: Optional vector database to add alignment documents to.
        :param max_concurrency: The most files in flight at once, 1 to 32; 1 sends them in input order.
        :param journal: Where what was sent is kept for a later try (the task state store); none by default.
        :param stop: Once set, no further file starts (``on_kill``).
        :param on_stored: Called in the calling thread with each file's index and id as it is stored or reused.
        """
        check_concurrency(max_concurrency)
        journal = journal if journal is not None else NoJournal()
        held = BatchIds(frozenset(journal.held()))
        stop = stop or threading.Event()
        self._touch_session()

        def upload_one(index: int) -> str:
            item = files[index]
            earlier = self._still_stored(journal.known(index), item)
            if earlier is not None:
                held.add(earlier)
                return earlier
            sent_before = journal.unanswered(index)
            if sent_before is not None:
                found = self.find_uploaded_file(
                    item.name, item.size, purpose, snapshot=sent_before, exclude=held
                )
                if found is not None:
                    self.log.info(
                        "%s: an earlier try was sending it when it ended; the service stored it as %s, reusing it",
                        item.shown,
                        found.id,
                    )
                    held.add(found.id)
                    journal.stored(index, found.id)
                    return found.id
                self.log.info(
                    "%s: an earlier try was sending it when it ended; not stored, sending it", item.shown
                )
            snapshot = self.snapshot_files(purpose)
            if stop.is_set():
                raise BatchStopped(f"{item.shown}: not sent: the task was killed")
            journal.sending(index, snapshot)
            if item.local is None:
                self.log.info(
                    "%s: streaming %d bytes from object storage (connection %s)",
                    item.shown,
                    item.size,
                    item.connection or "none: the filesystem's own credentials",
                )
            try:
                stored = self.upload_stream(
                    item.open,
                    item.size,
                    purpose,
                    filename=item.name,
                    vector_database_id=vector_database_id,
                    snapshot=snapshot,
                    exclude=held,
                    chunk_bytes=item.chunk_bytes,
                )
            except SeekrFlowError as err:
                from airflow_provider_seekrflow.jobs.submissions import is_definite_refusal

                if is_definite_refusal(err):
                    journal.refused(index)  # refused: a later try must not look for (and adopt) a file
                raise
            held.add(stored.id)
            journal.stored(index, stored.id)
            return stored.id

        return run_batch(
            len(files),
            upload_one,
            max_concurrency=max_concurrency,
            keys=[(item.name, item.size) for item in files],
            stop=stop,
            on_done=on_stored,
            describe=lambda index: files[index].shown,
            log=self.log,
        )

    def _still_stored(self, file_id: str | None, item: BatchFile) -> str | None:
        """Return ``file_id`` if the service still has that file with ``item``'s size."""
        if not file_id:
            return None
        try:
            stored = self.get_file(file_id)
        except SeekrFlowNotFoundError:
            return None
        if stored.deleted or stored.bytes != item.size:
            return None
        self.log.info("%s: already uploaded by an earlier try as %s", item.name, file_id)
        return file_id

    def _touch_session(self) -> None:
        # Built here, once, before the threads share it (a cached property is not built under a lock).
        _ = self.transport.session
