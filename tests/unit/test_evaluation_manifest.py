"""The evaluation's tally and manifest (percentiles, liberal token usage) and the runner's concurrency, order and errors, with a fake service."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from airflow_provider_seekrflow.client import chat
from airflow_provider_seekrflow.evaluation.manifest import LatencyHistogram, Result, Tally
from airflow_provider_seekrflow.evaluation.prompts import PromptRecord
from airflow_provider_seekrflow.evaluation.runner import WINDOW_FACTOR, run_prompts
from airflow_provider_seekrflow.evaluation.scoring import make_scorer
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConnectionError,
    SeekrFlowNotFoundError,
    SeekrFlowServerError,
)


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 0.0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 1.0, 4.0),
        (list(range(1, 101)), 0.95, 95.0),
        (list(range(1, 101)), 0.5, 51.0),
        ([0.0, 0.0005, float("nan"), 5e6], 0.0, 0.001),
        ([250.0] * 999 + [60_000.0], 0.95, 250.0),
    ],
)
def test_percentiles_are_the_nearest_rank_within_half_a_percent(values, fraction, expected):
    histogram = LatencyHistogram()
    for value in values:
        histogram.add(value)
    got = histogram.percentile(fraction)
    assert got is None if expected is None else got == pytest.approx(expected, rel=0.005)


def test_the_histogram_stays_small_however_many_latencies():
    histogram = LatencyHistogram()
    rng = random.Random(7)
    values = [rng.lognormvariate(5, 1.5) for _ in range(200_000)]
    for value in values:
        histogram.add(value)
    assert len(histogram.counts) < 2_500
    ordered = sorted(values)
    for fraction in (0.5, 0.95, 0.99):
        exact = ordered[round((len(values) - 1) * fraction)]
        assert histogram.percentile(fraction) == pytest.approx(exact, rel=0.005)


def test_the_manifest_counts_rates_latencies_and_tokens():
    tally = Tally()
    for line, passed, latency in ((1, True, 100.0), (2, True, 300.0), (3, False, 200.0)):
        tally.add(Result(line, "a", passed, latency_ms=latency, prompt_tokens=10, completion_tokens=line))
    tally.add(Result(4, error="HTTP 502: lost"))
    manifest = tally.manifest(model="m", answers="s3://b/a.jsonl")
    assert manifest == {
        "model": "m",
        "answers": "s3://b/a.jsonl",
        "total": 4,
        "passed": 2,
        "failed": 1,
        "errored": 1,
        "pass_rate": 0.5,
        "latency_ms": {"p50": pytest.approx(200.0, rel=0.005), "p95": pytest.approx(300.0, rel=0.005)},
        "tokens": {"in": 30, "out": 6, "unreported": 0},
        "usage": {"input_tokens": 30, "output_tokens": 6},
    }
    assert json.loads(json.dumps(manifest)) == manifest
    assert Tally().manifest()["pass_rate"] == 0.0 and Tally().manifest()["latency_ms"] == {
        "p50": None,
        "p95": None,
    }


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": "NaN", "completion_tokens": float("nan"), "total_tokens": "many"},
        {"prompt_tokens": -3, "completion_tokens": float("inf")},
        {"prompt_tokens": True, "completion_tokens": None},
        "not an object",
        None,
        [1, 2],
    ],
)
def test_unreadable_usage_is_unknown_never_a_crash(usage):
    completion = chat.ChatCompletion.model_validate(
        {"choices": [{"message": {"role": "assistant", "content": "hi"}}], "usage": usage, "created": "soon"}
    )
    assert completion.text == "hi" and completion.created is None
    assert completion.prompt_tokens is None and completion.completion_tokens is None
    tally = Tally()
    tally.add(Result(1, "hi", True, latency_ms=1.0, prompt_tokens=None, completion_tokens=None))
    assert tally.manifest()["tokens"] == {"in": 0, "out": 0, "unreported": 1}


def test_usage_given_as_numeric_text_or_floats_is_read():
    completion = chat.ChatCompletion.model_validate(
        {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}],
         "usage": {"prompt_tokens": " 12 ", "completion_tokens": 3.0}}
    )  # fmt: skip
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == ("a b", 12, 3)
    assert chat.ChatCompletion.model_validate({"choices": None}).text == ""
    assert chat.ChatCompletion.model_validate({"choices": [{"message": "odd"}]}).text == ""


# -------------------------------------------------------------------------------- the runner


class FakeService:
    """Answers each prompt with its question reversed after a random delay, counting what is in flight."""

    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.in_flight = self.most_in_flight = 0
        self.sent: list[str] = []
        self.fail = fail or {}

    async def send(self, call: Any) -> chat.ChatCompletion:
        question = call.json["messages"][-1]["content"]
        self.sent.append(question)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(random.uniform(0, 0.004))
            if question in self.fail:
                raise self.fail[question]
            return chat.ChatCompletion.model_validate(
                {
                    "choices": [
                        {"message": {"role": "assistant", "content": question[::-1]}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 2, "completion_tokens": 3},
                }
            )
        finally:
            self.in_flight -= 1


def prompts(count: int, read: list[int] | None = None):
    for i in range(count):
        if read is not None:
            read.append(i)
        question = f"q{i}"
        yield PromptRecord(
            i + 1, [{"role": "user", "content": question}], question[::-1] if i % 4 else "wrong"
        )


def run(service: FakeService, records, *, concurrency: int, scorer: Any = "exact") -> tuple[Tally, list]:
    rows: list[dict] = []

    def sink(data: bytes) -> None:
        rows.extend(json.loads(line) for line in data.splitlines())

    tally = asyncio.run(
        run_prompts(records, model="m", scorer=make_scorer(scorer), send=service.send, write=sink,
                    max_concurrency=concurrency)
    )  # fmt: skip
    return tally, rows


def test_the_runner_keeps_input_order_and_at_most_max_concurrency_in_flight():
    service = FakeService()
    tally, rows = run(service, prompts(500), concurrency=8)
    assert [row["line"] for row in rows] == list(range(1, 501))
    assert 1 < service.most_in_flight <= 8
    assert (tally.total, tally.passed, tally.failed, tally.errored) == (500, 375, 125, 0)
    assert (tally.tokens_in, tally.tokens_out) == (1000, 1500)
    assert rows[0]["passed"] is False and rows[1] == {
        "line": 2, "answer": "1q", "passed": True, "error": None, "latency_ms": rows[1]["latency_ms"],
        "prompt_tokens": 2, "completion_tokens": 3, "expected": "1q", "finish_reason": "stop",
    }  # fmt: skip


def test_the_reader_stays_within_the_window():
    service = FakeService()
    read: list[int] = []
    gaps: list[int] = []
    rows: list[dict] = []

    def sink(data: bytes) -> None:
        rows.extend(json.loads(line) for line in data.splitlines())
        gaps.append(len(read) - len(rows))

    asyncio.run(
        run_prompts(prompts(400, read), model="m", scorer=make_scorer("exact"), send=service.send, write=sink,
                    max_concurrency=4)
    )  # fmt: skip
    # Read ahead of what is written: at most the window, plus one batch taken from the file.
    assert max(gaps) <= WINDOW_FACTOR * 4 + 64


def test_a_lost_answer_is_errored_not_resent_and_a_5xx_too():
    lost = SeekrFlowConnectionError("connection dropped after sending", may_have_reached_service=True)
    service = FakeService({"q3": lost, "q5": SeekrFlowServerError("bad gateway", status_code=502)})
    tally, rows = run(service, prompts(8), concurrency=3)
    assert service.sent.count("q3") == 1 and service.sent.count("q5") == 1
    assert (tally.errored, tally.total) == (2, 8)
    assert rows[3]["passed"] is None and "connection dropped" in rows[3]["error"]
    assert rows[5]["error"].startswith("HTTP 502")
    assert rows[3]["answer"] is None and rows[3]["latency_ms"] is None


def test_a_model_that_is_not_served_stops_the_run():
    gone = SeekrFlowNotFoundError("Model m is not served", status_code=404)
    service = FakeService({f"q{i}": gone for i in range(1000)})
    with pytest.raises(SeekrFlowNotFoundError, match="not served"):
        run(service, prompts(1000), concurrency=4)
    assert len(service.sent) <= 8


def test_a_scorer_that_raises_errors_only_its_prompt():
    def picky(record: dict, answer: str) -> bool:
        if answer == "2q":
            raise KeyError("oops")
        return True

    tally, rows = run(FakeService(), prompts(4), concurrency=2, scorer=picky)
    assert (tally.passed, tally.errored) == (3, 1)
    assert rows[2]["error"] == "scorer raised KeyError: 'oops'"


def test_a_failing_answers_sink_ends_the_run_instead_of_hanging():
    def broken(data: bytes) -> None:
        raise OSError(28, "No space left on device")

    service = FakeService()
    with pytest.raises(OSError, match="No space left"):
        asyncio.run(
            asyncio.wait_for(
                run_prompts(prompts(2000), model="m", scorer=make_scorer("exact"), send=service.send, write=broken,
                            max_concurrency=4),
                timeout=20,
            )
        )  # fmt: skip
    assert len(service.sent) < 2000
