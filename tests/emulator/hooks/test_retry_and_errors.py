"""Error classes and retries of the sync hook, proved over real HTTP with faults injected into the emulator."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAPIError,
    SeekrFlowAuthenticationError,
    SeekrFlowConnectionError,
    SeekrFlowError,
    SeekrFlowNotFoundError,
    SeekrFlowRateLimitError,
    SeekrFlowServerError,
    SeekrFlowUnexpectedResponseError,
    SeekrFlowValidationError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from tests.conftest import connection_json

TRAINING_LINE = json.dumps(
    {
        "messages": [
            {"role": "user", "content": "What is checked every morning?"},
            {"role": "assistant", "content": "The cooling loop."},
        ]
    }
)


@pytest.fixture
def emu(long_jobs):
    return long_jobs


@pytest.fixture
def training_file(tmp_path) -> Path:
    # A unique name: the emulator may be shared with other tests, and some tests count copies by name.
    path = tmp_path / f"train-{uuid.uuid4().hex[:8]}.jsonl"
    path.write_text(TRAINING_LINE + "\n")
    return path


@pytest.fixture
def doc(tmp_path) -> Path:
    path = tmp_path / f"manual-{uuid.uuid4().hex[:8]}.txt"
    path.write_text("The cooling loop is inspected every morning before the shift starts.\n")
    return path


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def html_server():
    """A web server that is not SeekrFlow: it answers every request with an HTML page."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def statuses(emu, route: str) -> list[int | None]:
    return [entry["status"] for entry in emu.journal(route=route)]


# -- error classes --------------------------------------------------------------------------------


def test_wrong_key_is_an_authentication_error(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_WRONG", connection_json(emu.base_url, "not-the-key-123"))

    with pytest.raises(SeekrFlowAuthenticationError) as caught:
        SeekrFlowHook("seekrflow_wrong").list_files()

    err = caught.value
    assert isinstance(err, SeekrFlowAPIError)
    assert err.status_code == 401
    assert err.method == "GET"
    assert err.path == "/v1/flow/files"
    assert err.service_message == "Invalid API key"
    # The message names the connection to fix, not only the HTTP status.
    assert "SeekrFlow refused the API key of connection 'seekrflow_wrong'" in str(err)
    assert "not-the-key-123" not in str(err)
    # A refused key is not retried.
    assert statuses(emu, "list_files") == [401]


def test_bearer_prefixed_key_is_refused_by_the_service(emu, monkeypatch):
    # The service wants the bare key; "Bearer <key>" is refused, so the hook must never add the prefix.
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_BEARER", connection_json(emu.base_url, f"Bearer {emu.api_key}")
    )

    with pytest.raises(SeekrFlowAuthenticationError) as caught:
        SeekrFlowHook("seekrflow_bearer").list_files()

    assert "without 'Bearer '" in caught.value.service_message
    assert statuses(emu, "list_files") == [401]


def test_not_found(hook, emu):
    with pytest.raises(SeekrFlowNotFoundError) as caught:
        hook.get_alignment_job("al-missing")

    err = caught.value
    assert err.status_code == 404
    assert err.method == "GET"
    assert err.path == "/v1/flow/alignment/al-missing"
    assert err.service_message == "Alignment job al-missing not found"
    assert str(err) == "GET /v1/flow/alignment/al-missing returned 404: Alignment job al-missing not found"
    assert statuses(emu, "get_alignment_job") == [404]


