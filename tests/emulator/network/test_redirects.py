"""
Neither path follows a redirect: a 3xx is a clear error, and nothing reaches the redirect's host.

A redirect server answers 302 or 307 with a ``Location`` on a second local server (a sentinel that
counts its requests), with a signed query in it. Following it would send the request, its
``x-team-id`` and, for a 307, its body to that host, or turn a cancel into a GET.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_seekrflow.client import alignment, data_jobs
from airflow_provider_seekrflow.exceptions import SeekrFlowUnexpectedResponseError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook
from tests.conftest import connection_json
from tests.emulator.robustness.hostile import BEHAVIOURS, HostileServer
from tests.emulator.robustness.redirects import LOCATION_SECRET, RedirectServer

CONN_ID = "seekrflow_redirect"
KEY = "sfk-redirect-canary-8c2e61"


def _sync(call: Callable[[SeekrFlowHook], Any]) -> Any:
    hook = SeekrFlowHook(CONN_ID)
    try:
        return call(hook)
    finally:
        hook.close()


def _async(call: Callable[[SeekrFlowAsyncHook], Any]) -> Any:
    async def run() -> Any:
        async with SeekrFlowAsyncHook(CONN_ID) as hook:
            return await call(hook)

    return asyncio.run(run())


CALLS = {
    "sync GET": (_sync, lambda hook: hook.get_alignment_job("al-1"), "GET /v1/flow/alignment/al-1"),
    "sync POST": (_sync, lambda hook: hook.cancel_data_job("dj-1"), "POST /v1/flow/data-jobs/dj-1/cancel"),
    "async GET": (_async, lambda hook: hook.call(alignment.get_job("al-1")), "GET /v1/flow/alignment/al-1"),
    "async POST": (
        _async,
        lambda hook: hook.call(data_jobs.cancel("dj-1")),
        "POST /v1/flow/data-jobs/dj-1/cancel",
    ),
}


def _walk(exc: BaseException) -> list[BaseException]:
    """Every exception reachable from ``exc``: causes, contexts and exceptions among the args."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
    return seen


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("path", list(CALLS))
def test_a_redirect_is_a_clear_error_and_nothing_reaches_its_target(status, path, clean_network_env):
    run, call, request = CALLS[path]
    with HostileServer(BEHAVIOURS["sentinel"]) as sentinel:
        target = f"{sentinel.base_url}/v1/flow/alignment/al-1?{LOCATION_SECRET}"
        with RedirectServer(status, target) as redirect:
            # Retries allowed: a redirect is not a passing fault, so none may be spent on it.
            clean_network_env.setenv(
                f"AIRFLOW_CONN_{CONN_ID.upper()}",
                connection_json(redirect.base_url, KEY, max_retries=2, team_id="team-redirect"),
            )
            with pytest.raises(SeekrFlowUnexpectedResponseError) as caught:
                run(call)

    message = str(caught.value)
    assert sentinel.hits == 0, "a request reached the redirect's host"
    assert len(redirect.requests) == 1, redirect.requests
    assert caught.value.status_code == status
    assert (
        f"{request} to {redirect.base_url} returned {status}, a redirect to {sentinel.base_url};" in message
    )
    assert "redirects are not followed" in message
    assert LOCATION_SECRET not in message and "LOCATION-SECRET" not in repr(caught.value.args)
    for inner in _walk(caught.value):
        assert KEY not in f"{inner!s} {inner!r} {inner.args!r} {vars(inner)!r}"
