"""
Ids are data, not paths: one that would change the request's path is refused before anything is sent.

Dot segments are removed by urllib3 (``cancel_data_job("..")`` became ``POST /v1/flow/cancel``) and
sent raw by aiohttp; ``/``, ``?`` and ``#`` would start another segment, a query or a fragment.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_seekrflow.client import data_jobs, fine_tunes
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowNotFoundError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook

NOT_IDS = [
    "..",
    ".",
    "",
    " ",
    "a/b",
    "../files",
    "dj-1?x=1",
    "dj-1#top",
    "%2e%2e",
    "dj 1",
    "dj-1\n",
    ".hidden",
]


@pytest.mark.parametrize("bad", NOT_IDS)
def test_the_sync_hook_refuses_an_id_that_is_not_one_before_any_request(bad, emu):
    hook = SeekrFlowHook()
    try:
        with pytest.raises(SeekrFlowConfigError) as caught:
            hook.cancel_data_job(bad)
        with pytest.raises(SeekrFlowConfigError):
            hook.delete_file(bad)
        with pytest.raises(SeekrFlowConfigError):
            hook.get_alignment_job(bad)
    finally:
        hook.close()

    assert f"data_job_id {bad!r}" in str(caught.value)
    assert emu.journal() == []


@pytest.mark.parametrize("bad", NOT_IDS)
def test_the_async_hook_refuses_an_id_that_is_not_one_before_any_request(bad, emu):
    async def run() -> tuple[SeekrFlowConfigError, SeekrFlowConfigError]:
        async with SeekrFlowAsyncHook() as hook:
            with pytest.raises(SeekrFlowConfigError) as cancel:
                await hook.call(data_jobs.cancel(bad))
            with pytest.raises(SeekrFlowConfigError) as poll:
                await hook.call(fine_tunes.get(bad))
        return cancel.value, poll.value

    cancel, poll = asyncio.run(run())

    assert f"data_job_id {bad!r}" in str(cancel)
    assert f"fine_tune_id {bad!r}" in str(poll)
    assert emu.journal() == []


def test_ids_of_the_services_forms_still_reach_it(emu):
    ids = ["dj-1234567890", "dj-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "file_ABC.v2", "ns:1~x"]
    hook = SeekrFlowHook()
    try:
        for job_id in ids:
            with pytest.raises(SeekrFlowNotFoundError):
                hook.get_data_job(job_id)
    finally:
        hook.close()

    assert [entry["path"] for entry in emu.journal()] == [f"/v1/flow/data-jobs/{job_id}" for job_id in ids]
