"""
What the service reports of a job's cost, as every result's ``usage`` states it, and the text the task log gives it.

SeekrFlow gives no prices; what it reports is usage, and its shape depends on the kind:

- a fine-tune: ``{"accelerator_type", "accelerator_count", "wall_seconds", "accelerator_seconds"}``,
  from the job's ``accel_type`` and ``n_accel`` and its times: from ``started_at`` when the service
  sends one (the contract has none), else from ``created_at`` (so queueing counts), to ``completed_at``.
  ``accelerator_seconds`` is count times wall time.
- a deployment: ``{"input_tokens", "output_tokens"}``, its ``total_input_tokens`` and
  ``total_output_tokens`` (the only usage counters the API has, summed over the deployment's life).
- an evaluation: ``{"input_tokens", "output_tokens"}`` of its chat completions, as its manifest
  counts them, and ``judge_input_tokens`` / ``judge_output_tokens`` when a judge graded them.

Every figure the service left out, or sent in a shape that is not a finite number (a string, NaN,
a negative count, a date that is not one), is None: usage is reported, never a reason to fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_seekrflow.client.service_model import as_utc, finite_number

__all__ = [
    "FINE_TUNE_KEYS",
    "TOKEN_KEYS",
    "deployment_usage",
    "describe_usage",
    "evaluation_usage",
    "fine_tune_usage",
]

#: A fine-tune's usage keys.
FINE_TUNE_KEYS = ("accelerator_type", "accelerator_count", "wall_seconds", "accelerator_seconds")
#: A deployment's or an evaluation's usage keys.
TOKEN_KEYS = ("input_tokens", "output_tokens")
_LONG_UNITS = {"s": "seconds", "min": "minutes", "h": "hours"}
# The longest accelerator type name believed: anything longer is not a name.
_MAX_TYPE_LENGTH = 64


def count_of(value: Any) -> int | None:
    """Return ``value`` as a whole number of at least 0 (``4``, ``4.0``, ``"4"``), or None when it is not one."""
    number = finite_number(value)
    return None if number is None or number < 0 or number != int(number) else int(number)


def _moment(value: Any) -> datetime | None:
    """Return a time the service sent (a datetime, or ISO 8601 text) with its time zone, or None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return as_utc(value) if isinstance(value, datetime) else None


def _field(job: Any, name: str) -> Any:
    """Return a field of a service object: a declared one, else one it sent beyond the model."""
    if name in getattr(type(job), "model_fields", {}) or not hasattr(job, "model_extra"):
        return getattr(job, name, None)
    return (getattr(job, "model_extra", None) or {}).get(name)


def fine_tune_usage(job: Any) -> dict[str, Any]:
    """
    Return a fine-tune's usage ``{"accelerator_type", "accelerator_count", "wall_seconds", "accelerator_seconds"}``.

    :param job: The fine-tune as read (``client.fine_tunes.FineTune``).
    """
    accel_type = _field(job, "accel_type")
    if not isinstance(accel_type, str) or not accel_type.strip() or len(accel_type) > _MAX_TYPE_LENGTH:
        accel_type = None
    count = count_of(_field(job, "n_accel"))
    started = _moment(_field(job, "started_at")) or _moment(_field(job, "created_at"))
    ended = _moment(_field(job, "completed_at"))
    wall = (ended - started).total_seconds() if started and ended else None
    wall = round(wall, 3) if wall is not None and wall >= 0 else None
    return {
        "accelerator_type": accel_type.strip() if accel_type else None,
        "accelerator_count": count,
        "wall_seconds": wall,
        "accelerator_seconds": round(wall * count, 3) if wall is not None and count is not None else None,
    }


def deployment_usage(deployment: Any) -> dict[str, Any]:
    """
    Return a deployment's usage ``{"input_tokens", "output_tokens"}``: its counters, over its whole life.

    :param deployment: The deployment as read (``client.deployments.Deployment``).
    """
    return {
        "input_tokens": count_of(getattr(deployment, "total_input_tokens", None)),
        "output_tokens": count_of(getattr(deployment, "total_output_tokens", None)),
    }


def evaluation_usage(
    tokens_in: Any, tokens_out: Any, judge_in: Any = None, judge_out: Any = None, *, judged: bool = False
) -> dict[str, Any]:
    """
    Return an evaluation's usage ``{"input_tokens", "output_tokens"}``, with the judge's tokens when it was judged.

    :param tokens_in: Tokens the prompts counted.
    :param tokens_out: Tokens the answers counted.
    :param judge_in: Tokens the judge read.
    :param judge_out: Tokens the judge wrote.
    :param judged: Whether a judge graded the answers.
    """
    usage = {"input_tokens": count_of(tokens_in), "output_tokens": count_of(tokens_out)}
    if judged:
        usage.update(judge_input_tokens=count_of(judge_in), judge_output_tokens=count_of(judge_out))
    return usage


def _duration(seconds: float) -> tuple[float, str]:
    """Return ``seconds`` in a unit a person reads: seconds below 2 minutes, minutes below 2 hours, else hours."""
    if seconds < 120:
        return seconds, "s"
    if seconds < 2 * 3600:
        return seconds / 60, "min"
    return seconds / 3600, "h"


def _number(value: float) -> str:
    """Return a figure with thousands separators and at most one decimal (none when it is whole)."""
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


def _tokens(usage: dict[str, Any], prefix: str = "") -> str:
    given, made = usage.get(f"{prefix}input_tokens"), usage.get(f"{prefix}output_tokens")
    shown = ["?" if figure is None else f"{figure:,}" for figure in (given, made)]
    return f"{shown[0]} tokens in, {shown[1]} out"


def describe_usage(usage: dict[str, Any] | None) -> str:
    """
    Return a usage as the task log states it, e.g. ``12 min on 4 x A100 (48 accelerator-minutes)`` or ``1,234 tokens in, 5,678 out``.

    :param usage: A usage of any kind, as :func:`fine_tune_usage` and the others return it.
    """
    usage = usage or {}
    if "input_tokens" in usage or "output_tokens" in usage:
        text = _tokens(usage)
        if "judge_input_tokens" in usage:
            text += f" (the judge: {_tokens(usage, 'judge_')})"
        return text
    wall, count = usage.get("wall_seconds"), usage.get("accelerator_count")
    accelerators = f"{'?' if count is None else count} x {usage.get('accelerator_type') or '?'}"
    if wall is None:
        return f"on {accelerators} (the service reported no start or end time)"
    amount, unit = _duration(wall)
    text = f"{_number(amount)} {unit} on {accelerators}"
    if usage.get("accelerator_seconds") is not None:
        total, total_unit = _duration(usage["accelerator_seconds"])
        text += f" ({_number(total)} accelerator-{_LONG_UNITS[total_unit]})"
    return text
