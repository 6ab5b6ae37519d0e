"""Upload 10,000 files of 10 KB at 50 ms per request: the provider at its default concurrency vs ``max_concurrency=1`` vs a seekrai loop.

The emulator (a subprocess, a fresh one per leg so no leg lists another's files) waits
``--latency`` seconds (50 ms) before answering every request (a ``*:delay`` fault), as a WAN
would. In the same run:

- ``provider``: ``SeekrFlowUploadFileOperator.execute`` on the ``--files`` documents at its
  default ``max_concurrency`` (16): both rounds of checks (the service's metadata check is asked
  once per type and size), then a listing and an upload per file;
- ``provider-sequential``: the same with ``max_concurrency=1`` (the release before: one file at a time);
- ``seekrai``: a loop over the official client's ``files.upload`` (a metadata check and an upload per file).

A sequential leg over all 10,000 files would take 10,000 x 2 requests x (50 ms + the emulator's
time), over 20 minutes each; so the sequential legs run on ``--sample`` files (1,000 by default;
``--sample 0`` runs them in full) and their time for ``--files`` is extrapolated linearly (each file
costs the same two requests there; nothing in a sequential loop grows with the count). The output
says which figures are extrapolated. Reported: wall time, files/s, speed-up over the seekrai loop
(by files/s), peak RSS growth of the uploading process, requests per file the emulator saw.
Goal: at least 10x the seekrai loop, with peak RSS growth under 64 MiB.

    python benchmarks/bench_upload_concurrency.py [--files 10000] [--sample 1000] [--latency 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, BENCH_DIR, conn_env, python, run_json, save_result, work_dir  # noqa: E402

FILE_BYTES = 10 * 1024
WARM_UP_FILES = 10  # _upload_batch_client.py's warm-up, uploaded before the timed batch


def write_documents(folder: Path, count: int) -> list[Path]:
    """``count`` Markdown documents of 10 KB each (reused when already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"doc-{i:05d}.md" for i in range(count)]
    for i, path in enumerate(paths):
        if path.exists() and path.stat().st_size == FILE_BYTES:
            continue
        head = f"# Document {i}\n\n".encode()
        line = f"Returns of item {i} are accepted within 30 days of delivery.\n".encode()
        body = head + line * ((FILE_BYTES - len(head)) // len(line) + 1)
        path.write_bytes(body[:FILE_BYTES])
    return paths


def run_leg(kind: str, paths: list[Path], work: Path, latency: float, concurrency: int) -> dict:
    from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

    listing = work / f"upload-concurrency-{kind}.txt"
    listing.write_text("\n".join(map(str, paths)) + "\n")
    data_dir = work / f"emu-upload-concurrency-{kind}"
    shutil.rmtree(data_dir, ignore_errors=True)
    faults = [{"route": "*", "kind": "delay", "delay": latency}]
    with SeekrFlowEmulator(
        api_key=API_KEY, subprocess=True, data_dir=str(data_dir), cleanup=True, faults=faults
    ) as emu:
        assert emu.base_url is not None
        env = dict(os.environ)
        env["AIRFLOW_CONN_SEEKRFLOW_DEFAULT"] = conn_env(emu.base_url)
        env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        client = "seekrai" if kind == "seekrai" else "provider"
        cmd = [python(), str(BENCH_DIR / "_upload_batch_client.py"), client, emu.base_url, str(listing)]
        if client == "provider":
            cmd.append(str(concurrency))
        result = run_json(cmd, env=env, timeout=6 * 3600)
        journal = emu.journal()
        stored = len(emu.journal(route="upload_file"))
    routes: dict[str, int] = {}
    for entry in journal:
        routes[entry["route"]] = routes.get(entry["route"], 0) + 1
    result.update(kind=kind, concurrency=concurrency, requests=routes, uploads_seen=stored)
    result["requests_per_file"] = len(journal) / len(paths)
    result["files_per_s"] = result["files"] / result["wall_s"]
    print(f"  {kind:20} {result['files']:>6} files  {result['wall_s']:8.2f} s  {result['files_per_s']:7.1f} files/s  "
          f"RSS +{result['rss_growth_kib'] / 1024:.1f} MiB  {result['requests_per_file']:.2f} requests/file  {result['status']}",
          flush=True)  # fmt: skip
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=1000, help="files of the sequential legs; 0: all")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the emulator waits per request")
    parser.add_argument("--concurrency", type=int, default=16, help="the provider's (its default: 16)")
    args = parser.parse_args()
    work = work_dir()
    sample = min(args.sample or args.files, args.files)
    paths = write_documents(work / "upload-concurrency-docs", args.files + WARM_UP_FILES)
    # Each leg uploads the warm-up files first, then its batch (the first N documents after them).
    legs = [
        ("seekrai", sample, 1),
        ("provider-sequential", sample, 1),
        ("provider", args.files, args.concurrency),
    ]
    rows = []
    print(f"{args.files:,} files of {FILE_BYTES // 1024} KB, {args.latency * 1000:.0f} ms per request; "
          f"sequential legs on {sample:,} files" + (" (extrapolated)" if sample < args.files else ""), flush=True)  # fmt: skip
    for kind, count, concurrency in legs:
        batch = paths[:WARM_UP_FILES] + paths[WARM_UP_FILES : WARM_UP_FILES + count]
        row = run_leg(kind, batch, work, args.latency, concurrency)
        row["extrapolated"] = count < args.files
        row["wall_s_for_all"] = row["wall_s"] * args.files / row["files"]
        rows.append(row)
    seekrai = rows[0]
    for row in rows:
        row["speedup_vs_seekrai"] = row["files_per_s"] / seekrai["files_per_s"]
    provider = rows[-1]
    result = {
        "files": args.files,
        "file_bytes": FILE_BYTES,
        "sample": sample,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "speedup": provider["speedup_vs_seekrai"],
        "rss_growth_mib": provider["rss_growth_kib"] / 1024,
        "rows": rows,
    }
    print()
    print(
        f"| leg | files timed | wall s | files/s | wall s for {args.files:,} | speed-up vs seekrai | peak RSS growth MiB | requests/file |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        label = row["kind"] + (
            f" (max_concurrency={row['concurrency']})" if row["kind"].startswith("provider") else " loop"
        )
        whole = f"{row['wall_s_for_all']:.0f}" + (" (extrapolated)" if row["extrapolated"] else "")
        print(f"| {label} | {row['files']:,} | {row['wall_s']:.1f} | {row['files_per_s']:.1f} | {whole} | "
              f"{row['speedup_vs_seekrai']:.1f}x | {row['rss_growth_kib'] / 1024:.1f} | {row['requests_per_file']:.2f} |")  # fmt: skip
    print()
    print(f"provider at max_concurrency={args.concurrency}: {provider['speedup_vs_seekrai']:.1f}x the seekrai loop "
          f"(goal >= 10x: {'PASS' if provider['speedup_vs_seekrai'] >= 10 else 'MISS'}); peak RSS growth "
          f"{result['rss_growth_mib']:.1f} MiB (goal < 64 MiB: {'PASS' if result['rss_growth_mib'] < 64 else 'MISS'})")  # fmt: skip
    save_result("upload_concurrency", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
