"""Run the emulator: a uvicorn server in a thread or a child process, plus an HTTP admin client.

For tests and local development only: never expose it to a network. It listens on loopback
unless ``allow_remote=True`` (``--allow-remote``), and every path, the admin API included, needs
the API key. ``SeekrFlowEmulator`` is what tests and users hold::

    key = secrets.token_urlsafe(16)
    with SeekrFlowEmulator(api_key=key, job_duration=3) as emu:
        requests.get(f"{emu.base_url}/v1/flow/files", headers={"Authorization": key})
        emu.set_faults([{"route": "upload_file", "kind": "503", "count": 1}])
        emu.journal(route="upload_file")

``legacy_job_shape=True`` and ``deprecation_headers=True`` start it imitating an older server
(string percentages, an unknown ``preparing`` status) and marking the generate route deprecated;
``configure()`` switches both at run time. The admin helpers talk HTTP to ``/_emulator/...``, so they work the same in both modes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import selectors
import shutil
import signal
import socket
import ssl
import subprocess as _subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_seekrflow.emulator.admin_client import EmulatorAdminClient

__all__ = [
    "API_KEY_ENV",
    "SeekrFlowEmulator",
    "bind_socket",
    "build_server",
    "check_host",
    "format_base_url",
    "is_loopback",
]

# The environment variable the command line reads its key from (argv is visible to every user in `ps`).
API_KEY_ENV = "SEEKRFLOW_EMULATOR_API_KEY"


def is_loopback(host: str) -> bool:
    """Return whether ``host`` (an address or a name) reaches only this machine.

    :param host: what the server is asked to listen on; ``""`` and ``0.0.0.0`` mean every interface.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback ``host`` unless ``allow_remote``; warn loudly on stderr when it is allowed.

    :param host: the address to listen on.
    :param allow_remote: the caller's explicit consent to listen beyond loopback.
    """
    if is_loopback(host):
        return
    if not allow_remote:
        raise ValueError(
            f"refusing to listen on {host!r}, which is not a loopback address: the SeekrFlow emulator is for "
            "tests and local development only and must never be exposed to a network "
            "(pass --allow-remote / allow_remote=True to do it anyway, e.g. inside a container)"
        )
    print(
        f"WARNING: the SeekrFlow emulator listens on {host!r}, beyond loopback. It is for tests and local "
        "development only: anyone who can reach it and knows the key can read and wipe its state.",
        file=sys.stderr,
        flush=True,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), SO_REUSEADDR set."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def format_base_url(host: str, port: int, https: bool = False) -> str:
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if https else 'http'}://{host}:{port}"


def build_server(
    app: Any,
    *,
    log_level: str = "warning",
    loop: str = "auto",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    on_started: Callable[[], None] | None = None,
) -> Any:
    """A ``uvicorn.Server`` for ``app`` that exits cleanly (code 0) on SIGINT/SIGTERM."""
    import uvicorn

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Unlike uvicorn's, do not re-raise the signal after shutdown: exit cleanly.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            else:
                self.should_exit = True

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit and on_started is not None:
                on_started()

        async def shutdown(self, sockets: Any = None) -> None:
            # Idle keep-alive connections can hang a TLS close for the whole graceful timeout;
            # nothing is in flight on them, so cut them. Busy ones still get to finish.
            for conn in list(self.server_state.connections):
                cycle = getattr(conn, "cycle", None)
                transport = getattr(conn, "transport", None)
                if transport is not None and (cycle is None or cycle.response_complete):
                    transport.abort()
            await super().shutdown(sockets=sockets)

    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level=log_level,
        access_log=False,
        loop=loop,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=30,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    return _Server(config)


class SeekrFlowEmulator(EmulatorAdminClient):
    """A running SeekrFlow emulator (thread or subprocess) and a client for its admin API.

    ``api_key`` is required: there is no default key. ``data_dir`` defaults to a new temporary
    directory, removed by ``stop()`` unless ``cleanup`` is False (a directory you pass in is never
    removed unless ``cleanup`` is True). ``host`` must be a loopback address unless
    ``allow_remote`` is True. A child process (``subprocess=True``) gets the key through its
    environment, never its command line.
    """

    def __init__(
        self,
        api_key: str,
        data_dir: str | None = None,
        job_duration: float = 20.0,
        host: str = "127.0.0.1",
        port: int = 0,
        subprocess: bool = False,
        *,
        faults: Iterable[dict[str, Any] | str] = (),
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        log_level: str = "warning",
        startup_timeout: float = 30.0,
        cleanup: bool | None = None,
        legacy_job_shape: bool = False,
        deprecation_headers: bool = False,
        ingestion_seconds: float | None = None,
        fine_tune_duration: float | None = None,
        allow_remote: bool = False,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("SeekrFlowEmulator needs an api_key (there is no default key)")
        check_host(host, allow_remote)
        self.api_key = api_key
        self.allow_remote = allow_remote
        self._own_dir = data_dir is None
        self.data_dir = os.path.abspath(data_dir) if data_dir else tempfile.mkdtemp(prefix="seekrflow-emu-")
        self.job_duration = float(job_duration)
        self.host = host
        self.port = port
        self.subprocess = subprocess
        self.faults = list(faults)
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile = ssl_keyfile
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.cleanup = self._own_dir if cleanup is None else cleanup
        self.legacy_job_shape = legacy_job_shape
        self.deprecation_headers = deprecation_headers
        # Seconds per non-Markdown file a data job ingests, and a fine-tune's run (None: the defaults).
        self.pipeline_timing = {
            "ingestion_seconds": ingestion_seconds,
            "fine_tune_duration": fine_tune_duration,
        }
        self.base_url: str | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._proc: _subprocess.Popen[bytes] | None = None
        self._ssl_context: ssl.SSLContext | None = None
        if ssl_certfile:
            self._ssl_context = ssl.create_default_context()
            self._ssl_context.check_hostname = False
            self._ssl_context.verify_mode = ssl.CERT_NONE

    # ------------------------------------------------------------- lifecycle
    def __enter__(self) -> SeekrFlowEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """Process id serving requests (the child's in subprocess mode)."""
        return self._proc.pid if self._proc is not None else os.getpid()

    def start(self) -> SeekrFlowEmulator:
        if self.running:
            return self
        os.makedirs(self.data_dir, exist_ok=True)
        if self.subprocess:
            self._start_process()
        else:
            self._start_thread()
        return self

    def stop(self) -> None:
        self._halt()
        if self.cleanup:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def restart(self) -> None:
        """Stop, then start again on the same port and data directory (state survives)."""
        self._halt()
        self.start()

    def _halt(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except _subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=15)
            self._server = None
            self._thread = None
        self.base_url = None

    def _start_thread(self) -> None:
        from airflow_provider_seekrflow.emulator.app import EmulatorState, create_app
        from airflow_provider_seekrflow.emulator.faults import FaultRule, parse_fault_spec

        state = EmulatorState(
            self.api_key,
            self.data_dir,
            job_duration=self.job_duration,
            legacy_job_shape=self.legacy_job_shape,
            deprecation_headers=self.deprecation_headers,
            **self.pipeline_timing,
        )
        for rule in self.faults:
            state.faults.add(parse_fault_spec(rule) if isinstance(rule, str) else FaultRule.from_dict(rule))
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = build_server(
            create_app(state),
            log_level=self.log_level,
            loop="asyncio",
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                errors.append(exc)
            finally:
                sock.close()

        thread = threading.Thread(target=run, name=f"seekrflow-emulator-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"SeekrFlow emulator did not start: {errors[0] if errors else 'timeout'}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        self.base_url = format_base_url(self.host, self.port, https=bool(self.ssl_certfile))

    def _start_process(self) -> None:
        cmd = [
            sys.executable, "-m", "airflow_provider_seekrflow.emulator",
            "--host", self.host, "--port", str(self.port),
            "--data-dir", self.data_dir, "--job-duration", str(self.job_duration),
            "--log-level", self.log_level,
        ]  # fmt: skip
        for rule in self.faults:
            cmd += ["--fault", rule if isinstance(rule, str) else json.dumps(rule)]
        if self.allow_remote:
            cmd.append("--allow-remote")
        if self.legacy_job_shape:
            cmd.append("--legacy-job-shape")
        if self.deprecation_headers:
            cmd.append("--deprecation-headers")
        for key, seconds in self.pipeline_timing.items():
            if seconds is not None:
                cmd += [f"--{key.replace('_', '-')}", str(seconds)]
        if self.ssl_certfile:
            cmd += ["--ssl-certfile", self.ssl_certfile]
        if self.ssl_keyfile:
            cmd += ["--ssl-keyfile", self.ssl_keyfile]
        # The key goes by environment: argv is readable by every user (`ps`, /proc/<pid>/cmdline).
        env = {**os.environ, API_KEY_ENV: self.api_key}
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
        proc = _subprocess.Popen(cmd, stdout=_subprocess.PIPE, env=env)  # noqa: S603
        assert proc.stdout is not None
        line = b""
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + self.startup_timeout
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(timeout=remaining):
                    break
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        url = line.decode().strip()
        if not url.startswith(("http://", "https://")):
            proc.kill()
            proc.wait()
            proc.stdout.close()
            raise RuntimeError(
                f"SeekrFlow emulator did not start (exit code {proc.returncode}, said {url!r})"
            )
        self._proc = proc
        self.base_url = url
        self.port = int(url.rsplit(":", 1)[1])
