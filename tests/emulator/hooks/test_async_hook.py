"""SeekrFlowAsyncHook against the emulator inside ``asyncio.run``: results, errors, retries, one shared session."""

from __future__ import annotations

import asyncio
import gc
import http.server
import logging
import threading
import warnings
from urllib.parse import urlsplit

import psutil
import pytest

from airflow_provider_seekrflow.client import alignment, files
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAuthenticationError,
    SeekrFlowConnectionError,
    SeekrFlowError,
    SeekrFlowNotFoundError,
    SeekrFlowRateLimitError,
    SeekrFlowServerError,
    SeekrFlowUnexpectedResponseError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook
from airflow_provider_seekrflow.models import AlignmentJob, AlignmentOutput, SeekrFlowFile
from tests.conftest import connection_json


def run(coro_fn, *args):
    """Run ``coro_fn(*args)`` on a fresh event loop, as a triggerer runs its triggers."""
    return asyncio.run(coro_fn(*args))


def sockets_to(base_url: str) -> set[tuple]:
    """The TCP connections this process has open to the service (every state but closed ones), by local address."""
    port = urlsplit(base_url).port
    return {
        tuple(conn.laddr)
        for conn in psutil.Process().net_connections(kind="inet")
        if conn.raddr and conn.raddr.port == port and conn.status != psutil.CONN_CLOSE
    }


def new_sockets(base_url: str, baseline: set[tuple]) -> int:
    """How many of this process's connections to the service were not open at ``baseline``.

    Counted by address, so an earlier test's keep-alive connection closing meanwhile changes nothing.
    """
    return len(sockets_to(base_url) - baseline)


@pytest.fixture
def emu(long_jobs):
    return long_jobs


@pytest.fixture
def job(emu, tmp_path) -> AlignmentJob:
    """A running alignment job, started with the sync hook."""
    doc = tmp_path / "async-manual.txt"
    doc.write_text("The cooling loop is inspected every morning before the shift starts.\n")
    hook = SeekrFlowHook()
    stored = hook.upload_file(doc, "alignment")
    started = hook.generate_alignment("Teach the inspection routine.", [stored.id])
    hook.close()
    emu.clear_journal()
    return started


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"<html><body>Router login</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def html_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# -- results --------------------------------------------------------------------------------------


def test_get_alignment_job(emu, job):
    fetched = run(SeekrFlowAsyncHook().call, alignment.get_job(job.id))

    assert isinstance(fetched, AlignmentJob)
    assert fetched.id == job.id
    assert fetched.status in ("pending", "queued", "running")
    assert [(e["route"], e["status"]) for e in emu.journal()] == [("get_alignment_job", 200)]


def test_cancel_alignment_job(emu, job):
    cancelled = run(SeekrFlowAsyncHook().call, alignment.cancel_job(job.id))

    assert cancelled.status == "cancelled"
    assert SeekrFlowHook().get_alignment_job(job.id).status == "cancelled"


def test_get_alignment_outputs_of_a_completed_job(emu, job):
    emu.fail_job(job.id, status="completed", status_message=None)

    async def outputs_and_file():
        hook = SeekrFlowAsyncHook()
        outputs = await hook.call(alignment.get_outputs(job.id))
        fine_tune = next(o for o in outputs if o.purpose == "fine-tune")
        return outputs, await hook.call(files.get_file(fine_tune.id))

    outputs, stored = run(outputs_and_file)

    assert outputs
    assert all(isinstance(o, AlignmentOutput) for o in outputs)
    assert isinstance(stored, SeekrFlowFile)
    assert stored.purpose == "fine-tune"
    assert stored.filename.endswith(".parquet") and stored.type == "parquet"


def test_outputs_of_a_running_job_are_empty(emu, job):
    assert run(SeekrFlowAsyncHook().call, alignment.get_outputs(job.id)) == []


def test_team_id_reaches_the_service(emu, job, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_TEAM", connection_json(emu.base_url, emu.api_key, team_id="team-async")
    )

    run(SeekrFlowAsyncHook("seekrflow_team").call, alignment.get_job(job.id))

    assert [e["team_id"] for e in emu.journal()] == ["team-async"]


