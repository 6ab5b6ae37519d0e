"""Upload a 1 GiB fine-tune JSONL: the provider's hook vs curl -F vs the official seekrai client vs requests.

Each upload runs in its own process against (a) the SeekrFlow emulator (a subprocess) and (b) a
discard sink (``sink_server.py``, a subprocess). Reported per uploader: median wall time, MB/s,
peak RSS growth of the uploading process (VmHWM after the upload minus VmRSS after imports; the
high-water mark is reset with /proc/self/clear_refs first), and the ratio of wall time to curl's
in the same run. Targets: hook <= 1.25x curl, hook RSS growth <= 32 MiB.

    python benchmarks/bench_upload.py [--rounds 5] [--emulator-rounds 3] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, BENCH_DIR, conn_env, save_result, work_dir  # noqa: E402

UPLOADERS = ("hook", "curl", "seekrai", "requests")


def generate_jsonl(path: Path, size: int) -> None:
    """Valid fine-tune lines (system/user/assistant messages) until the file reaches ``size`` bytes."""
    if path.exists() and path.stat().st_size >= size:
        return
    tmp = path.with_suffix(".tmp")
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "omicron",
        "pi",
    ]
    lines = []
    for i in range(4096):
        text = " ".join(words[(i * 7 + k) % len(words)] for k in range(20 + i % 40))
        record = {
            "messages": [
                {"role": "system", "content": "You answer questions about SeekrFlow."},
                {"role": "user", "content": f"Question {i}: what does {text[:60]} mean?"},
                {"role": "assistant", "content": f"Answer {i}: {text}"},
            ]
        }
        lines.append(json.dumps(record))
    block = ("\n".join(lines) + "\n").encode()
    written = 0
    with open(tmp, "wb") as fh:
        while written < size:
            fh.write(block)
            written += len(block)
    os.replace(tmp, path)


def start_sink() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "sink_server.py")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


def run_curl(base_url: str, path: Path) -> dict:
    cmd = [
        "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
        "-H", f"Authorization: {API_KEY}", "-F", "purpose=fine-tune", "-F", f"files=@{path}",
        f"{base_url}/v1/flow/files",
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    proc.stdout and proc.stdout.close()
    proc.stderr and proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "kind": "curl",
        "wall_s": wall,
        "status": "ok" if out.strip() == "200" else f"HTTP {out.strip()} rc={proc.returncode}",
        # curl is a small C program: its whole peak RSS stands in for the growth.
        "rss_growth_kib": usage.ru_maxrss,
    }


def run_python(kind: str, base_url: str, path: Path) -> dict:
    env = dict(os.environ)
    env["AIRFLOW_CONN_SEEKRFLOW_DEFAULT"] = conn_env(base_url)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "_upload_client.py"), kind, base_url, str(path)],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"kind": kind, "wall_s": float("nan"), "status": f"crashed: {proc.stderr[-300:]}"}
    return json.loads(lines[-1])


def delete_uploads(base_url: str) -> None:
    """Free the emulator's disk between uploads (it stores every file)."""
    req = urllib.request.Request(f"{base_url}/v1/flow/files", headers={"Authorization": API_KEY})
    with urllib.request.urlopen(req, timeout=60) as resp:
        files = json.load(resp)["data"]
    for f in files:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{base_url}/v1/flow/files/{f['id']}", method="DELETE", headers={"Authorization": API_KEY}
            ),
            timeout=60,
        ).close()


def measure(target: str, base_url: str, path: Path, rounds: int, uploaders: tuple[str, ...]) -> list[dict]:
    samples: dict[str, list[dict]] = {k: [] for k in uploaders}
    for r in range(rounds):
        # rotate the order each round so no uploader always goes first (page cache, CPU boost)
        order = uploaders[r % len(uploaders) :] + uploaders[: r % len(uploaders)]
        for kind in order:
            result = run_curl(base_url, path) if kind == "curl" else run_python(kind, base_url, path)
            print(
                f"  {target:8} round {r + 1} {kind:9} {result['wall_s']:7.2f} s  {result['status']}",
                flush=True,
            )
            samples[kind].append(result)
            if target == "emulator":
                delete_uploads(base_url)
    size = path.stat().st_size
    rows = []
    for kind in uploaders:
        walls = [s["wall_s"] for s in samples[kind]]
        wall = statistics.median(walls)
        growth = max(s.get("rss_growth_kib", 0) for s in samples[kind]) / 1024
        rows.append(
            {
                "target": target,
                "uploader": kind,
                "wall_s": wall,
                "walls": walls,
                "mb_s": size / 1e6 / wall,
                "rss_growth_mib": growth,
                "status": samples[kind][-1]["status"],
            }
        )
    curl = next(r for r in rows if r["uploader"] == "curl")["wall_s"]
    for row in rows:
        row["vs_curl"] = row["wall_s"] / curl
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="uploads per uploader to the sink")
    parser.add_argument("--emulator-rounds", type=int, default=3, help="uploads per uploader to the emulator")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--uploaders", default=",".join(UPLOADERS))
    args = parser.parse_args()
    uploaders = tuple(args.uploaders.split(","))
    work = work_dir()
    path = work / f"finetune-{args.size_mib}MiB.jsonl"
    generate_jsonl(path, args.size_mib << 20)
    print(f"upload file: {path} ({path.stat().st_size / 2**20:.0f} MiB)", flush=True)

    # read the file once so every uploader starts from a warm page cache
    with open(path, "rb", buffering=0) as fh:
        while fh.read(8 << 20):
            pass
    rows: list[dict] = []
    if args.rounds:
        sink, sink_url = start_sink()
        try:
            rows += measure("sink", sink_url, path, args.rounds, uploaders)
        finally:
            sink.kill()
            sink.wait()
    if args.emulator_rounds:
        from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

        with SeekrFlowEmulator(
            api_key=API_KEY, subprocess=True, data_dir=str(work / "emu-upload"), cleanup=True
        ) as emu:
            assert emu.base_url is not None
            rows += measure("emulator", emu.base_url, path, args.emulator_rounds, uploaders)

    print()
    print(f"{'target':9} {'uploader':9} {'wall s':>8} {'MB/s':>8} {'vs curl':>8} {'RSS +MiB':>9}  status")
    for r in rows:
        print(
            f"{r['target']:9} {r['uploader']:9} {r['wall_s']:8.2f} {r['mb_s']:8.0f} {r['vs_curl']:7.2f}x "
            f"{r['rss_growth_mib']:9.1f}  {r['status']}"
        )
    hook_rows = [r for r in rows if r["uploader"] == "hook"]
    verdicts = {f"hook wall <= 1.25x curl ({r['target']})": r["vs_curl"] <= 1.25 for r in hook_rows} | {
        f"hook RSS growth <= 32 MiB ({r['target']})": r["rss_growth_mib"] <= 32 for r in hook_rows
    }
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    save_result("upload", {"file_bytes": path.stat().st_size, "rows": rows, "verdicts": verdicts})
    return 0


if __name__ == "__main__":
    sys.exit(main())