def test_422_is_a_validation_error_with_readable_field_lines(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    emu.clear_journal()

    with pytest.raises(SeekrFlowValidationError) as caught:
        hook.generate_alignment("Teach.", [stored.id, "file-missing-1", "file-missing-2"])

    err = caught.value
    assert err.status_code == 422
    assert err.method == "POST"
    assert err.path == "/v1/flow/alignment/generate"
    lines = str(err).splitlines()
    assert lines[0] == "POST /v1/flow/alignment/generate returned 422:"
    assert "files.1: Value error, file file-missing-1 not found" in lines
    assert "files.2: Value error, file file-missing-2 not found" in lines
    assert err.service_message.splitlines() == lines[1:]
    # A refused request is not retried, even with retries left.
    assert statuses(emu, "alignment_generate") == [422]


def test_422_on_query_parameters(hook, emu):
    with pytest.raises(SeekrFlowValidationError) as caught:
        hook.list_files(limit=5000)

    assert caught.value.status_code == 422
    # One problem: the readable "field: message" follows the summary on the same line.
    assert str(caught.value).startswith("GET /v1/flow/files returned 422: query.limit: ")
    assert caught.value.service_message.startswith("query.limit: ")
    assert statuses(emu, "list_files") == [422]


def test_422_from_the_upload_is_not_retried(hook, emu, tmp_path):
    bad = tmp_path / f"bad-{uuid.uuid4().hex[:8]}.jsonl"
    bad.write_text('{"messages": [{"role": "robot", "content": "beep"}]}\n')

    with pytest.raises(SeekrFlowValidationError) as caught:
        hook.upload_file(bad, "fine-tune", check=False)

    assert caught.value.status_code == 422
    assert caught.value.method == "PUT"
    assert caught.value.path == "/v1/flow/files"
    assert str(caught.value).startswith(
        f"PUT /v1/flow/files returned 422: files: Value error, {bad.name} line 1"
    )
    assert statuses(emu, "upload_file") == [422]
    assert bad.name not in {f.filename for f in hook.list_files()}


def test_413_too_large_is_a_validation_error(hook, emu, training_file):
    emu.configure(max_file_bytes=10)

    with pytest.raises(SeekrFlowValidationError) as caught:
        hook.upload_file(training_file, "fine-tune")

    assert caught.value.status_code == 413
    assert "too large" in caught.value.service_message
    assert statuses(emu, "upload_file") == [413]


def test_rate_limit_error_when_retries_are_exhausted(emu, monkeypatch):
    emu.set_faults([{"route": "get_file", "kind": "429", "retry_after": 0}])
    hook = SeekrFlowHook(max_retries=1)

    with pytest.raises(SeekrFlowRateLimitError) as caught:
        hook.get_file("file-x")

    err = caught.value
    assert err.status_code == 429
    assert err.retry_after == 0.0
    assert err.method == "GET"
    assert err.path == "/v1/flow/files/file-x"
    assert "Rate limit exceeded" in err.service_message
    assert statuses(emu, "get_file") == [429, 429]


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_5xx_is_a_server_error(emu, kind):
    emu.set_faults([f"get_alignment_job:{kind}"])
    hook = SeekrFlowHook(max_retries=1)

    with pytest.raises(SeekrFlowServerError) as caught:
        hook.get_alignment_job("al-x")

    assert caught.value.status_code == int(kind)
    assert caught.value.path == "/v1/flow/alignment/al-x"
    assert "emulated fault" in caught.value.service_message
    assert statuses(emu, "get_alignment_job") == [int(kind), int(kind)]


def test_unreachable_host_is_a_connection_error(closed_port, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_CLOSED",
        connection_json(f"http://127.0.0.1:{closed_port}", "some-key-1", max_retries=0),
    )

    with pytest.raises(SeekrFlowConnectionError) as caught:
        SeekrFlowHook("seekrflow_closed").list_files()

    err = caught.value
    assert err.may_have_reached_service is False
    assert err.method == "GET"
    assert err.path == "/v1/flow/files"
    assert err.status_code is None
    assert f"127.0.0.1:{closed_port}" in str(err)


def test_refused_connection_is_retried_before_a_generate(closed_port, monkeypatch, caplog, capsys):
    # A generate first lists the jobs (its snapshot): nothing reached the service, so that is retried
    # (that a refused once-only request is sent again is in tests/unit/test_lost_answers.py).
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_CLOSED",
        connection_json(f"http://127.0.0.1:{closed_port}", "some-key-1", max_retries=1),
    )
    caplog.set_level("WARNING")

    with pytest.raises(SeekrFlowConnectionError):
        SeekrFlowHook("seekrflow_closed").generate_alignment("Teach.", ["file-1"])

    logs = caplog.text + "".join(capsys.readouterr())
    assert "GET /v1/flow/alignment failed" in logs
    assert "retry 1 of 1" in logs


