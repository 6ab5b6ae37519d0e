"""Evaluation scorers, the judge's prompt and verdicts, and the chat request checked locally (no emulator, no Airflow DB)."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_seekrflow.client import chat
from airflow_provider_seekrflow.evaluation.judge import JUDGE_INSTRUCTIONS, JudgeScorer, JudgeVerdictError
from airflow_provider_seekrflow.evaluation.prompts import Check, PromptRecord
from airflow_provider_seekrflow.evaluation.scoring import CallableScorer, MatchScorer, make_scorer
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError


def record(expected: str | None = None, check: Check | None = None, question: str = "Q?") -> PromptRecord:
    messages = [{"role": "user", "content": question}]
    return PromptRecord(1, messages, expected, check, {"messages": messages, "expected": expected})


@pytest.mark.parametrize(
    ("spec", "expected", "answer", "passed"),
    [
        ("exact", "Thirty days.", "  Thirty days.\n", True),
        ("exact", "Thirty days.", "thirty days.", False),
        ({"type": "exact", "case_sensitive": False}, "Thirty days.", "THIRTY DAYS.", True),
        ("contains", "thirty", "Within thirty days.", True),
        ("contains", "thirty", "Within THIRTY days.", False),
        ({"type": "contains", "case_sensitive": False}, "thirty", "Within THIRTY days.", True),
        ("regex", r"\b30\b|thirty", "Within 30 days.", True),
        ("regex", r"^thirty$", "Within thirty days.", False),
        ({"type": "regex", "case_sensitive": False}, r"^within", "WITHIN thirty days.", True),
    ],
)
def test_match_scorers(spec, expected, answer, passed):
    scorer = make_scorer(spec)
    assert isinstance(scorer, MatchScorer)
    assert scorer.reference_fault(record(expected)) is None
    assert scorer.score(record(expected), answer) is passed


def test_a_line_check_takes_the_place_of_the_task_scorer():
    scorer = make_scorer("exact")
    line = record("something else", Check.build("contains", "DAYS", case_sensitive=False))
    assert scorer.score(line, "thirty days") is True


def test_match_scorers_need_a_reference_and_a_valid_regex():
    assert "no expected answer and no check" in make_scorer("contains").reference_fault(record())
    assert "not a valid regular expression" in make_scorer("regex").reference_fault(record("(unclosed"))
    assert make_scorer("regex").reference_fault(record(None, Check.build("exact", "x"))) is None


def test_a_callable_gets_the_whole_line_and_the_answer():
    seen = []

    def judge(line: dict, answer: str) -> bool:
        seen.append((line["expected"], answer))
        return answer.startswith("yes")

    scorer = make_scorer(judge)
    assert isinstance(scorer, CallableScorer) and scorer.name == "callable:judge"
    assert scorer.reference_fault(record()) is None
    assert scorer.score(record("ref"), "yes indeed") is True
    assert scorer.score(record("ref"), "no") is False
    assert seen == [("ref", "yes indeed"), ("ref", "no")]


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("fuzzy", "'fuzzy' is not one of exact, contains, regex"),
        ({"type": "contains", "case_sensitive": "no"}, "takes only case_sensitive"),
        ({"type": "contains", "ignore": True}, "takes only case_sensitive"),
        ({"type": "bleu"}, "type 'bleu' is not one of"),
        ({"type": "judge"}, "a judge needs model"),
        ({"type": "judge", "model": "m", "temperature": 1}, "judge config"),
        ({"type": "judge", "model": "m", "template": "{question} {score}"}, "judge template may use only"),
        (3, "expected a name, a dict, a callable or a judge"),
    ],
)
def test_unusable_scorers_name_the_fault(spec, named):
    with pytest.raises(SeekrFlowConfigError, match="scorer: ") as caught:
        make_scorer(spec)
    assert named in str(caught.value)


def test_the_judge_prompt_and_its_verdicts():
    judge = make_scorer({"type": "judge", "model": "judge-model"})
    assert isinstance(judge, JudgeScorer) and judge.name == "judge:judge-model"
    line = PromptRecord(
        4,
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the window?"}],
        "Thirty days.",
    )
    body = judge.request(line, "30 days")
    assert body["model"] == "judge-model" and body["temperature"] == 0 and body["max_tokens"] == 8
    assert body["messages"] == [
        {"role": "system", "content": JUDGE_INSTRUCTIONS},
        {
            "role": "user",
            "content": "Question:\nWhat is the window?\n\nReference answer:\nThirty days.\n\n"
            "Answer to grade:\n30 days\n\nReply with PASS or FAIL.",
        },
    ]
    assert "(none given)" in judge.request(record(), "x")["messages"][1]["content"]

    def replying(text: str, usage: dict | None = None):
        async def send(call):
            assert call.endpoint is chat.CHAT_COMPLETION
            return chat.ChatCompletion.model_validate(
                {"choices": [{"message": {"role": "assistant", "content": text}}], "usage": usage}
            )

        return send

    grade = lambda text, usage=None: asyncio.run(judge.grade(line, "30 days", replying(text, usage)))  # noqa: E731
    verdict = grade("PASS", {"prompt_tokens": 40, "completion_tokens": 1})
    assert (verdict.passed, verdict.prompt_tokens, verdict.completion_tokens) == (True, 40, 1)
    assert grade(" fail. The answer is wrong").passed is False
    assert grade("**Pass**").passed is True
    with pytest.raises(JudgeVerdictError, match="neither PASS nor FAIL: 'Maybe'"):
        grade("Maybe")


def test_the_chat_request_is_checked_locally_naming_the_field():
    messages = [{"role": "user", "content": "Hi"}]
    assert chat.completion_request(model="m", messages=messages) == {"model": "m", "messages": messages}
    body = chat.completion_request(
        model="m", messages=messages, max_tokens=5, temperature=0.2, stop=["\n"], options={"top_p": 0.9}
    )
    assert body == {
        "model": "m",
        "messages": messages,
        "max_tokens": 5,
        "temperature": 0.2,
        "stop": ["\n"],
        "top_p": 0.9,
    }
    for kwargs, field in (
        ({"model": " "}, "model:"),
        ({"messages": []}, "messages:"),
        ({"messages": ["hi"]}, "messages[0]:"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role:"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content:"),
        ({"max_tokens": 0}, "max_tokens:"),
        ({"max_tokens": True}, "max_tokens:"),
        ({"temperature": float("nan")}, "temperature:"),
        ({"stop": "\n"}, "stop:"),
        ({"options": {"model": "other"}}, "options: 'model'"),
        ({"options": {"stream": True}}, "options: stream"),
    ):
        arguments = {"model": "m", "messages": messages, **kwargs}
        with pytest.raises(SeekrFlowConfigError) as caught:
            chat.completion_request(**arguments)
        assert str(caught.value).startswith(field), (kwargs, str(caught.value))


def test_the_concurrency_cap_is_the_async_session_pool():
    from airflow_provider_seekrflow.client.async_transport import MAX_CONNECTIONS
    from airflow_provider_seekrflow.operators.evaluate import MAX_CONCURRENCY

    assert MAX_CONCURRENCY == MAX_CONNECTIONS


def test_lineage_names_the_prompt_set_read_and_the_answers_written(tmp_path):
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator

    operator = SeekrFlowEvaluateModelOperator(
        task_id="evaluate", model="m", prompts="s3://bucket/p.jsonl", answers=str(tmp_path / "a.jsonl"),
        pass_threshold=0.5,
    )  # fmt: skip
    assert operator.get_openlineage_facets_on_complete(None) is None  # nothing ran yet
    operator.evaluated_files = (("s3://reader@bucket/sets/p.jsonl", None), ("a.jsonl", tmp_path / "a.jsonl"))
    lineage = operator.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("s3://bucket", "sets/p.jsonl")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", str(tmp_path / "a.jsonl"))]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"pass_threshold": 1.5}, "pass_threshold: must be a number from 0 to 1"),
        ({"pass_threshold": True}, "pass_threshold:"),
        ({"max_concurrency": 0}, "max_concurrency: must be a whole number from 1 to 32"),
        ({"max_concurrency": 64}, "max_concurrency:"),
        ({"scorer": "bleu"}, "scorer: 'bleu'"),
    ],
)
def test_the_operator_refuses_bad_arguments_when_the_dag_is_parsed(kwargs, named):
    from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator

    arguments = {
        "task_id": "evaluate",
        "model": "m",
        "prompts": "p.jsonl",
        "answers": "a.jsonl",
        "pass_threshold": 0.5,
    }
    with pytest.raises(SeekrFlowConfigError) as caught:
        SeekrFlowEvaluateModelOperator(**{**arguments, **kwargs})
    assert named in str(caught.value)
