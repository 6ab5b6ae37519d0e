"""Training-data files are read row by row from parquet and JSONL."""

from __future__ import annotations

import json
import sys
import tracemalloc

import pytest

from airflow_provider_seekrflow.exceptions import SeekrFlowDependencyError, SeekrFlowInvalidFileError
from airflow_provider_seekrflow.training_data import detect_format, iter_rows

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def conversation(n: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Question {n}?"},
            {"role": "assistant", "content": f"Answer {n}." + " x" * 50},
        ]
    }


def write_parquet(path, rows: int, row_group_size: int = 100):
    table = pa.Table.from_pylist([conversation(n) for n in range(rows)])
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_parquet_rows_come_back_in_order_with_their_messages(tmp_path):
    path = write_parquet(tmp_path / "pairs.parquet", 250)
    rows = list(iter_rows(path, detect_format(path), batch_rows=64))
    assert len(rows) == 250
    assert rows[0] == conversation(0)
    assert rows[249]["messages"][1] == {"role": "user", "content": "Question 249?"}


def test_jsonl_rows_skip_blank_lines(tmp_path):
    path = tmp_path / "pairs"
    path.write_text("\n".join(json.dumps(conversation(n)) for n in range(3)) + "\n\n")
    assert detect_format(path) == "jsonl"
    assert [row["messages"][1]["content"] for row in iter_rows(path, "jsonl")] == [
        "Question 0?",
        "Question 1?",
        "Question 2?",
    ]


def test_declared_type_wins_over_content(tmp_path):
    path = write_parquet(tmp_path / "pairs.bin", 1)
    assert detect_format(path, "jsonl") == "jsonl"
    assert detect_format(path, "PARQUET") == "parquet"
    assert detect_format(path, None) == "parquet"


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(conversation(0)) + "\nnot json\n")
    with pytest.raises(SeekrFlowInvalidFileError, match=r"pairs.jsonl line 2: not JSON"):
        list(iter_rows(path, "jsonl"))


def test_broken_parquet_is_named(tmp_path):
    path = tmp_path / "pairs.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 20)
    with pytest.raises(SeekrFlowInvalidFileError, match=r"pairs.parquet is not a readable parquet file"):
        list(iter_rows(path, "parquet"))


def test_missing_pyarrow_names_the_extra(tmp_path, monkeypatch):
    path = write_parquet(tmp_path / "pairs.parquet", 1)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(SeekrFlowDependencyError, match=r"airflow-provider-seekrflow\[parquet\]"):
        list(iter_rows(path, "parquet"))


def test_reading_a_large_parquet_keeps_memory_flat(tmp_path):
    path = write_parquet(tmp_path / "big.parquet", 20_000, row_group_size=500)
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_rows(path, "parquet", batch_rows=256))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    # All rows as Python objects would take tens of MiB; a batch at a time stays far below.
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
