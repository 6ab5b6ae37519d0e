"""The upload operator's task state store record: readable entries, and notes of files in flight."""

from __future__ import annotations

from airflow_provider_seekrflow.operators.upload_record import UploadRecord as _UploadRecord

FACTS = {"source": "/data/a.md", "bytes": 12, "purpose": "alignment", "vector_database_id": None}


def test_entries_read_plainly_and_are_found_by_their_facts():
    record = _UploadRecord(None)
    record.add(FACTS, "file-1")
    assert record.entries == [{**FACTS, "file_id": "file-1"}]
    assert _UploadRecord(record.entries).find(FACTS) == "file-1"
    # A changed file (another size) is not the one uploaded.
    assert _UploadRecord(record.entries).find({**FACTS, "bytes": 13}) is None


def test_a_sending_note_is_not_an_upload_and_gives_way_to_the_record():
    from datetime import datetime, timedelta, timezone

    from airflow_provider_seekrflow.client.lost_answers import Snapshot

    first = datetime(2026, 12, 3, 23, 59, 48, tzinfo=timezone.utc)
    listed_first = Snapshot(ids=frozenset({"file-0"}))
    record = _UploadRecord(None)
    record.note_sending(FACTS, first, listed_first)
    # A killed try's retry reads it back: sent, never answered, with what was listed before.
    again = _UploadRecord(record.entries)
    assert again.find(FACTS) is None
    assert again.sent_without_answer(FACTS) == listed_first
    assert again.sent_without_answer({**FACTS, "bytes": 13}) is None
    # A second try's note too: the first try's listing is kept (the oldest counts the most as new).
    again.note_sending(FACTS, first + timedelta(seconds=50), Snapshot(ids=frozenset({"file-0", "file-9"})))
    assert again.sent_without_answer(FACTS) == listed_first
    # The answer replaces every note of that file, and only that file's.
    other = {**FACTS, "source": "/data/b.md"}
    again.note_sending(other, first, listed_first)
    again.add(FACTS, "file-1")
    assert again.find(FACTS) == "file-1"
    assert again.sent_without_answer(FACTS) is None
    assert again.sent_without_answer(other) == listed_first
    assert [e.get("file_id") for e in again.entries] == [None, "file-1"]
    # A refusal drops the notes of that file: nothing to look for.
    again.forget_sending(other)
    assert again.sent_without_answer(other) is None


def test_a_note_of_an_earlier_release_reads_as_a_time_window():
    from datetime import datetime, timezone

    record = _UploadRecord([{**FACTS, "sent_at": "2026-12-03T23:59:48+00:00"}])
    snapshot = record.sent_without_answer(FACTS)
    assert snapshot is not None and not snapshot.complete
    assert snapshot.oldest is not None and snapshot.oldest < datetime(
        2026, 12, 3, 23, 59, 48, tzinfo=timezone.utc
    )


def test_a_note_with_an_unreadable_time_is_ignored():
    record = _UploadRecord([{**FACTS, "sent_at": "not a time"}, {**FACTS}])
    assert record.sent_without_answer(FACTS) is None
    assert record.find(FACTS) is None


class _Store:
    """A task state store in a dict, counting what each write holds."""

    def __init__(self) -> None:
        self.values: dict = {}
        self.largest_write = 0

    def get(self, key):
        return self.values.get(key)

    def set(self, key, value):
        self.largest_write = max(self.largest_write, len(value))
        self.values[key] = value


def test_a_large_batch_is_kept_in_pages_so_no_write_grows_with_the_batch():
    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.operators.upload_record import PAGE_RECORDS, RecordJournal, UploadRecord

    store = _Store()
    facts = [{**FACTS, "source": f"/docs/{i}.md"} for i in range(2 * PAGE_RECORDS + 50)]
    journal = RecordJournal(UploadRecord.from_store(store), store, facts)
    for index in range(len(facts)):
        journal.sending(index, Snapshot())
        journal.stored(index, f"file-{index}")

    assert sorted(store.values) == ["uploaded_files", "uploaded_files.1", "uploaded_files.2"]
    assert store.largest_write <= PAGE_RECORDS + 1  # the records of one page, and the one note in flight
    assert len(store.values["uploaded_files"]) == 50
    again = UploadRecord.from_store(store)
    assert [again.find(f) for f in facts] == [f"file-{i}" for i in range(len(facts))]
    assert sorted(again.file_ids()) == sorted(f"file-{i}" for i in range(len(facts)))


def test_a_note_survives_paging_until_its_answer_is_recorded():
    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.operators.upload_record import PAGE_RECORDS, RecordJournal, UploadRecord

    store = _Store()
    facts = [{**FACTS, "source": f"/docs/{i}.md"} for i in range(PAGE_RECORDS + 1)]
    journal = RecordJournal(UploadRecord.from_store(store), store, facts)
    journal.sending(PAGE_RECORDS, Snapshot(ids={"file-old"}))  # in flight while the others page out
    for index in range(PAGE_RECORDS):
        journal.sending(index, Snapshot())
        journal.stored(index, f"file-{index}")

    again = UploadRecord.from_store(store)
    assert again.sent_without_answer(facts[PAGE_RECORDS]).ids == {"file-old"}
    assert again.find(facts[0]) == "file-0"
