"""
The sync hook and the trigger reach SeekrFlow alike: through a real forward proxy, trusting a private CA.

The emulator serves TLS with a certificate of a CA made at test time, on ``https://127.0.0.1:<port>``
and ``https://[::1]:<port>``; Debian's tinyproxy is the proxy (``scripts/install_test_tools.sh``), and its
log shows which requests it tunnelled. Both clients must honour ``HTTPS_PROXY``/``NO_PROXY``, the CA
named by ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` or the connection's ``verify`` extra, and nothing else.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_seekrflow.client import alignment
from airflow_provider_seekrflow.exceptions import SeekrFlowConnectionError, SeekrFlowTLSError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook
from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger
from tests.conftest import connection_json
from tests.emulator.network.conftest import ipv6_loopback
from tests.local_servers import SocketServer

CONN_ID = "seekrflow_net"


def start_job(emu: Any, ca: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Start a short alignment job directly (no proxy variable is set yet) and return its id."""
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_SETUP", connection_json(emu.base_url, emu.api_key, verify=ca))
    doc = tmp_path / "manual.txt"
    doc.write_text("The pressure valve is checked before every start.\n")
    hook = SeekrFlowHook("seekrflow_setup")
    try:
        stored = hook.upload_file(doc, "alignment")
        return hook.generate_alignment("Teach the valve check.", [stored.id]).id
    finally:
        hook.close()


def use_connection(emu: Any, monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(emu.base_url, emu.api_key, max_retries=0, **extra)
    )


def use_proxy(proxy_url: str, monkeypatch: pytest.MonkeyPatch, *, no_proxy: str | None = None) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    if no_proxy is not None:
        monkeypatch.setenv("NO_PROXY", no_proxy)


def sync_poll(job_id: str) -> Any:
    hook = SeekrFlowHook(CONN_ID)
    try:
        return hook.get_alignment_job(job_id)
    finally:
        hook.close()


def async_poll(job_id: str) -> Any:
    return asyncio.run(SeekrFlowAsyncHook(CONN_ID).call(alignment.get_job(job_id)))


def trigger_events(job_id: str, *, wait_seconds: float = 60.0) -> list[dict[str, Any]]:
    """Run the trigger to its event in a fresh event loop, as the triggerer would."""

    async def run() -> list[dict[str, Any]]:
        trigger = SeekrFlowJobTrigger(
            ALIGNMENT.key,
            job_id,
            CONN_ID,
            poll_interval=0.2,
            min_poll_interval=0.1,
            end_time=time.time() + wait_seconds,
        )
        return [event.payload async for event in trigger.run()]

    return asyncio.run(run())


def netloc(emu: Any) -> str:
    """The ``host:port`` a client asks the proxy to CONNECT to: ``127.0.0.1:<port>`` or ``[::1]:<port>``."""
    return urlsplit(emu.base_url).netloc


# -- through the proxy, trusting the private CA ----------------------------------------------------------


@pytest.mark.parametrize("trust", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "verify extra"])
def test_sync_hook_and_trigger_reach_the_service_through_the_proxy(
    tls_emulator, tinyproxy, pki, trust, clean_network_env, tmp_path
):
    monkeypatch = clean_network_env
    job_id = start_job(tls_emulator, pki.ca, tmp_path, monkeypatch)
    if trust == "verify extra":
        # The connection's extra wins over a CA bundle named in the environment.
        monkeypatch.setenv("SSL_CERT_FILE", pki.other_ca)
        use_connection(tls_emulator, monkeypatch, verify=pki.ca)
    else:
        monkeypatch.setenv(trust, pki.ca)
        use_connection(tls_emulator, monkeypatch)
    use_proxy(tinyproxy.url, monkeypatch)
    target = netloc(tls_emulator)

    mark = tinyproxy.mark()
    polled = sync_poll(job_id)
    sync_connects = tinyproxy.connects_since(mark)

    mark = tinyproxy.mark()
    events = trigger_events(job_id)
    trigger_connects = tinyproxy.connects_since(mark)

    assert polled.id == job_id
    assert sync_connects == [target]
    assert [event["status"] for event in events] == ["completed"]
    assert events[0]["job_id"] == job_id
    # Every poll of the trigger went through the proxy, over one kept-alive tunnel or a few.
    assert trigger_connects and set(trigger_connects) == {target}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_skips_verification_on_both_paths(
    tls_emulator, tinyproxy, pki, clean_network_env, tmp_path
):
    monkeypatch = clean_network_env
    job_id = start_job(tls_emulator, pki.ca, tmp_path, monkeypatch)
    use_connection(tls_emulator, monkeypatch, verify=False)
    use_proxy(tinyproxy.url, monkeypatch)
    mark = tinyproxy.mark()

    assert sync_poll(job_id).id == job_id
    assert [event["status"] for event in trigger_events(job_id)] == ["completed"]
    assert set(tinyproxy.connects_since(mark)) == {netloc(tls_emulator)}


# -- NO_PROXY ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["host", "network"])
def test_no_proxy_bypasses_the_proxy_on_both_paths(
    tls_emulator, tinyproxy, pki, form, clean_network_env, tmp_path
):
    monkeypatch = clean_network_env
    host = urlsplit(tls_emulator.base_url).hostname  # 127.0.0.1 or ::1, as NO_PROXY lists it
    if form == "network" and host != "127.0.0.1":
        pytest.skip("requests reads NO_PROXY networks for IPv4 addresses only")
    job_id = start_job(tls_emulator, pki.ca, tmp_path, monkeypatch)
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca)
    use_connection(tls_emulator, monkeypatch)
    use_proxy(
        tinyproxy.url, monkeypatch, no_proxy=f"example.invalid,{host if form == 'host' else '127.0.0.0/8'}"
    )
    mark = tinyproxy.mark()

    assert sync_poll(job_id).id == job_id
    assert [event["status"] for event in trigger_events(job_id)] == ["completed"]
    assert tinyproxy.connects_since(mark) == []


