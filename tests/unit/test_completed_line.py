"""The task log's line for a completed job names every output file and the one to train on."""

from __future__ import annotations

from airflow_provider_seekrflow.jobs.base import completed_line

OUTPUTS = [
    {"id": "file-aa", "filename": "pairs.parquet", "purpose": "fine-tune", "bytes": 12_800},
    {"id": "file-bb", "filename": "report.json", "purpose": "alignment", "bytes": 900},
]


def test_names_every_output_and_the_training_file():
    assert completed_line("Data job dj-1", OUTPUTS, "file-aa") == (
        "Data job dj-1 completed with 2 output file(s): "
        "pairs.parquet (file-aa, 12 KiB; the training file, in XCom fine_tune_file_id), "
        "report.json (file-bb, 900 B; purpose alignment)"
    )


def test_says_when_no_output_is_a_training_file():
    line = completed_line("Alignment job al-1", OUTPUTS[1:], None)
    assert line.endswith("; none of them is a fine-tune training file")
    assert (
        completed_line("Alignment job al-1", [], None) == "Alignment job al-1 completed without output files"
    )
