"""Run every benchmark (each in its own process) and print one table of ratios and target verdicts.

    python benchmarks/run_all.py [--only upload,s3_stream,triggerer,parse,status_calls,evaluate,upload_concurrency,vector_sync] [--summary-only]

``make bench`` runs this in .venvs/bench. Each script also saves its raw figures as JSON in
benchmarks/.work/results/; ``--summary-only`` rebuilds the table from those without re-running.
The table is also written to benchmarks/.work/results/summary.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import BENCH_DIR, RESULTS, machine, work_dir  # noqa: E402

SCRIPTS = {
    "upload": "bench_upload.py",
    "s3_stream": "bench_s3_stream.py",
    "triggerer": "bench_triggerer.py",
    "parse": "bench_parse.py",
    "status_calls": "bench_status_calls.py",
    "evaluate": "bench_evaluate.py",
    "upload_concurrency": "bench_upload_concurrency.py",
    "vector_sync": "bench_vector_sync.py",
}


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def table() -> list[tuple[str, ...]]:
    """Rows: (benchmark, measure, seekrflow, baseline, ratio, target, verdict)."""
    rows: list[tuple[str, ...]] = []
    up = _load("upload")
    if up:
        for target in ("sink", "emulator"):
            by = {r["uploader"]: r for r in up["rows"] if r["target"] == target}
            if "hook" not in by or "curl" not in by:
                continue
            hook, curl = by["hook"], by["curl"]
            rows.append(("upload 1 GiB", f"{target}: wall s (MB/s)", f"{hook['wall_s']:.2f} ({hook['mb_s']:.0f})",
                         f"curl {curl['wall_s']:.2f} ({curl['mb_s']:.0f})", f"{hook['vs_curl']:.2f}x",
                         "<= 1.25x", _verdict(hook["vs_curl"] <= 1.25)))  # fmt: skip
            for other in ("seekrai", "requests"):
                if other in by:
                    o = by[other]
                    rows.append(("upload 1 GiB", f"{target}: wall s, {other}", f"{hook['wall_s']:.2f}",
                                 f"{other} {o['wall_s']:.2f}", f"{hook['wall_s'] / o['wall_s']:.2f}x", "", "-"))  # fmt: skip
            peer = by.get("requests")
            rows.append(("upload 1 GiB", f"{target}: peak RSS growth MiB", f"{hook['rss_growth_mib']:.1f}",
                         f"requests {peer['rss_growth_mib']:.0f}" if peer else "-", "",
                         "<= 32 MiB", _verdict(hook["rss_growth_mib"] <= 32)))  # fmt: skip
    s3 = _load("s3_stream")
    if s3:
        size = s3.get("object_bytes") or 0
        label = (
            f"S3 stream {size / 2**30:.0f} GiB" if size >= 2**30 - 2**24 else f"S3 stream {size >> 20} MiB"
        )
        by = {(r["target"], r["kind"]): r for r in s3["rows"]}
        base = by.get(("sink", s3.get("baseline")))
        other = next((by[("sink", k)] for k in ("copy-devnull", "copy-devnull-default")
                      if k != s3.get("baseline") and ("sink", k) in by), None)  # fmt: skip
        for target in ("sink", "emulator"):
            prov, local = by.get((target, "provider")), by.get((target, "provider-local"))
            if not prov:
                continue
            if base:
                ratio = prov["wall_s"] / base["wall_s"]
                rows.append((label, f"{target}: wall s (MB/s)", f"{prov['wall_s']:.2f} ({prov['mb_s']:.0f})",
                             f"{base['kind']} {base['wall_s']:.2f} ({base['mb_s']:.0f})", f"{ratio:.2f}x",
                             "<= 1.25x", _verdict(ratio <= 1.25)))  # fmt: skip
            refs: tuple = (
                (other, by.get(("sink", "copy-devnull-stream")), local) if target == "sink" else (local,)
            )
            if s3.get("like_for_like") not in (None, s3.get("baseline")):
                # the copy that reads the object as the provider does (one streamed GET)
                like = by.get(("sink", s3["like_for_like"]))
                refs = (like, *(r for r in refs if r is not like)) if like else refs
            for ref in refs:
                if ref:
                    ratio = prov["wall_s"] / ref["wall_s"]
                    like_for_like = ref["kind"] == s3.get("like_for_like")
                    rows.append((label, f"{target}: wall s, vs {ref['kind']}" + (" (read as the provider reads)" if like_for_like else ""),
                                 f"{prov['wall_s']:.2f}", f"{ref['kind']} {ref['wall_s']:.2f}", f"{ratio:.2f}x",
                                 "<= 1.25x" if like_for_like else "", _verdict(ratio <= 1.25) if like_for_like else "-"))  # fmt: skip
            rows.append((label, f"{target}: peak RSS growth MiB", f"{prov['rss_growth_mib']:.1f}",
                         f"{base['kind']} {base['rss_growth_mib']:.1f}" if base else "-", "",
                         "<= 32 MiB", _verdict(prov["rss_growth_mib"] <= 32)))  # fmt: skip
    tr = _load("triggerer")
    if tr:
        find = {
            (r["kind"], r["n"], r["server"]): r
            for r in tr["rows"]
            if r.get("max_in_flight", "default") == "default"
        }
        for n in sorted({r["n"] for r in tr["rows"]}):
            sf, dbt, idle, floor, previous = (
                find.get((k, n, "status_server")) for k in ("seekrflow", "dbt", "idle", "floor", "previous")
            )
            if not sf:
                continue
            poll = f"{n:,} / {sf['poll_s']:g} s"
            rows.append(("triggerer", f"{poll}: lag p99 ms (p50/max)",
                         f"{sf['lag_p99_ms']:.1f} ({sf['lag_p50_ms']:.1f}/{sf['lag_max_ms']:.0f})",
                         (f"dbt {dbt['lag_p99_ms']:.1f}, " if dbt else "") + (f"idle {idle['lag_p99_ms']:.1f}" if idle else ""),
                         f"{sf['lag_p99_ms'] / dbt['lag_p99_ms']:.2f}x" if dbt and dbt["lag_p99_ms"] else "",
                         "<= 50 ms" if n == 1000 else "<= 100 ms" if n == 10000 else "",
                         _verdict(sf["lag_p99_ms"] <= (50 if n == 1000 else 100)) if n in (1000, 10000) else "-"))  # fmt: skip
            if dbt and sf["cpu_ms_per_poll"] and dbt["cpu_ms_per_poll"]:
                ratio = sf["cpu_ms_per_poll"] / dbt["cpu_ms_per_poll"]
                rows.append(("triggerer", f"{poll}: CPU ms per poll", f"{sf['cpu_ms_per_poll']:.3f}",
                             f"dbt {dbt['cpu_ms_per_poll']:.3f}", f"{ratio:.2f}x",
                             "<= 0.6x" if n == 1000 else "", _verdict(ratio <= 0.6) if n == 1000 else "-"))  # fmt: skip
                for label, other in (
                    ("floor (raw asyncio streams)", floor),
                    ("previous (hand-made pool)", previous),
                ):
                    if other and other["cpu_ms_per_poll"]:
                        rows.append(("triggerer", f"{poll}: CPU ms per poll, {label}", f"{sf['cpu_ms_per_poll']:.3f}",
                                     f"{label.split()[0]} {other['cpu_ms_per_poll']:.3f} "
                                     f"({other['cpu_ms_per_poll'] / dbt['cpu_ms_per_poll']:.2f}x dbt)",
                                     f"{sf['cpu_ms_per_poll'] / other['cpu_ms_per_poll']:.2f}x", "", "-"))  # fmt: skip
            if dbt:
                ratio = sf["rss_growth_mib"] / dbt["rss_growth_mib"]
                rows.append(("triggerer", f"{poll}: peak RSS growth MiB (KiB/trigger)",
                             f"{sf['rss_growth_mib']:.1f} ({sf['rss_kib_per_trigger']:.1f})",
                             f"dbt {dbt['rss_growth_mib']:.1f} ({dbt['rss_kib_per_trigger']:.1f})", f"{ratio:.2f}x",
                             "<= 0.25x" if n == 1000 else "", _verdict(ratio <= 0.25) if n == 1000 else "-"))  # fmt: skip
                tcp = sf.get("tcp_sockets_max")
                rows.append(("triggerer", f"{poll}: polls/s achieved; TCP sockets",
                             f"{sf['polls_per_s']:.0f}; {tcp}",
                             f"dbt {dbt['polls_per_s']:.0f}; {dbt.get('tcp_sockets_max')}", "",
                             f"{n / sf['poll_s']:.0f}/s wanted; <= 32 sockets",
                             _verdict(tcp <= 32) if tcp is not None else "-"))  # fmt: skip
        emu = find.get(("seekrflow", 1000, "emulator"))
        probe = tr.get("emulator_probe")
        if probe:
            rows.append(("triggerer", "emulator: server CPU ms per GET status", f"{probe['server_cpu_ms_per_req']:.2f}",
                         "", "", ">= 500 req/s per core", _verdict((probe.get("req_per_s_per_core") or 0) >= 500)))  # fmt: skip
        if emu:
            rows.append(("triggerer", "1,000 / 2 s vs emulator: lag p99 ms; CPU ms/poll",
                         f"{emu['lag_p99_ms']:.1f}; {emu['cpu_ms_per_poll']:.3f}", "", "", "", "-"))  # fmt: skip
    pa = _load("parse")
    if pa:
        first_baseline = next(r for r in pa["rows"] if r["variant"] == "baseline")
        for r in pa["rows"]:
            if r["variant"] == "baseline":
                continue
            module = r["kind"] == "module"
            label = ("import " if module else "parse ") + r["name"].replace("airflow_provider_seekrflow.", "")
            if r["variant"] != "as is":
                label += " [lazy trigger]"
            # Each row's own dbt Cloud module (operator or sensor); older results name one for all.
            dbt_ms = r.get("dbt_ms", first_baseline["best_ms"])
            dbt_role = r.get("role", "operator")
            rows.append(("DAG parse", label, f"{r['best_ms']:.1f}", f"dbt {dbt_role} {dbt_ms:.1f}",
                         f"{r['vs_dbt']:.2f}x", "<= 50 ms" if module else "",
                         _verdict(r["best_ms"] <= 50) if module and r["variant"] == "as is" else "-"))  # fmt: skip
    sc = _load("status_calls")
    if sc:
        for r in sc["rows"]:
            if r["scenario"] not in ("accurate ETA", "no ETA", "job 25% later than ETA"):
                continue
            target = r["job_min"] == 30 and r["scenario"] == "accurate ETA"
            rows.append(("status calls", f"{r['job_min']} min job, {r['scenario']}: calls (detect mean/max s)",
                         f"{r['eta_calls_max']} ({r['eta_detect_mean_s']:.0f}/{r['eta_detect_max_s']:.0f})",
                         f"fixed 60 s: {r['fixed60_calls_max']} ({r['fixed60_detect_mean_s']:.0f}/{r['fixed60_detect_max_s']:.0f})",
                         f"{r['calls_ratio']:.2f}x", "<= 8 calls, <= 60 s" if target else "",
                         _verdict(r["eta_calls_max"] <= 8 and r["eta_detect_max_s"] <= 60) if target else "-"))  # fmt: skip
    ev = _load("evaluate")
    if ev:
        label = f"evaluate {ev['prompts']:,} prompts"
        provider, seekrai = ev["rows"][0], ev["rows"][-1]
        rows.append((label, f"wall s, concurrency {ev['concurrency']}, {ev['latency_s'] * 1000:.0f} ms per answer",
                     f"{provider['wall_s']:.2f}", f"seekrai sequential {seekrai['wall_s']:.2f}",
                     f"{ev['speedup']:.1f}x faster", ">= 8x", _verdict(ev["speedup"] >= 8)))  # fmt: skip
        growth = ev.get("rss_growth_mib")
        if growth:
            shown = ", ".join(f"{int(k):,}: {v:.1f}" for k, v in growth.items())
            rows.append((label, "peak RSS growth MiB by prompts", shown, "", "", "flat in prompts",
                         _verdict(ev.get("rss_flat"))))  # fmt: skip
    uc = _load("upload_concurrency")
    if uc:
        label = f"upload {uc['files']:,} x {uc['file_bytes'] // 1024} KB"
        by = {r["kind"]: r for r in uc["rows"]}
        provider, sequential, seekrai = by["provider"], by.get("provider-sequential"), by["seekrai"]
        sampled = f" ({seekrai['files']:,} timed, extrapolated)" if seekrai.get("extrapolated") else ""
        rows.append((label, f"wall s at {uc['latency_s'] * 1000:.0f} ms per request, max_concurrency={uc['concurrency']}",
                     f"{provider['wall_s']:.1f} ({provider['files_per_s']:.0f} files/s)",
                     f"seekrai loop {seekrai['wall_s_for_all']:.0f}{sampled}", f"{uc['speedup']:.1f}x faster",
                     ">= 10x", _verdict(uc["speedup"] >= 10)))  # fmt: skip
        if sequential:
            rows.append((label, "wall s, max_concurrency=1", f"{provider['wall_s']:.1f}",
                         f"max_concurrency=1 {sequential['wall_s_for_all']:.0f}{sampled}",
                         f"{sequential['files_per_s'] / provider['files_per_s']:.2f}x", "", "-"))  # fmt: skip
        rows.append((label, "peak RSS growth MiB", f"{uc['rss_growth_mib']:.1f}",
                     f"seekrai {seekrai['rss_growth_kib'] / 1024:.1f}", "", "< 64 MiB",
                     _verdict(uc["rss_growth_mib"] < 64)))  # fmt: skip
    vs = _load("vector_sync")
    if vs:
        by = {r["kind"]: r for r in vs["rows"]}
        first, resync = by["first"], by["resync"]
        label = f"vector sync {vs['files']:,} x {vs['file_bytes'] // 1024} KB"
        per = f"{vs['latency_s'] * 1000:.0f} ms per request, max_concurrency={vs['concurrency']}"
        rows.append((label, f"wall s, first sync (upload + ingest), {per}", f"{first['wall_s']:.1f}",
                     "", "", "", "-"))  # fmt: skip
        routes = ", ".join(f"{route} {n}" for route, n in resync["requests"].items())
        rows.append((label, "re-sync, nothing changed: wall s; requests", f"{resync['wall_s']:.2f}; {routes}",
                     f"first sync {first['wall_s']:.1f}", f"{resync['wall_s'] / first['wall_s']:.3f}x",
                     "listing only", _verdict(vs["listing_only"])))  # fmt: skip
        rows.append((label, "peak RSS growth MiB (first; re-sync)",
                     f"{first['rss_growth_kib'] / 1024:.1f}; {resync['rss_growth_kib'] / 1024:.1f}",
                     "", "", "< 64 MiB", _verdict(first["rss_growth_kib"] < 64 * 1024)))  # fmt: skip
    return rows


def render(rows: list[tuple[str, ...]]) -> str:
    head = ("benchmark", "measure", "seekrflow", "baseline (same run)", "ratio", "target", "verdict")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCRIPTS))
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    work_dir()
    timings = {}
    if not args.summary_only:
        for name in args.only.split(","):
            print(f"\n=== {name}: {SCRIPTS[name]}", flush=True)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, str(BENCH_DIR / SCRIPTS[name])], check=False)
            timings[name] = time.perf_counter() - start
            if proc.returncode:
                print(f"!!! {name} exited with {proc.returncode}", flush=True)
    m = machine()
    header = (
        f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}, Python {m['python']}; "
        f"{dt.datetime.now().isoformat(timespec='minutes')}"
    )
    text = header + "\n\n" + render(table())
    if timings:
        text += "\n\nrun times: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    print("\n" + text)
    (RESULTS / "summary.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