# -- a proxy that wants credentials -----------------------------------------------------------------------


def test_proxy_credentials_in_the_proxy_url_are_sent_on_both_paths(
    tls_emulator, tinyproxy_with_auth, pki, clean_network_env, tmp_path
):
    from tests.emulator.network.conftest import PROXY_PASSWORD, PROXY_USER

    monkeypatch = clean_network_env
    proxy = tinyproxy_with_auth
    job_id = start_job(tls_emulator, pki.ca, tmp_path, monkeypatch)
    use_connection(tls_emulator, monkeypatch, verify=pki.ca)

    use_proxy(proxy.url, monkeypatch)  # no credentials: the proxy answers 407
    with pytest.raises(SeekrFlowConnectionError) as sync_refused:
        sync_poll(job_id)
    with pytest.raises(SeekrFlowConnectionError) as async_refused:
        async_poll(job_id)

    use_proxy(proxy.url.replace("http://", f"http://{PROXY_USER}:{PROXY_PASSWORD}@"), monkeypatch)
    mark = proxy.mark()
    polled = sync_poll(job_id)
    events = trigger_events(job_id)

    for refused in (sync_refused, async_refused):
        assert "407" in str(refused.value), str(refused.value)
        assert refused.value.may_have_reached_service is False
        assert PROXY_PASSWORD not in str(refused.value)
    assert polled.id == job_id
    assert [event["status"] for event in events] == ["completed"]
    assert set(proxy.connects_since(mark)) == {netloc(tls_emulator)}


class _RecordingProxy(SocketServer):
    """A proxy that writes down each CONNECT request it receives and refuses it (403)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        super().__init__(self._refuse)

    def _refuse(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        self.requests.append(data)
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def test_the_api_key_never_reaches_the_proxy(tls_emulators, clean_network_env):
    emu = tls_emulators["127.0.0.1"]
    proxy = _RecordingProxy()
    try:
        use_connection(emu, clean_network_env, verify=False)
        use_proxy(proxy.url, clean_network_env)
        with pytest.raises(SeekrFlowConnectionError) as sync_refused:
            sync_poll("al-1")
        with pytest.raises(SeekrFlowConnectionError) as async_refused:
            async_poll("al-1")
    finally:
        proxy.close()

    assert len(proxy.requests) == 2
    for request in proxy.requests:
        assert request.startswith(f"CONNECT {netloc(emu)} HTTP/1.".encode())
        assert emu.api_key.encode() not in request
        assert b"authorization" not in request.lower()
    for refused in (sync_refused, async_refused):
        assert "403" in str(refused.value)
        assert refused.value.may_have_reached_service is False


# -- a CA that did not sign the service's certificate -----------------------------------------------------


def test_an_untrusted_ca_fails_both_paths_with_a_clear_connection_error(
    tls_emulator, tinyproxy, pki, clean_network_env, tmp_path
):
    monkeypatch = clean_network_env
    job_id = start_job(tls_emulator, pki.ca, tmp_path, monkeypatch)
    monkeypatch.setenv("SSL_CERT_FILE", pki.other_ca)
    use_connection(tls_emulator, monkeypatch)
    use_proxy(tinyproxy.url, monkeypatch)
    mark = tinyproxy.mark()

    with pytest.raises(SeekrFlowConnectionError) as sync_error:
        sync_poll(job_id)
    with pytest.raises(SeekrFlowConnectionError) as async_error:
        async_poll(job_id)
    # The trigger takes a connection error for a passing fault: it keeps trying until its deadline.
    events = trigger_events(job_id, wait_seconds=1.0)

    for caught in (sync_error, async_error):
        message = str(caught.value)
        assert "certificate verify failed" in message.lower(), message
        assert "Set the connection's 'verify' extra" in message, message
        assert f"GET /v1/flow/alignment/{job_id}" in message
        assert isinstance(caught.value, SeekrFlowTLSError)
        assert caught.value.may_have_reached_service is False
    assert [event["status"] for event in events] == ["timeout"]
    # The proxy opened the tunnels; the TLS handshake inside them is what failed.
    assert set(tinyproxy.connects_since(mark)) == {netloc(tls_emulator)}


# -- the Host header of an IPv6 literal -------------------------------------------------------------------


class _HostRecorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hosts: list[str] = []

    def do_GET(self) -> None:
        type(self).hosts.append(self.headers.get("Host", ""))
        body = json.dumps({"id": "al-host", "status": "running"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _IPv6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine cannot listen on [::1]")
def test_both_paths_send_a_bracketed_host_header_to_an_ipv6_literal(clean_network_env, api_key):
    server = _IPv6Server(("::1", 0), _HostRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    _HostRecorder.hosts = []
    try:
        clean_network_env.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(f"http://[::1]:{port}", api_key, max_retries=0)
        )
        assert sync_poll("al-host").id == "al-host"
        assert async_poll("al-host").id == "al-host"
    finally:
        server.shutdown()
        server.server_close()

    assert _HostRecorder.hosts == [f"[::1]:{port}", f"[::1]:{port}"]
