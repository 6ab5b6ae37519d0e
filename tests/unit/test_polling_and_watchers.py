"""How long a wait sleeps between checks of each kind of job, and when each kind's wait is over."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_seekrflow.client.alignment import AlignmentJob
from airflow_provider_seekrflow.client.data_jobs import DataJobDetail
from airflow_provider_seekrflow.client.fine_tunes import FineTune
from airflow_provider_seekrflow.client.polling import (
    BLIND_INTERVAL_SECONDS,
    ETA_SLACK_SECONDS,
    plan_next_check,
    plan_steady_check,
)
from airflow_provider_seekrflow.defaults import UNTIL_END, UNTIL_END_OR_REVIEW, UNTIL_INGESTED
from airflow_provider_seekrflow.jobs.data_job import plan_data_job_check
from airflow_provider_seekrflow.jobs.kinds import KINDS

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
BOUNDS = {"poll_interval": 300.0, "min_interval": 5.0}


def _ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_an_estimate_is_slept_toward_and_bounded():
    soon = AlignmentJob(id="al-1", status="running", estimated_completion_at=NOW + timedelta(seconds=40))
    assert plan_next_check(soon, now=NOW, **BOUNDS).seconds == 40 + ETA_SLACK_SECONDS
    far = AlignmentJob(id="al-1", status="running", estimated_completion_at=NOW + timedelta(hours=2))
    assert plan_next_check(far, now=NOW, **BOUNDS).seconds == 300.0
    overdue = AlignmentJob(id="al-1", status="running", estimated_completion_at=NOW - timedelta(seconds=4))
    assert (
        plan_next_check(overdue, now=NOW, **BOUNDS).seconds == 5.0
    )  # half the lateness, but never under the floor


@pytest.mark.parametrize(
    ("age", "expected"),
    [(0, 5.0), (20, 5.0), (100, 25.0), (200, 50.0), (3600, BLIND_INTERVAL_SECONDS), (-30, 5.0)],
)
def test_without_an_estimate_the_sleep_grows_with_the_jobs_age(age, expected):
    assert plan_steady_check(running_since=_ago(age), now=NOW, **BOUNDS).seconds == expected


def test_without_an_estimate_or_an_age_the_sleep_is_the_blind_interval_within_bounds():
    assert plan_steady_check(**BOUNDS).seconds == BLIND_INTERVAL_SECONDS
    assert plan_steady_check(poll_interval=10, min_interval=1).seconds == 10
    assert plan_steady_check(poll_interval=1, min_interval=3).seconds == 3
    naive = _ago(100).replace(tzinfo=None)  # a service time without a zone is UTC
    assert plan_steady_check(running_since=naive, now=NOW, **BOUNDS).seconds == 25.0


def test_a_data_job_is_paced_by_its_ingestion_age_then_by_its_alignments_estimate():
    ingesting = DataJobDetail(id="dj-1", status="file_processing", updated_at=_ago(40), created_at=_ago(400))
    assert plan_data_job_check(ingesting, now=NOW, **BOUNDS).seconds == 10.0
    aligning = DataJobDetail(
        id="dj-1",
        status="running",
        alignment_job=AlignmentJob(
            id="al-1", status="running", estimated_completion_at=NOW + timedelta(seconds=30)
        ),
    )
    assert plan_data_job_check(aligning, now=NOW, **BOUNDS).seconds == 30 + ETA_SLACK_SECONDS


def _watcher(kind: str, until: str = UNTIL_END):
    return KINDS[kind].watch(until, lambda line: None, lambda line: None)


# For each ``until`` of a data job's wait: the statuses it is over at, and those it is not.
DATA_JOB_WAITS = {
    UNTIL_INGESTED: ("ready_to_start needs_review running", "file_processing"),
    UNTIL_END: ("completed cancelled", "needs_review running paused_by_a_new_service_state"),
    UNTIL_END_OR_REVIEW: ("needs_review failed", "ready_to_start"),
}


@pytest.mark.parametrize(
    ("until", "status", "over"),
    [
        (until, status, over)
        for until, (over_at, not_over_at) in DATA_JOB_WAITS.items()
        for over, statuses in ((True, over_at), (False, not_over_at))
        for status in statuses.split()
    ],
)
def test_a_data_job_wait_is_over_when_its_until_says(until, status, over):
    assert _watcher("data_job", until).is_over(DataJobDetail(id="dj-1", status=status)) is over


@pytest.mark.parametrize(
    ("status", "over"), [("running", False), ("completed", True), ("deleted", True), ("?", False)]
)
def test_a_fine_tune_wait_is_over_at_a_terminal_status(status, over):
    assert _watcher("fine_tune").is_over(FineTune(id="ft-1", status=status)) is over


def test_a_wait_a_kind_cannot_do_is_refused():
    with pytest.raises(ValueError, match="fine_tune wait waits for"):
        _watcher("fine_tune", UNTIL_INGESTED)
    with pytest.raises(ValueError, match="alignment wait waits for"):
        _watcher("alignment", UNTIL_END_OR_REVIEW)


def test_the_status_message_is_read_from_the_model_or_its_extra_fields():
    assert (
        _watcher("alignment").status_message(AlignmentJob(id="a", status="failed", status_message="GPU"))
        == "GPU"
    )
    assert (
        _watcher("fine_tune").status_message(FineTune(id="f", status="failed", status_message="OOM")) == "OOM"
    )
    assert _watcher("fine_tune").status_message(FineTune(id="f", status="failed")) is None


# -- what the task log says about the next check ------------------------------------------------


def test_a_job_under_a_minute_from_done_is_told_in_seconds():
    from airflow_provider_seekrflow.client.polling import plan_next_check

    soon = AlignmentJob(id="al-1", status="running", estimated_completion_at=NOW + timedelta(seconds=40))
    plan = plan_next_check(soon, now=NOW, **BOUNDS)
    assert plan.seconds == 40 + ETA_SLACK_SECONDS
    assert plan.reason == "the service expects it done in 40 s (at 12:00:40 UTC)"
    assert plan.describe(now=NOW) == (
        "next check in 42 s (at 12:00:42 UTC): the service expects it done in 40 s (at 12:00:40 UTC)"
    )


def test_the_reason_says_which_bound_set_the_sleep():
    from airflow_provider_seekrflow.client.polling import plan_next_check, plan_steady_check

    far = AlignmentJob(id="al-1", status="running", estimated_completion_at=NOW + timedelta(hours=2))
    capped = plan_next_check(far, now=NOW, **BOUNDS)
    assert capped.seconds == 300.0
    assert "expects it done in 2.0 h" in capped.reason and "poll_interval (300 s) caps" in capped.reason
    rough = AlignmentJob(id="al-1", status="running", eta_minutes=3)
    assert plan_next_check(rough, now=NOW, **BOUNDS).reason == "the service expects it done in about 3 min"
    overdue = AlignmentJob(id="al-1", status="running", estimated_completion_at=NOW - timedelta(seconds=90))
    assert "estimate passed 90 s ago" in plan_next_check(overdue, now=NOW, **BOUNDS).reason
    young = plan_steady_check(running_since=_ago(8), now=NOW, **BOUNDS)
    assert young.seconds == 5.0
    assert "no estimate" in young.reason and "min_poll_interval (5 s) is the floor" in young.reason
    assert "once a minute" in plan_steady_check(**BOUNDS).reason
