"""
Object-storage sources end to end: moto's S3 server (a subprocess, over HTTP) and the SeekrFlow emulator.

- ``moto``: one moto S3 server for the session, recording requests on demand.
- ``s3``: a test's own bucket on it, with Airflow connections set through ``AIRFLOW_CONN_*`` as users
  set them: ``aws_default`` and ``aws_reader`` (credentials, endpoint moto), ``aws_nocreds`` (endpoint
  moto, no credentials), and ``seekrflow_default`` pointing at the emulator (the ``emu`` fixture).
  No ambient AWS credential, profile, config file or endpoint is visible, and a guard refuses every
  network connection (and name lookup) outside loopback: no test can reach real AWS.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.emulator.sources.moto_s3 import (
    AMBIENT_AWS_VARIABLES,
    MotoS3,
    aws_connection,
    isolated_aws_environment,
)
from tests.local_servers import first_module_with


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoS3]:
    """moto's S3 server, in its own process on 127.0.0.1, for the whole session."""
    server = MotoS3(record=True).start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------ loopback-only guard


def _own_names() -> set[str]:
    names = {"localhost", "ip6-localhost", "ip6-loopback"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower())
    return names


def _is_loopback(host: Any, own_names: set[str]) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host.lower() in own_names


@dataclass
class NetworkGuard:
    """Every refused attempt to connect (or resolve a name) outside loopback, as ``(what, target)``."""

    refused: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """
    Refuse every connection and name lookup that would leave this machine, and fail the test if any was tried.

    The refusal raises at once (so a client does not hang), and is recorded, so a client that
    swallows the error and retries still fails the test at teardown.
    """
    guard = NetworkGuard()
    own_names = _own_names()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family == getattr(socket, "AF_UNIX", None) or isinstance(address, (str, bytes)):
            return
        if not _is_loopback(address[0], own_names):
            guard.refused.append(("connect", repr(address)))
            raise ConnectionRefusedError(f"test guard: no connection outside loopback ({address!r})")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host, own_names):
            guard.refused.append(("getaddrinfo", repr(host)))
            raise socket.gaierror(
                socket.EAI_NONAME, f"test guard: no name lookup outside loopback ({host!r})"
            )
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    assert not guard.refused, f"a test tried to reach beyond loopback: {guard.refused}"


# --------------------------------------------------------------------------------- per-test bucket


@dataclass
class S3Case:
    """A test's own bucket on the moto server, and the names of the connections that read it."""

    moto: MotoS3
    bucket: str
    guard: NetworkGuard
    default_conn: str = "aws_default"
    reader_conn: str = "aws_reader"
    nocreds_conn: str = "aws_nocreds"

    def uri(self, key: str, conn_id: str | None = None) -> str:
        """``s3://[conn@]bucket/key``."""
        return f"s3://{conn_id + '@' if conn_id else ''}{self.bucket}/{key}"

    def put(self, key: str, body: bytes | str) -> str:
        """Store an object in the test's bucket and return its URI (naming no connection)."""
        self.moto.put(self.bucket, key, body.encode() if isinstance(body, str) else body)
        return self.uri(key)


def bucket_for(nodeid: str) -> str:
    """A valid bucket name unique to a test (lower-case letters, digits and hyphens)."""
    return f"sf-{hashlib.sha1(nodeid.encode()).hexdigest()[:24]}"


def _forget_object_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    # Airflow caches one filesystem per (scheme, connection id) for the life of the process: a
    # test that changes what ``aws_default`` holds must not be served the one an earlier test made.
    module = first_module_with(("airflow.sdk.io.store", "airflow.io.store"), "_STORE_CACHE")
    if module is not None:
        monkeypatch.setattr(module, "_STORE_CACHE", {})


@pytest.fixture
def s3(
    request: pytest.FixtureRequest,
    moto: MotoS3,
    emu: Any,
    loopback_only: NetworkGuard,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> S3Case:
    """A fresh bucket, the AWS connections to moto and the SeekrFlow connection to the emulator."""
    for name in AMBIENT_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in isolated_aws_environment(tmp_path_factory.mktemp("aws-home")).items():
        monkeypatch.setenv(name, value)
    good = aws_connection(moto.endpoint_url)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", good)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_READER", good)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_NOCREDS", aws_connection(moto.endpoint_url, login=None, password=None)
    )
    _forget_object_stores(monkeypatch)
    bucket = bucket_for(request.node.nodeid)
    moto.create_bucket(bucket)
    return S3Case(moto=moto, bucket=bucket, guard=loopback_only)
