"""Status calls per alignment job: ETA-aware polling (the provider's defaults) vs a fixed 60 s interval.

Time is simulated. The job is the emulator's own model (``JobService.view`` computes what
``GET /v1/flow/alignment/{id}`` returns at a given moment: pending, queued, three running steps,
``estimated_completion_at`` and ``eta_minutes``), parsed into the provider's ``AlignmentJob`` and fed
to ``plan_next_check`` exactly as the trigger and the sync wait do, on a simulated clock. The first
status call is made 0-55 s after submission (12 phases; mean and worst case are reported).

Scenarios: the service's estimate is accurate (the emulator's behaviour, the target case); the job
runs 25 % longer than a stale estimate; it ends at 75 % of the estimate; the service gives no
estimate at all. Baseline: a fixed ``poll_interval=60``. Target for 30 minutes: <= 8 calls and
completion seen within 60 s.

    python benchmarks/bench_status_calls.py
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save_result  # noqa: E402

from airflow_provider_seekrflow.client.polling import plan_next_check  # noqa: E402
from airflow_provider_seekrflow.emulator.jobs import JobService  # noqa: E402
from airflow_provider_seekrflow.emulator.store import iso  # noqa: E402
from airflow_provider_seekrflow.models import AlignmentJob  # noqa: E402

T0 = 1_800_000_000.0  # a fixed epoch second, so runs are reproducible
DURATIONS_MIN = (5, 30, 120)
# When the first status call happens after submission (deferral latency, triggerer pick-up): the
# phase between the polling grid and the job's end decides the detection delay, so every figure is
# taken over these offsets (mean and worst case).
FIRST_POLL_OFFSETS = tuple(float(s) for s in range(0, 60, 5))
SCENARIOS = {
    "accurate ETA": 1.0,
    "job 25% later than ETA": 1.25,
    "job ends at 75% of ETA": 0.75,
    "no ETA": None,
}


class _SimJobs(JobService):
    """The emulator's job view, with the estimate optionally off by a factor."""

    def __init__(self, estimate_factor: float | None) -> None:
        super().__init__(store=None)  # type: ignore[arg-type] - view() never touches the store
        self.estimate_factor = estimate_factor

    def view_at(self, job: dict, now: float) -> dict:
        out = self.view(job, now)
        if self.estimate_factor not in (None, 1.0) and out.get("estimated_completion_at"):
            estimate = job["_created_ts"] + job["_duration"] / self.estimate_factor
            remaining = max(0.0, estimate - now)
            out["estimated_completion_at"] = iso(estimate)
            out["eta_minutes"] = max(1, -(-int(remaining) // 60))
        return out


def _job(duration: float, eta: bool) -> dict:
    return {
        "id": "al-sim", "created_at": iso(T0), "instructions": "x", "files": ["f"], "type": "principle",
        "system_prompt": None, "vector_database_id": None, "_created_ts": T0, "_duration": duration,
        "_outcome": "completed", "_outcome_message": None, "_eta": eta, "_team_id": None,
        "_final": None, "_outputs": [],
    }  # fmt: skip


def simulate(duration: float, factor: float | None, *, fixed: float | None, first_poll: float) -> dict:
    jobs = _SimJobs(factor)
    job = _job(duration, eta=factor is not None)
    now, calls = T0 + first_poll, 0
    while True:
        calls += 1
        if now >= T0 + duration and job["_final"] is None:
            job["_final"] = {"status": "completed", "status_message": None, "ended_ts": T0 + duration}
        seen = AlignmentJob.model_validate(jobs.view_at(job, now))
        if seen.is_terminal:
            return {"calls": calls, "detect_delay_s": now - (T0 + duration)}
        if fixed is not None:
            delay = fixed
        else:
            delay = plan_next_check(
                seen,
                poll_interval=300.0,
                min_interval=5.0,
                now=datetime.fromtimestamp(now, timezone.utc),
            ).seconds
        now += delay
        if calls > 100_000:
            raise RuntimeError("runaway simulation")


def main() -> int:
    rows = []
    for minutes in DURATIONS_MIN:
        for scenario, factor in SCENARIOS.items():
            row: dict = {"job_min": minutes, "scenario": scenario}
            for name, fixed in (("eta", None), ("fixed60", 60.0)):
                runs = [
                    simulate(minutes * 60.0, factor, fixed=fixed, first_poll=offset)
                    for offset in FIRST_POLL_OFFSETS
                ]
                row[f"{name}_calls_max"] = max(r["calls"] for r in runs)
                row[f"{name}_calls_mean"] = sum(r["calls"] for r in runs) / len(runs)
                row[f"{name}_detect_mean_s"] = sum(r["detect_delay_s"] for r in runs) / len(runs)
                row[f"{name}_detect_max_s"] = max(r["detect_delay_s"] for r in runs)
            row["calls_ratio"] = row["eta_calls_mean"] / row["fixed60_calls_mean"]
            rows.append(row)
    print(
        f"{'job':>5}  {'scenario':24} {'ETA-aware: calls':>16} {'detect mean/max s':>18}   "
        f"{'fixed 60 s: calls':>17} {'detect mean/max s':>18} {'calls ratio':>11}"
    )
    for r in rows:
        print(
            f"{r['job_min']:>4}m  {r['scenario']:24} {r['eta_calls_mean']:10.1f} (<={r['eta_calls_max']:3d})"
            f" {r['eta_detect_mean_s']:11.0f} / {r['eta_detect_max_s']:3.0f}   "
            f"{r['fixed60_calls_mean']:11.1f} (<={r['fixed60_calls_max']:3d}) "
            f"{r['fixed60_detect_mean_s']:11.0f} / {r['fixed60_detect_max_s']:3.0f} {r['calls_ratio']:10.2f}x"
        )
    target = next(r for r in rows if r["job_min"] == 30 and r["scenario"] == "accurate ETA")
    verdicts = {
        "30 min job: <= 8 status calls": target["eta_calls_max"] <= 8,
        "30 min job: completion seen within 60 s": target["eta_detect_max_s"] <= 60,
    }
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    save_result("status_calls", {"rows": rows, "verdicts": verdicts})
    return 0


if __name__ == "__main__":
    sys.exit(main())
