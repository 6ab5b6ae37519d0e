"""SeekrFlowEvaluateModelOperator, run by Airflow (``dag.test()``) against the emulator's chat completions over HTTP.

The model evaluated is a fine-tune trained on ``PAIRS`` and deployed: the emulator answers a
trained question with its training answer, anything else with a fallback, so an evaluation
passes or fails on purpose. Tokens are the emulator's: white-space separated words.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.evaluation.judge import JudgeScorer
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowEvaluationFailedError,
    SeekrFlowInvalidFileError,
    SeekrFlowNotFoundError,
)
from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator
from tests.emulator.emulator.serving_helpers import deploy, fine_tune, training_jsonl, upload
from tests.emulator.operators import seekrflow_dag_support as dags

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.empty import EmptyOperator  # type: ignore[no-redef]

PAIRS = tuple((f"What is fact number {i}?", f"Fact {i} is that shoes number {i} fit.") for i in range(12))
UNTRAINED = tuple((f"Who painted wall {i}?", f"Painter {i}.") for i in range(4))


@pytest.fixture(scope="module")
def served_model(emulator: Any) -> str:
    """The model id of an Active deployment of a fine-tune trained on ``PAIRS``."""
    emulator.configure(fine_tune_duration=0.3, deployment_duration=0.6)
    try:
        trained = fine_tune(emulator, upload(emulator, "eval-pairs.jsonl", training_jsonl(PAIRS)))
        assert deploy(emulator, trained["id"])["status"] == "Active"
    finally:
        emulator.reset_config()
    return str(trained["id"])


def _line(question: str, expected: str | None = None, **extra: Any) -> str:
    record: dict[str, Any] = {"messages": [{"role": "user", "content": question}], **extra}
    if expected is not None:
        record["expected"] = expected
    return json.dumps(record) + "\n"


def _prompt_file(tmp_path: Path, pairs: tuple[tuple[str, str], ...], name: str = "prompts.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(_line(q, a) for q, a in pairs), encoding="utf-8")
    return path


def _words(text: str) -> int:
    return len(text.split())


def _dag(request: pytest.FixtureRequest, **kwargs: Any) -> Any:
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        evaluate = SeekrFlowEvaluateModelOperator(task_id="evaluate", **kwargs)
        evaluate >> EmptyOperator(task_id="promote")
    return dag


def _evaluate(request: pytest.FixtureRequest, model: str, prompts: Path, answers: Path, **kwargs: Any) -> Any:
    """Run the evaluation of ``prompts`` against ``model`` (answers to ``answers``) and return the DAG run."""
    return dags.run_dag(_dag(request, model=model, prompts=str(prompts), answers=str(answers), **kwargs))


def _evaluate_failing(
    request: pytest.FixtureRequest, model: str, prompts: Path, tmp_path: Path
) -> tuple[Any, Any]:
    """Run an evaluation expected to fail; return the DAG run and the task's exception."""
    recorder = dags.FailureRecorder()
    dr = _evaluate(
        request, model, prompts, tmp_path / "answers.jsonl", pass_threshold=0.5, on_failure_callback=recorder
    )
    return dr, recorder.last


