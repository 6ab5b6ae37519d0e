"""
The base of every SeekrFlow API model, and the lenient field types they share.

API models read liberally: unknown fields are kept, an unknown status is kept as given, ``progress``
may be a number or a string (older servers send ``"40%"``), and an optional field the service
fills oddly becomes None instead of failing the pipeline that reads it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, WrapValidator

__all__ = [
    "CLOCK_SKEW_ALLOWANCE",
    "MAX_ESTIMATE_MINUTES",
    "NumberOrText",
    "OptionalDatetime",
    "OptionalInt",
    "OptionalMinutes",
    "OptionalNumber",
    "ServiceModel",
    "as_utc",
    "config_error",
    "estimate_minutes",
    "percent",
]

# A server clock may run a little behind ours: a search for what a lost request created looks this far back.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=2)


def _none_if_unreadable(value: Any, handler: Any) -> Any:
    # An optional detail the service sent in a shape we cannot read must not fail a status check.
    try:
        return handler(value)
    except ValidationError:
        return None


OptionalDatetime = Annotated[datetime | None, WrapValidator(_none_if_unreadable)]
OptionalInt = Annotated[int | None, WrapValidator(_none_if_unreadable)]
OptionalNumber = Annotated[float | None, WrapValidator(_none_if_unreadable)]
# Kept as sent: the reference says number, older servers send strings such as "40%".
# Text the contract does not promise (or promises loosely): anything else reads as no text.
OptionalText = Annotated[str | None, WrapValidator(_none_if_unreadable)]
NumberOrText = Annotated[float | str | None, WrapValidator(_none_if_unreadable)]

# The longest estimate believed (ten years): anything longer says nothing a wait could act on.
MAX_ESTIMATE_MINUTES = 10 * 365.25 * 24 * 60


def finite_number(value: Any) -> float | None:
    """
    Return what the service sent as a finite number (``12``, ``12.5``, ``" 12 "``), or None when it is none.

    Booleans, NaN and infinities (which Python's JSON reader accepts, as numbers or strings) and
    text that is no number are None: the figure is unknown, never a crash.

    :param value: What the service sent.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def estimate_minutes(value: Any) -> float | None:
    """
    Return a duration in minutes as a finite number within 0 to ten years, or None when it holds none.

    NaN and infinities (which Python's JSON reader accepts, as numbers or strings) say nothing;
    a negative estimate means "now", a huge one "not within ten years".

    :param value: What the service sent: a number, a numeric string, anything else.
    """
    number = finite_number(value)
    return None if number is None else min(max(number, 0.0), MAX_ESTIMATE_MINUTES)


# A remaining-time estimate in minutes (``eta_minutes``): finite and within ten years, or None.
OptionalMinutes = Annotated[float | None, PlainValidator(estimate_minutes)]


def percent(value: float | str | None) -> float | None:
    """
    Return a progress value as a number of percent, or None when it holds none.

    :param value: A number (``40``, ``40.5``) or a string (``"40"``, ``"40%"``, ``" 40.5 % "``).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().removesuffix("%").strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class ServiceModel(BaseModel):
    """A SeekrFlow API object: the service adds fields over time, and unknown ones are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` with a time zone, taking a naive one as UTC (as the service means it)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def config_error(message: str) -> Exception:
    """
    Return the provider's error for a request refused locally (``SeekrFlowConfigError``).

    Imported when needed: the exceptions derive from Airflow's, and the client's declarations are
    also read by the emulator, which must start without Airflow.

    :param message: What is wrong, naming the field.
    """
    from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

    return SeekrFlowConfigError(message)
