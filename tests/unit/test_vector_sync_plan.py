"""The sync's plan, record and fingerprints: pure logic, no emulator and no Airflow database."""

from __future__ import annotations

import io
import json

import pytest

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.sources.source import etag_of
from airflow_provider_seekrflow.vector_sync import fingerprint
from airflow_provider_seekrflow.vector_sync.plan import Document, plan_sync
from airflow_provider_seekrflow.vector_sync.record import Entry, SyncRecord

DB = "vdb-1"


def doc(key: str, print_: str = "size=1;sha256=a") -> Document:
    return Document(key=key, fingerprint=print_, filename=key.rsplit("/", 1)[-1], size=1)


def record(*entries: Entry) -> SyncRecord:
    return SyncRecord(DB, {entry.key: entry for entry in entries})


def entry(key: str, file_id: str, print_: str = "size=1;sha256=a") -> Entry:
    return Entry(key=key, fingerprint=print_, file_id=file_id, filename=key, size=1)


def test_a_first_sync_adds_every_document_in_source_order():
    plan = plan_sync([doc("b"), doc("a")], SyncRecord(DB), {})
    assert [(d.key, why) for d, why in plan.send] == [("b", "added"), ("a", "added")]
    assert plan.counts() == {"added": 2, "changed": 0, "removed": 0, "unchanged": 0}


def test_nothing_changed_moves_nothing():
    plan = plan_sync(
        [doc("a"), doc("b")],
        record(entry("a", "f1"), entry("b", "f2")),
        {"f1": "completed", "f2": "completed"},
    )
    assert plan.moves_nothing
    assert plan.counts() == {"added": 0, "changed": 0, "removed": 0, "unchanged": 2}


def test_one_changed_one_added_one_removed_moves_exactly_those():
    old = record(entry("keep", "f1"), entry("edit", "f2"), entry("gone", "f3"))
    files = {"f1": "completed", "f2": "completed", "f3": "completed"}
    plan = plan_sync([doc("keep"), doc("edit", "size=2;sha256=b"), doc("new")], old, files)

    assert [(d.key, why) for d, why in plan.send] == [("edit", "changed"), ("new", "added")]
    assert [e.file_id for e in plan.superseded] == ["f2"]
    assert [e.file_id for e in plan.remove] == ["f3"]
    assert [d.key for d in plan.unchanged] == ["keep"]
    assert plan.counts() == {"added": 1, "changed": 1, "removed": 1, "unchanged": 1}


def test_a_recorded_file_the_database_lost_or_failed_is_sent_again():
    old = record(entry("lost", "f1"), entry("broken", "f2"))
    plan = plan_sync([doc("lost"), doc("broken")], old, {"f2": "failed"})
    assert [(d.key, why) for d, why in plan.send] == [("lost", "added"), ("broken", "added")]
    assert {e.file_id for e in plan.forgotten} == {"f1", "f2"}


def test_files_nobody_recorded_are_counted_and_never_removed():
    plan = plan_sync([doc("a")], record(entry("a", "f1")), {"f1": "completed", "theirs": "completed"})
    assert plan.remove == []
    assert plan.foreign_files == 1
    assert "1 file(s) of the database were not put there by a sync" in plan.describe()


def test_a_removed_document_whose_file_is_already_gone_is_only_forgotten():
    plan = plan_sync([], record(entry("gone", "f1")), {})
    assert plan.remove == []
    assert [e.key for e in plan.vanished] == ["gone"]


def test_two_documents_with_one_key_fail_naming_it():
    with pytest.raises(SeekrFlowConfigError, match="listed more than once: a"):
        plan_sync([doc("a"), doc("a")], SyncRecord(DB), {})


def test_the_record_round_trips_and_is_stable():
    old = record(entry("b", "f2"), entry("a", "f1"))
    text = old.to_json()
    again, why = SyncRecord.from_json(text, DB)
    assert why is None
    assert {e.key: e for e in again} == {e.key: e for e in old}
    assert again.to_json() == text


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ("not json", "not JSON"),
        (json.dumps({"version": 1}), "no documents"),
        (json.dumps({"database_id": "other", "documents": {}}), "of database 'other'"),
    ],
)
def test_an_unusable_record_reads_as_empty_and_says_why(stored, reason):
    got, why = SyncRecord.from_json(stored, DB)
    assert len(got) == 0
    assert reason in why


def test_an_unreadable_entry_is_skipped_not_the_record():
    stored = json.dumps(
        {
            "database_id": DB,
            "documents": {
                "a": {"file_id": "f1", "fingerprint": "x", "size": "NaN"},
                "b": {"fingerprint": "y"},
            },
        }
    )
    got, why = SyncRecord.from_json(stored, DB)
    assert why is None
    assert [e.key for e in got] == ["a"]
    assert got.get("a").size == 0


def test_a_content_fingerprint_changes_with_the_content_not_with_the_read_size():
    def opener(data: bytes):
        return lambda: io.BytesIO(data)

    first = fingerprint.of_content(3, opener(b"abc"), chunk_bytes=1)
    assert first == fingerprint.of_content(3, opener(b"abc"), chunk_bytes=1024)
    assert first != fingerprint.of_content(3, opener(b"abd"))
    assert first.startswith("size=3;sha256=")


def test_an_etag_fingerprint_drops_quotes_and_is_found_under_each_stores_name():
    assert fingerprint.of_tag(5, '"abc"') == "size=5;etag=abc"
    assert etag_of({"ETag": '"x"'}) == '"x"'
    assert etag_of({"md5Hash": "m"}) == "m"
    assert etag_of({"size": 1}) is None
    assert etag_of(None) is None
