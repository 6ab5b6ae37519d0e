"""Text the service sends is logged on one line: control characters escaped (issue 20, L12)."""

from __future__ import annotations

import pytest

from airflow_provider_seekrflow.client.alignment import AlignmentJob
from airflow_provider_seekrflow.client.data_jobs import DataJobDetail
from airflow_provider_seekrflow.client.fine_tunes import FineTune
from airflow_provider_seekrflow.client.log_text import for_log
from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.jobs.base import completed_line
from airflow_provider_seekrflow.jobs.data_job import DATA_JOB
from airflow_provider_seekrflow.jobs.fine_tune import FINE_TUNE

FORGED = "running\r\n2026-01-01 INFO - Task exited with return code 0\x1b[2K\u2028\u202e"


def one_line(text: str) -> bool:
    return text.isprintable() and "\u202e" not in text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("failed\r\nINFO - done", "failed\\r\\nINFO - done"),
        ("tab\there", "tab\\there"),
        ("bell\x07 esc\x1b del\x7f c1\x85", "bell\\x07 esc\\x1b del\\x7f c1\\x85"),
        ("sep\u2028par\u2029", "sep\\u2028par\\u2029"),
        ("bidi\u202eevil\u2066", "bidi\\u202eevil\\u2066"),
        ("plain text, é, 日本語, emoji 🙂", "plain text, é, 日本語, emoji 🙂"),
        (None, "None"),
    ],
)
def test_for_log_escapes_what_could_break_or_disguise_a_line(raw, shown):
    assert for_log(raw) == shown


def test_progress_lines_of_every_job_kind_stay_on_one_line():
    lines: list[str] = []
    ALIGNMENT.watch("end", lines.append).report(
        AlignmentJob(id="aj-1", status=FORGED, current_step="step\nforged")
    )
    DATA_JOB.watch("end", lines.append).report(DataJobDetail(id="dj-1", status=FORGED))
    FINE_TUNE.watch("end", lines.append).report(FineTune(id="ft-1", status=FORGED), [])
    # An unknown status is warned about, and each job's progress logged: five lines in all.
    assert len(lines) == 5
    assert all(one_line(line) for line in lines), lines
    assert any("running\\r\\n2026-01-01 INFO" in line for line in lines)


def test_the_completed_line_escapes_the_service_s_file_names_and_purposes():
    outputs = [
        {"id": "f-1", "filename": "pairs.parquet\r\nERROR - forged", "bytes": 10, "purpose": "fine-tune"},
        {"id": "f-2", "filename": "notes.txt", "bytes": None, "purpose": "x\ny"},
    ]
    line = completed_line("Data job dj-1", outputs, "f-1")
    assert one_line(line)
    assert "pairs.parquet\\r\\nERROR - forged (f-1" in line
    assert "purpose x\\ny" in line
