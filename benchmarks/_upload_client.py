"""One upload in a fresh process (run by bench_upload.py): ``_upload_client.py KIND BASE_URL FILE``.

KIND is ``hook`` (SeekrFlowHook.upload_file), ``requests`` (plain ``requests.put(files=...)``) or
``seekrai`` (the official client's ``files.upload``). Everything is imported first, the peak-RSS
mark is reset, then only the upload is timed. Prints one JSON line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, proc_status, reset_hwm  # noqa: E402


def main() -> int:
    kind, base_url, path = sys.argv[1:4]
    status: str = "ok"
    if kind == "hook":
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

        hook = SeekrFlowHook()
        _ = hook.config  # the connection lookup is not part of the upload

        def upload() -> str:
            return hook.upload_file(path, "fine-tune", check=False, check_with_service=False).id

    elif kind == "requests":
        import requests

        def upload() -> str:
            with open(path, "rb") as fh:
                response = requests.put(
                    f"{base_url}/v1/flow/files",
                    headers={"Authorization": API_KEY},
                    data={"purpose": "fine-tune"},
                    files={"files": (os.path.basename(path), fh, "application/octet-stream")},
                    timeout=600,
                )
            response.raise_for_status()
            return response.json()["id"]

    elif kind == "seekrai":
        import seekrai

        client = seekrai.SeekrFlow(api_key=API_KEY, base_url=base_url)

        def upload() -> str:
            return client.files.upload(path, purpose="fine-tune").id

    else:
        raise SystemExit(f"unknown kind {kind}")

    hwm_reset = reset_hwm()
    before = proc_status()
    start = time.perf_counter()
    try:
        file_id = upload()
    except Exception as err:  # noqa: BLE001 - reported, e.g. the emulator refusing seekrai's request
        file_id = None
        status = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    wall = time.perf_counter() - start
    after = proc_status()
    print(
        json.dumps(
            {
                "kind": kind,
                "wall_s": wall,
                "status": status,
                "file_id": file_id,
                "rss_base_kib": before["VmRSS"],
                "hwm_before_kib": before["VmHWM"],
                "hwm_after_kib": after["VmHWM"],
                "hwm_reset": hwm_reset,
                "rss_growth_kib": after["VmHWM"] - (before["VmRSS"] if hwm_reset else before["VmHWM"]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
