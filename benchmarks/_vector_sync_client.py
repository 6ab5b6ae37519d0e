"""One vector database sync in a fresh process, as one task run (run by bench_vector_sync.py).

    _vector_sync_client.py FOLDER DATABASE_ID RECORD_FILE CONCURRENCY

``SeekrFlowVectorDatabaseSyncOperator.execute`` syncs FOLDER into DATABASE_ID (the service is the
``seekrflow_default`` connection, from ``AIRFLOW_CONN_SEEKRFLOW_DEFAULT``), waiting for the
ingestion on the worker, with a minimal context (a task instance that drops XComs). The sync's
record, an Airflow Variable in a task, is kept in RECORD_FILE instead (a JSON object of Variable
name -> text), so the next process (the re-sync) reads what this one wrote, as the next task run
reads the metadata database. Everything is imported and the connection and session are made (one
``get_vector_database`` request) before the peak-RSS mark is reset and the clock starts; the JSON
line printed gives ``start_ts`` (wall clock) so the caller counts only the sync's own requests.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import proc_status, reset_hwm  # noqa: E402


class _TaskInstance:
    """What ``execute`` needs of a task instance: somewhere to push the job id and the link."""

    def xcom_push(self, key: str, value: Any) -> None:
        pass

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        return None


class _FileVariables:
    """
    Stand in for ``Variable`` outside a task: the text kept in a JSON file, written whole on each set.

    :param path: The file (created on the first ``set``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sets = 0
        self.bytes_written = 0

    def _all(self) -> dict[str, str]:
        # Read on every get, as a task reads the metadata database: nothing is kept between calls.
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key: str, default_var: Any = None, **kwargs: Any) -> Any:
        return self._all().get(key, default_var)

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        stored = self._all()
        stored[key] = str(value)
        text = json.dumps(stored)
        self.path.write_text(text)
        self.sets += 1
        self.bytes_written += len(value)


def main() -> int:
    folder, database_id, record_file, concurrency = sys.argv[1:5]
    import airflow.providers.common.compat.sdk as compat_sdk

    from airflow_provider_seekrflow.client import vector_databases
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
    from airflow_provider_seekrflow.operators.vector_database_sync import SeekrFlowVectorDatabaseSyncOperator

    variables = _FileVariables(Path(record_file))
    # The operator imports Variable from here when it runs: this module attribute is what it gets.
    compat_sdk.Variable = variables  # type: ignore[attr-defined]
    SeekrFlowHook().call(vector_databases.get(database_id))  # warm-up: connection, session, first answer
    operator = SeekrFlowVectorDatabaseSyncOperator(
        task_id="sync",
        source=folder,
        vector_database_id=database_id,
        max_concurrency=int(concurrency),
        poll_interval=1,
        min_poll_interval=0.2,
    )
    hwm_reset = reset_hwm()
    before = proc_status()
    start_ts = time.time()
    start = time.perf_counter()
    status = "ok"
    result: dict[str, Any] = {}
    try:
        result = operator.execute({"ti": _TaskInstance()})  # type: ignore[arg-type]
    except Exception as err:  # noqa: BLE001 - reported
        status = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    wall = time.perf_counter() - start
    after = proc_status()
    print(
        json.dumps(
            {
                "status": status,
                "wall_s": wall,
                "start_ts": start_ts,
                "counts": {k: result.get(k) for k in ("added", "changed", "removed", "unchanged")},
                "uploaded": len(result.get("file_ids") or []),
                "ingestion_job_id": result.get("ingestion_job_id"),
                "record_sets": variables.sets,
                "record_bytes": variables.bytes_written,
                "rss_base_kib": before["VmRSS"],
                "hwm_reset": hwm_reset,
                "rss_growth_kib": after["VmHWM"] - (before["VmRSS"] if hwm_reset else before["VmHWM"]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