# -- errors ---------------------------------------------------------------------------------------


def test_not_found(emu):
    with pytest.raises(SeekrFlowNotFoundError) as caught:
        run(SeekrFlowAsyncHook().call, alignment.get_job("al-missing"))

    err = caught.value
    assert err.status_code == 404
    assert err.method == "GET"
    assert err.path == "/v1/flow/alignment/al-missing"
    assert err.service_message == "Alignment job al-missing not found"
    assert len(emu.journal()) == 1


def test_wrong_key(emu, job, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_WRONG", connection_json(emu.base_url, "wrong-key-a51c"))

    with pytest.raises(SeekrFlowAuthenticationError) as caught:
        run(SeekrFlowAsyncHook("seekrflow_wrong").call, alignment.cancel_job(job.id))

    assert caught.value.status_code == 401
    assert caught.value.method == "POST"
    assert "wrong-key-a51c" not in str(caught.value)
    assert "API key of connection 'seekrflow_wrong'" in str(caught.value)
    assert [e["status"] for e in emu.journal()] == [401]


def test_rate_limit_when_retries_are_exhausted(emu, job):
    emu.set_faults([{"route": "get_alignment_job", "kind": "429", "retry_after": 0}])

    with pytest.raises(SeekrFlowRateLimitError) as caught:
        run(SeekrFlowAsyncHook(max_retries=1).call, alignment.get_job(job.id))

    assert caught.value.status_code == 429
    assert caught.value.retry_after == 0.0
    assert [e["status"] for e in emu.journal()] == [429, 429]


def test_server_error_when_retries_are_exhausted(emu, job):
    emu.set_faults(["get_alignment_outputs:502"])

    with pytest.raises(SeekrFlowServerError) as caught:
        run(SeekrFlowAsyncHook(max_retries=0).call, alignment.get_outputs(job.id))

    assert caught.value.status_code == 502
    assert caught.value.path == f"/v1/flow/alignment/{job.id}/outputs"
    assert [e["status"] for e in emu.journal()] == [502]


def test_unreachable_host(closed_port, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_CLOSED",
        connection_json(f"http://127.0.0.1:{closed_port}", "some-key-1", max_retries=0),
    )

    with pytest.raises(SeekrFlowConnectionError) as caught:
        run(SeekrFlowAsyncHook("seekrflow_closed").call, alignment.get_job("al-1"))

    assert caught.value.may_have_reached_service is False
    assert caught.value.path == "/v1/flow/alignment/al-1"


def test_html_server(html_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_HTML", connection_json(html_server, "some-key-1"))

    with pytest.raises(SeekrFlowUnexpectedResponseError, match="is the host a SeekrFlow API"):
        run(SeekrFlowAsyncHook("seekrflow_html").call, alignment.get_job("al-1"))


# -- retries --------------------------------------------------------------------------------------


def test_503_then_success(emu, job):
    emu.set_faults(["get_alignment_job:503:count=1"])

    fetched = run(SeekrFlowAsyncHook().call, alignment.get_job(job.id))

    assert fetched.id == job.id
    assert [e["status"] for e in emu.journal(route="get_alignment_job")] == [503, 200]


def test_cancel_after_a_dropped_answer_is_retried(emu, job):
    emu.set_faults([{"route": "cancel_alignment_job", "kind": "drop_after", "count": 1}])

    cancelled = run(SeekrFlowAsyncHook().call, alignment.cancel_job(job.id))

    assert cancelled.status == "cancelled"
    assert len(emu.journal(route="cancel_alignment_job")) == 2


# -- sharing ---------------------------------------------------------------------------------------


def test_hooks_of_one_connection_share_one_session_on_a_loop(emu, job, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_OTHER", connection_json(emu.base_url, "other-key-77"))

    async def sessions():
        async with SeekrFlowAsyncHook() as first, SeekrFlowAsyncHook() as second:
            a, b = await first.get_conn(), await second.get_conn()
            # Both hooks work through the shared session, concurrently.
            jobs = await asyncio.gather(
                first.call(alignment.get_job(job.id)), second.call(alignment.get_job(job.id))
            )
            async with SeekrFlowAsyncHook("seekrflow_other") as third:
                other = await third.get_conn()
            return a, b, other, jobs, await first.get_conn()

    a, b, other, jobs, again = run(sessions)

    assert a is b
    assert again is a
    assert other is not a
    assert [j.id for j in jobs] == [job.id, job.id]
    assert a.closed and other.closed


def test_each_loop_gets_its_own_session(emu):
    async def session():
        async with SeekrFlowAsyncHook() as hook:
            return await hook.get_conn()

    assert run(session) is not run(session)


def test_the_session_closes_when_its_last_holder_lets_go(emu, job):
    # Earlier tests' sync hooks may keep connections to the emulator alive: count only new ones.
    baseline = sockets_to(emu.base_url)

    async def lifetime():
        first, second = SeekrFlowAsyncHook(), SeekrFlowAsyncHook()
        async with first:
            await first.call(alignment.get_job(job.id))
            async with second:
                await second.call(alignment.get_job(job.id))
                session = await second.get_conn()
            open_after_second = not session.closed
            sockets_while_held = new_sockets(emu.base_url, baseline)
        await asyncio.sleep(0)
        return session, open_after_second, sockets_while_held, new_sockets(emu.base_url, baseline)

    session, open_after_second, sockets_while_held, sockets_after = run(lifetime)

    assert open_after_second  # the first hook still held it
    assert sockets_while_held == 1  # one keep-alive connection served both hooks' requests
    assert session.closed
    assert sockets_after == 0


def test_a_thousand_concurrent_polls_use_at_most_32_sockets(emu, job):
    from airflow_provider_seekrflow.client.async_transport import MAX_CONNECTIONS

    peak = 0
    # Earlier tests' sync hooks may keep connections to the emulator alive: count only new ones.
    baseline = sockets_to(emu.base_url)

    async def watch(stop: asyncio.Event) -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, new_sockets(emu.base_url, baseline))
            await asyncio.sleep(0.02)

    async def many():
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(stop))
        hooks = [SeekrFlowAsyncHook() for _ in range(200)]
        for hook in hooks:
            await hook.__aenter__()
        try:
            jobs = await asyncio.gather(
                *(hooks[i % 200].call(alignment.get_job(job.id)) for i in range(1000))
            )
        finally:
            for hook in hooks:
                await hook.__aexit__(None, None, None)
            stop.set()
            await watcher
        return jobs, new_sockets(emu.base_url, baseline)

    jobs, sockets_after = run(many)

    assert len(jobs) == 1000 and {j.id for j in jobs} == {job.id}
    assert 0 < peak <= MAX_CONNECTIONS == 32
    assert sockets_after == 0
    assert len(emu.journal(route="get_alignment_job")) == 1000


def test_asyncio_run_leaves_no_unclosed_session_or_connector(emu, job):
    from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
    from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger

    async def everything():
        await SeekrFlowAsyncHook().call(alignment.get_job(job.id))  # a one-off call
        async with SeekrFlowAsyncHook() as hook:  # a held hook
            await hook.call(alignment.get_outputs(job.id))
        with pytest.raises(SeekrFlowNotFoundError):  # an error answer
            await SeekrFlowAsyncHook().call(files.get_file("file-missing"))
        emu.fail_job(job.id, status="completed", status_message=None)
        trigger = SeekrFlowJobTrigger(ALIGNMENT.key, job.id, "seekrflow_default", poll_interval=0.1)
        return [event async for event in trigger.run()]

    # aiohttp reports a session or connector collected unclosed as a ResourceWarning and through the
    # loop's exception handler (the asyncio logger).
    reported = _Records()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(reported)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            events = run(everything)
            gc.collect()
    finally:
        asyncio_log.removeHandler(reported)

    assert [e.payload["status"] for e in events] == ["completed"]
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
    unclosed += [message for message in reported.messages if "nclosed" in message]
    assert unclosed == []


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_errors_are_seekrflow_errors(emu):
    with pytest.raises(SeekrFlowError):
        run(SeekrFlowAsyncHook().call, files.get_file("file-missing"))


def test_get_conn_needs_async_with(emu):
    with pytest.raises(RuntimeError, match="async with hook"):
        run(SeekrFlowAsyncHook().get_conn)
