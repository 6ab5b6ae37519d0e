"""Map SeekrFlow answers to the provider's exceptions, the same way for sync and async clients."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAPIError,
    SeekrFlowAuthenticationError,
    SeekrFlowNotFoundError,
    SeekrFlowRateLimitError,
    SeekrFlowServerError,
    SeekrFlowUnexpectedResponseError,
    SeekrFlowValidationError,
)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# JSON answers from SeekrFlow are small; anything near this is not SeekrFlow talking.
MAX_JSON_BODY_BYTES = 16 * 1024 * 1024
# An error message, a service explanation or a job's status message in a log line or a trigger event
# (stored in the metadata database) is cut to about this many characters.
MAX_MESSAGE_CHARS = 4000
# A 422's validation problems listed one per line, at most this many, each at most this long.
MAX_DETAIL_ITEMS = 20
_MAX_DETAIL_ITEM_CHARS = 300


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """
    Return ``text`` cut to about ``limit`` characters, saying how long it was.

    :param text: A message from the service or about its answer.
    :param limit: The most characters kept.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... (cut; {len(text)} characters in all)"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """
    Return the seconds a ``Retry-After`` header asks for, or None when absent or unreadable.

    :param value: The header: a number of seconds or an HTTP date.
    :param now: The current epoch time, for tests.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _format_validation_detail(detail: list[Any]) -> str:
    lines = []
    for item in detail[:MAX_DETAIL_ITEMS]:
        if not isinstance(item, Mapping):
            lines.append(clip(str(item), _MAX_DETAIL_ITEM_CHARS))
            continue
        loc = item.get("loc")
        parts = [str(part) for part in loc[:20] if part != "body"] if isinstance(loc, list) else []
        field = ".".join(parts) or "request"
        lines.append(clip(f"{field}: {item.get('msg', 'invalid')}", _MAX_DETAIL_ITEM_CHARS))
    if len(detail) > MAX_DETAIL_ITEMS:
        lines.append(f"... and {len(detail) - MAX_DETAIL_ITEMS} more")
    return "\n".join(lines)


def service_message(body: bytes, content_type: str | None) -> str:
    """Return the service's explanation from an error body, readable and bounded (about ``MAX_MESSAGE_CHARS``)."""
    text = body[:MAX_JSON_BODY_BYTES].decode("utf-8", errors="replace")
    if content_type and "json" in content_type:
        try:
            explained = _explanation(json.loads(text))
        except (ValueError, RecursionError):
            # Not JSON, or nested deeper than Python parses or prints: not SeekrFlow's shape either.
            explained = None
        if explained is not None:
            return clip(explained)
    text = " ".join(text[: MAX_MESSAGE_CHARS * 4].split())
    if len(text) > 200:
        text = text[:200] + "..."
    return text or "(empty body)"


def _explanation(payload: Any) -> str | None:
    if isinstance(payload, Mapping) and "detail" in payload:
        detail = payload["detail"]
        if isinstance(detail, list):
            return _format_validation_detail(detail)
        return clip(str(detail))
    if isinstance(payload, Mapping) and "message" in payload:
        return clip(str(payload["message"]))
    return None


def error_for_status(
    *,
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    conn_id: str | None = None,
) -> SeekrFlowAPIError:
    """
    Return the exception for an error answer.

    :param conn_id: The Airflow connection the request was made with, named where it is at fault.
    :param method: The request's method.
    :param path: The request's path.
    :param status: The HTTP status.
    :param headers: The answer's headers (case-insensitive mapping).
    :param body: The answer's body, or its start.
    """
    message = service_message(body, headers.get("content-type"))
    context: dict[str, Any] = {
        "status_code": status,
        "method": method,
        "path": path,
        "service_message": message,
    }
    if "\n" in message:
        summary = f"{method} {path} returned {status}:\n{message}"
    else:
        summary = f"{method} {path} returned {status}: {message}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status in (401, 403):
        whose = f"connection {conn_id!r}" if conn_id else "the connection"
        return SeekrFlowAuthenticationError(
            f"SeekrFlow refused the API key of {whose} ({summary}): set that connection's password to "
            "a valid SeekrFlow API key",
            **context,
        )
    if status == 404:
        return SeekrFlowNotFoundError(summary, **context)
    if status == 429:
        return SeekrFlowRateLimitError(summary, retry_after=retry_after, **context)
    if status >= 500:
        return SeekrFlowServerError(summary, retry_after=retry_after, **context)
    if status in (400, 409, 413, 415, 422):
        return SeekrFlowValidationError(summary, **context)
    return SeekrFlowAPIError(summary, **context)


def read_answer(
    model: Any, *, method: str, path: str, status: int, headers: Mapping[str, str], body: bytes
) -> Any:
    """
    Return a success answer's JSON body as ``model``, refusing what SeekrFlow would not send.

    :param model: The pydantic model (or type) the body should hold.
    :param method: The request's method.
    :param path: The request's path.
    :param status: The HTTP status.
    :param headers: The answer's headers (case-insensitive, or with lower-case names).
    :param body: The answer's body.
    """
    from pydantic import ValidationError

    content_type = headers.get("content-type") or "(none)"
    where = f"{method} {path} returned {status}"
    context: dict[str, Any] = {"status_code": status, "method": method, "path": path}
    if len(body) > MAX_JSON_BODY_BYTES:
        raise SeekrFlowUnexpectedResponseError(
            f"{where} with a body over {MAX_JSON_BODY_BYTES // (1024 * 1024)} MiB; is the host a SeekrFlow API?",
            **context,
        )
    if "json" not in content_type:
        raise SeekrFlowUnexpectedResponseError(
            f"{where} with content type {content_type}, not JSON; is the host a SeekrFlow API? "
            f"Body starts: {service_message(body, None)!r}",
            **context,
        )
    try:
        # pydantic parses the bytes itself: one pass, no intermediate dicts.
        return _adapter(model).validate_json(body)
    except ValidationError as err:
        problems = err.errors()
        if any(problem["type"] == "json_invalid" for problem in problems):
            raise SeekrFlowUnexpectedResponseError(
                f"{where} with a body that is not valid JSON ({problems[0]['msg']}); is the host a SeekrFlow API?",
                **context,
            ) from None
        summary = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in problems[:5]
        )
        raise SeekrFlowUnexpectedResponseError(
            f"{method} {path} answered JSON that does not match the SeekrFlow API: {summary}", **context
        ) from None


@functools.lru_cache(maxsize=64)
def _adapter(model: Any) -> Any:
    # Building an adapter costs more than validating an answer with it, and triggers poll constantly.
    from pydantic import TypeAdapter

    return TypeAdapter(model)


__all__ = [
    "MAX_DETAIL_ITEMS",
    "MAX_JSON_BODY_BYTES",
    "MAX_MESSAGE_CHARS",
    "RETRYABLE_STATUSES",
    "SeekrFlowAPIError",
    "clip",
    "error_for_status",
    "parse_retry_after",
    "read_answer",
    "service_message",
]
