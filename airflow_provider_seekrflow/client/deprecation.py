"""Tell users once when SeekrFlow marks an endpoint deprecated (RFC 9745 ``Deprecation``, RFC 8594 ``Sunset``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_seekrflow.client.endpoints import Endpoint

# Link relations that point at what to use instead (RFC 5829), and at the deprecation notice (RFC 9745).
_REPLACEMENT_RELATIONS = ("successor-version", "latest-version", "alternate")
_NOTICE_RELATION = "deprecation"

# One warning per endpoint per process: a triggerer polling thousands of jobs must not repeat it.
_warned: set[str] = set()
_warned_lock = threading.Lock()


def _parse_date(value: str | None) -> datetime | None:
    """Return the moment a ``Deprecation`` (``@<epoch>``, or an older draft's HTTP date) or ``Sunset`` names."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("@"):
        try:
            return datetime.fromtimestamp(int(text[1:]), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _links(value: str | None) -> dict[str, str]:
    """Return the ``Link`` header's targets by relation."""
    if not value:
        return {}
    from requests.utils import parse_header_links

    found: dict[str, str] = {}
    for link in parse_header_links(value):
        for relation in str(link.get("rel", "")).split():
            found.setdefault(relation.lower(), link.get("url", ""))
    return found


def deprecation_notice(endpoint: Endpoint, headers: Mapping[str, str]) -> str | None:
    """
    Return the warning for an answer that marks its endpoint deprecated, or None.

    :param endpoint: The endpoint that answered.
    :param headers: The answer's headers (case-insensitive, or with lower-case names).
    """
    deprecation = headers.get("deprecation")
    sunset = headers.get("sunset")
    if deprecation is None and sunset is None:
        return None
    since = _parse_date(deprecation)
    until = _parse_date(sunset)
    links = _links(headers.get("link"))
    replacement = next((links[rel] for rel in _REPLACEMENT_RELATIONS if links.get(rel)), None)
    parts = [f"SeekrFlow marks {endpoint.method} {endpoint.path} as deprecated"]
    if since is not None:
        parts.append(f" since {since:%Y-%m-%d}")
    if until is not None:
        parts.append(f"; it stops working on {until:%Y-%m-%d} (Sunset)")
    if replacement:
        parts.append(f"; the service names {replacement} as its replacement")
    if links.get(_NOTICE_RELATION):
        parts.append(f"; details: {links[_NOTICE_RELATION]}")
    return "".join(parts)


def warn_if_deprecated(endpoint: Endpoint, headers: Mapping[str, str], log: Any) -> None:
    """
    Log one warning per endpoint and process when an answer carries ``Deprecation`` or ``Sunset``.

    :param endpoint: The endpoint that answered.
    :param headers: The answer's headers.
    :param log: The logger to warn through (the task's or the trigger's).
    """
    if endpoint.name in _warned:
        return
    notice = deprecation_notice(endpoint, headers)
    if notice is None:
        return
    with _warned_lock:
        if endpoint.name in _warned:
            return
        _warned.add(endpoint.name)
    log.warning(notice)
