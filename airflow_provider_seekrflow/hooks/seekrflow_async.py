"""The asynchronous SeekrFlow hook used by triggers: never blocks the event loop."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_seekrflow.client.async_transport import AsyncTransport
from airflow_provider_seekrflow.client.config import ClientConfig
from airflow_provider_seekrflow.exceptions import SeekrFlowAuthenticationError
from airflow_provider_seekrflow.hooks.base import SeekrFlowBaseHook, amask_api_key
from airflow_provider_seekrflow.jobs.base import Operation, run_async

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_seekrflow.client.endpoints import Call

T = TypeVar("T")

# A connection looked up by one trigger serves the others of the same connection for this long,
# so ten thousand triggers starting together cost one lookup, while a rotated key is seen soon: a
# hook looks the connection up again on its first request after this long, a running wait included.
CONFIG_TTL_SECONDS = 60.0
UNAUTHORIZED = 401


class _Cached:
    """Connection settings looked up once: when the lookup began, and until when they serve."""

    __slots__ = ("config", "expires", "looked_up")

    def __init__(self, config: ClientConfig, looked_up: float) -> None:
        self.config = config
        self.looked_up = looked_up
        self.expires = looked_up + CONFIG_TTL_SECONDS


class _LoopConfigs:
    """Connection settings looked up on one event loop, and the locks that make it one lookup."""

    def __init__(self) -> None:
        self.configs: dict[tuple[str, float | None, int | None], _Cached] = {}
        self.locks: dict[str, asyncio.Lock] = {}


_CONFIGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConfigs] = weakref.WeakKeyDictionary()


def _loop_configs() -> _LoopConfigs:
    loop = asyncio.get_running_loop()
    shared = _CONFIGS.get(loop)
    if shared is None:
        shared = _CONFIGS[loop] = _LoopConfigs()
    return shared


class SeekrFlowAsyncHook(SeekrFlowBaseHook):
    """
    Follow and cancel alignment jobs, data jobs and fine-tunes from an event loop, with the sync hook's auth, retries and errors.

    Hooks of the same connection on one event loop share one aiohttp session, so a triggerer
    running thousands of SeekrFlow triggers keeps a few sockets open rather than one per trigger.
    A hook used as ``async with hook:`` holds that session from its first request until the block
    ends (a trigger does, for its whole wait); a call made outside such a block holds it for that
    call only. The session closes when its last holder lets go, so nothing is left open when the
    event loop ends. Proxies (``HTTP(S)_PROXY``, ``NO_PROXY``) and TLS trust (the connection's
    ``verify`` extra, else ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``) are honoured as by the sync hook.

    :param seekrflow_conn_id: The Airflow connection to use.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param max_retries: Retries of a failed request, overriding the connection's ``max_retries`` extra.
    """

    hook_name = "SeekrFlow (async)"

    def __init__(
        self,
        seekrflow_conn_id: str = SeekrFlowBaseHook.default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(seekrflow_conn_id, timeout=timeout, max_retries=max_retries)
        self._config: ClientConfig | None = None
        self._config_expires = 0.0
        self._transport: AsyncTransport | None = None
        self._holders = 0

    async def __aenter__(self) -> SeekrFlowAsyncHook:
        # Nothing is looked up or opened here: the first request does both, where its errors are handled.
        self._holders += 1
        if self._holders == 1 and self._transport is not None:
            self._transport.hold()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._holders -= 1
        if self._holders == 0 and self._transport is not None:
            await self._transport.release()

    async def get_config(self) -> ClientConfig:
        """Return the connection's client settings, looked up without blocking the loop, and again once ``CONFIG_TTL_SECONDS`` old."""
        if self._config is not None and time.monotonic() < self._config_expires:
            return self._config
        return await self._refresh_config()

    async def _refresh_config(self, *, looked_up_since: float | None = None) -> ClientConfig:
        """
        Return the connection's settings from the loop's cache, looking them up when stale.

        :param looked_up_since: Take cached settings only if their lookup began at or after this
            monotonic moment (after a 401, so one refused key costs one lookup for all the
            connection's hooks on the loop, not one each).
        """
        shared = _loop_configs()
        key = (self.seekrflow_conn_id, self._timeout, self._max_retries)
        lock = shared.locks.setdefault(self.seekrflow_conn_id, asyncio.Lock())
        async with lock:
            cached = shared.configs.get(key)
            if (
                cached is None
                or cached.expires <= time.monotonic()
                or (looked_up_since is not None and cached.looked_up < looked_up_since)
            ):
                started = time.monotonic()
                cached = shared.configs[key] = _Cached(await self._lookup_config(), started)
        self._config, self._config_expires = cached.config, cached.expires
        return cached.config

    async def _lookup_config(self) -> ClientConfig:
        from airflow.providers.common.compat.connection import get_async_connection

        conn = await get_async_connection(self.seekrflow_conn_id, hook=self)
        config = self._config_from(conn, await _extra_dejson(conn), mask=False)
        await amask_api_key(config.api_key)
        return config

    async def transport(self) -> AsyncTransport:
        """Return the transport of this hook's connection, held for as long as the hook is (``async with``)."""
        config = await self.get_config()
        current = self._transport
        if current is not None and current.config is not config and current.config != config:
            # The connection changed (a rotated key): later requests go out with the new settings.
            # Requests in flight hold the old transport themselves (_call) until they end.
            self._transport = None
            if self._holders:
                await current.release()
        if self._transport is None:
            self._transport = AsyncTransport(config, self.log, conn_id=self.seekrflow_conn_id)
            if self._holders:
                self._transport.hold()
        return self._transport

    async def get_conn(self) -> aiohttp.ClientSession:
        """
        Return the aiohttp session this hook's requests go through, shared by the connection's hooks on this loop.

        Only inside ``async with hook:``, which keeps it open; it closes once no hook holds it.
        """
        if not self._holders:
            raise RuntimeError("SeekrFlowAsyncHook.get_conn() needs `async with hook:`, which keeps it open")
        return (await self.transport()).session()

    async def _call(self, call: Call[T]) -> T:
        transport = await self.transport()
        refused: SeekrFlowAuthenticationError | None = None
        try:
            return await _send(transport, call)
        except SeekrFlowAuthenticationError as err:
            if err.status_code != UNAUTHORIZED:
                raise
            refused, refused_at = err, time.monotonic()
        # A key rotated since the last lookup: read the connection again, once, and resend with the
        # new key if there is one (a 401 means the service did nothing). Outside the except clause,
        # so a second failure does not carry the first as its context.
        config = await self._refresh_config(looked_up_since=refused_at)
        if config == transport.config:
            raise refused
        return await _send(await self.transport(), call)

    async def call(self, call: Call[T]) -> T:
        """
        Send one request and return its answer, reading the connection again once on a 401.

        :param call: The request, e.g. ``data_jobs.get(job_id)``.
        """
        return await self._call(call)

    async def run(self, operation: Operation[T]) -> T:
        """
        Run a job kind's operation (a read, a cancel, a result) on the event loop.

        :param operation: The operation, e.g. ``FINE_TUNE.cancel(job_id)``.
        """
        return await run_async(operation, self._call)


async def _send(transport: AsyncTransport, call: Call[T]) -> T:
    """
    Send ``call`` through ``transport``, holding it while in flight, so a key rotation cannot close its session.

    :param transport: The transport of the settings the call was made with.
    :param call: The request.
    """
    transport.hold()
    try:
        return await transport.call(call)
    finally:
        await transport.release()


async def _extra_dejson(conn: Any) -> dict[str, Any]:
    """
    Return the connection's extra as a dict without blocking the event loop on the secrets masker.

    :param conn: The connection.
    """
    try:
        from airflow.providers.common.compat.connection import (  # type: ignore[attr-defined]
            get_async_extra_dejson,
        )
    except ImportError:
        # common-compat before 1.23 (the newest on Python 3.10 is 1.20) lacks it: do what it does.
        # extra_dejson masks secrets through a synchronous call to the supervisor, which must not
        # run on the loop while another call is in flight there.
        if hasattr(conn, "aextra_dejson"):
            return await conn.aextra_dejson()
        from asgiref.sync import sync_to_async

        return await sync_to_async(lambda: conn.extra_dejson)()
    return await get_async_extra_dejson(conn)