def _answers(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_passing_evaluation_writes_every_answer_and_returns_an_exact_manifest(
    emu, request, tmp_path, served_model
):
    prompts = _prompt_file(tmp_path, PAIRS)
    answers = tmp_path / "out" / "answers.jsonl"
    dr = _evaluate(request, served_model, prompts, answers, pass_threshold=1.0)

    assert dags.states(dr) == {"evaluate": "success", "promote": "success"}
    manifest = dags.xcom(dr, "evaluate")
    assert dags.xcom(dr, "evaluate", key="manifest") == manifest
    assert manifest["total"] == manifest["passed"] == len(PAIRS)
    assert (manifest["failed"], manifest["errored"], manifest["pass_rate"]) == (0, 0, 1.0)
    assert manifest["tokens"] == {
        "in": sum(_words(q) for q, _ in PAIRS),
        "out": sum(_words(a) for _, a in PAIRS),
        "unreported": 0,
    }
    assert manifest["threshold_met"] is True and manifest["pass_threshold"] == 1.0
    assert (manifest["model"], manifest["scorer"], manifest["answers"]) == (
        served_model,
        "exact",
        str(answers),
    )
    assert 0 < manifest["latency_ms"]["p50"] <= manifest["latency_ms"]["p95"]
    written = _answers(answers)
    assert [row["line"] for row in written] == list(range(1, len(PAIRS) + 1))  # input order
    assert [row["answer"] for row in written] == [a for _, a in PAIRS]
    assert all(row["passed"] is True and row["error"] is None for row in written)
    assert [row["completion_tokens"] for row in written] == [_words(a) for _, a in PAIRS]
    assert len(emu.journal(route="chat_completion")) == len(PAIRS)


def test_a_missed_threshold_fails_the_task_after_writing_and_skips_promote(
    emu, request, tmp_path, served_model
):
    prompts = _prompt_file(tmp_path, PAIRS[:6] + UNTRAINED)
    answers = tmp_path / "answers.jsonl"
    recorder = dags.FailureRecorder()
    dr = _evaluate(request, served_model, prompts, answers, pass_threshold=0.8, on_failure_callback=recorder)

    assert dags.states(dr) == {"evaluate": "failed", "promote": "upstream_failed"}
    error = recorder.last
    assert isinstance(error, SeekrFlowEvaluationFailedError)
    assert "pass rate 0.6000" in str(error) and "threshold 0.8000" in str(error)
    manifest = dags.xcom(dr, "evaluate", key="manifest")
    assert (manifest["total"], manifest["passed"], manifest["failed"], manifest["errored"]) == (10, 6, 4, 0)
    assert manifest["pass_rate"] == 0.6 and manifest["threshold_met"] is False
    written = _answers(answers)
    assert [row["passed"] for row in written] == [True] * 6 + [False] * 4
    assert all(row["answer"] and row["expected"] for row in written)


def test_a_bad_prompt_line_fails_before_any_chat_request(emu, request, tmp_path, served_model):
    prompts = tmp_path / "bad.jsonl"
    prompts.write_text(
        _line(*PAIRS[0]) + "\n" + '{"messages": [{"role": "robot", "content": "Hi"}], "expected": "x"}\n',
        encoding="utf-8",
    )
    dr, error = _evaluate_failing(request, served_model, prompts, tmp_path)

    assert dags.states(dr) == {"evaluate": "failed", "promote": "upstream_failed"}
    assert isinstance(error, SeekrFlowInvalidFileError)
    assert f"{prompts}: line 3: messages[0].role: 'robot'" in str(error)
    assert emu.journal(route="chat_completion") == []


def test_a_line_without_a_reference_fails_a_match_scorer_before_any_request(
    emu, request, tmp_path, served_model
):
    prompts = tmp_path / "no-expected.jsonl"
    prompts.write_text(_line(*PAIRS[0]) + _line(PAIRS[1][0]), encoding="utf-8")
    dr, error = _evaluate_failing(request, served_model, prompts, tmp_path)

    assert dags.states(dr)["evaluate"] == "failed"
    assert "line 2: has no expected answer and no check" in str(error)
    assert emu.journal(route="chat_completion") == []


def test_429s_are_retried_and_every_prompt_still_passes(emu, request, tmp_path, served_model):
    emu.set_faults(["chat_completion:429:count=3:retry_after=0"])
    prompts = _prompt_file(tmp_path, PAIRS[:5])
    answers = tmp_path / "answers.jsonl"
    dr = _evaluate(request, served_model, prompts, answers, pass_threshold=1.0, max_concurrency=2)

    assert dags.states(dr) == {"evaluate": "success", "promote": "success"}
    manifest = dags.xcom(dr, "evaluate")
    assert (manifest["passed"], manifest["errored"]) == (5, 0)
    statuses = [entry["status"] for entry in emu.journal(route="chat_completion")]
    assert sorted(statuses) == [200] * 5 + [429] * 3
    assert manifest["tokens"]["out"] == sum(_words(a) for _, a in PAIRS[:5])  # a 429 counted nothing


@pytest.mark.parametrize("fault", ["502_after", "drop_after", "drop_before"])
def test_a_lost_answer_is_not_sent_again_and_counts_as_errored(emu, request, tmp_path, served_model, fault):
    # The second prompt's answer is lost: a 502 after the model answered, or a connection closed
    # without an answer, after or before the service read the request (the client cannot tell
    # which). A chat completion is billed, so it is not resent: errored, against the pass rate.
    emu.set_faults([f"chat_completion:{fault}:count=1:skip=1"])
    prompts = _prompt_file(tmp_path, PAIRS[:4])
    answers = tmp_path / "answers.jsonl"
    dr = _evaluate(request, served_model, prompts, answers, pass_threshold=0.75, max_concurrency=1)

    assert dags.states(dr) == {"evaluate": "success", "promote": "success"}
    manifest = dags.xcom(dr, "evaluate")
    journal = emu.journal(route="chat_completion")
    assert (manifest["passed"], manifest["errored"], manifest["pass_rate"]) == (3, 1, 0.75)
    assert len(journal) == 4  # one request per prompt: nothing sent twice
    rows = _answers(answers)
    assert rows[1]["passed"] is None and rows[1]["answer"] is None and rows[1]["error"]
    assert [row["passed"] for row in rows] == [True, None, True, True]


def test_a_model_that_is_not_served_fails_at_once_and_clearly(emu, request, tmp_path):
    prompts = _prompt_file(tmp_path, PAIRS)
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _dag(
            request,
            model="ft-never-deployed",
            prompts=str(prompts),
            answers=str(tmp_path / "answers.jsonl"),
            pass_threshold=0.5,
            max_concurrency=2,
            on_failure_callback=recorder,
        )
    )

    assert dags.states(dr) == {"evaluate": "failed", "promote": "upstream_failed"}
    assert isinstance(recorder.last, SeekrFlowNotFoundError)
    assert "not served" in str(recorder.last)
    # The run stopped: at most the requests in flight when the first 404 came back were sent.
    assert len(emu.journal(route="chat_completion")) <= 2