def test_html_server_is_an_unexpected_response(html_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_HTML", connection_json(html_server, "some-key-1"))

    with pytest.raises(SeekrFlowUnexpectedResponseError) as caught:
        SeekrFlowHook("seekrflow_html").list_files()

    err = caught.value
    assert err.status_code == 200
    assert err.path == "/v1/flow/files"
    assert "text/html" in str(err)
    assert "is the host a SeekrFlow API?" in str(err)


def test_every_error_is_a_seekrflow_error():
    for cls in (
        SeekrFlowAuthenticationError,
        SeekrFlowNotFoundError,
        SeekrFlowValidationError,
        SeekrFlowRateLimitError,
        SeekrFlowServerError,
        SeekrFlowUnexpectedResponseError,
        SeekrFlowConnectionError,
    ):
        assert issubclass(cls, SeekrFlowError)


# -- retries --------------------------------------------------------------------------------------


def test_429_with_retry_after_waits_then_succeeds(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])
    emu.set_faults([{"route": "get_alignment_job", "kind": "429", "count": 1, "retry_after": 2}])

    started = time.monotonic()
    fetched = hook.get_alignment_job(job.id)
    waited = time.monotonic() - started

    assert fetched.id == job.id
    assert waited >= 2.0
    entries = emu.journal(route="get_alignment_job")
    assert [(e["status"], e["fault"]) for e in entries] == [(429, "429"), (200, None)]


def test_503_then_success(hook, emu, caplog, capsys):
    emu.set_faults(["list_files:503:count=1"])
    caplog.set_level("WARNING")

    hook.list_files()

    entries = emu.journal(route="list_files")
    assert len(entries) == 2
    assert [e["status"] for e in entries] == [503, 200]
    logs = caplog.text + "".join(capsys.readouterr())
    assert "GET /v1/flow/files failed (HTTP 503); retry 1 of 3" in logs


def test_503_on_upload_is_retried(hook, emu, training_file):
    # A 503 answer means the service did not take the file, so sending it again is safe.
    emu.set_faults(["upload_file:503:count=1"])

    stored = hook.upload_file(training_file, "fine-tune")

    assert statuses(emu, "upload_file") == [503, 200]
    assert [f.id for f in hook.list_files() if f.filename == training_file.name] == [stored.id]


def _generate_over_a_dropped_connection(hook, emu, doc, kind: str, instructions: str):
    """Generate on an uploaded ``doc`` with the first request's connection dropped (``kind``).

    Returns the job and the ids of the jobs the service has now that it had not before.
    """
    stored = hook.upload_file(doc, "alignment")
    jobs_before = {job.id for job in hook.list_alignment_jobs()}
    emu.set_faults([{"route": "alignment_generate", "kind": kind, "count": 1}])
    job = hook.generate_alignment(instructions, [stored.id])
    return job, {j.id for j in hook.list_alignment_jobs()} - jobs_before


def test_generate_whose_answer_was_lost_returns_the_job_it_created(hook, emu, doc):
    job, new_jobs = _generate_over_a_dropped_connection(
        hook, emu, doc, "drop_after", "Teach the lost answer."
    )

    # Sent once: the service created the job, and the hook found it rather than making another.
    assert len(emu.journal(route="alignment_generate")) == 1
    assert new_jobs == {job.id}


def test_generate_dropped_before_it_was_processed_is_sent_again(hook, emu, doc):
    job, new_jobs = _generate_over_a_dropped_connection(
        hook, emu, doc, "drop_before", "Teach the unsent request."
    )

    # The service echoes each job's request and none matched, so sending again was safe.
    assert len(emu.journal(route="alignment_generate")) == 2
    assert new_jobs == {job.id}


def test_generate_is_not_repeated_when_the_service_cannot_tell_its_jobs_apart(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    jobs_before = {job.id for job in hook.list_alignment_jobs()}
    emu.configure(echo_request=False)
    emu.set_faults([{"route": "alignment_generate", "kind": "drop_after", "count": 1}])

    with pytest.raises(SeekrFlowConnectionError) as caught:
        hook.generate_alignment("Teach.", [stored.id])

    assert caught.value.may_have_reached_service is True
    assert caught.value.method == "POST"
    assert caught.value.path == "/v1/flow/alignment/generate"
    # Sent once: a second try could have made a second job that nothing could tell apart.
    assert len(emu.journal(route="alignment_generate")) == 1
    assert len({j.id for j in hook.list_alignment_jobs()} - jobs_before) == 1


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
def test_get_after_a_dropped_connection_is_retried(hook, emu, doc, kind):
    stored = hook.upload_file(doc, "alignment")
    emu.set_faults([{"route": "get_file", "kind": kind, "count": 1}])

    fetched = hook.get_file(stored.id)

    assert fetched.id == stored.id
    entries = emu.journal(route="get_file")
    assert len(entries) == 2
    assert entries[0]["fault"] == kind
    assert entries[1]["status"] == 200


def test_cancel_after_a_dropped_answer_is_retried(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])
    emu.set_faults([{"route": "cancel_alignment_job", "kind": "drop_after", "count": 1}])

    cancelled = hook.cancel_alignment_job(job.id)

    assert cancelled.status == "cancelled"
    assert len(emu.journal(route="cancel_alignment_job")) == 2


