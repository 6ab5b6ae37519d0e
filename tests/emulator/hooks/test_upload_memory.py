"""A 300 MiB upload streams from disk: the uploading process's memory stays flat, and progress is logged sparingly.

The upload runs in a child process (so pytest's own memory does not blur the figure) against an
emulator in another process, as a worker would against the service.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from airflow_provider_seekrflow.emulator.server import SeekrFlowEmulator
from tests.conftest import run_python_child

FILE_MIB = 300
MAX_GROWTH_MIB = 32

CHILD = r"""
import json, os, sys, time

def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # KiB
    raise RuntimeError(field)

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

big, small = sys.argv[1], sys.argv[2]
hook = SeekrFlowHook("seekrflow_memory")
# Warm up: import and exercise every code path of an upload once, on a small file.
hook.upload_file(small, "alignment")

try:  # reset the peak so it measures only what comes next (Linux >= 4.0)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    reset = True
except OSError:
    reset = False
baseline = status("VmRSS") if reset else status("VmHWM")
started = time.monotonic()
stored = hook.upload_file(big, "alignment")
elapsed = time.monotonic() - started
peak = status("VmHWM")
print("MEMORY-RESULT " + json.dumps({
    "baseline_kib": baseline, "peak_kib": peak, "peak_reset": reset, "seconds": round(elapsed, 2),
    "id": stored.id, "bytes": stored.bytes, "filename": stored.filename,
}), flush=True)
"""

PROGRESS = re.compile(r"big-upload\.txt: uploaded (\d+(?:\.\d+)? [KMG]i?B|\d+ B) of (\S+ \S+) \((\d+) %\)")


def write_document(path: Path, mib: int) -> None:
    """Write ``mib`` MiB of plain-text alignment source, one MiB at a time."""
    sentence = b"The cooling loop of unit %d is inspected each morning before the shift starts.\n"
    block = bytearray()
    n = 0
    while len(block) < 1024 * 1024:
        block += sentence % n
        n += 1
    block = bytes(block[: 1024 * 1024 - 1]) + b"\n"
    with open(path, "wb") as fh:
        for _ in range(mib):
            fh.write(block)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.timeout(180)
def test_large_upload_streams_with_bounded_memory(tmp_path):
    big = tmp_path / "big-upload.txt"
    small = tmp_path / "warm-up.txt"
    write_document(big, FILE_MIB)
    small.write_text("The cooling loop is inspected every morning before the shift starts.\n")
    size = big.stat().st_size
    assert size == FILE_MIB * 1024 * 1024

    with SeekrFlowEmulator(api_key="memory-key-5e1f", subprocess=True) as emu:
        env = dict(os.environ)
        env["AIRFLOW_CONN_SEEKRFLOW_MEMORY"] = json.dumps(
            {
                "conn_type": "seekrflow",
                "host": emu.base_url,
                "password": emu.api_key,
                "extra": {"max_retries": 0},
            }
        )
        env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
        child = run_python_child(["-c", CHILD, str(big), str(small)], env, timeout=150)
        output = child.stdout + child.stderr
        result = json.loads(output.split("MEMORY-RESULT ", 1)[1].splitlines()[0])

        # The service holds the whole file.
        assert result["bytes"] == size
        uploads = [e for e in emu.journal(route="upload_file") if e["status"] == 200]
        assert len(uploads) == 2  # the warm-up and the big one, each sent once

    growth_mib = (result["peak_kib"] - result["baseline_kib"]) / 1024
    assert growth_mib < MAX_GROWTH_MIB, (
        f"peak RSS grew by {growth_mib:.1f} MiB during a {FILE_MIB} MiB upload"
    )

    progress = PROGRESS.findall(output)
    assert 1 <= len(progress) <= 11, output[-4000:]
    assert all(total == "300 MiB" for _, total, _ in progress)
    percents = [int(p) for _, _, p in progress]
    assert percents == sorted(percents)
    assert percents[-1] == 100
