"""A wait's deadline holds while a request is in flight (issue 20, audit M4): both transports, retries, waits, triggers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_seekrflow.client import deadline
from airflow_provider_seekrflow.client.async_transport import AsyncTransport
from airflow_provider_seekrflow.client.config import ClientConfig
from airflow_provider_seekrflow.client.data_jobs import get as get_data_job
from airflow_provider_seekrflow.client.retry import RetryPolicy
from airflow_provider_seekrflow.client.sync_transport import SyncTransport
from airflow_provider_seekrflow.client.waiting import wait_until
from airflow_provider_seekrflow.exceptions import SeekrFlowDeadlineError
from tests.emulator.robustness.hostile import Behaviour, HostileServer

# How late past its bound a request may end on a loaded machine; far below any held answer here.
SLACK = 3.0
BOUND = 1.5


def _config(base_url: str) -> ClientConfig:
    return ClientConfig(base_url=base_url, api_key="k-test", timeout=120.0, max_retries=3)


def _sync(base_url: str) -> SyncTransport:
    return SyncTransport(_config(base_url), SimpleNamespace(warning=print, info=print), conn_id="c")


@contextlib.contextmanager
def _trickling_server(byte_every: float) -> Iterator[tuple[str, list[int]]]:
    """A server answering 200 with a 1 KiB JSON body, sending one byte every ``byte_every`` seconds."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    hits = [0]
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            hits[0] += 1
            body = b'{"id": "dj-1", "status": "running", "pad": "' + b"x" * 1000 + b'"}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            for byte in body:
                if stop.wait(byte_every):
                    return
                conn.sendall(bytes([byte]))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", hits
    finally:
        stop.set()
        listener.close()


# ------------------------------------------------------------------------------ the bound itself


def test_bounds_only_tighten_and_can_be_lifted_for_the_clean_up():
    assert deadline.time_left() is None and deadline.cap(7.0) == 7.0
    with deadline.bounded_by(10):
        assert 9 < deadline.time_left() <= 10
        with deadline.bounded_by(100):  # an inner, looser bound does not lengthen the outer one
            assert deadline.time_left() <= 10
        with deadline.bounded_by(1):
            assert deadline.cap(120.0) <= 1
        with deadline.lifted():
            assert deadline.time_left() is None
        assert deadline.time_left() <= 10
    assert deadline.deadline() is None


def test_a_request_with_no_time_left_is_not_sent():
    with HostileServer(Behaviour(200, body=b'{"id": "dj-1", "status": "running"}')) as server:
        with deadline.bounded_by(0), pytest.raises(SeekrFlowDeadlineError) as caught:
            _sync(server.base_url).call(get_data_job("dj-1"))
    assert server.hits == 0
    assert caught.value.may_have_reached_service is False and caught.value.timed_out


# ------------------------------------------------------------------------------ the sync transport


def test_a_held_answer_ends_at_the_bound_and_is_not_retried():
    with HostileServer(Behaviour(200, body=b"{}", stall=30)) as server:
        started = time.monotonic()
        with deadline.bounded_by(BOUND), pytest.raises(SeekrFlowDeadlineError):
            _sync(server.base_url).call(get_data_job("dj-1"))
        took = time.monotonic() - started
    assert BOUND - 0.1 <= took < BOUND + SLACK
    assert server.hits == 1  # max_retries=3, yet no retry: no time is left for one


def test_a_trickled_body_ends_at_the_bound_although_each_byte_comes_in_time():
    # Each byte comes well inside the read timeout (120 s): only the bound on the whole body ends it.
    with _trickling_server(byte_every=0.2) as (base_url, hits):
        started = time.monotonic()
        with deadline.bounded_by(BOUND), pytest.raises(SeekrFlowDeadlineError):
            _sync(base_url).call(get_data_job("dj-1"))
        took = time.monotonic() - started
    assert took < BOUND + SLACK and hits == [1]


