"""Fault injection: rules and their CLI form (the ASGI layer that applies them is in ``fault_layer``).

A rule is ``{"route", "kind", "rate", "count", "skip", "retry_after", "delay", "status", "location"}``:

- ``route``: an openapi operationId (``upload_file``, ``get_alignment_job``...) or ``"*"``.
- ``kind``, one of:

  - ``429`` (with ``Retry-After``), ``500``, ``502``, ``503``, ``504``: answer that status with a
    JSON ``{"detail": ...}`` body, without running the handler (the service did nothing).
  - ``500_after``, ``502_after``, ``503_after``, ``504_after``: run the handler to its end (a
    file is stored, a job created...), throw its answer away and answer the status with the same
    body as the plain kind: a gateway that lost the answer after the service acted.
  - ``delay``: sleep ``delay`` seconds, then serve normally.
  - ``trickle``: serve normally, but send the body one byte every ``delay`` seconds (the headers
    at once). Other requests are served meanwhile; a client that goes away ends it.
  - ``redirect``: answer ``status`` (301, 302, 303, 307 or 308; default 307) with ``Location:
    <location>``, without running the handler.
  - ``drop``/``drop_before``: close the TCP connection without a response, before the request is
    processed; ``drop_after``: process the request, then close without a response.

- ``rate``: share of matching requests hit, 0..1 (default 1).
- ``count``: if set, hit exactly the next ``count`` matching requests, then the rule is spent.
- ``skip``: let this many matching requests through untouched before the rule applies (default
  0): e.g. the listing a client takes before a create, then a fault on the listing after it.
- ``retry_after``: seconds (number) or an HTTP-date string, for 429 (default 1).
- ``delay``: seconds, for ``delay`` and ``trickle`` (default 1).
- ``status``: the 3xx of ``redirect`` (default 307); ``location``: its ``Location`` (required).

The journal records the rule's kind in each hit request's ``fault`` and the status the client got
(none for a drop). Numbers no JSON parser should have to take (``NaN``, ``Infinity``, ``1e400``)
are not a fault but the ``hostile_numbers`` config (see ``hostile_numbers``).
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_seekrflow.emulator.routes import OPERATION_IDS

__all__ = [
    "AFTER_STATUSES",
    "FAULT_KINDS",
    "REDIRECT_STATUSES",
    "STATUS_DETAIL",
    "FaultRule",
    "FaultSet",
    "parse_fault_spec",
]

# The statuses a gateway answers after the service acted, each also a plain (did-nothing) kind.
AFTER_STATUSES = (500, 502, 503, 504)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
FAULT_KINDS = (
    "429",
    *(str(status) for status in AFTER_STATUSES),
    *(f"{status}_after" for status in AFTER_STATUSES),
    "delay",
    "trickle",
    "redirect",
    "drop_before",
    "drop_after",
)
_ALIASES = {"drop": "drop_before"}
STATUS_DETAIL = {
    429: "Rate limit exceeded; retry after the time in Retry-After",
    500: "Internal server error (emulated fault)",
    502: "Bad gateway (emulated fault)",
    503: "Service overloaded (emulated fault); try again later",
    504: "Gateway timeout (emulated fault)",
}
_FIELDS = ("route", "kind", "rate", "count", "skip", "retry_after", "delay", "status", "location")


def _seconds(data: dict[str, Any], name: str, needed: bool) -> float | None:
    """Return field ``name`` of ``data`` as seconds (1 if ``needed`` and absent); refuse a negative."""
    value = data.get(name)
    if value is None:
        return 1.0 if needed else None
    value = float(value)
    if not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be a number of seconds, not negative")
    return value


def _redirect_fields(data: dict[str, Any], kind: str) -> tuple[int | None, str | None]:
    """Return the checked ``status`` and ``location`` of a rule; both belong to ``redirect`` only."""
    status, location = data.get("status"), data.get("location")
    if kind != "redirect":
        for name, value in (("status", status), ("location", location)):
            if value is not None:
                raise ValueError(f"{name} applies only to the redirect kind, not to {kind}")
        return None, None
    if status is None:
        status = 307
    if isinstance(status, bool) or str(status).strip() not in {str(s) for s in REDIRECT_STATUSES}:
        raise ValueError(
            f"redirect status must be one of {', '.join(map(str, REDIRECT_STATUSES))}, got {status!r}"
        )
    if not isinstance(location, str) or not location.strip():
        raise ValueError("the redirect kind needs a location (the URL of its Location header)")
    # A header value cannot hold a line break; one would split the answer's headers.
    if any(ch in location for ch in "\r\n\x00"):
        raise ValueError("location must not contain line breaks")
    return int(status), location.strip()


@dataclass
class FaultRule:
    route: str
    kind: str
    rate: float = 1.0
    count: int | None = None
    skip: int = 0
    retry_after: float | str | None = None
    delay: float | None = None
    status: int | None = None
    location: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build and validate a rule; raise ``ValueError`` with a readable message.

        :param data: the rule's fields, as in the module docstring.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a fault rule must be an object, got {data!r}")
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        route = data.get("route", "*")
        if not isinstance(route, str) or (route != "*" and route not in OPERATION_IDS):
            raise ValueError(f"unknown route {route!r}; use '*' or one of {', '.join(sorted(OPERATION_IDS))}")
        kind = str(data.get("kind", "")).strip().lower()
        kind = _ALIASES.get(kind, kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {data.get('kind')!r}; use one of {', '.join(FAULT_KINDS)}")
        rate = data.get("rate", 1.0)
        rate = 1.0 if rate is None else float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        count = data.get("count")
        if count is not None:
            if isinstance(count, bool) or int(count) != count or int(count) < 1:
                raise ValueError(f"count must be a positive integer, got {count!r}")
            count = int(count)
        skip = data.get("skip") or 0
        if isinstance(skip, bool) or int(skip) != skip or int(skip) < 0:
            raise ValueError(f"skip must be a whole number of requests, got {skip!r}")
        retry_after = data.get("retry_after")
        if retry_after is not None and not isinstance(retry_after, str):
            retry_after = float(retry_after)
            if retry_after < 0:
                raise ValueError("retry_after must not be negative")
        if kind == "429" and retry_after is None:
            retry_after = 1.0
        delay = _seconds(data, "delay", needed=kind in ("delay", "trickle"))
        status, location = _redirect_fields(data, kind)
        return cls(
            route=route,
            kind=kind,
            rate=rate,
            count=count,
            skip=int(skip),
            retry_after=retry_after,
            delay=delay,
            status=status,
            location=location,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def number(text: str) -> float | int:
    """Return ``text`` as an int if it is a whole number, else as a float."""
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_fault_spec(spec: str) -> FaultRule:
    """Parse the CLI form ``route:kind[:rate][:key=value...]``.

    Examples: ``upload_file:drop_after:0.2``, ``*:429:0.1:retry_after=2``,
    ``get_alignment_job:503:count=1``, ``*:delay:delay=0.5``, ``create_fine_tune:504_after:count=1``,
    ``get_data_job:trickle:delay=2``, ``list_files:redirect:status=302:location=http://127.0.0.1:9/x``.
    A value may contain colons (an HTTP-date ``retry_after``, a URL ``location``).

    :param spec: the rule as one string.
    """
    parts = spec.split(":")
    if len(parts) < 2:
        raise ValueError(f"fault spec {spec!r} must look like route:kind[:rate][:key=value...]")
    data: dict[str, Any] = {"route": parts[0].strip(), "kind": parts[1].strip()}
    key: str | None = None
    for token in parts[2:]:
        if "=" in token and token.split("=", 1)[0].strip().isidentifier():
            key, value = (s.strip() for s in token.split("=", 1))
            data[key] = value
        elif key is not None:  # continuation of a value that held a colon (an HTTP-date, a URL)
            data[key] = f"{data[key]}:{token}"
        elif "rate" not in data:
            data["rate"] = token.strip()
        else:
            raise ValueError(f"fault spec {spec!r}: unexpected part {token!r}")
    try:
        for name in ("rate", "delay"):
            if name in data:
                data[name] = float(data[name])
        for name in ("count", "skip", "status"):
            if name in data:
                data[name] = int(data[name])
    except ValueError:
        raise ValueError(f"fault spec {spec!r}: {name} must be a number, got {data[name]!r}") from None
    if "retry_after" in data:
        with contextlib.suppress(ValueError):  # else an HTTP-date
            data["retry_after"] = number(data["retry_after"])
    return FaultRule.from_dict(data)


class FaultSet:
    """The active rules, thread-safe. ``pick`` decides (and consumes counts) per request."""

    def __init__(self, rules: Iterable[FaultRule] = ()) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = list(rules)
        self._random = random.Random()

    def set(self, rules: Iterable[FaultRule]) -> None:
        with self._lock:
            self._rules = list(rules)

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_dict() for r in self._rules]

    def pick(self, route: str) -> FaultRule | None:
        """The rule that applies to this request (first match wins), or None."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if rule.route != "*" and rule.route != route:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return rule
                if rule.rate >= 1.0 or self._random.random() < rule.rate:
                    return rule
        return None
