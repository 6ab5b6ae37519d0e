"""The asynchronous SeekrFlow hook used by triggers: never blocks the event loop."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from airflow_provider_seekrflow._client import alignment, files
from airflow_provider_seekrflow._client.async_pool import TRANSPORT_ERRORS, SharedPool
from airflow_provider_seekrflow._client.config import ClientConfig
from airflow_provider_seekrflow._client.deprecation import warn_if_deprecated
from airflow_provider_seekrflow._client.endpoints import Endpoint
from airflow_provider_seekrflow._client.errors import (
    error_for_status,
    read_answer,
)
from airflow_provider_seekrflow._client.retry import RetryPolicy
from airflow_provider_seekrflow._client.transport_errors import from_httpcore_error
from airflow_provider_seekrflow.hooks.base import SeekrFlowBaseHook, connection_config
from airflow_provider_seekrflow.models import AlignmentJob, AlignmentOutput, SeekrFlowFile

# A connection looked up by one trigger serves the others of the same connection for this long,
# so ten thousand triggers starting together cost one lookup, while a rotated key is seen soon.
CONFIG_TTL_SECONDS = 60.0


class _LoopShared:
    """Connection settings and HTTP pools shared by the triggers running on one event loop."""

    def __init__(self) -> None:
        self.configs: dict[tuple[str, float | None, int | None], tuple[float, ClientConfig]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.pools: dict[ClientConfig, SharedPool] = {}


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShared] = weakref.WeakKeyDictionary()


def _loop_shared() -> _LoopShared:
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    if shared is None:
        shared = _SHARED[loop] = _LoopShared()
    return shared


class SeekrFlowAsyncHook(SeekrFlowBaseHook):
    """
    Follow and cancel alignment jobs from an event loop, with the sync hook's auth, retries and errors.

    Hooks of the same connection on one event loop share one pool of HTTP connections, so a
    triggerer running many SeekrFlow triggers keeps a few sockets open rather than one per trigger.

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

    async def get_config(self) -> ClientConfig:
        """Return the connection's client settings, looked up without blocking the loop."""
        if self._config is not None:
            return self._config
        shared = _loop_shared()
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
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

        conn = await get_async_connection(self.seekrflow_conn_id, hook=self)
        extras = await get_async_extra_dejson(conn)
        return connection_config(
            self.seekrflow_conn_id,
            host=conn.host,
            port=conn.port,
            schema=conn.schema,
            password=conn.password,
            extras=extras,
            timeout=self._timeout,
            max_retries=self._max_retries,
        )

    async def pool(self) -> SharedPool:
        """Return the HTTP pool shared by this connection's hooks on the running loop."""
        config = await self.get_config()
        shared = _loop_shared()
        pool = shared.pools.get(config)
        if pool is None:
            pool = shared.pools[config] = SharedPool(config)
        return pool

    async def _call_json(self, endpoint: Endpoint, model: Any, *, ids: dict[str, str] | None = None) -> Any:
        config = await self.get_config()
        pool = await self.pool()
        path = endpoint.render(**(ids or {}))

        async def attempt() -> Any:
            try:
                status, headers, body = await pool.request(endpoint.method, path)
            except TRANSPORT_ERRORS as err:
                raise from_httpcore_error(
                    err, method=endpoint.method, path=path, base_url=config.base_url
                ) from None
            warn_if_deprecated(endpoint, headers, self.log)
            if status >= 400:
                raise error_for_status(
                    method=endpoint.method, path=path, status=status, headers=headers, body=body
                )
            return read_answer(
                model,
                method=endpoint.method,
                path=path,
                status=status,
                headers=headers,
                body=body,
            )

        try:
            # Most polls succeed on the first try: only a failure pays for building the retry machinery.
            return await attempt()
        except Exception as err:
            policy = RetryPolicy(max_retries=config.max_retries)
            if config.max_retries == 0 or not policy.should_retry(err, endpoint):
                raise
            first_failure = err
        return await self._retry(endpoint, policy, attempt, first_failure)

    async def _retry(
        self, endpoint: Endpoint, policy: RetryPolicy, attempt: Any, first_failure: BaseException
    ) -> Any:
        import tenacity

        replayed = [first_failure]

        async def first_then_again() -> Any:
            # Tenacity counts the failed first try as its own attempt 1: same waits, same log lines.
            if replayed:
                raise replayed.pop()
            return await attempt()

        return await tenacity.AsyncRetrying(**policy.tenacity_arguments(endpoint, self.log))(first_then_again)

    async def get_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Return an alignment job.

        :param job_id: The job's id.
        """
        return await self._call_json(alignment.GET_ALIGNMENT_JOB, AlignmentJob, ids={"job_id": job_id})

    async def cancel_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Cancel an alignment job; a job that already ended is returned unchanged.

        :param job_id: The job's id.
        """
        return await self._call_json(alignment.CANCEL_ALIGNMENT_JOB, AlignmentJob, ids={"job_id": job_id})

    async def get_alignment_outputs(self, job_id: str) -> list[AlignmentOutput]:
        """
        Return an alignment job's output files.

        :param job_id: The job's id.
        """
        return await self._call_json(
            alignment.GET_ALIGNMENT_OUTPUTS, list[AlignmentOutput], ids={"job_id": job_id}
        )

    async def get_file(self, file_id: str) -> SeekrFlowFile:
        """
        Return a stored file's metadata.

        :param file_id: The file's id.
        """
        return await self._call_json(files.GET_FILE, SeekrFlowFile, ids={"file_id": file_id})
