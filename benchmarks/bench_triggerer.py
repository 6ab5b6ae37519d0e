"""Triggerer load: thousands of alignment SeekrFlowJobTriggers in one event loop, polling over HTTPS.

Side by side in the same run, each kind in its own fresh process (``_trigger_worker.py``):

* ``idle``: tasks that only ``await asyncio.sleep(poll)`` (what the loop costs anyway);
* ``floor``: the leanest possible poll (``_floor_client.py``: raw ``asyncio.open_connection`` TLS,
  a hand-written HTTP/1.1 keep-alive GET, the answer parsed by hand, ``json.loads``), at most 32
  connections like the provider: the CPU no HTTP client can go below;
* ``seekrflow``: ``SeekrFlowJobTrigger`` for alignment jobs (poll_interval = min_poll_interval = poll), on the
  async hook's aiohttp session;
* ``dbt``: the dbt Cloud provider's ``DbtCloudRunJobTrigger`` (the baseline);
* ``previous`` (with ``--previous-tree DIR``, e.g. ``git archive <commit> | tar -x -C DIR``): the
  SeekrFlow triggers of another checkout of the provider, e.g. the hand-made httpcore pool.

Both providers poll the same light HTTPS status server (``status_server.py``, a separate process,
self-signed CA made here, ECDSA P-256) for jobs that never finish. The SeekrFlow emulator is
probed first for its serving cost per ``GET /v1/flow/alignment/{id}``; when it can take the
1,000-trigger load (>= 500 req/s on one core) the SeekrFlow triggers are also run against it.

Targets at 1,000 / 2 s: lag p99 <= 50 ms, CPU per poll <= 0.6x dbt's, RSS <= 1/4 of dbt's
(peak RSS growth over the process's post-import baseline), open sockets <= 32; at 10,000 / 30 s:
lag p99 <= 100 ms.

    python benchmarks/bench_triggerer.py [--scenarios 1000:2:20,10000:30:30]
        [--kinds idle,floor,seekrflow,dbt] [--previous-tree DIR] [--no-emulator]
        [--max-in-flight 4,64,off --save-as triggerer-connections]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, BENCH_DIR, make_tls_cert, save_result, work_dir  # noqa: E402

KINDS = ("idle", "floor", "seekrflow", "dbt")


def _env(seekrflow_url: str, status_port: int, ca: str, work: Path, kind: str) -> dict[str, str]:
    env = dict(os.environ)
    home = work / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env["AIRFLOW_HOME"] = str(home)
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["AIRFLOW_CONN_SEEKRFLOW_DEFAULT"] = json.dumps(
        {"conn_type": "seekrflow", "host": seekrflow_url, "password": API_KEY, "extra": {"verify": ca}}
    )
    env["AIRFLOW_CONN_DBT_CLOUD_DEFAULT"] = json.dumps(
        {"conn_type": "dbt_cloud", "host": f"127.0.0.1:{status_port}", "login": "1", "password": "dbt-token"}
    )
    env["SSL_CERT_FILE"] = ca  # aiohttp's default context (dbt) and the floor client trust the benchmark's CA
    env["BENCH_FLOOR_URL"] = f"https://127.0.0.1:{status_port}"
    env["BENCH_TRIGGER_LOG"] = str(work / f"triggerer-{kind}.log")
    return env


def run_worker(kind: str, n: int, poll: float, window: float, *, env: dict, count_url: str,
               job_ids_file: str | None = None) -> dict:  # fmt: skip
    cmd = [sys.executable, str(BENCH_DIR / "_trigger_worker.py"), kind, str(n), str(poll), str(poll),
           str(window), count_url]  # fmt: skip
    if job_ids_file:
        cmd.append(job_ids_file)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=window + 4 * poll + 600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"worker {kind} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def start_status_server(cert: str, key: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "status_server.py"), "--certfile", cert, "--keyfile", key],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe_emulator(emu, ca: str, n_jobs: int, seconds: float = 5.0) -> dict:
    """Create jobs, then measure the emulator's CPU per GET /v1/flow/alignment/{id} under load."""
    import asyncio

    import httpx

    # Plain httpx for the set-up: the probe measures the emulator, not the sync hook.
    headers = {"Authorization": API_KEY}
    with httpx.Client(base_url=emu.base_url, headers=headers, verify=ca, timeout=60) as setup:
        stored = setup.put(
            "/v1/flow/files",
            data={"purpose": "alignment"},
            files={"files": ("doc.txt", b"SeekrFlow benchmark document.\n" * 20, "text/plain")},
        )
        stored.raise_for_status()
        file_id = stored.json()["id"]
        emu.configure(job_duration=7 * 86400)
        job_ids = []
        for _ in range(n_jobs):
            created = setup.post(
                "/v1/flow/alignment/generate", json={"instructions": "Pairs", "files": [file_id]}
            )
            created.raise_for_status()
            job_ids.append(created.json()["id"])

    async def load() -> int:
        done = 0
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(
            base_url=emu.base_url, headers={"Authorization": API_KEY}, verify=ca,
            limits=httpx.Limits(max_connections=32),
        ) as client:  # fmt: skip

            async def worker(k: int) -> None:
                nonlocal done
                i = k
                while time.monotonic() < deadline:
                    r = await client.get(f"/v1/flow/alignment/{job_ids[i % len(job_ids)]}")
                    r.raise_for_status()
                    done += 1
                    i += 32

            await asyncio.gather(*(worker(k) for k in range(32)))
        return done

    cpu0 = _proc_cpu(emu.pid)
    t0 = time.perf_counter()
    done = asyncio.run(load())
    elapsed = time.perf_counter() - t0
    cpu = _proc_cpu(emu.pid) - cpu0
    return {
        "job_ids": job_ids,
        "requests": done,
        "req_per_s_achieved": done / elapsed,
        "server_cpu_ms_per_req": 1000 * cpu / done,
        "req_per_s_per_core": done / cpu if cpu else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="1000:2:20,10000:30:30", help="N:poll:window,...")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--no-emulator", action="store_true", help="skip the emulator probe and row")
    parser.add_argument(
        "--save-as", default="triggerer", help="results file name (benchmarks/.work/results/)"
    )
    parser.add_argument(
        "--max-in-flight",
        default="",
        help="also run the SeekrFlow triggers with the async transport's MAX_CONNECTIONS set to each of "
        "these values (comma-separated; 'off' = 1,000,000 connections)",
    )
    parser.add_argument(
        "--previous-tree",
        default="",
        help="also run the SeekrFlow triggers of this checkout of the provider (first on PYTHONPATH), "
        "labelled 'previous'",
    )
    args = parser.parse_args()
    work = work_dir()
    ca, cert, key = make_tls_cert(work / "tls")
    kinds = args.kinds.split(",")
    scenarios = [tuple(float(x) for x in s.split(":")) for s in args.scenarios.split(",")]
    rows: list[dict] = []
    probe: dict | None = None

    server, port = start_status_server(cert, key)
    status_url = f"https://127.0.0.1:{port}"
    try:
        variants = [v for v in args.max_in_flight.split(",") if v]
        for n, poll, window in scenarios:
            for kind in kinds:
                env = _env(status_url, port, ca, work, kind)
                row = run_worker(kind, int(n), poll, window, env=env, count_url=f"{status_url}/_count")
                row["server"] = "status_server"
                rows.append(row)
                _print_row(row)
            if args.previous_tree:
                env = _env(status_url, port, ca, work, "previous")
                env["PYTHONPATH"] = os.pathsep.join(
                    p for p in (os.path.abspath(args.previous_tree), env.get("PYTHONPATH")) if p
                )
                env["BENCH_LABEL"] = "previous"
                row = run_worker("seekrflow", int(n), poll, window, env=env, count_url=f"{status_url}/_count")
                row["server"] = "status_server"
                rows.append(row)
                _print_row(row)
            for value in variants:
                env = _env(status_url, port, ca, work, "seekrflow")
                env["BENCH_MAX_IN_FLIGHT"] = "1000000" if value == "off" else value
                row = run_worker("seekrflow", int(n), poll, window, env=env, count_url=f"{status_url}/_count")
                row["server"] = "status_server"
                row["max_in_flight"] = value
                rows.append(row)
                _print_row(row)
    finally:
        server.terminate()
        server.wait()

    if not args.no_emulator:
        from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

        n, poll, window = scenarios[0]
        with SeekrFlowEmulator(
            api_key=API_KEY, subprocess=True, ssl_certfile=cert, ssl_keyfile=key, job_duration=7 * 86400
        ) as emu:
            try:
                probe = probe_emulator(emu, ca, n_jobs=min(int(n), 1000))
            except Exception as err:  # noqa: BLE001 - keep the other results
                print(f"emulator probe failed: {type(err).__name__}: {err}", flush=True)
                probe = {"error": f"{type(err).__name__}: {err}", "job_ids": []}
            if "error" not in probe:
                print(
                    f"emulator probe: {probe['req_per_s_achieved']:.0f} req/s achieved with 32 connections, "
                    f"{probe['server_cpu_ms_per_req']:.2f} ms server CPU per GET "
                    f"(~{probe['req_per_s_per_core']:.0f} req/s per core)",
                    flush=True,
                )
            needed = n / poll
            probe["needed_req_per_s"] = needed
            if probe.get("req_per_s_per_core") and probe["req_per_s_per_core"] >= max(500.0, needed):
                ids_file = work / "emulator-job-ids.json"
                ids_file.write_text(json.dumps(probe["job_ids"]))
                assert emu.base_url is not None
                env = _env(emu.base_url, port, ca, work, "seekrflow-emulator")
                env["BENCH_COUNT_AUTH"] = API_KEY  # the emulator's admin API (the journal) needs the key
                query = "journal?route=get_alignment_job"
                row = run_worker(
                    "seekrflow", int(n), poll, window, env=env,
                    count_url=f"{emu.base_url}/_emulator/{query}", job_ids_file=str(ids_file),
                )  # fmt: skip
                row["server"] = "emulator"
                rows.append(row)
                _print_row(row)
            else:
                print(
                    f"emulator cannot serve {max(500.0, needed):.0f} req/s on one core: skipped as poll target"
                )
        probe.pop("job_ids", None)

    verdicts = _verdicts(rows)
    print()
    _print_table(rows)
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    save_result(args.save_as, {"rows": rows, "emulator_probe": probe, "verdicts": verdicts})
    return 0


