"""What stands in front of the API as a gateway would: the API-key check and the generate route's deprecation headers.

Both are ASGI layers rather than code in the routes, so that answers the routes never make (a
422 from body parsing, a 401 from the key check, a 404 for an unknown path) are treated alike.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi.responses import JSONResponse

from airflow_provider_seekrflow.client.alignment import GENERATE_ALIGNMENT
from airflow_provider_seekrflow.emulator.routes import resolve_route
from airflow_provider_seekrflow.emulator.state import EmulatorState

__all__ = ["GENERATE_DEPRECATION", "GENERATE_LINK", "GENERATE_SUNSET", "ApiKeyLayer", "DeprecationLayer"]

# The generate route's deprecation, as HTTP headers. RFC 9745: a structured-field date,
# ``@`` + epoch seconds (1767225600 is 2026-01-01T00:00:00Z). RFC 8594: an HTTP-date.
GENERATE_DEPRECATION = "@1767225600"
GENERATE_SUNSET = "Wed, 30 Jun 2027 23:59:59 GMT"
GENERATE_LINK = (
    '<https://docs.seekr.com/seekrflow/data-jobs>; rel="successor-version", '
    '<https://docs.seekr.com/seekrflow/deprecations>; rel="deprecation"'
)


class ApiKeyLayer:
    """Checks ``Authorization: <key>`` (the bare key) on every HTTP request: the API and ``/_emulator``.

    The admin API can wipe the state and read the journal, so it needs the key as much as the API
    does; ``/_emulator/health`` too, so nothing about the process answers a stranger. The key is
    compared in constant time, so the time of a refusal does not tell how much of a guess was right.
    """

    def __init__(self, app: Any, api_key: str) -> None:
        """Wrap ``app``.

        :param app: the ASGI app behind the check.
        :param api_key: the one key accepted.
        """
        self.app = app
        self.api_key = api_key.encode("latin-1")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = None
            for key, value in scope["headers"]:
                if key == b"authorization":
                    given = value
                    break
            if given is None or not hmac.compare_digest(given, self.api_key):
                if given is None:
                    detail = "Missing API key: send it in the Authorization header"
                elif given.startswith(b"Bearer ") and hmac.compare_digest(given[7:], self.api_key):
                    detail = "Invalid API key: send the bare key in Authorization, without 'Bearer '"
                else:
                    detail = "Invalid API key"
                await JSONResponse({"detail": detail}, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class DeprecationLayer:
    """Adds the deprecation headers to every answer of the generate route while the switch is on."""

    HEADERS = (
        (b"deprecation", GENERATE_DEPRECATION.encode("latin-1")),
        (b"sunset", GENERATE_SUNSET.encode("latin-1")),
        (b"link", GENERATE_LINK.encode("latin-1")),
    )

    def __init__(self, app: Any, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or not self.state.config["deprecation_headers"]
            or resolve_route(scope["method"], scope["path"]) != GENERATE_ALIGNMENT.name
        ):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *self.HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
