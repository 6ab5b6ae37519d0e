"""The upload operator's record in the task state store (Airflow 3.3+): what each try stored, and what it was sending."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_seekrflow.client.lost_answers import Snapshot

# Task state store key (Airflow 3.3+) of the files this task's tries have uploaded: the newest
# records and the notes of files in flight. Older records are kept in pages of their own,
# ``uploaded_files.1``, ``uploaded_files.2``, ..., each written once, so a change rewrites at most
# PAGE_RECORDS records however many files the batch has (a 10,000-file batch would otherwise write
# its whole, growing list twice per file: gigabytes through the supervisor).
UPLOADED_STATE_KEY = "uploaded_files"
PAGE_RECORDS = 200
# What identifies an upload in an entry: the same source, size, purpose and database.
FACT_NAMES = ("source", "bytes", "purpose", "vector_database_id")


def _key(entry: dict[str, Any]) -> str:
    # JSON text: hashable whatever a stored entry holds.
    return json.dumps([entry.get(name) for name in FACT_NAMES], default=str)


class UploadRecord:
    """
    The task state store's list of the files earlier tries uploaded, one readable entry each.

    An entry reads ``{"source", "bytes", "purpose", "vector_database_id", "file_id"}``, so the
    UI's task state view shows what was uploaded. Before a file is sent, an entry with ``sent_at``
    and no ``file_id`` notes it: a try killed while the file was in flight (its worker lost, the
    task marked failed) leaves that note with the files the service listed just before, and its
    retry asks the service for the one new file of that name and size instead of sending it again.
    Anything stored that is not such a list reads as no uploads. Entries are indexed by their facts,
    so a batch of thousands of files finds each in constant time.
    """

    def __init__(self, stored: Any, pages: Sequence[Any] = ()) -> None:
        # Entries by a sequence number (insertion order, as the list is written back) and by facts.
        self._entries: dict[int, dict[str, Any]] = {}
        self._by_facts: dict[str, list[int]] = defaultdict(list)
        self._next = 0
        #: The entries already kept in a page of their own (never rewritten), and how many pages there are.
        self.paged: set[int] = set()
        self.pages = 0
        for page in pages:  # older than the current list
            self.pages += 1
            for entry in page if isinstance(page, list) else ():
                if isinstance(entry, dict):
                    self.paged.add(self._next)
                    self._append(dict(entry))
        if isinstance(stored, list):
            for entry in stored:
                if isinstance(entry, dict):
                    self._append(dict(entry))

    @classmethod
    def from_store(cls, store: Any) -> UploadRecord:
        """Read the record from a task state store (None: an empty record), its pages included."""
        if store is None:
            return cls(None)
        pages: list[Any] = []
        while (page := store.get(f"{UPLOADED_STATE_KEY}.{len(pages) + 1}")) is not None:
            pages.append(page)
        return cls(store.get(UPLOADED_STATE_KEY), pages)

    def current(self) -> list[dict[str, Any]]:
        """Return the entries not yet kept in a page: the newest records and every note."""
        return [entry for seq, entry in self._entries.items() if seq not in self.paged]

    def page_out(self) -> list[dict[str, Any]] | None:
        """Return a new page of the current records once there are ``PAGE_RECORDS`` of them (marking them paged), else None."""
        records = [
            seq for seq, entry in self._entries.items() if seq not in self.paged and entry.get("file_id")
        ]
        if len(records) < PAGE_RECORDS:
            return None
        self.paged.update(records)
        self.pages += 1
        return [self._entries[seq] for seq in records]

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Return the entries, oldest first, as the task state store keeps them."""
        return list(self._entries.values())

    def _append(self, entry: dict[str, Any]) -> None:
        self._entries[self._next] = entry
        self._by_facts[_key(entry)].append(self._next)
        self._next += 1

    def _of(self, facts: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._entries[seq] for seq in self._by_facts.get(_key(facts), ())]

    def file_ids(self) -> list[str]:
        """Return every id recorded."""
        return [str(entry["file_id"]) for entry in self._entries.values() if entry.get("file_id")]

    def find(self, facts: dict[str, Any]) -> str | None:
        """Return the file id recorded for these facts, if any."""
        for entry in self._of(facts):
            if entry.get("file_id"):
                return str(entry["file_id"])
        return None

    def sent_without_answer(self, facts: dict[str, Any]) -> Snapshot | None:
        """Return what the service listed before an earlier try first sent these facts and never recorded an answer."""
        from airflow_provider_seekrflow.client.lost_answers import Snapshot

        for entry in self._of(facts):
            if entry.get("file_id"):
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
        self._append({**facts, "sent_at": when.isoformat(), "snapshot": snapshot.to_state()})

    def forget_sending(self, facts: dict[str, Any]) -> None:
        """Drop the notes of sending these facts: the service refused them, so it stored nothing."""
        self._drop_notes(facts)

    def add(self, facts: dict[str, Any], file_id: str) -> None:
        """Record an upload, in place of the notes of its sending."""
        self._drop_notes(facts)
        self._append({**facts, "file_id": file_id})

    def _drop_notes(self, facts: dict[str, Any]) -> None:
        key = _key(facts)
        kept = []
        for seq in self._by_facts.get(key, ()):
            if self._entries[seq].get("file_id"):
                kept.append(seq)
            else:
                del self._entries[seq]
        self._by_facts[key] = kept


