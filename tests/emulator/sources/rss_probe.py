"""
Measure the peak memory growth of streaming one object-storage source into a SeekrFlow upload.

Run as a script, in a process of its own, so that neither the emulator nor the S3 server counts::

    python tests/emulator/sources/rss_probe.py s3://bucket/big.parquet pre-train [s3://bucket/warm-up.parquet]

The connections come from the environment (``AIRFLOW_CONN_*``), as on a worker. The sources are
listed with ``airflow_provider_seekrflow.sources.resolver.resolve`` and sent with the hook's ``upload_stream``
(no content check reads the file). A small warm-up upload first loads every code path; then the
peak (``VmHWM``) is reset through ``/proc/self/clear_refs`` and measured across the big upload.
Prints one JSON line: ``{"rss_growth_mib": ..., "seconds": ..., "file_id": ..., ...}``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import time
from typing import Any


def _loopback_only() -> None:
    """Refuse any connection beyond loopback: a probe must never reach real object storage."""
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        if isinstance(address, tuple):
            host = str(address[0]).split("%", 1)[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise ConnectionRefusedError(f"rss_probe: no connection outside loopback ({address!r})")
        real_connect(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _source(uri: str) -> Any:
    from airflow_provider_seekrflow.sources.resolver import resolve

    sources, single = resolve(uri)
    assert single and len(sources) == 1, sources
    return sources[0]


def _upload(source: Any, purpose: str) -> Any:
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    return SeekrFlowHook().upload_stream(
        source.open, source.size, purpose, filename=source.name, chunk_bytes=source.chunk_bytes
    )


def main(argv: list[str]) -> int:
    uri, purpose = argv[1], argv[2]
    warm_up = argv[3] if len(argv) > 3 else uri.rsplit("/", 1)[0] + "/warm-up.parquet"
    _loopback_only()
    _upload(_source(warm_up), purpose)
    source = _source(uri)

    with open("/proc/self/clear_refs", "w") as handle:  # reset VmHWM to the current RSS (Linux >= 4.0)
        handle.write("5")
    baseline = _status_kib("VmRSS")
    started = time.monotonic()
    stored = _upload(source, purpose)
    seconds = time.monotonic() - started
    peak = _status_kib("VmHWM")
    print(
        json.dumps(
            {
                "rss_growth_mib": round((peak - baseline) / 1024, 1),
                "seconds": round(seconds, 1),
                "file_id": stored.id,
                "size": source.size,
                "baseline_mib": round(baseline / 1024, 1),
                "peak_mib": round(peak / 1024, 1),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
