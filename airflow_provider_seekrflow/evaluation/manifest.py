"""
Tally an evaluation's results and build its manifest: the small summary pushed to XCom.

The manifest holds no answer, only counts and figures::

    {"model": ..., "scorer": "exact", "prompts": <uri>, "answers": <uri>,
     "total": 200, "passed": 180, "failed": 15, "errored": 5,
     "pass_rate": 0.9, "pass_threshold": 0.85, "threshold_met": true,
     "latency_ms": {"p50": 812.4, "p95": 1630.0},
     "tokens": {"in": 10234, "out": 20480, "unreported": 0},
     "judge_tokens": {"in": ..., "out": ...},     # with a judge only
     "max_concurrency": 16, "wall_seconds": 14.2}

``pass_rate`` is passed / total: an errored prompt (no answer, or no verdict) counts against it.
Latencies are kept as 8-byte floats for exact percentiles (8 MB per million prompts).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Result", "Tally", "percentile"]


@dataclass
class Result:
    """
    One prompt's outcome, as the answers file records it.

    :param line: The prompt's line number in the prompt file.
    :param answer: The model's answer text; None when there was none.
    :param passed: Whether it passed; None when errored.
    :param error: Why the prompt errored, if it did.
    :param latency_ms: Milliseconds from sending the prompt to its answer (retries included); None without an answer.
    :param prompt_tokens: Tokens the prompt counted, if the service said.
    :param completion_tokens: Tokens the answer counted, if the service said.
    :param extra: Further fields for the answers file (``expected``, ``finish_reason``, ``judge``...).
    """

    line: int
    answer: str | None = None
    passed: bool | None = None
    error: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    judge_prompt_tokens: int | None = None
    judge_completion_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the answers file's object for this prompt."""
        out: dict[str, Any] = {
            "line": self.line,
            "answer": self.answer,
            "passed": self.passed,
            "error": self.error,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }
        out.update(self.extra)
        return out


def percentile(ordered: Any, fraction: float) -> float | None:
    """
    Return the ``fraction`` percentile (0-1) of sorted values, interpolated linearly between ranks; None for none.

    The same as ``numpy.percentile``'s default (``linear``): p50 of 1, 2, 3, 4 is 2.5.

    :param ordered: The values, sorted ascending.
    :param fraction: Which percentile, 0.5 for the median.
    """
    count = len(ordered)
    if not count:
        return None
    position = (count - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, count - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


class Tally:
    """Counts, latencies and token sums of the results seen so far."""

    def __init__(self) -> None:
        self.total = self.passed = self.failed = self.errored = 0
        self.tokens_in = self.tokens_out = self.unreported = 0
        self.judge_tokens_in = self.judge_tokens_out = 0
        self.judged = False
        self.latencies = array("d")

    def add(self, result: Result) -> None:
        """
        Count one prompt's result.

        :param result: The outcome.
        """
        self.total += 1
        if result.passed is None:
            self.errored += 1
        elif result.passed:
            self.passed += 1
        else:
            self.failed += 1
        if result.latency_ms is not None:
            self.latencies.append(result.latency_ms)
            if result.prompt_tokens is None or result.completion_tokens is None:
                self.unreported += 1  # an answer whose usage was missing or unreadable
        self.tokens_in += result.prompt_tokens or 0
        self.tokens_out += result.completion_tokens or 0
        if result.judge_prompt_tokens is not None or result.judge_completion_tokens is not None:
            self.judged = True
        self.judge_tokens_in += result.judge_prompt_tokens or 0
        self.judge_tokens_out += result.judge_completion_tokens or 0

    @property
    def pass_rate(self) -> float:
        """Return passed / total (0 for no prompt)."""
        return self.passed / self.total if self.total else 0.0

    def manifest(self, **context: Any) -> dict[str, Any]:
        """
        Return the manifest: ``context`` (model, scorer, where the files are...) and the figures.

        :param context: Fields placed first, as given (JSON-serialisable).
        """
        ordered = sorted(self.latencies)
        p50, p95 = percentile(ordered, 0.50), percentile(ordered, 0.95)
        manifest: dict[str, Any] = {
            **context,
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "errored": self.errored,
            "pass_rate": round(self.pass_rate, 6),
            "latency_ms": {
                "p50": None if p50 is None else round(p50, 3),
                "p95": None if p95 is None else round(p95, 3),
            },
            "tokens": {"in": self.tokens_in, "out": self.tokens_out, "unreported": self.unreported},
        }
        if self.judged:
            manifest["judge_tokens"] = {"in": self.judge_tokens_in, "out": self.judge_tokens_out}
        return manifest
