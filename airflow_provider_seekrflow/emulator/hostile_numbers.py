"""Hostile numbers: answer ``NaN``, ``Infinity``, ``1e400`` or a 400-digit integer in numeric fields.

A non-conforming server (or a proxy that rewrites bodies) can write such literals into its JSON;
Python's ``json`` and pydantic accept them. The config key ``hostile_numbers`` maps a field name
to the literal to write there, for example::

    emu.configure(hostile_numbers={"eta_minutes": "NaN", "bytes": 10**400})
    PUT /_emulator/config  {"hostile_numbers": {"eta_minutes": "Infinity", "bytes": "1e400"}}

Every JSON answer of ``/v1/...`` is then rewritten: wherever an object at any depth has that key
with a number or ``null``, the value becomes the literal, written raw into the JSON text (``NaN``,
not ``"NaN"``). Typical keys: ``eta_minutes`` (alignment jobs, and a data job's ``alignment_job``)
and ``bytes`` (files, job outputs); any other numeric field works the same. Keys that an answer
lacks are not added. ``{}`` (the default) turns it off.

A literal is ``NaN``, ``Infinity``, ``-Infinity`` or a JSON number text (``1e12``, ``1e400``); a
Python int or float is written as its JSON text (``10**400`` as 401 digits, ``float("nan")`` as
``NaN``).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any

__all__ = ["HostileNumbersLayer", "checked_hostile_numbers", "rewrite_numbers"]

_LITERAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|NaN|Infinity|-Infinity")
# Long enough for 10**1000, short enough that a typo cannot make every answer megabytes long.
_MAX_LITERAL = 2000


def _literal(key: str, value: Any) -> str:
    """Return the JSON text to write for ``value``; raise ``ValueError`` if it is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(
            f"hostile_numbers[{key!r}] must be a number or a literal such as 'NaN', got {value!r}"
        )
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    text = str(value).strip()  # str() of a huge int raises ValueError past Python's digit limit
    if len(text) > _MAX_LITERAL or not _LITERAL.fullmatch(text):
        raise ValueError(
            f"hostile_numbers[{key!r}] must be NaN, Infinity, -Infinity or a JSON number "
            f"of at most {_MAX_LITERAL} characters, got {text[:40]!r}"
        )
    return text


def checked_hostile_numbers(value: Any) -> dict[str, str]:
    """Return the ``hostile_numbers`` config as field name → literal text; raise ``ValueError`` if bad.

    :param value: a mapping of field names to literals or numbers, as in the module docstring.
    """
    if not isinstance(value, dict):
        raise ValueError('hostile_numbers must be an object such as {"eta_minutes": "NaN"}')
    clean: dict[str, str] = {}
    for key, literal in value.items():
        if not isinstance(key, str) or not key:
            raise ValueError("hostile_numbers keys must be field names")
        clean[key] = _literal(key, literal)
    return clean


def rewrite_numbers(payload: bytes, numbers: dict[str, str]) -> bytes:
    """Return the JSON ``payload`` with the fields named in ``numbers`` set to their raw literals.

    :param payload: a JSON document; anything else is returned unchanged.
    :param numbers: field name → literal text (``checked_hostile_numbers``'s result).
    """
    try:
        data = json.loads(payload)
    except ValueError:
        return payload
    # Each field to replace first gets a marker string no answer contains, then the marker's JSON
    # text is swapped for the literal: json.dumps itself cannot write ``NaN`` for a 400-digit number.
    marker = f"hostile-number-{uuid.uuid4().hex}-"
    hit = False

    def walk(node: Any) -> Any:
        nonlocal hit
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key in numbers and (
                value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            ):
                out[key] = marker + key
                hit = True
            else:
                out[key] = walk(value)
        return out

    text = json.dumps(walk(data), separators=(",", ":"))  # as compact as the API's own answers
    if not hit:
        return payload
    for key, literal in numbers.items():
        text = text.replace(json.dumps(marker + key), literal)
    return text.encode()


class HostileNumbersLayer:
    """ASGI layer that rewrites the JSON answers of ``/v1/...`` while ``hostile_numbers`` is set."""

    def __init__(self, app: Any, config: Any) -> None:
        """Wrap ``app``.

        :param app: the ASGI app whose answers to rewrite.
        :param config: a callable returning the current config (read per request, so a change applies at once).
        """
        self.app = app
        self.config = config

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        numbers = self.config().get("hostile_numbers") if scope["type"] == "http" else None
        if not numbers or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def rewriting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                types = [v for k, v in message.get("headers", ()) if k.lower() == b"content-type"]
                if types and types[0].split(b";")[0].strip() == b"application/json":
                    held["start"] = message  # sent with the rewritten body, whose length changes
                    return
            elif message["type"] == "http.response.body" and "start" in held:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = rewrite_numbers(b"".join(chunks), numbers)
                start = held.pop("start")
                headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, rewriting_send)
