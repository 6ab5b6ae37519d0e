"""The models read the service liberally: string progress, unknown statuses, odd optional fields."""

from __future__ import annotations

import json

import pytest

from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.models import AlignmentJob, AlignmentJobStatus, percent


def job(**fields):
    payload = {"id": "al-1", "status": "running", "created_at": "2026-01-01T00:00:00Z", **fields}
    return AlignmentJob.model_validate_json(json.dumps(payload))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(40, 40.0), (40.5, 40.5), ("40", 40.0), ("40%", 40.0), (" 12.5 % ", 12.5), ("n/a", None), (None, None)],
)
def test_percent_reads_numbers_and_strings(value, expected):
    assert percent(value) == expected


@pytest.mark.parametrize("progress", ["40%", "40", 40, 40.0])
def test_progress_as_number_or_string_is_read_and_described(progress):
    seen = job(progress=progress, step_progress="12.5%", eta_minutes="3")
    assert seen.progress == progress
    assert seen.step_progress == "12.5%"
    assert seen.eta_minutes == 3
    assert "progress=40%" in seen.describe()
    assert "eta=3 min" in seen.describe()


def test_unreadable_progress_is_described_as_sent():
    assert "progress='almost'" in job(progress="almost").describe()


def test_odd_optional_fields_become_none_instead_of_failing():
    seen = job(
        estimated_completion_at="soon",
        eta_minutes="a few",
        updated_at=17,
        progress={"value": 3},
        output_files=[{"id": "file-1", "bytes": "many", "created_at": "yesterday"}],
    )
    assert seen.estimated_completion_at is None
    assert seen.eta_minutes is None
    assert seen.progress is None
    assert seen.output_files[0].bytes is None and seen.output_files[0].filename is None


def test_unknown_status_is_not_terminal_and_not_success():
    seen = job(status="preparing")
    assert not seen.is_terminal
    assert not seen.succeeded
    assert not seen.has_known_status
    assert "preparing" not in AlignmentJobStatus.known_states()


@pytest.mark.parametrize("status", sorted(AlignmentJobStatus.terminal_states()))
def test_every_known_terminal_status_ends_the_wait(status):
    seen = job(status=status)
    assert seen.is_terminal and seen.has_known_status
    assert seen.succeeded is (status == "completed")


def test_progress_log_warns_once_per_unknown_status_and_logs_changes_only():
    lines, warnings = [], []
    progress = ALIGNMENT.watch("end", lines.append, warnings.append).report
    for seen in (
        job(status="preparing", progress="0%"),
        job(status="preparing", progress="0%"),
        job(status="preparing", progress="5%"),
        job(status="warming-up"),
        job(status="running", progress=50),
        job(status="completed", progress=100),
    ):
        progress(seen)
    assert len(warnings) == 2
    assert "'preparing'" in warnings[0] and "not finished" in warnings[0]
    assert "'warming-up'" in warnings[1]
    assert len(lines) == 5  # the repeated identical poll is not logged again
    assert lines[-1] == "Alignment job al-1: status=completed, progress=100%"
