"""A private CA, TLS emulators on 127.0.0.1 and [::1], and a real forward proxy (Debian's tinyproxy)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.local_servers import free_port, stop_process

# Every variable that may route a request through a proxy or name a CA bundle: a test sets the ones
# it means, and none leaks in from the machine.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
JOB_SECONDS = 1.0


@dataclass(frozen=True)
class Pki:
    ca: str  # the CA that signed the emulators' certificate
    other_ca: str  # a CA that signed nothing here: trusting only it must fail
    cert: str
    key: str


def _ca(name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A private CA and its server certificate for 127.0.0.1, ::1 and localhost, made now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("seekrflow-test private CA")
    _, other_cert = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = Pki(*(str(folder / name) for name in ("ca.pem", "other-ca.pem", "server.pem", "server.key")))
    Path(paths.ca).write_bytes(ca_cert.public_bytes(pem))
    Path(paths.other_ca).write_bytes(other_cert.public_bytes(pem))
    Path(paths.cert).write_bytes(cert.public_bytes(pem))
    Path(paths.key).write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def ipv6_loopback() -> bool:
    """Whether this machine can listen on [::1]."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def tls_emulators(pki: Pki, api_key: str) -> Iterator[dict[str, object]]:
    """The emulator serving TLS with the private CA's certificate, on 127.0.0.1 and (if it can) on ::1."""
    from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

    hosts = ["127.0.0.1"] + (["::1"] if ipv6_loopback() else [])
    started: dict[str, object] = {}
    try:
        for host in hosts:
            started[host] = SeekrFlowEmulator(
                api_key=api_key,
                host=host,
                job_duration=JOB_SECONDS,
                ssl_certfile=pki.cert,
                ssl_keyfile=pki.key,
            ).start()
        yield started
    finally:
        for emu in started.values():
            emu.stop()  # type: ignore[attr-defined]


@pytest.fixture(params=["127.0.0.1", "::1"], ids=["ipv4", "ipv6"])
def tls_emulator(request: pytest.FixtureRequest, tls_emulators: dict[str, object]):
    """The TLS emulator on one loopback address (``https://127.0.0.1:<port>``, ``https://[::1]:<port>``)."""
    if request.param not in tls_emulators:
        pytest.skip("this machine cannot listen on [::1]")
    emu = tls_emulators[request.param]
    emu.reset()  # type: ignore[attr-defined]
    return emu


class Tinyproxy:
    """A tinyproxy process on a free loopback port, with a log of the CONNECT requests it served."""

    def __init__(self, binary: str, folder: Path, *, extra_lines: tuple[str, ...] = ()) -> None:
        self.log = folder / "tinyproxy.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = folder / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            *(["Listen ::1"] if ipv6_loopback() else []),
            "Timeout 60",
            "MaxClients 200",
            # Only this machine may use it.
            "Allow 127.0.0.1",
            "Allow ::1",
            # No ConnectPort line: CONNECT is allowed to every port ("ConnectPort 0" would forbid it).
            f'LogFile "{self.log}"',
            "LogLevel Connect",
            f'PidFile "{folder / "tinyproxy.pid"}"',
            "DisableViaHeader Yes",
            *extra_lines,
        ]
        config.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            [binary, "-d", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"tinyproxy did not start; its log: {self._text()}") from None
                time.sleep(0.05)

    def _text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def mark(self) -> int:
        """Return the log's current end, to read what comes after it."""
        return len(self._text())

    def connects_since(self, mark: int) -> list[str]:
        """Return the targets (``host:port``) of the CONNECT requests logged after ``mark``."""
        return re.findall(r"Request \(file descriptor \d+\): CONNECT (\S+) HTTP/1\.\d", self._text()[mark:])

    def stop(self) -> None:
        stop_process(self.process)


def find_tinyproxy() -> str | None:
    """Return tinyproxy's path: on PATH, or where Debian installs it (/usr/bin, /usr/sbin)."""
    found = shutil.which("tinyproxy")
    if found:
        return found
    for candidate in ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _tinyproxy_or_skip() -> str:
    binary = find_tinyproxy()
    if binary is None:
        pytest.skip(
            "tinyproxy is not installed: run scripts/install_test_tools.sh (apt-get install tinyproxy)"
        )
    return binary


@pytest.fixture(scope="session")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """A real forward proxy (Debian's tinyproxy; ``scripts/install_test_tools.sh`` installs it)."""
    binary = _tinyproxy_or_skip()
    proxy = Tinyproxy(binary, tmp_path_factory.mktemp("tinyproxy"))
    try:
        yield proxy
    finally:
        proxy.stop()


PROXY_USER, PROXY_PASSWORD = "relay", "s3cret-proxy"


@pytest.fixture(scope="session")
def tinyproxy_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """A second tinyproxy that answers 407 unless the client sends its Basic credentials."""
    binary = _tinyproxy_or_skip()
    proxy = Tinyproxy(
        binary,
        tmp_path_factory.mktemp("tinyproxy-auth"),
        extra_lines=(f"BasicAuth {PROXY_USER} {PROXY_PASSWORD}",),
    )
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def clean_network_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy or CA bundle variable from the machine, in either case."""
    for name in PROXY_VARIABLES + CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch
