"""What a batch costs the deployment: the triggerers' CPU, sockets and event-loop lag; status calls per job.

``ProcessTreeSampler`` samples each named component's whole process tree once a second with psutil
(Airflow's own dependency): CPU seconds (a process that ended keeps its last reading), TCP sockets
(all, and established ones), open file descriptors and resident memory. A triggerer is a supervisor
with a trigger-runner child, so the tree is what a machine's monitoring would see of it.

Event-loop lag comes from Airflow's own watchdog in each triggerer's trigger runner: it sleeps 0.1 s
in a loop and logs ``Triggerer's async thread was blocked for X seconds`` when the sleep took longer
than ``[triggerer] blocked_main_thread_warning_threshold``. The distributed suite lowers that
threshold to ``LAG_LOG_THRESHOLD_S`` so every lag above 50 ms is logged; ``loop_lag`` reads the lines
a triggerer wrote after a given offset of its log.

``status_calls_per_job`` counts the status reads of each job in the emulator's journal.
"""

from __future__ import annotations

import collections
import itertools
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import psutil

# The watchdog's sleep and the threshold the suite sets (conftest.DISTRIBUTED_ENV): a line per lag > 50 ms.
WATCHDOG_SLEEP_S = 0.1
LAG_LOG_THRESHOLD_S = 0.15
_BLOCKED = re.compile(r"async thread was blocked for ([0-9.]+) seconds")

