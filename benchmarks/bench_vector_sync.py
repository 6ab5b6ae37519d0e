"""Sync a 10,000-file folder into a vector database at 50 ms per request, then re-sync it with nothing changed.

The corpus is ``bench_upload_concurrency.py``'s: ``--files`` Markdown documents of 10 KB. The
emulator (a subprocess) waits ``--latency`` seconds (50 ms) before answering every request (a
``*:delay`` fault), as a WAN would, and ingests each file in ``--ingest-seconds`` (1 ms: the
ingestion's own duration is the service's, not what is measured here). Each sync is
``SeekrFlowVectorDatabaseSyncOperator.execute`` in its own fresh process, as a task run is
(``_vector_sync_client.py``), at the operator's default ``max_concurrency``:

- ``first``: every document is hashed, checked, uploaded and ingested in one job, waited on;
- ``resync``: the same folder, nothing changed: the documents are hashed again and compared with
  the record; it must send only the database's file listing (no upload, no ingestion).

Reported: wall time of each, the requests each sent by route (from the emulator's journal), and
peak RSS growth of the syncing process. The record (an Airflow Variable in a task) is a JSON file
here, read by the re-sync as the next task run reads the metadata database.

    python benchmarks/bench_vector_sync.py [--files 10000] [--latency 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, BENCH_DIR, conn_env, python, run_json, save_result, work_dir  # noqa: E402
from bench_upload_concurrency import FILE_BYTES, write_documents  # noqa: E402

#: The routes a re-sync with nothing changed may send: listing only.
LISTING_ROUTES = frozenset({"list_vector_database_files"})


def run_sync(kind: str, emu: Any, folder: Path, database_id: str, record: Path, concurrency: int) -> dict:
    """
    Run one sync in a fresh process; return its figures and the requests it sent, by route.

    :param kind: ``first`` or ``resync``, as reported.
    :param emu: The running emulator (its journal gives the requests).
    :param folder: The folder synced.
    :param database_id: The vector database.
    :param record: The file standing in for the record's Airflow Variable.
    :param concurrency: The sync's ``max_concurrency``.
    """
    env = dict(os.environ)
    env["AIRFLOW_CONN_SEEKRFLOW_DEFAULT"] = conn_env(emu.base_url)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    cmd = [python(), str(BENCH_DIR / "_vector_sync_client.py"), str(folder), database_id, str(record),
           str(concurrency)]  # fmt: skip
    result = run_json(cmd, env=env, timeout=6 * 3600)
    # The child's warm-up request comes before its start_ts: only the sync's own are counted.
    routes = Counter(entry["route"] for entry in emu.journal() if entry["ts"] >= result["start_ts"])
    result.update(kind=kind, requests=dict(sorted(routes.items())), request_count=sum(routes.values()))
    counts = result["counts"]
    print(f"  {kind:7} {result['wall_s']:8.2f} s  {counts}  {result['request_count']:,} requests "
          f"{dict(routes.most_common())}  RSS +{result['rss_growth_kib'] / 1024:.1f} MiB  {result['status']}",
          flush=True)  # fmt: skip
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the emulator waits per request")
    parser.add_argument("--concurrency", type=int, default=16, help="the sync's max_concurrency (default 16)")
    parser.add_argument(
        "--ingest-seconds", type=float, default=0.001, help="the emulator's ingestion per file"
    )
    args = parser.parse_args()
    from airflow_provider_seekrflow.client import vector_databases
    from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    work = work_dir()
    paths = write_documents(work / "upload-concurrency-docs", args.files)
    # A folder of exactly --files documents (links to the shared corpus): the sync takes a whole folder.
    folder = work / f"vector-sync-docs-{args.files}"
    if not folder.is_dir() or len(os.listdir(folder)) != args.files:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for path in paths:
            os.symlink(path, folder / path.name)
    record = work / "vector-sync-record.json"
    record.unlink(missing_ok=True)
    data_dir = work / "emu-vector-sync"
    shutil.rmtree(data_dir, ignore_errors=True)
    faults = [{"route": "*", "kind": "delay", "delay": args.latency}]
    print(f"{args.files:,} files of {FILE_BYTES // 1024} KB, {args.latency * 1000:.0f} ms per request, "
          f"max_concurrency={args.concurrency}", flush=True)  # fmt: skip
    with SeekrFlowEmulator(
        api_key=API_KEY, subprocess=True, data_dir=str(data_dir), cleanup=True, faults=faults
    ) as emu:
        assert emu.base_url is not None
        emu.configure(vector_ingestion_seconds=args.ingest_seconds)
        os.environ["AIRFLOW_CONN_SEEKRFLOW_DEFAULT"] = conn_env(emu.base_url)
        body = vector_databases.create_request(name="bench corpus", model="BAAI/bge-large-en-v1.5")
        database_id = str(SeekrFlowHook().call(vector_databases.create(body)).id)
        first = run_sync("first", emu, folder, database_id, record, args.concurrency)
        resync = run_sync("resync", emu, folder, database_id, record, args.concurrency)
    listing_only = set(resync["requests"]) <= LISTING_ROUTES and resync["uploaded"] == 0
    result = {
        "files": args.files,
        "file_bytes": FILE_BYTES,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "ingest_seconds": args.ingest_seconds,
        "listing_only": listing_only,
        "rows": [first, resync],
    }
    print()
    print(
        "| sync | wall s | added / changed / removed / unchanged | requests (by route) | peak RSS growth MiB |"
    )
    print("|---|---|---|---|---|")
    for row in (first, resync):
        c = row["counts"]
        routes = ", ".join(f"{route} {n:,}" for route, n in row["requests"].items())
        print(f"| {row['kind']} | {row['wall_s']:.2f} | {c['added']} / {c['changed']} / {c['removed']} / "
              f"{c['unchanged']} | {row['request_count']:,}: {routes} | {row['rss_growth_kib'] / 1024:.1f} |")  # fmt: skip
    print()
    print(f"re-sync with nothing changed: {resync['wall_s']:.2f} s, {resync['request_count']} request(s), "
          f"listing only: {'PASS' if listing_only else 'MISS'}")  # fmt: skip
    save_result("vector_sync", result)
    return 0 if first["status"] == "ok" and resync["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
