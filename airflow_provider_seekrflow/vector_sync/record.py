"""
What a sync put in a vector database: each source document's fingerprint and the file that holds it.

The record is what makes a re-run with nothing changed send no upload, and what tells which files
of the database a sync may remove: only those it put there itself (a file another party added is
never touched). It is JSON, kept between runs by the operator (an Airflow Variable named after the
database). Read liberally: a record that cannot be read, or is of another database, reads as empty,
which costs a full upload but never a wrong removal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

RECORD_VERSION = 1


@dataclass(frozen=True)
class Entry:
    """
    One source document as synced.

    :param key: The document's key: where it is, as the task names it (a path or a URI without secrets).
    :param fingerprint: Its fingerprint when it was synced (:mod:`.fingerprint`).
    :param file_id: The file that holds it in the database.
    :param filename: The name it was stored under.
    :param size: Its size in bytes.
    """

    key: str
    fingerprint: str
    file_id: str
    filename: str = ""
    size: int = 0


class SyncRecord:
    """
    The documents a sync put in one vector database, by key.

    :param database_id: The vector database it is about.
    :param entries: The documents synced.
    """

    def __init__(self, database_id: str, entries: Mapping[str, Entry] | None = None) -> None:
        self.database_id = database_id
        self._entries: dict[str, Entry] = dict(entries or {})
        #: A sync's documents uploaded and not yet recorded as ingested: its counts, its documents
        #: with their new files, the files they supersede, and the ingestion once started. The next
        #: try or run finishes it (records it, waits for it, or removes its files).
        self.pending: dict[str, Any] | None = None
        #: The last sync recorded as ingested: the task run that made it, its counts, files and
        #: ingestion, so a retry of that run reports them even when the earlier try recorded it itself.
        self.last: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def get(self, key: str) -> Entry | None:
        """Return the entry of a document, if it was synced."""
        return self._entries.get(key)

    def put(self, entry: Entry) -> None:
        """Record a document as synced (replacing what was recorded of it)."""
        self._entries[entry.key] = entry

    def drop(self, key: str) -> None:
        """Forget a document (it was removed from the database)."""
        self._entries.pop(key, None)

    def file_ids(self) -> set[str]:
        """Return the ids of every file the record says a sync put in the database."""
        return {entry.file_id for entry in self._entries.values()}

    def to_json(self) -> str:
        """Return the record as JSON, keys sorted so an unchanged record serialises the same."""
        documents = {
            key: {k: v for k, v in asdict(e).items() if k != "key"} for key, e in self._entries.items()
        }
        return json.dumps(
            {
                "version": RECORD_VERSION,
                "database_id": self.database_id,
                "documents": documents,
                "pending": self.pending,
                "last": self.last,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: Any, database_id: str) -> tuple[SyncRecord, str | None]:
        """
        Read a stored record of ``database_id``; return it and, when it could not be used, why (it reads as empty).

        :param text: The stored JSON (None when nothing is stored).
        :param database_id: The database the sync is about: a record of another one is not used.
        """
        if text is None or text == "":
            return cls(database_id), None
        try:
            data = json.loads(text) if isinstance(text, (str, bytes)) else text
        except ValueError:
            return cls(database_id), "the stored record is not JSON"
        if not isinstance(data, dict) or not isinstance(data.get("documents"), dict):
            return cls(database_id), "the stored record has no documents"
        if str(data.get("database_id")) != database_id:
            return cls(database_id), f"the stored record is of database {data.get('database_id')!r}"
        entries: dict[str, Entry] = {}
        for key, raw in data["documents"].items():
            entry = _entry(str(key), raw)
            if entry is not None:
                entries[entry.key] = entry
        record = cls(database_id, entries)
        if isinstance(data.get("last"), dict):
            record.last = data["last"]
        pending = data.get("pending")
        if isinstance(pending, dict) and isinstance(pending.get("documents"), list):
            documents = [
                d for d in pending["documents"] if isinstance(d, dict) and d.get("file_id") and d.get("key")
            ]
            record.pending = {**pending, "documents": documents}
        return record, None


def _entry(key: str, raw: Any) -> Entry | None:
    # One unreadable entry is skipped (its document is uploaded again), never the whole record.
    if not isinstance(raw, dict) or not raw.get("file_id") or not raw.get("fingerprint"):
        return None
    try:
        size = int(raw.get("size") or 0)
    except (TypeError, ValueError):
        size = 0
    return Entry(
        key=key,
        fingerprint=str(raw["fingerprint"]),
        file_id=str(raw["file_id"]),
        filename=str(raw.get("filename") or ""),
        size=size,
    )
