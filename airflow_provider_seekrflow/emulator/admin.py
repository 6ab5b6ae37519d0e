"""The emulator's own ``/_emulator`` routes: health, journal, faults, config, reset and forced job ends.

They are no part of the SeekrFlow API: tests and the ``SeekrFlowEmulator`` client drive the
emulator through them, so they stay out of the published schema. They need the API key all the
same (``gateway.ApiKeyLayer``), ``health`` included: they wipe state, set faults and read the journal.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from airflow_provider_seekrflow.emulator.faults import FaultRule
from airflow_provider_seekrflow.emulator.jobs import FAILED, FORCEABLE_STATUSES
from airflow_provider_seekrflow.emulator.refusals import ALIGNMENT_JOB, found, invalid, value_error
from airflow_provider_seekrflow.emulator.state import EmulatorState

__all__ = ["add_admin_routes"]

if TYPE_CHECKING:
    ForceableStatus = str
else:
    # A Literal rather than an enum, so a bad status is refused with pydantic's literal_error.
    ForceableStatus = Literal[FORCEABLE_STATUSES]


class FailRequest(BaseModel):
    status: ForceableStatus = FAILED
    status_message: str | None = None


def _emptying(empty: Callable[[], None]) -> Callable[[], Awaitable[Response]]:
    """Return a handler that calls ``empty`` and answers 204, no body."""

    async def handler() -> Response:
        empty()
        return Response(status_code=204)

    return handler


def add_admin_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register the ``/_emulator`` routes on ``api``, acting on ``state``."""
    store = state.store

    def refused(exc: Exception, value: Any) -> Exception:
        """Return the 422 for a request body ``value`` the state refused with ``exc``."""
        return invalid(value_error(("body",), str(exc), value))

    # DELETE on each of these paths empties what it holds.
    for path, empty in (
        ("/_emulator/journal", state.journal.clear),
        ("/_emulator/faults", state.faults.clear),
        ("/_emulator/state", store.wipe),
    ):
        api.delete(path, include_in_schema=False)(_emptying(empty))

    @api.get("/_emulator/health", include_in_schema=False)
    async def health() -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid(), "data_dir": store.data_dir})

    @api.get("/_emulator/journal", include_in_schema=False)
    async def get_journal(route: str | None = None) -> Response:
        return JSONResponse(state.journal.entries(route))

    @api.get("/_emulator/faults", include_in_schema=False)
    async def get_faults() -> Response:
        return JSONResponse(state.faults.rules())

    @api.put("/_emulator/faults", include_in_schema=False)
    async def put_faults(rules: list[dict[str, Any]] = Body(...)) -> Response:
        try:
            parsed = [FaultRule.from_dict(r) for r in rules]
        except (ValueError, TypeError) as exc:
            raise refused(exc, rules) from None
        state.faults.set(parsed)
        return JSONResponse(state.faults.rules())

    @api.get("/_emulator/config", include_in_schema=False)
    async def get_config() -> Response:
        return JSONResponse(state.config)

    @api.put("/_emulator/config", include_in_schema=False)
    async def put_config(changes: dict[str, Any] = Body(...)) -> Response:
        try:
            return JSONResponse(state.configure(changes))
        except (ValueError, TypeError) as exc:
            raise refused(exc, changes) from None

    @api.delete("/_emulator/config", include_in_schema=False)
    async def reset_config() -> Response:
        return JSONResponse(state.reset_config())

    @api.post("/_emulator/reset", include_in_schema=False)
    async def reset(wipe: bool = False) -> Response:
        state.journal.clear()
        state.faults.clear()
        if wipe:
            store.wipe()
        return JSONResponse(state.reset_config())

    @api.post("/_emulator/alignment/{job_id}/fail", include_in_schema=False)
    async def fail_job(job_id: str, body: FailRequest | None = None) -> Response:
        body = body or FailRequest()
        job = state.jobs.force(job_id, body.status, body.status_message)
        return JSONResponse(found(job, ALIGNMENT_JOB, job_id))
