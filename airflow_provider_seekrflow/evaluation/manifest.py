"""
Tally an evaluation's results and build its manifest: the small summary pushed to XCom.

The manifest holds no answer, only counts and figures::

    {"model": ..., "scorer": "exact", "prompts": <uri>, "answers": <uri>,
     "total": 200, "passed": 180, "failed": 15, "errored": 5,
     "pass_rate": 0.9, "pass_threshold": 0.85, "threshold_met": true,
     "latency_ms": {"p50": 812.4, "p95": 1630.0},
     "tokens": {"in": 10234, "out": 20480, "unreported": 0},
     "judge_tokens": {"in": ..., "out": ...},     # with a judge only
     "usage": {"input_tokens": 10234, "output_tokens": 20480},  # every kind's usage shape (jobs/usage.py)
     "max_concurrency": 16, "wall_seconds": 14.2}

``pass_rate`` is passed / total: an errored prompt (no answer, or no verdict) counts against it.
Latencies are counted in buckets 1 % wide on a log scale (:class:`LatencyHistogram`), so memory does
not grow with the number of prompts; a percentile is the nearest rank's bucket, within 0.5 % of the
exact latency, and never outside the fastest and slowest seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LatencyHistogram", "Result", "Tally"]


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
    :param judge_prompt_tokens: Tokens the judge read grading it, if a judge did and the service said.
    :param judge_completion_tokens: Tokens the judge wrote grading it, likewise.
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


class LatencyHistogram:
    """
    Latencies counted in buckets 1 % wide on a log scale: memory is fixed, percentiles within 0.5 %.

    From 1 microsecond to an hour there are about 2,200 buckets; only those used are kept.
    """

    GROWTH = 1.01
    FLOOR_MS = 0.001

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.low = math.inf
        self.high = -math.inf
        self._log_growth = math.log(self.GROWTH)

    def add(self, milliseconds: float) -> None:
        """
        Count one latency.

        :param milliseconds: The latency; NaN is ignored, anything below 1 microsecond counts as 1 microsecond.
        """
        if not math.isfinite(milliseconds):
            return
        value = max(milliseconds, self.FLOOR_MS)
        index = math.floor(math.log(value / self.FLOOR_MS) / self._log_growth)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.count += 1
        self.low, self.high = min(self.low, value), max(self.high, value)

    def percentile(self, fraction: float) -> float | None:
        """
        Return the latency at ``fraction`` (0-1) of the ranks (nearest rank), None when none was counted.

        :param fraction: Which percentile, 0.5 for the median.
        """
        if not self.count:
            return None
        rank = round((self.count - 1) * fraction)
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen > rank:
                middle = self.FLOOR_MS * self.GROWTH ** (index + 0.5)
                return min(max(middle, self.low), self.high)
        return self.high


class Tally:
    """Counts, latencies and token sums of the results seen so far."""

    def __init__(self) -> None:
        self.total = self.passed = self.failed = self.errored = 0
        self.tokens_in = self.tokens_out = self.unreported = 0
        self.judge_tokens_in = self.judge_tokens_out = 0
        self.judged = False
        self.latencies = LatencyHistogram()

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
            self.latencies.add(result.latency_ms)
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
        p50, p95 = self.latencies.percentile(0.50), self.latencies.percentile(0.95)
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
        manifest["usage"] = self.usage()
        return manifest

    def usage(self) -> dict[str, Any]:
        """Return the tokens counted as every job kind's ``usage`` names them, the judge's apart (``jobs.usage``)."""
        from airflow_provider_seekrflow.jobs.usage import evaluation_usage

        return evaluation_usage(
            self.tokens_in, self.tokens_out, self.judge_tokens_in, self.judge_tokens_out, judged=self.judged
        )
