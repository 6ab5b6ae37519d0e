"""A light HTTPS status server for the triggerer benchmark, serving both providers' poll endpoints.

    python benchmarks/status_server.py --certfile C --keyfile K [--port 0]

Prints its port on one line. Routes (GET only, HTTP/1.1 keep-alive, TLS):

* ``/v1/flow/alignment/{id}``: a SeekrFlow alignment job that is still running (the emulator's
  own job view of a one-day job, so the body has the service's shape and size);
* ``/api/v2/accounts/{account}/runs/{id}/``: a dbt Cloud run that is still running (status 3);
* ``/_count``: JSON ``{"seekrflow": n, "dbt": n, "other": n, "cpu_s": process CPU seconds}``.

One asyncio (uvloop when available) protocol, no framework, so that the server is never the
bottleneck and costs the same per request whichever provider polls it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

COUNTS = {"seekrflow": 0, "dbt": 0, "other": 0}


def _seekrflow_body() -> bytes:
    try:
        from airflow_provider_seekrflow.emulator.jobs import JobService
        from airflow_provider_seekrflow.emulator.store import iso

        now = time.time()
        job = {
            "id": "al-0", "created_at": iso(now), "instructions": "Generate pairs", "files": ["file-1"],
            "type": "principle", "system_prompt": None, "vector_database_id": None,
            "_created_ts": now - 3600, "_duration": 86400.0, "_outcome": "completed",
            "_outcome_message": None, "_eta": True, "_team_id": None, "_final": None, "_outputs": [],
        }  # fmt: skip
        return json.dumps(JobService(store=None).view(job, now)).encode()  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - fall back to a hand-written job
        return json.dumps(
            {"id": "al-0", "created_at": "2026-01-01T00:00:00Z", "status": "running",
             "current_step": "Generating questions", "progress": 10.0, "eta_minutes": 1380}
        ).encode()  # fmt: skip


def _dbt_body() -> bytes:
    run = {
        "id": 0, "trigger_id": 1, "account_id": 1, "environment_id": 1, "project_id": 1, "job_id": 1,
        "job_definition_id": 1, "status": 3, "dbt_version": "1.8.0", "git_branch": "main",
        "git_sha": "0" * 40, "status_message": None, "owner_thread_id": None,
        "executed_by_thread_id": "dbt-run-0", "deferring_run_id": None, "artifacts_saved": False,
        "artifact_s3_path": None, "has_docs_generated": False, "has_sources_generated": False,
        "notifications_sent": False, "blocked_by": [], "created_at": "2026-01-01 00:00:00.000000+00:00",
        "updated_at": "2026-01-01 00:00:00.000000+00:00", "dequeued_at": "2026-01-01 00:00:01.000000+00:00",
        "started_at": "2026-01-01 00:00:02.000000+00:00", "finished_at": None,
        "last_checkpoint_at": None, "last_heartbeat_at": "2026-01-01 00:00:30.000000+00:00",
        "should_start_at": None, "trigger": None, "job": None, "environment": None, "run_steps": [],
        "status_humanized": "Running", "in_progress": True, "is_complete": False, "is_success": False,
        "is_error": False, "is_cancelled": False, "duration": "00:00:30", "queued_duration": "00:00:01",
        "run_duration": "00:00:29", "duration_humanized": "30 seconds", "href": "https://example/run/0",
    }  # fmt: skip
    return json.dumps({"status": {"code": 200, "is_success": True}, "data": run}).encode()


def _response(body: bytes, status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


SEEKRFLOW = _response(_seekrflow_body())
DBT = _response(_dbt_body())
NOT_FOUND = _response(b'{"detail":"not found"}', "404 Not Found")


class StatusProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            line, _, rest = head.partition(b"\r\n")
            parts = line.split(b" ")
            path = parts[1] if len(parts) > 1 else b"/"
            if path.startswith(b"/v1/flow/alignment/"):
                COUNTS["seekrflow"] += 1
                out = SEEKRFLOW
            elif path.startswith(b"/api/v2/accounts/"):
                COUNTS["dbt"] += 1
                out = DBT
            elif path.startswith(b"/_count"):
                usage = resource.getrusage(resource.RUSAGE_SELF)
                out = _response(json.dumps({**COUNTS, "cpu_s": usage.ru_utime + usage.ru_stime}).encode())
            else:
                COUNTS["other"] += 1
                out = NOT_FOUND
            self.transport.write(out)  # type: ignore[attr-defined]
            if b"\nconnection: close" in rest.lower():
                self.transport.close()
                return


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--certfile", required=True)
    parser.add_argument("--keyfile", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.certfile, args.keyfile)

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(
            StatusProtocol, "127.0.0.1", args.port, ssl=ctx, backlog=4096
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
