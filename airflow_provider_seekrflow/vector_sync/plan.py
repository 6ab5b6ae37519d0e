"""
What a sync moves: from the source's documents, the record and the database's files, the plan.

A document is *added* when the record does not hold it (or holds a file the database no longer
lists, or one whose ingestion failed), *changed* when its fingerprint differs from the recorded one,
*unchanged* otherwise; a recorded document the source no longer has is *removed*. The old file of a
changed document is removed only after its new version is ingested, so retrieval never has a gap.
Files of the database that the record does not name were put there by someone else: they are
counted, never touched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.vector_sync.record import Entry, SyncRecord

ADDED, CHANGED, REMOVED, UNCHANGED = "added", "changed", "removed", "unchanged"
# A database file in this status holds no chunks: its document is sent again.
FAILED_FILE_STATUSES = frozenset({"failed", "error"})


@dataclass(frozen=True)
class Document:
    """
    One document of the source, as listed and fingerprinted.

    :param key: Where it is, as the task names it (unique within the source).
    :param fingerprint: Its fingerprint now.
    :param filename: The name it is stored under.
    :param size: Its size in bytes.
    """

    key: str
    fingerprint: str
    filename: str
    size: int


@dataclass
class SyncPlan:
    """
    What a sync does: the documents to send (added or changed), the files to remove, and the rest.

    :param send: Documents to upload and ingest, each with why (``added`` or ``changed``), in source order.
    :param remove: Recorded documents gone from the source: their files are removed.
    :param superseded: Old files of changed documents, removed once the new versions are ingested.
    :param unchanged: Documents left as they are.
    :param forgotten: Recorded documents whose file the database no longer holds (sent again).
    :param vanished: Recorded documents gone from the source and from the database: only forgotten.
    :param foreign_files: How many of the database's files no sync recorded (left alone).
    """

    send: list[tuple[Document, str]] = field(default_factory=list)
    remove: list[Entry] = field(default_factory=list)
    superseded: list[Entry] = field(default_factory=list)
    unchanged: list[Document] = field(default_factory=list)
    forgotten: list[Entry] = field(default_factory=list)
    vanished: list[Entry] = field(default_factory=list)
    foreign_files: int = 0

    def counts(self) -> dict[str, int]:
        """Return ``{"added", "changed", "removed", "unchanged"}``: how many documents each."""
        reasons = Counter(reason for _, reason in self.send)
        return {
            ADDED: reasons[ADDED],
            CHANGED: reasons[CHANGED],
            REMOVED: len(self.remove),
            UNCHANGED: len(self.unchanged),
        }

    @property
    def moves_nothing(self) -> bool:
        """Whether the database already holds exactly the source's documents."""
        return not self.send and not self.remove

    def describe(self) -> str:
        """Return one line for the task log: the counts, and what is left alone."""
        counts = self.counts()
        line = ", ".join(f"{counts[name]} {name}" for name in (ADDED, CHANGED, REMOVED, UNCHANGED))
        if self.forgotten:
            line += f" ({len(self.forgotten)} recorded file(s) no longer in the database are sent again)"
        if self.foreign_files:
            line += f"; {self.foreign_files} file(s) of the database were not put there by a sync: left alone"
        return line


def check_unique(documents: Iterable[Document]) -> list[Document]:
    """
    Return the documents, failing when two share a key (one would overwrite the other in the record).

    :param documents: The source's documents.
    """
    listed = list(documents)
    seen: dict[str, int] = {}
    for document in listed:
        seen[document.key] = seen.get(document.key, 0) + 1
    twice = sorted(key for key, count in seen.items() if count > 1)
    if twice:
        raise SeekrFlowConfigError(f"source: these documents are listed more than once: {', '.join(twice)}")
    return listed


def plan_sync(
    documents: Iterable[Document],
    record: SyncRecord,
    database_files: Mapping[str, str],
) -> SyncPlan:
    """
    Return what a sync must do to make the database hold exactly ``documents``.

    :param documents: The source's documents now, in source order (keys unique).
    :param record: What earlier syncs put in the database.
    :param database_files: The database's files now, ``{file_id: status}``.
    """
    plan = SyncPlan()
    listed = check_unique(documents)
    for document in listed:
        entry = record.get(document.key)
        if entry is None:
            plan.send.append((document, ADDED))
        elif entry.file_id not in database_files or _failed(database_files[entry.file_id]):
            plan.forgotten.append(entry)
            plan.send.append((document, ADDED))
        elif entry.fingerprint != document.fingerprint:
            plan.send.append((document, CHANGED))
            plan.superseded.append(entry)
        else:
            plan.unchanged.append(document)
    keys = {document.key for document in listed}
    gone = [entry for entry in record if entry.key not in keys]
    plan.remove = [entry for entry in gone if entry.file_id in database_files]
    plan.vanished = [entry for entry in gone if entry.file_id not in database_files]
    plan.foreign_files = len(set(database_files) - record.file_ids())
    return plan


def _failed(status: str) -> bool:
    return str(status).strip().lower() in FAILED_FILE_STATUSES