def test_download_after_a_dropped_connection_is_retried(hook, emu, training_file, tmp_path):
    stored = hook.upload_file(training_file, "fine-tune")
    emu.set_faults([{"route": "get_file_content", "kind": "drop_before", "count": 1}])

    written = hook.download_file(stored.id, tmp_path / "copy.jsonl")

    assert written.read_bytes() == training_file.read_bytes()
    assert len(emu.journal(route="get_file_content")) == 2


def test_upload_with_drop_after_returns_the_stored_file(hook, emu, training_file, caplog, capsys):
    emu.set_faults([{"route": "upload_file", "kind": "drop_after", "count": 1}])
    caplog.set_level("WARNING")

    stored = hook.upload_file(training_file, "fine-tune")

    copies = [f for f in hook.list_files(purpose="fine-tune") if f.filename == training_file.name]
    assert [f.id for f in copies] == [stored.id]
    assert stored.bytes == training_file.stat().st_size
    # The body was sent once; the hook then looked the file up instead of sending it again.
    assert len(emu.journal(route="upload_file")) == 1
    assert emu.journal(route="upload_file")[0]["status"] == 200
    assert emu.journal(route="list_files")
    logs = caplog.text + "".join(capsys.readouterr())
    assert f"but the service did it; using {stored.id}" in logs


def test_alignment_upload_with_drop_after_returns_the_stored_file(hook, emu, doc):
    emu.set_faults([{"route": "upload_file", "kind": "drop_after", "count": 1}])

    stored = hook.upload_file(doc, "alignment")

    copies = [f for f in hook.list_files(purpose="alignment") if f.filename == doc.name]
    assert [f.id for f in copies] == [stored.id]
    assert len(emu.journal(route="upload_file")) == 1


def test_upload_with_drop_before_is_sent_again_once(hook, emu, training_file):
    emu.set_faults([{"route": "upload_file", "kind": "drop_before", "count": 1}])

    stored = hook.upload_file(training_file, "fine-tune")

    copies = [f for f in hook.list_files(purpose="fine-tune") if f.filename == training_file.name]
    assert [f.id for f in copies] == [stored.id]
    entries = emu.journal(route="upload_file")
    assert [e["fault"] for e in entries] == ["drop_before", None]
    assert entries[1]["status"] == 200


def test_max_retries_zero_disables_retrying(emu):
    emu.set_faults(["list_files:503:count=1"])

    with pytest.raises(SeekrFlowServerError):
        SeekrFlowHook(max_retries=0).list_files()

    assert statuses(emu, "list_files") == [503]


def test_delete_file_whose_answer_was_lost_still_succeeds(hook, emu, training_file):
    # The first DELETE removed the file but its answer was lost; the retry then finds nothing to delete.
    # The caller asked for the file to be gone, and it is: that is success, not "not found".
    stored = hook.upload_file(training_file, "fine-tune")
    emu.set_faults([{"route": "delete_file", "kind": "drop_after", "count": 1}])

    deleted = hook.delete_file(stored.id)

    assert deleted.id == stored.id
    assert deleted.deleted is True
    assert [e["fault"] for e in emu.journal(route="delete_file")] == ["drop_after", None]
    with pytest.raises(SeekrFlowNotFoundError):
        hook.get_file(stored.id)


def test_delete_alignment_job_whose_answer_was_lost_still_succeeds(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])
    emu.set_faults([{"route": "delete_alignment_job", "kind": "drop_after", "count": 1}])

    assert hook.delete_alignment_job(job.id) is None

    assert [e["fault"] for e in emu.journal(route="delete_alignment_job")] == ["drop_after", None]
    with pytest.raises(SeekrFlowNotFoundError):
        hook.get_alignment_job(job.id)
