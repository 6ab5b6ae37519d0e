"""A search for what a lost answer made adopts only a new object that matches the whole request, and only one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_seekrflow.client import alignment, data_jobs, files, fine_tunes
from airflow_provider_seekrflow.client.endpoints import Endpoint
from airflow_provider_seekrflow.client.lost_answers import Snapshot
from airflow_provider_seekrflow.client.retry import RetryPolicy, answer_may_be_lost
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAmbiguousResultError,
    SeekrFlowConnectionError,
    SeekrFlowServerError,
    SeekrFlowValidationError,
)
from airflow_provider_seekrflow.jobs.submissions import SubmissionNote, is_definite_refusal
from tests.unit.fine_tune_sample import FINE_TUNE_FIELDS

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
CREATE = Endpoint("create", "POST", "/v1/flow/x", repeatable=False)
READ = Endpoint("read", "GET", "/v1/flow/x", repeatable=True)


def dj(job_id, name, created_at=NOW, **fields):
    return data_jobs.DataJob(
        id=job_id, name=name, job_type="principle_files", created_at=created_at, **fields
    )


BODY = {"name": "etl.make_pairs.run1.0.try1", "job_type": "principle_files"}


# -- the retry policy: which failures are a lost answer --------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_that_may_follow_the_service_acting_is_never_resent_blindly(status):
    error = SeekrFlowServerError("boom", status_code=status)
    assert answer_may_be_lost(error)
    assert not RetryPolicy().should_retry(error, CREATE)
    assert RetryPolicy().should_retry(error, READ)


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_say_the_service_did_nothing_and_are_resent(status):
    error = SeekrFlowServerError("busy", status_code=status)
    assert not answer_may_be_lost(error)
    assert RetryPolicy().should_retry(error, CREATE)


def test_a_refused_connection_is_resent_even_for_a_once_only_request():
    refused = SeekrFlowConnectionError("refused", may_have_reached_service=False)
    assert not answer_may_be_lost(refused)
    assert RetryPolicy().should_retry(refused, CREATE)


def test_ambiguous_searches_are_never_retried():
    assert not RetryPolicy().should_retry(SeekrFlowAmbiguousResultError("two"), CREATE)
    assert not RetryPolicy().should_retry(SeekrFlowAmbiguousResultError("two"), READ)


def test_a_definite_refusal_is_a_4xx_but_not_429_or_408():
    assert is_definite_refusal(SeekrFlowValidationError("no", status_code=422))
    assert not is_definite_refusal(SeekrFlowServerError("slow", status_code=429))
    assert not is_definite_refusal(SeekrFlowServerError("boom", status_code=502))
    assert not is_definite_refusal(SeekrFlowConnectionError("drop", may_have_reached_service=True))


# -- snapshots -------------------------------------------------------------------------------------


def test_only_a_job_missing_from_the_snapshot_is_adopted():
    before = Snapshot.of([dj("dj-sibling", BODY["name"])])
    now = [dj("dj-mine", BODY["name"]), dj("dj-sibling", BODY["name"])]
    assert data_jobs.find_lost_job(now, BODY, before).id == "dj-mine"
    assert data_jobs.find_lost_job(now[1:], BODY, before) is None


def test_two_new_matching_jobs_are_ambiguous_and_neither_is_adopted():
    with pytest.raises(SeekrFlowAmbiguousResultError, match="dj-a, dj-b"):
        data_jobs.find_lost_job([dj("dj-a", BODY["name"]), dj("dj-b", BODY["name"])], BODY, Snapshot.of([]))


def test_a_new_job_of_another_request_is_not_adopted():
    other_prompt = dj("dj-other", BODY["name"], system_prompt="be terse")
    body = {**BODY, "system_prompt": "be kind"}
    assert data_jobs.find_lost_job([other_prompt], body, Snapshot.of([])) is None


def test_a_cut_listing_counts_only_records_at_least_as_recent_as_its_oldest():
    page = [dj(f"dj-{n}", "x", created_at=NOW - timedelta(minutes=n)) for n in range(3)]
    before = Snapshot.of(page, page_size=3)
    assert not before.complete and before.oldest == NOW - timedelta(minutes=2)
    # A job that slid into view (older than the snapshot's oldest) is not new; a job without a time never is.
    assert not before.is_new(dj("dj-slid", "x", created_at=NOW - timedelta(hours=1)))
    assert not before.is_new(dj("dj-timeless", "x", created_at=None))
    assert before.is_new(dj("dj-fresh", "x", created_at=NOW + timedelta(seconds=1)))


def test_a_worker_clock_ahead_cannot_hide_the_job_a_snapshot_finds():
    # The service's clock runs 5 minutes behind the worker: the job is stamped "earlier" than the
    # worker's send time, which a clock-window search skipped; the snapshot does not read clocks.
    worker_sent_at = NOW + timedelta(minutes=5)
    mine = dj("dj-mine", BODY["name"], created_at=NOW)
    assert data_jobs.find_lost_job([mine], BODY, Snapshot.of([])).id == "dj-mine"
    assert data_jobs.find_lost_job([mine], BODY, Snapshot.sent_at(worker_sent_at)) is None


def test_a_note_of_an_earlier_release_never_adopts_a_record_without_a_time():
    note = SubmissionNote.from_state(NOW.isoformat())
    assert note is not None and note.sent_at == NOW
    assert (
        data_jobs.find_lost_job([dj("dj-timeless", BODY["name"], created_at=None)], BODY, note.snapshot)
        is None
    )
    assert (
        data_jobs.find_lost_job(
            [dj("dj-year", BODY["name"], created_at=NOW - timedelta(days=365))], BODY, note.snapshot
        )
        is None
    )


def test_submission_notes_round_trip_through_the_state_store_format():
    note = SubmissionNote(NOW, Snapshot.of([dj("dj-1", "x")]), {"name": "n.try2"})
    back = SubmissionNote.from_state(note.to_state())
    assert back == note
    assert SubmissionNote.from_state({"garbage": 1}) is None


# -- whole-request matches ---------------------------------------------------------------------------

BASE = FINE_TUNE_FIELDS


def test_a_fine_tune_sweep_sibling_is_told_apart_by_its_learning_rate():
    body = fine_tunes.create_request(**BASE, learning_rate=3e-5)
    sibling = fine_tunes.FineTune.model_validate(
        {
            "id": "ft-1",
            "project_id": 7,
            "model": "llama",
            "training_files": ["file-1"],
            "n_epochs": 2,
            "learning_rate": 1e-5,
        }
    )
    mine = fine_tunes.FineTune.model_validate(
        {
            "id": "ft-2",
            "project_id": 7,
            "model": "llama",
            "training_files": ["file-1"],
            "n_epochs": 2,
            "learning_rate": "3e-05",
        }
    )
    assert fine_tunes.find_lost_job([sibling, mine], body, Snapshot.of([])).id == "ft-2"
    assert fine_tunes.find_lost_job([sibling], body, Snapshot.of([])) is None


def test_same_name_and_size_files_get_their_own_ids():
    first = files.SeekrFlowFile(id="file-a", filename="data.jsonl", bytes=10, created_at=NOW)
    second = files.SeekrFlowFile(id="file-b", filename="data.jsonl", bytes=10, created_at=NOW)
    # The second upload's snapshot was taken after the first was stored, and the batch holds file-a.
    before = Snapshot.of([first])
    assert (
        files.find_lost_upload([second, first], "data.jsonl", 10, before, exclude=["file-a"]).id == "file-b"
    )
    assert files.find_lost_upload([first], "data.jsonl", 10, before, exclude=["file-a"]) is None


def test_a_new_generate_job_that_does_not_echo_its_request_is_ambiguous():
    body = alignment.generate_request("teach", ["file-1"])
    silent = alignment.AlignmentJob.model_validate({"id": "al-1", "status": "queued"})
    with pytest.raises(SeekrFlowAmbiguousResultError):
        alignment.find_lost_job([silent], body, Snapshot.of([]))
    # No new job at all: provably absent, so a resend is safe even on a service that echoes nothing.
    assert alignment.find_lost_job([silent], body, Snapshot.of([silent])) == (None, True)
