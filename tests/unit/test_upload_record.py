"""The upload operator's task state store record: readable entries, and the older mapping still read."""

from __future__ import annotations

import json

from airflow_provider_seekrflow.operators.files import _UploadRecord

FACTS = {"source": "/data/a.md", "bytes": 12, "purpose": "alignment", "vector_database_id": None}


def test_entries_read_plainly_and_are_found_by_their_facts():
    record = _UploadRecord(None)
    record.add(FACTS, "file-1")
    assert record.entries == [{**FACTS, "file_id": "file-1"}]
    assert _UploadRecord(record.entries).find(FACTS) == "file-1"
    # A changed file (another size) is not the one uploaded.
    assert _UploadRecord(record.entries).find({**FACTS, "bytes": 13}) is None


def test_the_mapping_an_earlier_release_stored_is_still_read():
    key = json.dumps(["alignment", None, "/data/a.md", 12], separators=(",", ":"))
    assert _UploadRecord({key: "file-1", "not json": "file-2"}).find(FACTS) == "file-1"