# Which journal routes read a job's status, and the id in their path: /v1/flow/<kind>/<id>[/events].
STATUS_ROUTES = {
    "get_data_job": "data_job",
    "get_alignment_job": "alignment_job",
    "get_fine_tune": "fine_tune",
    "list_fine_tune_events": "fine_tune",
}


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class ProcessTreeSampler(threading.Thread):
    """Sample the process trees of ``pids`` (component name -> pid) every ``interval`` seconds until stopped."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0) -> None:
        super().__init__(name="process-tree-sampler", daemon=True)
        self.pids = dict(pids)
        self.interval = interval
        self._halt = threading.Event()
        # name -> pid -> last CPU seconds seen (so a child that ended still counts)
        self._cpu: dict[str, dict[int, float]] = {name: {} for name in pids}
        self._first_cpu: dict[str, float] = {}
        self.samples: dict[str, list[dict[str, float]]] = {name: [] for name in pids}
        # The whole machine's busy CPU seconds (all cores), to tell a saturated machine from idle waits.
        self.machine: list[tuple[float, float]] = []
        self.started_at = self.stopped_at = 0.0

    def _tree(self, pid: int) -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _sample(self, name: str, pid: int) -> None:
        sockets = established = fds = rss = 0
        for proc in self._tree(pid):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    self._cpu[name][proc.pid] = times.user + times.system
                    conns = proc.net_connections(kind="tcp")
                    fds += proc.num_fds()
                    rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            sockets += len(conns)
            established += sum(c.status == psutil.CONN_ESTABLISHED for c in conns)
        cpu = sum(self._cpu[name].values())
        self._first_cpu.setdefault(name, cpu)
        self.samples[name].append(
            {"t": time.monotonic(), "cpu_s": cpu, "sockets": sockets, "established": established,
             "fds": fds, "rss_mb": rss / 2**20}
        )  # fmt: skip

    def run(self) -> None:
        self.started_at = time.monotonic()
        while not self._halt.is_set():
            times = psutil.cpu_times()
            self.machine.append((time.monotonic(), sum(times) - times.idle - getattr(times, "iowait", 0.0)))
            for name, pid in self.pids.items():
                self._sample(name, pid)
            self._halt.wait(self.interval)
        self.stopped_at = time.monotonic()

    def stop(self) -> dict[str, dict[str, float]]:
        """Stop sampling; per component: CPU seconds and share of one core, peaks of sockets, fds, memory."""
        self._halt.set()
        self.join(timeout=30)
        summary: dict[str, dict[str, float]] = {}
        for name, samples in self.samples.items():
            if len(samples) < 2:
                continue
            wall = samples[-1]["t"] - samples[0]["t"]
            cpu = samples[-1]["cpu_s"] - samples[0]["cpu_s"]
            per_second = [
                (b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"])
                for a, b in itertools.pairwise(samples)
                if b["t"] > a["t"]
            ]
            summary[name] = {
                "cpu_s": round(cpu, 1),
                "cpu_mean_pct_of_core": round(100 * cpu / wall, 1) if wall else 0.0,
                "cpu_p95_pct_of_core": round(100 * _percentile(per_second, 0.95), 1),
                "cpu_peak_pct_of_core": round(100 * max(per_second, default=0.0), 1),
                "tcp_sockets_peak": max(s["sockets"] for s in samples),
                "tcp_established_peak": max(s["established"] for s in samples),
                "tcp_sockets_end": samples[-1]["sockets"],
                "fds_peak": max(s["fds"] for s in samples),
                "fds_start": samples[0]["fds"],
                "fds_end": samples[-1]["fds"],
                "rss_peak_mb": round(max(s["rss_mb"] for s in samples), 1),
                "samples": len(samples),
            }
        if len(self.machine) >= 2:
            busy = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(self.machine) if b[0] > a[0]]
            wall = self.machine[-1][0] - self.machine[0][0]
            cores = psutil.cpu_count() or 1
            summary["machine"] = {
                "cores": cores,
                "cpu_busy_mean_pct": round(
                    100 * (self.machine[-1][1] - self.machine[0][1]) / wall / cores, 1
                ),
                "cpu_busy_p95_pct": round(100 * _percentile(busy, 0.95) / cores, 1),
                "seconds_fully_busy_pct": round(100 * sum(b >= 0.95 * cores for b in busy) / len(busy), 1),
            }
        return summary


def log_offsets(paths: dict[str, Path]) -> dict[str, int]:
    """The current size of each log, to read only what is written after."""
    return {name: path.stat().st_size if path.exists() else 0 for name, path in paths.items()}


def loop_lag(path: Path, offset: int, wall_s: float) -> dict[str, float]:
    """The watchdog's lag lines written to ``path`` after ``offset``: how many, and how long, over ``wall_s``."""
    with open(path, "rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    lags = [float(m.group(1)) - WATCHDOG_SLEEP_S for m in _BLOCKED.finditer(text)]
    checks = wall_s / WATCHDOG_SLEEP_S  # about one watchdog sleep per 0.1 s (fewer when it lags)
    return {
        "checks_approx": round(checks),
        "lagged_over_50ms": len(lags),
        "lagged_share_pct": round(100 * len(lags) / checks, 2) if checks else 0.0,
        "lag_p50_ms": round(1000 * statistics.median(lags), 1) if lags else 0.0,
        "lag_max_ms": round(1000 * max(lags), 1) if lags else 0.0,
        "lagged_over_1s": sum(lag > 1.0 for lag in lags),
    }


def status_calls_per_job(journal: list[dict[str, Any]], job_ids: dict[str, set[str]]) -> dict[str, dict]:
    """Status reads per job of each kind (``job_ids``: kind -> the batch's job ids), faulted ones included."""
    calls: dict[str, collections.Counter[str]] = {kind: collections.Counter() for kind in job_ids}
    for entry in journal:
        kind = STATUS_ROUTES.get(entry.get("route") or "")
        if kind is None or kind not in job_ids:
            continue
        parts = entry["path"].split("?")[0].strip("/").split("/")
        job_id = parts[3] if len(parts) > 3 else ""  # v1/flow/<kind>/<id>[/events]
        if job_id in job_ids[kind]:
            calls[kind][job_id] += 1
    result = {}
    for kind, ids in job_ids.items():
        counts = [calls[kind][job_id] for job_id in ids]
        result[kind] = {
            "jobs": len(ids),
            "calls": sum(counts),
            "per_job_mean": round(statistics.mean(counts), 1) if counts else 0.0,
            "per_job_max": max(counts, default=0),
            "per_job_min": min(counts, default=0),
        }
    return result
