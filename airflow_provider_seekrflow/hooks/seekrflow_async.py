"""The asynchronous SeekrFlow hook used by triggers: never blocks the event loop."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_seekrflow._client import alignment, data_jobs, files, fine_tunes
from airflow_provider_seekrflow._client.async_transport import AsyncTransport
from airflow_provider_seekrflow._client.config import ClientConfig
from airflow_provider_seekrflow._client.data_jobs import DataJobDetail
from airflow_provider_seekrflow._client.fine_tunes import FineTune, FineTuneEvent
from airflow_provider_seekrflow.exceptions import SeekrFlowAPIError
from airflow_provider_seekrflow.hooks.base import SeekrFlowBaseHook
from airflow_provider_seekrflow.models import AlignmentJob, AlignmentOutput, SeekrFlowFile

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_seekrflow._client.endpoints import Call

T = TypeVar("T")

# A connection looked up by one trigger serves the others of the same connection for this long,
# so ten thousand triggers starting together cost one lookup, while a rotated key is seen soon.
CONFIG_TTL_SECONDS = 60.0


class _LoopConfigs:
    """Connection settings looked up on one event loop, and the locks that make it one lookup."""

    def __init__(self) -> None:
        self.configs: dict[tuple[str, float | None, int | None], tuple[float, ClientConfig]] = {}
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
        """Return the connection's client settings, looked up without blocking the loop."""
        if self._config is not None:
            return self._config
        shared = _loop_configs()
        key = (self.seekrflow_conn_id, self._timeout, self._max_retries)
        lock = shared.locks.setdefault(self.seekrflow_conn_id, asyncio.Lock())
        async with lock:
            cached = shared.configs.get(key)
            if cached is None or cached[0] < time.monotonic():
                config = await self._lookup_config()
                shared.configs[key] = (time.monotonic() + CONFIG_TTL_SECONDS, config)
            else:
                config = cached[1]
        self._config = config
        return config

    async def _lookup_config(self) -> ClientConfig:
        from airflow.providers.common.compat.connection import get_async_connection

        conn = await get_async_connection(self.seekrflow_conn_id, hook=self)
        return self._config_from(conn, await _extra_dejson(conn))

    async def transport(self) -> AsyncTransport:
        """Return the transport of this hook's connection, held for as long as the hook is (``async with``)."""
        config = await self.get_config()
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
        return await (await self.transport()).call(call)

    async def get_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Return an alignment job.

        :param job_id: The job's id.
        """
        return await self._call(alignment.get_job(job_id))

    async def cancel_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Cancel an alignment job; a job that already ended is returned unchanged.

        :param job_id: The job's id.
        """
        return await self._call(alignment.cancel_job(job_id))

    async def get_alignment_outputs(self, job_id: str) -> list[AlignmentOutput]:
        """
        Return an alignment job's output files.

        :param job_id: The job's id.
        """
        return await self._call(alignment.get_outputs(job_id))

    async def get_file(self, file_id: str) -> SeekrFlowFile:
        """
        Return a stored file's metadata.

        :param file_id: The file's id.
        """
        return await self._call(files.get_file(file_id))

    async def get_data_job(self, data_job_id: str) -> DataJobDetail:
        """
        Return a data job with its files' ingestion and its alignment.

        :param data_job_id: The job's id.
        """
        return await self._call(data_jobs.get(data_job_id))

    async def cancel_data_job(self, data_job_id: str) -> DataJobDetail:
        """
        Cancel a data job's running alignment and return the job.

        :param data_job_id: The job's id.
        """
        return await self._call(data_jobs.cancel(data_job_id))

    async def get_fine_tune(self, fine_tune_id: str) -> FineTune:
        """
        Return a fine-tune.

        :param fine_tune_id: The fine-tune's id.
        """
        return await self._call(fine_tunes.get(fine_tune_id))

    async def get_fine_tune_events(self, fine_tune_id: str) -> list[FineTuneEvent]:
        """
        Return a fine-tune's events (epoch, loss, reward), oldest first.

        :param fine_tune_id: The fine-tune's id.
        """
        return (await self._call(fine_tunes.events(fine_tune_id))).data or []

    async def cancel_fine_tune(self, fine_tune_id: str) -> FineTune:
        """
        Cancel a fine-tune with PUT, or POST where the service refuses PUT (the contract lists both).

        :param fine_tune_id: The fine-tune's id.
        """
        try:
            return await self._call(fine_tunes.cancel(fine_tune_id, method="PUT"))
        except SeekrFlowAPIError as err:
            if err.status_code != fine_tunes.METHOD_NOT_ALLOWED:
                raise
        return await self._call(fine_tunes.cancel(fine_tune_id, method="POST"))


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
