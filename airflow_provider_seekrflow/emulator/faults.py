"""Fault injection: rules, their CLI form, and the outermost ASGI layer that applies them.

A rule is ``{"route", "kind", "rate", "count", "retry_after", "delay"}``:

- ``route``: an openapi operationId (``upload_file``, ``get_alignment_job``...) or ``"*"``.
- ``kind``: ``429`` (with ``Retry-After``), ``500``, ``502``, ``503``, ``delay`` (sleep, then serve
  normally), ``drop``/``drop_before`` (close the TCP connection without a response, before the
  request is processed) or ``drop_after`` (process the request, then close without a response).
- ``rate``: share of matching requests hit, 0..1 (default 1).
- ``count``: if set, hit exactly the next ``count`` matching requests, then the rule is spent.
- ``retry_after``: seconds (number) or an HTTP-date string, for 429 (default 1).
- ``delay``: seconds, for ``delay`` (default 1).

The layer (``EmulatorLayer``) also records every ``/v1/...`` request in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_seekrflow.emulator.journal import Journal
from airflow_provider_seekrflow.emulator.routes import OPERATION_IDS, resolve_route

__all__ = ["FAULT_KINDS", "EmulatorLayer", "FaultRule", "FaultSet", "parse_fault_spec"]

log = logging.getLogger("seekrflow.emulator")

FAULT_KINDS = ("429", "500", "502", "503", "delay", "drop_before", "drop_after")
_ALIASES = {"drop": "drop_before"}
_STATUS_DETAIL = {
    429: "Rate limit exceeded; retry after the time in Retry-After",
    500: "Internal server error (emulated fault)",
    502: "Bad gateway (emulated fault)",
    503: "Service overloaded (emulated fault); try again later",
}


@dataclass
class FaultRule:
    route: str
    kind: str
    rate: float = 1.0
    count: int | None = None
    retry_after: float | str | None = None
    delay: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build and validate a rule; raises ``ValueError`` with a readable message."""
        if not isinstance(data, dict):
            raise ValueError(f"a fault rule must be an object, got {data!r}")
        unknown = set(data) - {"route", "kind", "rate", "count", "retry_after", "delay"}
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
        retry_after = data.get("retry_after")
        if retry_after is not None and not isinstance(retry_after, str):
            retry_after = float(retry_after)
            if retry_after < 0:
                raise ValueError("retry_after must not be negative")
        if kind == "429" and retry_after is None:
            retry_after = 1.0
        delay = data.get("delay")
        if delay is not None:
            delay = float(delay)
            if delay < 0:
                raise ValueError("delay must not be negative")
        if kind == "delay" and delay is None:
            delay = 1.0
        return cls(route=route, kind=kind, rate=rate, count=count, retry_after=retry_after, delay=delay)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_fault_spec(spec: str) -> FaultRule:
    """Parse the CLI form ``route:kind[:rate][:key=value...]``.

    Examples: ``upload_file:drop_after:0.2``, ``*:429:0.1:retry_after=2``,
    ``get_alignment_job:503:count=1``, ``*:delay:delay=0.5``. A ``retry_after`` HTTP-date may
    contain colons (``retry_after=Wed, 21 Oct 2015 07:28:00 GMT``).
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
        elif key is not None:  # continuation of a value that held a colon (an HTTP-date)
            data[key] = f"{data[key]}:{token}"
        elif "rate" not in data:
            data["rate"] = token.strip()
        else:
            raise ValueError(f"fault spec {spec!r}: unexpected part {token!r}")
    for name in ("rate", "delay"):
        if name in data:
            data[name] = float(data[name])
    if "count" in data:
        data["count"] = int(data["count"])
    if "retry_after" in data:
        with contextlib.suppress(ValueError):  # else an HTTP-date
            data["retry_after"] = _number(data["retry_after"])
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
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return rule
                if rule.rate >= 1.0 or self._random.random() < rule.rate:
                    return rule
        return None


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _drain(receive: Any) -> None:
    """Read (and discard) the rest of the request body so a client can read our response."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _abort_connection(send: Any) -> bool:
    """Close the client's TCP connection at once, without a response (uvicorn h11/httptools)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    if hasattr(cycle, "disconnected"):
        cycle.disconnected = True  # type: ignore[union-attr]  # uvicorn then neither logs nor answers for this request
    return True


async def _send_json(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class EmulatorLayer:
    """Outermost ASGI app: journals ``/v1/...`` requests and applies fault rules before the API."""

    def __init__(self, app: Any, faults: FaultSet, journal: Journal) -> None:
        self.app = app
        self.faults = faults
        self.journal = journal

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        route = resolve_route(method, path)
        rule = self.faults.pick(route) if route is not None else None
        entry = self.journal.record(
            method, path, route, _header(scope, b"x-team-id"), rule.kind if rule is not None else None
        )

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        if rule is None:
            await self.app(scope, receive, recording_send)
            return
        kind = rule.kind
        if kind == "delay":
            await asyncio.sleep(rule.delay or 0.0)
            await self.app(scope, receive, recording_send)
        elif kind == "drop_before":
            if _abort_connection(send):
                await asyncio.sleep(0)  # let the server see the connection is gone
                return
            log.warning("drop_before: cannot reach the connection's transport; answering 500")
            await _send_json(recording_send, 500, {"detail": "connection drop not supported"}, [])
        elif kind == "drop_after":
            state = {"dropped": False}

            async def dropping_send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    entry["status"] = message["status"]
                if not state["dropped"]:
                    state["dropped"] = True
                    if not _abort_connection(send):
                        log.warning("drop_after: cannot reach the connection's transport")
                        state["dropped"] = False
                        await send(message)

            await self.app(scope, receive, dropping_send)
            if state["dropped"]:
                await asyncio.sleep(0)
        else:
            status = int(kind)
            headers: list[tuple[bytes, bytes]] = []
            if status == 429:
                ra = rule.retry_after
                if isinstance(ra, float):
                    ra = _number(str(ra))
                headers.append((b"retry-after", str(ra).encode("latin-1")))
            await _drain(receive)
            await _send_json(recording_send, status, {"detail": _STATUS_DETAIL[status]}, headers)