def test_a_retry_never_sleeps_past_the_bound():
    with HostileServer(Behaviour(503, body=b'{"detail": "busy"}')) as server:
        # Backoff of 15 to 30 s before the retry; the wait has 1.5 s: it ends then, as a deadline.
        slow = RetryPolicy(max_retries=3, initial_delay=30.0, max_delay=30.0)
        transport = SyncTransport(
            _config(server.base_url), SimpleNamespace(warning=print), conn_id="c", retry_policy=slow
        )
        started = time.monotonic()
        with deadline.bounded_by(BOUND), pytest.raises(SeekrFlowDeadlineError):
            transport.call(get_data_job("dj-1"))
        took = time.monotonic() - started
    assert BOUND - 0.1 <= took < BOUND + SLACK
    assert server.hits == 1  # the retry found no time left: not sent


# ------------------------------------------------------------------------------ the async transport


@pytest.mark.parametrize("hold", ["stall", "trickle"])
def test_the_async_transport_ends_a_held_or_trickled_answer_at_the_bound(hold):
    async def call(base_url: str) -> None:
        transport = AsyncTransport(_config(base_url), SimpleNamespace(warning=print, info=print), conn_id="c")
        async with transport:
            with deadline.bounded_by(BOUND):
                await transport.call(get_data_job("dj-1"))

    with contextlib.ExitStack() as stack:
        if hold == "stall":
            server = stack.enter_context(HostileServer(Behaviour(200, body=b"{}", stall=30)))
            base_url = server.base_url
        else:
            base_url, _ = stack.enter_context(_trickling_server(byte_every=0.2))
        started = time.monotonic()
        with pytest.raises(SeekrFlowDeadlineError):
            asyncio.run(call(base_url))
        took = time.monotonic() - started
    assert took < BOUND + SLACK


# ------------------------------------------------------------------------------ the wait


def test_wait_until_ends_a_check_held_past_its_timeout_as_its_timeout():
    seen: list[Any] = []
    unbounded_in_callback: list[bool] = []

    def fetch() -> Any:
        # The first check answers; the second is held until the bound ends it, as a transport does.
        if seen:
            time.sleep(deadline.time_left() or 0)
            raise deadline.deadline_error("GET", "/v1/flow/data-jobs/dj-1")
        return SimpleNamespace(status="running")

    def timed_out(job: Any) -> Exception:
        unbounded_in_callback.append(deadline.deadline() is None)  # cancelling must not be cut short
        return TimeoutError(f"still {job.status if job else 'unread'}")

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still running"):
        wait_until(
            fetch,
            done=lambda job: False,
            delay=lambda job: 0.0,
            timeout=BOUND,
            timed_out=timed_out,
            on_poll=seen.append,
        )
    assert time.monotonic() - started < BOUND + SLACK
    assert len(seen) == 1 and unbounded_in_callback == [True]


def test_wait_until_with_no_read_in_time_gives_the_callback_none():
    def fetch() -> Any:
        raise deadline.deadline_error("GET", "/v1/flow/data-jobs/dj-1")

    with pytest.raises(TimeoutError, match="unread"):
        wait_until(
            fetch,
            done=lambda job: True,
            delay=lambda job: 0.0,
            timeout=5,
            timed_out=lambda job: TimeoutError("unread" if job is None else "read"),
        )


def test_wait_until_honours_an_enclosing_bound_such_as_the_execution_timeout():
    reads: list[int] = []
    started = time.monotonic()
    with deadline.bounded_by(BOUND), pytest.raises(TimeoutError):
        wait_until(
            lambda: reads.append(1) or SimpleNamespace(status="running"),
            done=lambda job: False,
            delay=lambda job: 0.2,
            timeout=None,
            timed_out=lambda job: TimeoutError(),
        )
    assert BOUND - 0.1 <= time.monotonic() - started < BOUND + SLACK and len(reads) >= 2
