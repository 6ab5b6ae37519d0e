"""The asynchronous SeekrFlow hook used by triggers: never blocks the event loop."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow._client import endpoints
from airflow_provider_seekrflow._client.config import ClientConfig
from airflow_provider_seekrflow._client.endpoints import Endpoint
from airflow_provider_seekrflow._client.errors import (
    MAX_JSON_BODY_BYTES,
    decode_json,
    error_for_status,
    read_model,
)
from airflow_provider_seekrflow._client.retry import RetryPolicy
from airflow_provider_seekrflow._client.transport import from_httpx_error
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowBaseHook, connection_config
from airflow_provider_seekrflow.models import AlignmentJob, AlignmentOutput, SeekrFlowFile

if TYPE_CHECKING:
    import httpx

# A connection looked up by one trigger serves the others of the same connection for this long,
# so ten thousand triggers starting together cost one lookup, while a rotated key is seen soon.
CONFIG_TTL_SECONDS = 60.0
POOL_CONNECTIONS = 64
# Requests of one shared client in flight at once; the others wait on a semaphore. httpcore's pool
# rescans every queued request and every pooled connection (polling each idle socket) on each request
# event, so letting thousands of triggers queue inside it makes each poll cost grow with the queue.
MAX_IN_FLIGHT = 16


class _LoopShared:
    """Connection settings and HTTP clients shared by the triggers running on one event loop."""

    def __init__(self) -> None:
        self.configs: dict[tuple[str, float | None, int | None], tuple[float, ClientConfig]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.clients: dict[ClientConfig, httpx.AsyncClient] = {}
        self.gates: dict[ClientConfig, asyncio.Semaphore] = {}


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShared] = weakref.WeakKeyDictionary()


def _loop_shared() -> _LoopShared:
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    if shared is None:
        shared = _SHARED[loop] = _LoopShared()
    return shared


def _new_client(config: ClientConfig) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        base_url=config.base_url,
        headers=config.headers(),
        timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout, pool=None),
        limits=httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS),
        verify=config.verify,
        trust_env=False,
    )


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
            password=conn.password,
            extras=extras,
            timeout=self._timeout,
            max_retries=self._max_retries,
        )

    async def client(self) -> httpx.AsyncClient:
        """Return the HTTP client shared by this connection's hooks on the running loop."""
        config = await self.get_config()
        shared = _loop_shared()
        client = shared.clients.get(config)
        if client is None or client.is_closed:
            client = shared.clients[config] = _new_client(config)
        return client

    async def _call_json(self, endpoint: Endpoint, model: Any, *, ids: dict[str, str] | None = None) -> Any:
        import httpx
        import tenacity

        config = await self.get_config()
        client = await self.client()
        gates = _loop_shared().gates
        gate = gates.get(config) or gates.setdefault(config, asyncio.Semaphore(MAX_IN_FLIGHT))
        path = endpoint.render(**(ids or {}))
        policy = RetryPolicy(max_retries=config.max_retries)

        async def attempt() -> Any:
            try:
                async with gate:
                    response = await client.request(endpoint.method, path)
            except httpx.HTTPError as err:
                raise from_httpx_error(
                    err, method=endpoint.method, path=path, base_url=config.base_url
                ) from None
            body = response.content[: MAX_JSON_BODY_BYTES + 1]
            if response.status_code >= 400:
                raise error_for_status(
                    method=endpoint.method,
                    path=path,
                    status=response.status_code,
                    headers=response.headers,
                    body=body,
                )
            payload = decode_json(
                method=endpoint.method,
                path=path,
                status=response.status_code,
                headers=response.headers,
                body=body,
            )
            return read_model(model, payload, method=endpoint.method, path=path)

        return await tenacity.AsyncRetrying(**policy.tenacity_arguments(endpoint, self.log))(attempt)

    async def get_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Return an alignment job.

        :param job_id: The job's id.
        """
        return await self._call_json(endpoints.GET_ALIGNMENT_JOB, AlignmentJob, ids={"job_id": job_id})

    async def cancel_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Cancel an alignment job; a job that already ended is returned unchanged.

        :param job_id: The job's id.
        """
        return await self._call_json(endpoints.CANCEL_ALIGNMENT_JOB, AlignmentJob, ids={"job_id": job_id})

    async def get_alignment_outputs(self, job_id: str) -> list[AlignmentOutput]:
        """
        Return an alignment job's output files.

        :param job_id: The job's id.
        """
        return await self._call_json(
            endpoints.GET_ALIGNMENT_OUTPUTS, list[AlignmentOutput], ids={"job_id": job_id}
        )

    async def get_file(self, file_id: str) -> SeekrFlowFile:
        """
        Return a stored file's metadata.

        :param file_id: The file's id.
        """
        return await self._call_json(endpoints.GET_FILE, SeekrFlowFile, ids={"file_id": file_id})
