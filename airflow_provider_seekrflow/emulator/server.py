"""Run the emulator: a uvicorn server in a thread or a child process, plus an HTTP admin client.

``SeekrFlowEmulator`` is what tests and users hold::

    with SeekrFlowEmulator(api_key="test-key", job_duration=3) as emu:
        requests.get(f"{emu.base_url}/v1/flow/files", headers={"Authorization": "test-key"})
        emu.set_faults([{"route": "upload_file", "kind": "503", "count": 1}])
        emu.journal(route="upload_file")

``legacy_job_shape=True`` and ``deprecation_headers=True`` start it imitating an older server
(string percentages, an unknown ``preparing`` status) and marking the generate route deprecated;
``configure()`` switches both at run time. The admin helpers talk HTTP to ``/_emulator/...``, so they work the same in both modes.
"""

from __future__ import annotations

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
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus

__all__ = ["SeekrFlowEmulator", "bind_socket", "build_server", "format_base_url"]


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


class SeekrFlowEmulator:
    """A running SeekrFlow emulator (thread or subprocess) and a client for its admin API.

    ``data_dir`` defaults to a new temporary directory, removed by ``stop()`` unless ``cleanup``
    is False (a directory you pass in is never removed unless ``cleanup`` is True).
    """

    def __init__(
        self,
        api_key: str = "test-key",
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
    ) -> None:
        self.api_key = api_key
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
    def running(self) -> bool:
        return self.base_url is not None

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
            "--host", self.host, "--port", str(self.port), "--api-key", self.api_key,
            "--data-dir", self.data_dir, "--job-duration", str(self.job_duration),
            "--log-level", self.log_level,
        ]  # fmt: skip
        for rule in self.faults:
            cmd += ["--fault", rule if isinstance(rule, str) else json.dumps(rule)]
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
        env = dict(os.environ)
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

    # ------------------------------------------------------------ admin client
    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        if not self.running:
            raise RuntimeError("the SeekrFlow emulator is not running")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._ssl_context) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"emulator admin {method} {path}: {exc.code} {exc.read().decode()}") from None
        return json.loads(payload) if payload else None

    def health(self) -> dict[str, Any]:
        return self._admin("GET", "health")

    def journal(self, route: str | None = None) -> list[dict[str, Any]]:
        """Requests seen so far: ``{seq, ts, method, path, route, status, fault, team_id}``."""
        query = "" if route is None else "?" + urllib.parse.urlencode({"route": route})
        return self._admin("GET", f"journal{query}")

    def clear_journal(self) -> None:
        self._admin("DELETE", "journal")

    def set_faults(self, rules: Iterable[dict[str, Any] | str]) -> list[dict[str, Any]]:
        """Replace the fault rules (dicts, or CLI-style strings like ``"upload_file:503:count=1"``)."""
        from airflow_provider_seekrflow.emulator.faults import parse_fault_spec

        body = [parse_fault_spec(r).to_dict() if isinstance(r, str) else r for r in rules]
        return self._admin("PUT", "faults", body)

    def faults_active(self) -> list[dict[str, Any]]:
        return self._admin("GET", "faults")

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults")

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings; returns the whole config.

        ``job_duration``, ``job_outcome`` (completed/failed/cancelled/stopped), ``status_message``
        and ``eta`` apply to jobs created afterwards; ``max_file_bytes`` to uploads;
        ``ingestion_seconds`` and ``ingestion_fail`` (file names that fail) to files attached to data
        jobs afterwards; ``fine_tune_duration`` and ``fine_tune_outcome`` (completed/failed) to new fine-tunes.
        ``echo_request``, ``legacy_job_shape`` (string percentages, ``preparing`` for ``queued``)
        and ``deprecation_headers`` (on the generate route) apply to the next answer.
        """
        return self._admin("PUT", "config", changes)

    def config(self) -> dict[str, Any]:
        return self._admin("GET", "config")

    def reset_config(self) -> dict[str, Any]:
        return self._admin("DELETE", "config")

    def reset(self, wipe: bool = False) -> None:
        """Clear journal and faults and restore the start-up config, in one call.

        ``wipe=True`` also deletes every file and job (as ``wipe()``).
        """
        self._admin("POST", "reset?wipe=true" if wipe else "reset")

    def wipe(self) -> None:
        """Delete every file, job and project: an empty service."""
        self._admin("DELETE", "state")

    def fail_job(
        self,
        job_id: str,
        status: str = AlignmentJobStatus.FAILED.value,
        status_message: str | None = "Emulated failure",
    ) -> dict[str, Any]:
        """End an alignment job now in ``status`` (failed, cancelled, stopped or completed)."""
        return self._admin(
            "POST", f"alignment/{job_id}/fail", {"status": status, "status_message": status_message}
        )
