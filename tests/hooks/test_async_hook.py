"""SeekrFlowAsyncHook against the emulator inside ``asyncio.run``: results, errors, retries, shared connection pool."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading

import pytest

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


def connection(base_url: str, api_key: str, **extra: object) -> str:
    payload: dict[str, object] = {"conn_type": "seekrflow", "host": base_url, "password": api_key}
    if extra:
        payload["extra"] = extra
    return json.dumps(payload)


def run(coro_fn, *args):
    """Run ``coro_fn(*args)`` on a fresh event loop, closing the hooks' shared HTTP pools afterwards."""
    from airflow_provider_seekrflow.hooks import seekrflow_async

    async def main():
        try:
            return await coro_fn(*args)
        finally:
            shared = seekrflow_async._SHARED.get(asyncio.get_running_loop())
            if shared is not None:
                for pool in shared.pools.values():
                    await pool.aclose()

    return asyncio.run(main())


@pytest.fixture
def emu(fresh_emulator_state, seekrflow_connection):
    """The emulator behind ``seekrflow_default``: no faults, empty journal, start-up config (restored after)."""
    # Jobs stay active unless a test ends them (fail_job) or asks for short ones.
    seekrflow_connection.configure(job_duration=60)
    return seekrflow_connection


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
    fetched = run(SeekrFlowAsyncHook().get_alignment_job, job.id)

    assert isinstance(fetched, AlignmentJob)
    assert fetched.id == job.id
    assert fetched.status in ("pending", "queued", "running")
    assert [(e["route"], e["status"]) for e in emu.journal()] == [("get_alignment_job", 200)]


def test_cancel_alignment_job(emu, job):
    cancelled = run(SeekrFlowAsyncHook().cancel_alignment_job, job.id)

    assert cancelled.status == "cancelled"
    assert SeekrFlowHook().get_alignment_job(job.id).status == "cancelled"


def test_get_alignment_outputs_of_a_completed_job(emu, job):
    emu.fail_job(job.id, status="completed", status_message=None)

    async def outputs_and_file():
        hook = SeekrFlowAsyncHook()
        outputs = await hook.get_alignment_outputs(job.id)
        fine_tune = next(o for o in outputs if o.purpose == "fine-tune")
        return outputs, await hook.get_file(fine_tune.id)

    outputs, stored = run(outputs_and_file)

    assert outputs
    assert all(isinstance(o, AlignmentOutput) for o in outputs)
    assert isinstance(stored, SeekrFlowFile)
    assert stored.purpose == "fine-tune"
    assert stored.filename.endswith(".parquet") and stored.type == "parquet"


def test_outputs_of_a_running_job_are_empty(emu, job):
    assert run(SeekrFlowAsyncHook().get_alignment_outputs, job.id) == []


def test_team_id_reaches_the_service(emu, job, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_TEAM", connection(emu.base_url, emu.api_key, team_id="team-async")
    )

    run(SeekrFlowAsyncHook("seekrflow_team").get_alignment_job, job.id)

    assert [e["team_id"] for e in emu.journal()] == ["team-async"]


# -- errors ---------------------------------------------------------------------------------------


def test_not_found(emu):
    with pytest.raises(SeekrFlowNotFoundError) as caught:
        run(SeekrFlowAsyncHook().get_alignment_job, "al-missing")

    err = caught.value
    assert err.status_code == 404
    assert err.method == "GET"
    assert err.path == "/v1/flow/alignment/al-missing"
    assert err.service_message == "Alignment job al-missing not found"
    assert len(emu.journal()) == 1


def test_wrong_key(emu, job, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_WRONG", connection(emu.base_url, "wrong-key-a51c"))

    with pytest.raises(SeekrFlowAuthenticationError) as caught:
        run(SeekrFlowAsyncHook("seekrflow_wrong").cancel_alignment_job, job.id)

    assert caught.value.status_code == 401
    assert caught.value.method == "POST"
    assert "wrong-key-a51c" not in str(caught.value)
    assert [e["status"] for e in emu.journal()] == [401]


def test_rate_limit_when_retries_are_exhausted(emu, job):
    emu.set_faults([{"route": "get_alignment_job", "kind": "429", "retry_after": 0}])

    with pytest.raises(SeekrFlowRateLimitError) as caught:
        run(SeekrFlowAsyncHook(max_retries=1).get_alignment_job, job.id)

    assert caught.value.status_code == 429
    assert caught.value.retry_after == 0.0
    assert [e["status"] for e in emu.journal()] == [429, 429]


def test_server_error_when_retries_are_exhausted(emu, job):
    emu.set_faults(["get_alignment_outputs:502"])

    with pytest.raises(SeekrFlowServerError) as caught:
        run(SeekrFlowAsyncHook(max_retries=0).get_alignment_outputs, job.id)

    assert caught.value.status_code == 502
    assert caught.value.path == f"/v1/flow/alignment/{job.id}/outputs"
    assert [e["status"] for e in emu.journal()] == [502]


def test_unreachable_host(closed_port, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_CLOSED",
        connection(f"http://127.0.0.1:{closed_port}", "some-key-1", max_retries=0),
    )

    with pytest.raises(SeekrFlowConnectionError) as caught:
        run(SeekrFlowAsyncHook("seekrflow_closed").get_alignment_job, "al-1")

    assert caught.value.may_have_reached_service is False
    assert caught.value.path == "/v1/flow/alignment/al-1"


def test_html_server(html_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_HTML", connection(html_server, "some-key-1"))

    with pytest.raises(SeekrFlowUnexpectedResponseError, match="is the host a SeekrFlow API"):
        run(SeekrFlowAsyncHook("seekrflow_html").get_alignment_job, "al-1")


# -- retries --------------------------------------------------------------------------------------


def test_503_then_success(emu, job):
    emu.set_faults(["get_alignment_job:503:count=1"])

    fetched = run(SeekrFlowAsyncHook().get_alignment_job, job.id)

    assert fetched.id == job.id
    assert [e["status"] for e in emu.journal(route="get_alignment_job")] == [503, 200]


def test_cancel_after_a_dropped_answer_is_retried(emu, job):
    emu.set_faults([{"route": "cancel_alignment_job", "kind": "drop_after", "count": 1}])

    cancelled = run(SeekrFlowAsyncHook().cancel_alignment_job, job.id)

    assert cancelled.status == "cancelled"
    assert len(emu.journal(route="cancel_alignment_job")) == 2


# -- sharing --------------------------------------------------------------------------------------


def test_hooks_of_one_connection_share_one_pool_on_a_loop(emu, job, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_OTHER", connection(emu.base_url, "other-key-77"))

    async def clients():
        first, second = SeekrFlowAsyncHook(), SeekrFlowAsyncHook()
        a, b = await first.pool(), await second.pool()
        # Both hooks work through the shared pool, concurrently.
        jobs = await asyncio.gather(first.get_alignment_job(job.id), second.get_alignment_job(job.id))
        other = await SeekrFlowAsyncHook("seekrflow_other").pool()
        return a, b, other, jobs, await first.pool()

    a, b, other, jobs, again = run(clients)

    assert a is b
    assert again is a
    assert other is not a
    assert [j.id for j in jobs] == [job.id, job.id]


def test_each_loop_gets_its_own_pool(emu):
    async def client():
        return await SeekrFlowAsyncHook().pool()

    assert run(client) is not run(client)


def test_errors_are_seekrflow_errors(emu):
    with pytest.raises(SeekrFlowError):
        run(SeekrFlowAsyncHook().get_file, "file-missing")
