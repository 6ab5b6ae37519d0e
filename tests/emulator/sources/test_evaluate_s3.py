"""SeekrFlowEvaluateModelOperator reading its prompt set from ``s3://`` and writing its answers there, through Airflow connections.

moto's S3 server and the SeekrFlow emulator, both over HTTP; the DAG runs through ``dag.test()``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.exceptions import SeekrFlowInvalidFileError
from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator
from tests.emulator.emulator.serving_helpers import deploy, fine_tune, training_jsonl, upload
from tests.emulator.operators import seekrflow_dag_support as support

PAIRS = (("Which size fits?", "Size nine fits."), ("Which colour sells?", "Blue sells best."))


@pytest.fixture
def served_model(emu: Any) -> str:
    emu.configure(fine_tune_duration=0.3, deployment_duration=0.6)
    trained = fine_tune(emu, upload(emu, "s3-eval-pairs.jsonl", training_jsonl(PAIRS)))
    assert deploy(emu, trained["id"])["status"] == "Active"
    return str(trained["id"])


def _prompts() -> str:
    return "".join(
        json.dumps({"messages": [{"role": "user", "content": q}], "expected": a}) + "\n" for q, a in PAIRS
    )


def test_prompts_read_from_s3_and_answers_written_to_s3_with_named_connections(s3, request, served_model):
    prompts = s3.uri("sets/prompts.jsonl", s3.reader_conn)
    s3.put("sets/prompts.jsonl", _prompts())
    with DAG(support.dag_id_for(request), schedule=None, start_date=support.START_DATE) as dag:
        SeekrFlowEvaluateModelOperator(
            task_id="evaluate",
            model=served_model,
            prompts=prompts,
            answers=s3.uri("runs/answers.jsonl"),
            answers_conn_id=s3.reader_conn,
            pass_threshold=1.0,
        )
    dr = support.run_dag(dag)

    assert support.states(dr) == {"evaluate": "success"}
    manifest = support.xcom(dr, "evaluate")
    assert (manifest["total"], manifest["passed"], manifest["prompts"]) == (2, 2, prompts)
    assert manifest["answers"] == s3.uri("runs/answers.jsonl")
    body = s3.moto.client().get_object(Bucket=s3.bucket, Key="runs/answers.jsonl")["Body"].read()
    rows = [json.loads(line) for line in body.decode().splitlines()]
    assert [(row["line"], row["answer"], row["passed"]) for row in rows] == [
        (1, PAIRS[0][1], True),
        (2, PAIRS[1][1], True),
    ]


def test_a_missing_prompt_object_fails_before_any_request(s3, request, emu, tmp_path):
    recorder = support.FailureRecorder()
    with DAG(support.dag_id_for(request), schedule=None, start_date=support.START_DATE) as dag:
        SeekrFlowEvaluateModelOperator(
            task_id="evaluate",
            model="any-model",
            prompts=s3.uri("nowhere.jsonl"),
            answers=str(tmp_path / "answers.jsonl"),
            pass_threshold=1.0,
            on_failure_callback=recorder,
        )
    dr = support.run_dag(dag)

    assert support.states(dr) == {"evaluate": "failed"}
    assert isinstance(recorder.last, SeekrFlowInvalidFileError)
    assert "prompts: " in str(recorder.last) and "does not exist" in str(recorder.last)
    assert emu.journal(route="chat_completion") == []
