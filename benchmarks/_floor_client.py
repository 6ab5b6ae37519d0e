"""The floor of the triggerer benchmark: the leanest status poll Python can make, with no HTTP library.

Raw ``asyncio.open_connection`` TLS connections (at most 32, shared by every poller, kept alive on a
stack), a hand-written HTTP/1.1 GET, the status line and ``content-length`` found by hand, the
body read with ``readexactly`` and decoded with ``json.loads``. No retries, no error mapping, no
validation, no proxy or redirect handling: what any HTTP client must at least spend per poll.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

from _common import API_KEY

MAX_CONNECTIONS = 32


class FloorPoller:
    def __init__(self, base_url: str, cafile: str, max_connections: int = MAX_CONNECTIONS) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname
        self.port = parts.port or 443
        self.context = ssl.create_default_context(cafile=cafile)
        self.slots = asyncio.Semaphore(max_connections)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.tail = (
            f" HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: {API_KEY}\r\n"
            "Accept: application/json\r\nUser-Agent: floor\r\n\r\n"
        ).encode()

    async def get_json(self, path: str) -> Any:
        async with self.slots:
            if self.idle:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.context)
            try:
                writer.write(b"GET " + path.encode() + self.tail)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                at = head.lower().find(b"\r\ncontent-length:")
                length = int(head[at + 17 : head.index(b"\r\n", at + 2)])
                body = await reader.readexactly(length)
            except BaseException:
                writer.close()
                raise
            self.idle.append((reader, writer))
        if status != 200:
            raise RuntimeError(f"GET {path} returned {status}")
        return json.loads(body)

    async def aclose(self) -> None:
        while self.idle:
            _, writer = self.idle.pop()
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass
