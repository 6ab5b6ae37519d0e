"""The pure decisions of a job operator: resume or submit, and what a trigger's event means."""

from __future__ import annotations

import pytest

from airflow_provider_seekrflow.exceptions import SeekrFlowError
from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.jobs.events import event_outcome, job_event
from airflow_provider_seekrflow.jobs.resume import ResumeAction, decide_resume
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus

TERMINAL = AlignmentJobStatus.terminal_states()


def decide(stored, status, durable=True):
    return decide_resume(
        stored, status, durable=durable, terminal_states=TERMINAL, success_status="completed"
    )


@pytest.mark.parametrize(
    ("stored", "status", "durable", "action", "job_id"),
    [
        (None, None, True, ResumeAction.SUBMIT, None),
        ("al-1", "running", False, ResumeAction.SUBMIT, None),
        ("al-1", "completed", False, ResumeAction.SUBMIT, None),
        ("al-1", None, True, ResumeAction.SUBMIT, "al-1"),
        ("al-1", "running", True, ResumeAction.REATTACH, "al-1"),
        ("al-1", "pending", True, ResumeAction.REATTACH, "al-1"),
        ("al-1", "preparing", True, ResumeAction.REATTACH, "al-1"),  # unknown: still going
        ("al-1", "completed", True, ResumeAction.REUSE, "al-1"),
        ("al-1", "failed", True, ResumeAction.SUBMIT, "al-1"),
        ("al-1", "cancelled", True, ResumeAction.SUBMIT, "al-1"),
        ("al-1", "stopped", True, ResumeAction.SUBMIT, "al-1"),
    ],
)
def test_resume_decision(stored, status, durable, action, job_id):
    decision = decide(stored, status, durable)
    assert (decision.action, decision.job_id) == (action, job_id)


def test_resume_reasons_name_the_status():
    assert decide("al-1", "failed").reason == "it ended failed"
    assert decide("al-1", None).reason == "it no longer exists"
    assert decide("al-1", "running").reason == "it is still running"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("completed", "completed"),
        ("failed", "unsuccessful"),
        ("cancelled", "unsuccessful"),
        ("stopped", "unsuccessful"),
        ("timeout", "timeout"),
        ("error", "error"),
    ],
)
def test_event_outcome_maps_each_status(status, kind):
    outcome = event_outcome(job_event("al-1", status, "why", "service says"), "al-1", ALIGNMENT)
    assert (outcome.kind, outcome.job_id, outcome.status) == (kind, "al-1", status)
    assert (outcome.message, outcome.status_message) == ("why", "service says")


@pytest.mark.parametrize(
    ("event", "expected", "fragment"),
    [
        (None, "al-1", "unexpected event: None"),
        ({"status": "completed"}, "al-1", "unexpected event"),
        (job_event("al-2", "completed", ""), "al-1", "for job 'al-2', not 'al-1'"),
        (job_event("al-1", "running", ""), "al-1", "unknown status 'running'"),
    ],
)
def test_event_outcome_fails_loudly_on_strange_events(event, expected, fragment):
    with pytest.raises(SeekrFlowError, match=fragment):
        event_outcome(event, expected, ALIGNMENT)


# The error class (by name) each kind of job raises for each unsuccessful end.
END_ERRORS = {
    "alignment": {"failed": "AlignmentJobFailed", "stopped": "AlignmentJobStopped"},
    "data_job": {"failed": "DataJobFailed", "stopped": "DataJobFailed", "cancelled": "DataJobCancelled"},
    "fine_tune": {"failed": "FineTuneFailed", "deleted": "FineTuneCancelled", "exploded": "FineTune"},
}


@pytest.mark.parametrize(
    ("kind_key", "status"), [(kind, status) for kind, ends in END_ERRORS.items() for status in ends]
)
def test_each_kind_maps_each_end_to_its_error(kind_key, status):
    from airflow_provider_seekrflow.jobs.kinds import KINDS

    error_name = f"SeekrFlow{END_ERRORS[kind_key][status]}Error"

    kind = KINDS[kind_key]
    error = kind.unsuccessful_error("id-1", status, "out of quota")
    assert type(error).__name__ == error_name
    assert str(error) == f"{kind.label} id-1 ended {status}: out of quota"
    assert (error.job_id, error.status, error.status_message) == ("id-1", status, "out of quota")
    assert type(kind.timed_out("id-1", None, "running")).__name__.endswith("TimeoutError")


def test_fine_tune_failure_carries_the_error_analysis():
    from airflow_provider_seekrflow.jobs.fine_tune import FINE_TUNE

    error = FINE_TUNE.unsuccessful_error(
        "ft-1", "failed", None, error_analysis="The loss diverged at epoch 2."
    )
    assert error.error_analysis == "The loss diverged at epoch 2."
    assert "the service gave no reason" in str(error)
