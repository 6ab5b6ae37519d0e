"""How the emulator refuses a request: in the shapes FastAPI and pydantic give their own refusals.

Clients parse a refusal's ``detail`` the same whether the framework or the emulator's own checks
made it, so the emulator's checks build their 422 items and 404s here rather than inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

__all__ = ["ALIGNMENT_JOB", "FILE", "found", "invalid", "missing", "not_found", "value_error"]

T = TypeVar("T")
# What a 404 calls each kind of thing the emulator holds.
FILE = "File"
ALIGNMENT_JOB = "Alignment job"
Location = Sequence[str | int]


def value_error(loc: Location, reason: str, value: Any = None) -> dict[str, Any]:
    """Return the 422 ``detail`` item refusing the value at ``loc``, worded as a pydantic validator's."""
    return {"type": "value_error", "loc": list(loc), "msg": f"Value error, {reason}", "input": value}


def missing(loc: Location) -> dict[str, Any]:
    """Return the 422 ``detail`` item for a required field that is absent."""
    return {"type": "missing", "loc": list(loc), "msg": "Field required", "input": None}


def invalid(*errors: dict[str, Any]) -> RequestValidationError:
    """Return the exception FastAPI answers with a 422 listing ``errors``."""
    return RequestValidationError(list(errors))


def not_found(kind: str, ident: str) -> HTTPException:
    """Return the 404 for an id the emulator does not hold (``kind`` names what it is)."""
    return HTTPException(status_code=404, detail=f"{kind} {ident} not found")


def found(value: T | None, kind: str, ident: str) -> T:
    """Return ``value``, or raise the 404 for ``ident`` when the lookup found nothing."""
    if value is None:
        raise not_found(kind, ident)
    return value