class RecordJournal:
    """
    The hook's batch journal (``hooks.upload_batch_methods.UploadJournal``) over an :class:`UploadRecord`, written to the task state store (if any) at each change.

    The batch's threads share it: one lock (``lock``) orders every change and its write, so the store
    always holds a whole list, a note is written before its file is sent, and a record right after its
    answer. Whatever else the task sends its supervisor during the batch (an XCom) takes the same
    lock: the in-process supervisor of ``dag.test()`` serves one request at a time.

    :param record: The record read at the start of the try.
    :param store: The task state store, or None (Airflow before 3.3): then nothing is kept.
    :param facts: The facts identifying each file of the batch, by index.
    """

    def __init__(
        self,
        record: UploadRecord,
        store: Any,
        facts: Sequence[dict[str, Any]],
    ) -> None:
        self.record = record
        self.store = store
        self.facts = facts
        self.lock = threading.Lock()

    def _write(self) -> None:
        if self.store is None:
            return
        page = self.record.page_out()
        if page is not None:  # written before the current list drops it: a crash in between only repeats it
            self.store.set(f"{UPLOADED_STATE_KEY}.{self.record.pages}", page)
        self.store.set(UPLOADED_STATE_KEY, self.record.current())

    def held(self) -> Iterable[str]:
        """Return every id the record holds: files of this batch, never another file's."""
        with self.lock:
            return self.record.file_ids()

    def known(self, index: int) -> str | None:
        """Return the id recorded for file ``index``."""
        with self.lock:
            return self.record.find(self.facts[index])

    def unanswered(self, index: int) -> Snapshot | None:
        """Return the listing noted before an earlier try sent file ``index`` and never heard back."""
        with self.lock:
            return self.record.sent_without_answer(self.facts[index])

    def sending(self, index: int, snapshot: Snapshot) -> None:
        """Note file ``index`` before it is sent: a try dying with it in flight leaves its retry the listing to search."""
        if self.store is None:
            return
        with self.lock:
            self.record.note_sending(self.facts[index], datetime.now(timezone.utc), snapshot)
            self._write()

    def refused(self, index: int) -> None:
        """Drop file ``index``'s note: refused, it stored nothing a retry should look for."""
        if self.store is None:
            return
        with self.lock:
            self.record.forget_sending(self.facts[index])
            self._write()

    def stored(self, index: int, file_id: str) -> None:
        """Record file ``index`` as ``file_id``, file by file, so a retry sends only the rest."""
        if self.store is None:
            return
        with self.lock:
            self.record.add(self.facts[index], file_id)
            self._write()
