"""A host written without ``http://`` for a server that speaks plain HTTP: one try, and a message that says what to write."""

from __future__ import annotations

import asyncio
import socket

import pytest

from airflow_provider_seekrflow.client import alignment
from airflow_provider_seekrflow.exceptions import SeekrFlowTLSError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook
from tests.local_servers import SocketServer

CONN_ID = "seekrflow_plain"


class PlainHTTPServer(SocketServer):
    """A loopback server that answers every connection with a plain-HTTP 400 and counts the connections."""

    def __init__(self) -> None:
        self.connections = 0
        super().__init__(self._answer)

    def _answer(self, client: socket.socket) -> None:
        self.connections += 1
        client.settimeout(2)
        try:
            client.recv(4096)  # a TLS ClientHello, read as if it were an HTTP request
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            pass


@pytest.fixture
def plain_server(monkeypatch):
    server = PlainHTTPServer()
    # The URI form users write: no scheme in the host, so the hook speaks https to it.
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", f"seekrflow://:some-key@127.0.0.1:{server.port}")
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.close()


def _assert_says_what_to_write(error: SeekrFlowTLSError, port: int) -> None:
    message = str(error)
    assert "does not speak TLS" in message, message
    assert f"write the connection's host with http://, e.g. http://127.0.0.1:{port}" in message, message
    assert "some-key" not in message
    assert error.may_have_reached_service is False


def test_sync_hook_fails_at_once_with_the_http_host_to_write(plain_server):
    hook = SeekrFlowHook(CONN_ID)
    with pytest.raises(SeekrFlowTLSError) as caught:
        hook.list_files()
    hook.close()
    _assert_says_what_to_write(caught.value, plain_server.port)
    # Not retried: the default policy would have made six connections.
    assert plain_server.connections == 1


def test_async_hook_fails_at_once_with_the_http_host_to_write(plain_server):
    with pytest.raises(SeekrFlowTLSError) as caught:
        asyncio.run(SeekrFlowAsyncHook(CONN_ID).call(alignment.get_job("al-1")))
    _assert_says_what_to_write(caught.value, plain_server.port)
    assert plain_server.connections == 1
