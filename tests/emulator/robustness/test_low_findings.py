"""
Low findings of the reliability audit a user could hit, end to end against the emulator (issue 20).

L4: a file that changes while it is uploaded is the file's fault: one request, no lost-answer search,
no resend, ``SeekrFlowInvalidFileError`` naming it. L7: a plain-http host that is not this machine,
and ``verify=false``, are warned about on both paths. L12: tasks creating one project name at once
end up using one project.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import uuid
from pathlib import Path

import pytest

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowInvalidFileError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook
from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.jobs.data_job import DATA_JOB
from tests.conftest import connection_json
from tests.readable_stream import ReadableStream

PIECE = 64 * 1024


class GrowingFile(ReadableStream):
    """A local file that a writer appends to right after the uploader's first read of it."""

    def __init__(self, path: Path, grow_by: bytes) -> None:
        self._handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._path = path
        self._grow_by = grow_by
        self._grown = False

    def read(self, size: int = -1, /) -> bytes:
        data = self._handle.read(size)
        if not self._grown:
            self._grown = True
            with open(self._path, "ab") as writer:
                writer.write(self._grow_by)
        return data

    def close(self) -> None:
        self._handle.close()
        super().close()


class FailingStream(ReadableStream):
    """A stream whose second read fails, as a disk or a network mount does."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self._reads = 0

    def read(self, size: int = -1, /) -> bytes:
        self._reads += 1
        if self._reads == 2:
            raise OSError(5, "Input/output error")
        return self._data.read(size)


@pytest.fixture
def hook(emu):
    hook = SeekrFlowHook()
    yield hook
    hook.close()


def routes(emu) -> list[str]:
    return [entry["route"] for entry in emu.journal()]


def test_a_file_growing_during_upload_is_one_request_and_an_invalid_file(hook, emu, tmp_path):
    source = tmp_path / "notes.md"
    source.write_bytes(b"x" * (3 * PIECE))
    size = source.stat().st_size

    with pytest.raises(SeekrFlowInvalidFileError) as caught:
        hook.upload_stream(
            lambda: GrowingFile(source, b"y" * PIECE),
            size,
            "alignment",
            filename="notes.md",
            chunk_bytes=PIECE,
        )

    assert "notes.md: changed while it was being uploaded (grew past the" in str(caught.value)
    # One snapshot listing, one upload: no lost-answer search, no resend.
    assert routes(emu) == ["list_files", "upload_file"]
    assert not [f for f in hook.list_files(purpose="alignment") if f.filename == "notes.md"]


def test_a_stream_giving_fewer_bytes_than_announced_is_an_invalid_file(hook, emu):
    with pytest.raises(SeekrFlowInvalidFileError, match=r"shrank to 1000 of the 5000 bytes announced"):
        hook.upload_stream(lambda: io.BytesIO(b"z" * 1000), 5000, "alignment", filename="short.md")
    assert routes(emu) == ["list_files", "upload_file"]


def test_a_read_error_during_upload_is_an_invalid_file_not_a_network_error(hook, emu):
    with pytest.raises(SeekrFlowInvalidFileError) as caught:
        hook.upload_stream(
            lambda: FailingStream(b"w" * (4 * PIECE)),
            4 * PIECE,
            "alignment",
            filename="mounted.md",
            chunk_bytes=PIECE,
        )
    assert str(caught.value).startswith("mounted.md: could not be read while it was being uploaded")
    assert "Input/output error" in str(caught.value)
    assert routes(emu) == ["list_files", "upload_file"]


# ---------------------------------------------------------------- L7: insecure settings are said


def _connection(monkeypatch, conn_id: str, host: str, **extra: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(host, "k-secret", **extra))


def _warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "SeekrFlow connection" in r.getMessage()
    ]


def _read_both_ways(conn_id: str) -> None:
    sync_hook = SeekrFlowHook(conn_id)
    assert sync_hook.config.api_key == "k-secret"
    assert asyncio.run(SeekrFlowAsyncHook(conn_id).get_config()).api_key == "k-secret"


def test_a_plain_http_host_that_is_not_loopback_is_warned_about_once(monkeypatch, caplog):
    host = f"http://seekrflow-{uuid.uuid4().hex[:8]}.example.com:8080"
    _connection(monkeypatch, "sf_plain_remote", host)
    with caplog.at_level(logging.WARNING):
        _read_both_ways("sf_plain_remote")
        _read_both_ways("sf_plain_remote")
    [warning] = _warnings(caplog)
    assert f"{host} is reached over plain http://, so the API key travels in cleartext" in warning
    assert "only for a local emulator" in warning
    assert "k-secret" not in warning


def test_verify_false_is_warned_about_on_the_sync_and_the_async_path(monkeypatch, caplog):
    sync_host = f"https://sync-{uuid.uuid4().hex[:8]}.example.com"
    async_host = f"https://async-{uuid.uuid4().hex[:8]}.example.com"
    _connection(monkeypatch, "sf_noverify_sync", sync_host, verify=False)
    _connection(monkeypatch, "sf_noverify_async", async_host, verify="false")
    with caplog.at_level(logging.WARNING):
        assert SeekrFlowHook("sf_noverify_sync").config.verify is False
        config = asyncio.run(SeekrFlowAsyncHook("sf_noverify_async").get_config())
    assert config.verify is False
    warnings = _warnings(caplog)
    assert len(warnings) == 2, warnings
    assert f"TLS certificates of {sync_host} are not verified" in warnings[0]
    assert f"TLS certificates of {async_host} are not verified" in warnings[1]


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:{port}", "http://localhost:{port}", "http://[::1]:{port}"]
)
def test_a_loopback_http_host_gives_no_warning(monkeypatch, caplog, host):
    # A port of its own, so no earlier test's warning of the same settings hides one here.
    _connection(monkeypatch, "sf_loopback", host.format(port=20000 + uuid.uuid4().int % 40000))
    with caplog.at_level(logging.WARNING):
        _read_both_ways("sf_loopback")
    assert _warnings(caplog) == []


# ------------------------------------------------------- L8: a poll interval is at most a day


@pytest.mark.parametrize(
    ("intervals", "named"),
    [
        ({"poll_interval": 1e10, "min_poll_interval": 5.0}, "poll_interval must be at most 86400 seconds"),
        ({"poll_interval": 300.0, "min_poll_interval": 2 * 86400.0}, "min_poll_interval must be at most"),
        ({"poll_interval": float("nan"), "min_poll_interval": 5.0}, "poll_interval must be greater than 0"),
    ],
)
def test_hook_waits_refuse_a_poll_interval_beyond_a_day_before_any_request(hook, emu, intervals, named):
    with pytest.raises(SeekrFlowConfigError, match=named):
        hook.wait_for_job(ALIGNMENT, "aj-1", **intervals)
    with pytest.raises(SeekrFlowConfigError, match=named):
        hook.wait_for_job(DATA_JOB, "dj-1", until="ingestion", timeout=None, **intervals)
    assert emu.journal() == []


# --------------------------------------------- L12: one project name created at once, one project


def test_two_tasks_creating_one_project_name_at_once_use_the_same_project(emu, monkeypatch, task_logs):
    from airflow_provider_seekrflow.client import creates, projects

    # Both tasks have looked and found no project before either creates one: the race, every time.
    both_looked = threading.Barrier(2, timeout=30)
    send_once = creates.once

    def once_after_both_looked(transport, call, lookup):
        if call.endpoint is projects.CREATE_PROJECT:
            both_looked.wait()
        return send_once(transport, call, lookup)

    monkeypatch.setattr(creates, "once", once_after_both_looked)
    name = f"race {uuid.uuid4().hex[:10]}"
    used: list[int] = []

    def task() -> None:
        hook = SeekrFlowHook()
        try:
            used.append(hook.ensure_project(name, "Fine-tunes of the race").id)
        finally:
            hook.close()

    threads = [threading.Thread(target=task) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    made = sorted(entry["status"] for entry in emu.journal(route="create_project"))
    assert made == [200, 200] or made == [201, 201], made  # the race did happen: two creates
    assert len(used) == 2
    assert used[0] == used[1]
    listed = SeekrFlowHook().call(projects.list_projects()).data
    assert used[0] == min(project.id for project in listed if project.name == name)
    assert task_logs.occurrences(f"2 projects named '{name}'") == 2
    # Later tasks find the same one.
    assert SeekrFlowHook().ensure_project(name, "Fine-tunes of the race").id == used[0]


@pytest.mark.parametrize("value", [0, -1, 86_401, 1e12])
def test_operators_and_sensors_refuse_a_poll_interval_out_of_bounds_when_built(value):
    from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
    from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
    from airflow_provider_seekrflow.sensors.data_job import SeekrFlowDataJobSensor

    with pytest.raises(SeekrFlowConfigError, match="poll_interval"):
        SeekrFlowDataJobOperator(task_id="pairs", files=["file-1"], poll_interval=value)
    with pytest.raises(SeekrFlowConfigError, match="poll_interval"):
        SeekrFlowDataJobSensor(task_id="wait", job_id="dj-1", poll_interval=value)
