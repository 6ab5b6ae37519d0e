"""The outermost ASGI layer: journal every ``/v1/...`` request and apply the fault rule it draws.

What each kind does is described in ``faults``; this module is how, at the ASGI level: answers the
API never makes are sent from here, and answers it does make are held back, cut or slowed down by
wrapping the ``send`` the API writes to.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from airflow_provider_seekrflow.emulator.faults import STATUS_DETAIL, FaultRule, FaultSet, number
from airflow_provider_seekrflow.emulator.journal import Journal
from airflow_provider_seekrflow.emulator.routes import resolve_route

__all__ = ["EmulatorLayer"]

log = logging.getLogger("seekrflow.emulator")

# A trickle sleeps at most this long at once, so a client that went away is noticed soon.
_TRICKLE_CHECK_SECONDS = 0.25


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


def _client_gone(send: Any) -> bool:
    """Return whether the client of this request has closed its connection (uvicorn h11/httptools)."""
    cycle = getattr(send, "__self__", None)
    if getattr(cycle, "disconnected", False):
        return True
    transport = getattr(cycle, "transport", None)
    return transport is not None and transport.is_closing()


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
        """Wrap ``app``.

        :param app: the ASGI app that answers (the API behind its gateway layers).
        :param faults: the rules to draw from, per request.
        :param journal: where each ``/v1/...`` request is recorded.
        """
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
        elif kind == "trickle":
            await self.app(scope, receive, self._trickling(send, recording_send, rule.delay or 0.0))
        elif kind == "drop_before":
            if _abort_connection(send):
                await asyncio.sleep(0)  # let the server see the connection is gone
                return
            log.warning("drop_before: cannot reach the connection's transport; answering 500")
            await _send_json(recording_send, 500, {"detail": "connection drop not supported"}, [])
        elif kind == "drop_after":
            await self._drop_after(scope, receive, send, entry)
        elif kind == "redirect":
            await _drain(receive)
            await self._redirect(recording_send, rule)
        elif kind.endswith("_after"):
            await self.app(scope, receive, _swallow)
            status = int(kind.removesuffix("_after"))
            await _send_json(recording_send, status, {"detail": STATUS_DETAIL[status]}, [])
        else:
            await _drain(receive)
            await self._status(recording_send, rule)

    async def _drop_after(
        self, scope: dict[str, Any], receive: Any, send: Any, entry: dict[str, Any]
    ) -> None:
        """Serve the request, then close the connection instead of sending the answer."""
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

    @staticmethod
    def _trickling(raw_send: Any, send: Any, delay: float) -> Any:
        """Return a ``send`` that passes the headers on at once and each body byte ``delay`` s apart.

        :param raw_send: the server's own ``send``, to see whether the client went away.
        :param send: where the messages go (the journaling ``send``).
        :param delay: seconds between two bytes.
        """

        async def pause() -> bool:
            """Sleep ``delay`` seconds; return False early if the client went away meanwhile."""
            loop = asyncio.get_running_loop()
            end = loop.time() + delay
            while (left := end - loop.time()) > 0:
                if _client_gone(raw_send):
                    return False
                await asyncio.sleep(min(left, _TRICKLE_CHECK_SECONDS))
            return not _client_gone(raw_send)

        async def trickling_send(message: dict[str, Any]) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            for i in range(len(body)):
                # A gone client makes the server's send a no-op; stop sleeping for it and let
                # the handler run out, so nothing waits on a connection that no longer exists.
                if _client_gone(raw_send):
                    return
                await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": True})
                if (i < len(body) - 1 or more) and not await pause():
                    return
            if not more:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        return trickling_send

    @staticmethod
    async def _redirect(send: Any, rule: FaultRule) -> None:
        """Answer the rule's 3xx with its ``Location``, as a gateway or a moved service would."""
        location = rule.location or ""
        await _send_json(
            send,
            rule.status or 307,
            {"detail": f"Moved to {location} (emulated fault)"},
            [(b"location", location.encode("utf-8"))],
        )

    @staticmethod
    async def _status(send: Any, rule: FaultRule) -> None:
        """Answer the rule's status (429, 5xx) with a JSON detail, and ``Retry-After`` for a 429."""
        status = int(rule.kind)
        headers: list[tuple[bytes, bytes]] = []
        if status == 429:
            ra = rule.retry_after
            if isinstance(ra, float):
                ra = number(str(ra))
            headers.append((b"retry-after", str(ra).encode("latin-1")))
        await _send_json(send, status, {"detail": STATUS_DETAIL[status]}, headers)


async def _swallow(message: dict[str, Any]) -> None:
    """Take the handler's answer and send nothing: a ``*_after`` fault answers in its place."""
