"""One batch upload in a fresh process (run by bench_upload_concurrency.py): ``_upload_batch_client.py KIND BASE_URL LIST_FILE [CONCURRENCY]``.

KIND is ``provider`` (``SeekrFlowUploadFileOperator.execute`` on every path of LIST_FILE, one per
line, at most CONCURRENCY at once: both rounds of checks, then the uploads) or ``seekrai`` (a loop
over the official client's ``files.upload``, ids kept in a list, as such a loop is usually
written). The provider logs as in a task (a line or two per file, to stderr). Everything is imported and a 10-file warm-up is uploaded first (connection lookup,
session, the emulator's first answers), the peak-RSS mark is reset, then only the batch is timed.
Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, proc_status, reset_hwm  # noqa: E402

WARM_UP_FILES = 10


class _TaskInstance:
    """What ``execute`` needs of a task instance: somewhere to push the link."""

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def main() -> int:
    kind, base_url, list_file = sys.argv[1:4]
    with open(list_file, encoding="utf-8") as fh:
        paths = [line.strip() for line in fh if line.strip()]
    warm_up, batch = paths[:WARM_UP_FILES], paths[WARM_UP_FILES:]
    if kind == "provider":
        concurrency = int(sys.argv[4])
        from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator

        def upload(files: list[str]) -> list[str]:
            operator = SeekrFlowUploadFileOperator(
                task_id="upload", file_path=files, purpose="alignment", max_concurrency=concurrency
            )
            return operator.execute({"ti": _TaskInstance()})  # type: ignore[arg-type,return-value]

    elif kind == "seekrai":
        import seekrai

        client = seekrai.SeekrFlow(api_key=API_KEY, base_url=base_url)

        def upload(files: list[str]) -> list[str]:
            return [client.files.upload(path, purpose="alignment").id for path in files]

    else:
        raise SystemExit(f"unknown kind {kind}")

    upload(warm_up)
    hwm_reset = reset_hwm()
    before = proc_status()
    start = time.perf_counter()
    status = "ok"
    ids: list[str] = []
    try:
        ids = upload(batch)
    except Exception as err:  # noqa: BLE001 - reported
        status = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    wall = time.perf_counter() - start
    after = proc_status()
    print(
        json.dumps(
            {
                "kind": kind,
                "files": len(batch),
                "stored": len(set(ids)),
                "wall_s": wall,
                "status": status,
                "rss_base_kib": before["VmRSS"],
                "hwm_reset": hwm_reset,
                "rss_growth_kib": after["VmHWM"] - (before["VmRSS"] if hwm_reset else before["VmHWM"]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
