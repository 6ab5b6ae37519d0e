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

from pydantic import BaseModel, ConfigDict, ValidationError, WrapValidator

__all__ = [
    "CLOCK_SKEW_ALLOWANCE",
    "NumberOrText",
    "OptionalDatetime",
    "OptionalInt",
    "OptionalNumber",
    "ServiceModel",
    "as_utc",
    "config_error",
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
NumberOrText = Annotated[float | str | None, WrapValidator(_none_if_unreadable)]


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
