"""How the emulator refuses a request: in the shapes FastAPI and pydantic give their own refusals.

Clients parse a refusal's ``detail`` the same whether the framework or the emulator's own checks
made it, so the emulator's checks build their 422 items and 404s here rather than inline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

__all__ = [
    "ALIGNMENT_JOB",
    "DATA_JOB",
    "DEPLOYMENT",
    "FILE",
    "FINE_TUNE",
    "INGESTION_JOB",
    "PROJECT",
    "VECTOR_DATABASE",
    "conflict",
    "found",
    "invalid",
    "missing",
    "not_found",
    "unusable_files",
    "value_error",
]

T = TypeVar("T")
# What a 404 calls each kind of thing the emulator holds.
FILE = "File"
ALIGNMENT_JOB = "Alignment job"
DATA_JOB = "Data job"
FINE_TUNE = "Fine-tune job"
PROJECT = "Project"
DEPLOYMENT = "Deployment"
VECTOR_DATABASE = "Vector database"
INGESTION_JOB = "Ingestion job"
# The reference documents no status code for an action the object's state does not allow (starting
# a data job that is not ready_to_start, cancelling one never started...); the emulator answers
# 409, the conflict status the official client maps to its ConflictError.
CONFLICT = 409
Location = Sequence[str | int]


def value_error(loc: Location, reason: str, value: Any = None) -> dict[str, Any]:
    """Return the 422 ``detail`` item refusing the value at ``loc``, worded as a pydantic validator's."""
    return {"type": "value_error", "loc": list(loc), "msg": f"Value error, {reason}", "input": value}


def unusable_files(
    loc: Location,
    file_ids: Sequence[str],
    lookup: Callable[[str], dict[str, Any] | None],
    purposes: Sequence[str],
    use: str,
) -> list[dict[str, Any]]:
    """Return a 422 item for each of ``file_ids`` (at ``loc + (index,)``) that is not a stored file of one of ``purposes``.

    :param lookup: Returns a file's stored record, or None.
    :param use: What the files are for, as the message names it (``alignment``, ``fine-tuning``).
    """
    errors = []
    for index, file_id in enumerate(file_ids):
        record = lookup(file_id)
        if record is None:
            reason = f"file {file_id} not found"
        elif record["purpose"] not in purposes:
            wanted = " or ".join(f"'{purpose}'" for purpose in purposes)
            reason = f"file {file_id} has purpose '{record['purpose']}'; {use} needs purpose {wanted}"
        else:
            continue
        errors.append(value_error((*loc, index), reason, file_id))
    return errors


def missing(loc: Location) -> dict[str, Any]:
    """Return the 422 ``detail`` item for a required field that is absent."""
    return {"type": "missing", "loc": list(loc), "msg": "Field required", "input": None}


def invalid(*errors: dict[str, Any]) -> RequestValidationError:
    """Return the exception FastAPI answers with a 422 listing ``errors``."""
    return RequestValidationError(list(errors))


def not_found(kind: str, ident: str | int) -> HTTPException:
    """Return the 404 for an id the emulator does not hold (``kind`` names what it is)."""
    return HTTPException(status_code=404, detail=f"{kind} {ident} not found")


def conflict(detail: str) -> HTTPException:
    """Return the refusal of an action the object's current state does not allow (409, see ``CONFLICT``)."""
    return HTTPException(status_code=CONFLICT, detail=detail)


def found(value: T | None, kind: str, ident: str | int) -> T:
    """Return ``value``, or raise the 404 for ``ident`` when the lookup found nothing."""
    if value is None:
        raise not_found(kind, ident)
    return value