def _find(rows: list[dict], kind: str, n: int, server: str = "status_server") -> dict | None:
    return next(
        (
            r
            for r in rows
            if r["kind"] == kind and r["n"] == n and r["server"] == server and r["max_in_flight"] == "default"
        ),
        None,
    )


def _verdicts(rows: list[dict]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    sf, dbt = _find(rows, "seekrflow", 1000), _find(rows, "dbt", 1000)
    if sf:
        out["1,000 / 2 s: lag p99 <= 50 ms"] = sf["lag_p99_ms"] <= 50
    if sf and dbt and sf["cpu_ms_per_poll"] and dbt["cpu_ms_per_poll"]:
        out["1,000 / 2 s: CPU per poll <= 0.6x dbt's"] = sf["cpu_ms_per_poll"] <= 0.6 * dbt["cpu_ms_per_poll"]
        out["1,000 / 2 s: RSS growth <= 1/4 of dbt's"] = sf["rss_growth_mib"] <= dbt["rss_growth_mib"] / 4
    if sf and sf.get("tcp_sockets_max") is not None:
        out["1,000 / 2 s: TCP sockets <= 32"] = sf["tcp_sockets_max"] <= 32
    sf10 = _find(rows, "seekrflow", 10000)
    if sf10:
        out["10,000 / 30 s: lag p99 <= 100 ms"] = sf10["lag_p99_ms"] <= 100
        if sf10.get("tcp_sockets_max") is not None:
            out["10,000 / 30 s: TCP sockets <= 32"] = sf10["tcp_sockets_max"] <= 32
    return out


def _print_row(r: dict) -> None:
    cpu = "-" if r["cpu_ms_per_poll"] is None else f"{r['cpu_ms_per_poll']:.3f}"
    gate = "" if r.get("max_in_flight", "default") == "default" else f" [max_in_flight={r['max_in_flight']}]"
    print(
        f"  {r['kind'] + gate:9} n={r['n']:<6} poll={r['poll_s']:<4g} {r['server']:13} polls/s={r['polls_per_s']:7.1f} "
        f"cpu/poll={cpu} ms cpu={r['cpu_pct']:5.1f}% lag p50/p99/max={r['lag_p50_ms']:.1f}/"
        f"{r['lag_p99_ms']:.1f}/{r['lag_max_ms']:.1f} ms rss+={r['rss_growth_mib']:.1f} MiB "
        f"sockets={r['sockets_max']} (tcp {r.get('tcp_sockets_max')}) events={r['events']} "
        f"server cpu={r['server_cpu_pct']:.0f}%",
        flush=True,
    )


def _print_table(rows: list[dict]) -> None:
    print(
        f"{'kind':10} {'N':>6} {'poll':>4} {'server':13} {'polls/s':>8} {'CPU ms/poll':>11} {'CPU %':>6} "
        f"{'lag p50':>8} {'p99':>7} {'max':>7} {'RSS +MiB':>9} {'KiB/trig':>8} {'sockets':>7} {'tcp':>5}"
    )
    for r in rows:
        cpu = "-" if r["cpu_ms_per_poll"] is None else f"{r['cpu_ms_per_poll']:.3f}"
        kind = (
            r["kind"] if r.get("max_in_flight", "default") == "default" else f"sf gate={r['max_in_flight']}"
        )
        print(
            f"{kind:10} {r['n']:6d} {r['poll_s']:4g} {r['server']:13} {r['polls_per_s']:8.1f} {cpu:>11} "
            f"{r['cpu_pct']:6.1f} {r['lag_p50_ms']:8.1f} {r['lag_p99_ms']:7.1f} {r['lag_max_ms']:7.1f} "
            f"{r['rss_growth_mib']:9.1f} {r['rss_kib_per_trigger']:8.1f} {r['sockets_max']!s:>7} "
            f"{r.get('tcp_sockets_max')!s:>5}"
        )


if __name__ == "__main__":
    sys.exit(main())
