"""Each kind's usage, read from what the service sent (never a crash), and how the completed line states it."""

from __future__ import annotations

import pytest

from airflow_provider_seekrflow.client.deployments import Deployment
from airflow_provider_seekrflow.client.fine_tunes import FineTune
from airflow_provider_seekrflow.defaults import UNTIL_END
from airflow_provider_seekrflow.evaluation.manifest import Result, Tally
from airflow_provider_seekrflow.jobs.base import JobResult
from airflow_provider_seekrflow.jobs.deployment import DEPLOYMENT, deployment_result
from airflow_provider_seekrflow.jobs.fine_tune import FINE_TUNE, fine_tune_result
from airflow_provider_seekrflow.jobs.usage import (
    FINE_TUNE_KEYS,
    deployment_usage,
    describe_usage,
    fine_tune_usage,
)

COMPLETED = {
    "id": "ft-1",
    "status": "completed",
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "accel_type": "A100",
    "n_accel": 4,
    "created_at": "2026-12-07T10:00:00Z",
    "completed_at": "2026-12-07T10:12:00Z",
}


def _fine_tune(**fields):
    return FineTune.model_validate({**COMPLETED, **fields})


def test_a_fine_tune_uses_its_accelerators_for_its_wall_time():
    assert fine_tune_usage(_fine_tune()) == {
        "accelerator_type": "A100",
        "accelerator_count": 4,
        "wall_seconds": 720.0,
        "accelerator_seconds": 2880.0,
    }
    # A start time, when the service sends one, leaves the queueing out.
    assert fine_tune_usage(_fine_tune(started_at="2026-12-07T10:02:00+00:00"))["wall_seconds"] == 600.0


@pytest.mark.parametrize(
    ("fields", "unknown"),
    [
        ({"n_accel": "NaN"}, {"accelerator_count", "accelerator_seconds"}),
        ({"n_accel": float("inf")}, {"accelerator_count", "accelerator_seconds"}),
        ({"n_accel": -2}, {"accelerator_count", "accelerator_seconds"}),
        ({"n_accel": 2.5}, {"accelerator_count", "accelerator_seconds"}),
        ({"n_accel": True}, {"accelerator_count", "accelerator_seconds"}),
        (
            {"n_accel": None, "accel_type": None},
            {"accelerator_count", "accelerator_seconds", "accelerator_type"},
        ),
        ({"accel_type": 7}, {"accelerator_type"}),
        ({"accel_type": "x" * 500}, {"accelerator_type"}),
        ({"completed_at": "soon"}, {"wall_seconds", "accelerator_seconds"}),
        ({"completed_at": None}, {"wall_seconds", "accelerator_seconds"}),
        ({"created_at": ["not", "a", "date"]}, {"wall_seconds", "accelerator_seconds"}),
        ({"started_at": 12}, set()),  # an unreadable start falls back to the creation
        (
            {"completed_at": "2026-12-07T09:00:00Z"},
            {"wall_seconds", "accelerator_seconds"},
        ),  # before it began
    ],
)
def test_an_unreadable_or_missing_fine_tune_field_is_unknown_never_a_crash(fields, unknown):
    usage = fine_tune_usage(_fine_tune(**fields))
    assert set(usage) == set(FINE_TUNE_KEYS)
    assert {key for key, value in usage.items() if value is None} == unknown
    describe_usage(usage)  # and the line still reads


def test_a_numeric_string_count_is_read():
    assert fine_tune_usage(_fine_tune(n_accel="2"))["accelerator_count"] == 2


def test_the_fine_tune_result_and_completed_line_state_the_usage():
    job = _fine_tune()
    result = fine_tune_result(job)
    assert result["usage"] == fine_tune_usage(job)
    line = FINE_TUNE.watch(UNTIL_END, print).completion_line(JobResult(result))
    assert line == "Fine-tune ft-1 completed: model ft-1, in 12 min on 4 x A100 (48 accelerator-minutes)"


@pytest.mark.parametrize(
    ("usage", "text"),
    [
        ({"accelerator_type": "H100", "accelerator_count": 1, "wall_seconds": 20.0, "accelerator_seconds": 20.0},
         "20 s on 1 x H100 (20 accelerator-seconds)"),
        ({"accelerator_type": "H100", "accelerator_count": 8, "wall_seconds": 5400.0, "accelerator_seconds": 43200.0},
         "90 min on 8 x H100 (12 accelerator-hours)"),
        ({"accelerator_type": "GAUDI2", "accelerator_count": 2, "wall_seconds": 30600.0, "accelerator_seconds": 61200.0},
         "8.5 h on 2 x GAUDI2 (17 accelerator-hours)"),
        ({"accelerator_type": None, "accelerator_count": None, "wall_seconds": 90.0, "accelerator_seconds": None},
         "90 s on ? x ?"),
        ({"accelerator_type": "A10", "accelerator_count": 1, "wall_seconds": None, "accelerator_seconds": None},
         "on 1 x A10 (the service reported no start or end time)"),
        ({"input_tokens": 1234, "output_tokens": 5678}, "1,234 tokens in, 5,678 out"),
        ({"input_tokens": None, "output_tokens": 3}, "? tokens in, 3 out"),
        ({"input_tokens": 1, "output_tokens": 2, "judge_input_tokens": 30, "judge_output_tokens": 4},
         "1 tokens in, 2 out (the judge: 30 tokens in, 4 out)"),
    ],
)  # fmt: skip
def test_usage_reads_as_a_person_would_say_it(usage, text):
    assert describe_usage(usage) == text


@pytest.mark.parametrize(
    ("sent", "usage"),
    [
        ({"total_input_tokens": 1234, "total_output_tokens": 5678}, {"input_tokens": 1234, "output_tokens": 5678}),
        ({"total_input_tokens": "12", "total_output_tokens": "NaN"}, {"input_tokens": 12, "output_tokens": None}),
        ({"total_input_tokens": -1, "total_output_tokens": None}, {"input_tokens": None, "output_tokens": None}),
        ({}, {"input_tokens": None, "output_tokens": None}),
    ],
)  # fmt: skip
def test_a_deployment_uses_its_token_counters(sent, usage):
    deployment = Deployment.model_validate(
        {
            "id": "dep-1",
            "status": "Active",
            "model_type": "Base Model",
            "model_id": "m",
            "n_instances": 1,
            **sent,
        }
    )
    assert deployment_usage(deployment) == usage
    result = deployment_result(deployment)
    assert result["usage"] == usage
    line = DEPLOYMENT.watch(UNTIL_END, print).completion_line(JobResult(result))
    assert line.startswith("Deployment dep-1 is Active: Base Model m on 1 instance(s); ")
    assert line.endswith(f"{describe_usage(usage)} so far")


def test_an_evaluation_reports_its_tokens_and_the_judges_apart():
    tally = Tally()
    tally.add(Result(1, "a", True, latency_ms=1.0, prompt_tokens=1200, completion_tokens=34))
    assert tally.manifest()["usage"] == {"input_tokens": 1200, "output_tokens": 34}
    tally.add(
        Result(2, "b", False, latency_ms=1.0, prompt_tokens=1, completion_tokens=1, judge_prompt_tokens=9)
    )
    assert tally.manifest()["usage"] == {
        "input_tokens": 1201,
        "output_tokens": 35,
        "judge_input_tokens": 9,
        "judge_output_tokens": 0,
    }