def test_line_checks_a_case_insensitive_scorer_and_a_callable(emu, request, tmp_path, served_model):
    (q0, a0), (q1, _), (q2, _), (q3, a3) = PAIRS[:4]
    prompts = tmp_path / "mixed.jsonl"
    prompts.write_text(
        _line(q0, a0.upper())  # case-insensitive contains: passes
        + _line(q1, check={"regex": r"^Fact 1 is .* fit\.$"})  # passes
        + _line(q2, check={"contains": "FACT 2", "case_sensitive": True})  # fails: case differs
        + _line(q3, check={"exact": f"  {a3} "}),  # passes: surrounding white space aside
        encoding="utf-8",
    )
    answers = tmp_path / "answers.jsonl"
    dr = _evaluate(
        request,
        served_model,
        prompts,
        answers,
        pass_threshold=0.75,
        scorer={"type": "contains", "case_sensitive": False},
    )
    assert dags.states(dr)["evaluate"] == "success"
    assert [row["passed"] for row in _answers(answers)] == [True, True, False, True]
    assert dags.xcom(dr, "evaluate")["scorer"] == "contains (case-insensitive)"


def _shoe_check(record: dict[str, Any], answer: str) -> bool:
    return "shoes" in answer and record["messages"][-1]["content"].startswith("What")


def test_a_user_callable_scores_each_answer(emu, request, tmp_path, served_model):
    prompts = tmp_path / "callable.jsonl"
    prompts.write_text("".join(_line(q) for q, _ in PAIRS[:3] + UNTRAINED[:1]), encoding="utf-8")
    answers = tmp_path / "answers.jsonl"
    dr = _evaluate(request, served_model, prompts, answers, pass_threshold=0.75, scorer=_shoe_check)
    assert dags.states(dr)["evaluate"] == "success"
    manifest = dags.xcom(dr, "evaluate")
    assert (manifest["passed"], manifest["failed"], manifest["scorer"]) == (3, 1, "callable:_shoe_check")


def test_an_llm_judge_grades_through_a_served_seekrflow_model(emu, request, tmp_path, served_model):
    # The judge is a fine-tune trained to answer PASS to the exact judge prompt of the trained answers.
    from airflow_provider_seekrflow.evaluation.prompts import PromptRecord

    judge_scorer = JudgeScorer(model="pending")
    graded = PAIRS[:3]
    asked = [judge_scorer.request(PromptRecord(1, [{"role": "user", "content": q}], a), a) for q, a in graded]
    judge_pairs = tuple((body["messages"][-1]["content"], "PASS") for body in asked)
    emu.configure(fine_tune_duration=0.3, deployment_duration=0.6)
    judge = fine_tune(emu, upload(emu, "judge-pairs.jsonl", training_jsonl(judge_pairs)))
    assert deploy(emu, judge["id"])["status"] == "Active"
    prompts = tmp_path / "judged.jsonl"
    prompts.write_text("".join(_line(q, a) for q, a in graded + UNTRAINED[:1]), encoding="utf-8")
    answers = tmp_path / "answers.jsonl"
    dr = _evaluate(
        request,
        served_model,
        prompts,
        answers,
        pass_threshold=0.7,
        scorer={"type": "judge", "model": judge["id"]},
    )

    assert dags.states(dr)["evaluate"] == "success"
    manifest = dags.xcom(dr, "evaluate")
    # The untrained answer's judge prompt is not one the judge learnt: its fallback reply is no verdict.
    assert (manifest["passed"], manifest["failed"], manifest["errored"]) == (3, 0, 1)
    assert manifest["judge_tokens"]["out"] == 3 and manifest["judge_tokens"]["in"] > 0
    rows = _answers(answers)
    assert [row["judge"] for row in rows[:3]] == ["PASS"] * 3
    assert "neither PASS nor FAIL" in rows[3]["error"]
    assert len(emu.journal(route="chat_completion")) == 8
