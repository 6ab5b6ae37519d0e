"""The HTTP connections the async hook's triggers share: httpcore connections in a small O(1) pool."""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

from airflow_provider_seekrflow._client.config import ClientConfig
from airflow_provider_seekrflow._client.errors import MAX_JSON_BODY_BYTES

# Connections, and so requests in flight, of one Airflow connection's shared pool: enough for
# hundreds of polls a second at a remote service's latency, while thousands of triggers wait their
# turn on a semaphore instead of in a queue that every request would rescan.
POOL_CONNECTIONS = 16
# Seconds an idle connection is kept, as httpx does by default.
KEEPALIVE_SECONDS = 5.0
# Parsed URLs kept per pool: a trigger polls the same path for hours, and parsing it costs more than the poll.
URL_CACHE_SIZE = 20_000

# What httpcore raises when a request gets no answer; anything else is a bug, not the network.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


def _socket_readable(sock: socket.socket) -> bool:
    try:
        fd = sock.fileno()
    except OSError:
        return True
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """A network stream that answers httpcore's per-request 'is this idle socket readable?' cheaply.

    httpcore asks it of every idle pooled connection on every request; through anyio's TLS stream
    each answer rebuilds a table of attributes, which came to a fifth of a poll's CPU.
    """

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _socket_readable(self._socket)
        return self._stream.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class SharedPool:
    """
    One Airflow connection's HTTP/1.1 connections and prepared request parts, shared on one event loop.

    httpcore's own pool rescans every connection for every queued request on each request event,
    which made a poll's cost grow with the number of waiting triggers (a third of a poll's CPU at
    a thousand triggers). Here idle connections wait on a stack and requests on a semaphore, so
    taking a connection costs the same however many triggers share it.

    :param config: The connection's client settings.
    """

    def __init__(self, config: ClientConfig) -> None:
        self._ssl_context = _ssl_context(config.verify)
        self._backend = _Backend()
        self._slots = asyncio.Semaphore(POOL_CONNECTIONS)
        self._idle: list[httpcore.AsyncHTTPConnection] = []
        base = httpcore.URL(config.base_url)
        # Below httpx nothing adds Host for us, and HTTP/1.1 requires it.
        host = base.host if base.port is None else base.host + b":" + str(base.port).encode()
        self._headers = [(b"Host", host)] + [
            (name.encode(), value.encode()) for name, value in config.headers().items()
        ]
        self._timeouts = {
            "timeout": {"connect": config.connect_timeout, "read": config.timeout, "write": config.timeout}
        }
        self._base_url = config.base_url
        self._origin = base.origin
        self._urls: dict[str, httpcore.URL] = {}

    def _url(self, path: str) -> httpcore.URL:
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[path] = httpcore.URL(self._base_url + path)
        return url

    async def _take(self) -> httpcore.AsyncHTTPConnection:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(
            origin=self._origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=self._backend,
        )

    async def request(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """
        Send one request and return its status, headers (lower-case names) and body.

        A body far larger than any SeekrFlow answer is cut short: it is not SeekrFlow talking.

        :param method: The HTTP method.
        :param path: The path under the base URL.
        """
        async with self._slots:
            connection = await self._take()
            reusable = False
            try:
                request = httpcore.Request(
                    method, self._url(path), headers=self._headers, extensions=self._timeouts
                )
                response = await connection.handle_async_request(request)
                try:
                    chunks = []
                    size = 0
                    async for chunk in response.aiter_stream():
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > MAX_JSON_BODY_BYTES:
                            break
                    else:
                        reusable = True
                finally:
                    await response.aclose()
            finally:
                if reusable and connection.is_available():
                    self._idle.append(connection)
                else:
                    await connection.aclose()
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers
        }
        return response.status, headers, b"".join(chunks)

    async def aclose(self) -> None:
        """Close the idle connections."""
        while self._idle:
            await self._idle.pop().aclose()
