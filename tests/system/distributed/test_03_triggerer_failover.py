"""Triggerer failover: SIGKILL one of the two triggerers while it holds about half the waits.

A batch of ``it_pipeline_soak`` runs is triggered with a long alignment (so the data job's waits are
held for a while). Waits clump on one triggerer, so while one holds more than 70 % of them it is
frozen in short pulses and new waits go to the other. Once both hold some of the batch's waits, the
one holding more (30-70 % of them) is killed with SIGKILL, its whole process group at once: no
goodbye, its job row just stops heartbeating. Airflow's HA triggerer must then hand every one of its triggers to the survivor after
``[triggerer] triggerer_health_check_threshold`` (15 s in the harness).

Measured per wait of the killed triggerer, from the kill: when the survivor holds its trigger (the
``trigger`` table), and when the service sees that wait poll again (the first status read of the
run's job in the emulator's journal after the kill: the wait has really resumed). Afterwards every
run succeeded with one of each record (no data job, alignment job or fine-tune submitted twice), and
the killed triggerer is started again for the tests after this one.
"""

from __future__ import annotations

import collections
import statistics
import time

import pytest

from tests.system.distributed.conftest import PIPELINE_DAG
from tests.system.distributed.load_metrics import STATUS_ROUTES
from tests.system.distributed.steering import PulsedFreeze
from tests.system.integration.harness import wait_for
from tests.system.integration.pipeline_checks import (
    DATA_JOB_TASK,
    assert_every_run_whole,
    check_pipeline_runs,
)

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(900)]

RUNS = 12
PREFIX = "failover-"
HEALTH_CHECK_THRESHOLD_S = 15  # harness: AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD
STEER_FROM = 3  # waits held before a lopsided share is steered


def _held(deployment, tags: set[str]) -> dict[str, dict[int, dict]]:
    """The batch's waits held by each live-or-dead triggerer: hostname -> trigger id -> row."""
    held: dict[str, dict[int, dict]] = collections.defaultdict(dict)
    for host, rows in deployment.triggers_by_triggerer().items():
        for row in rows:
            if row["dag_id"] == PIPELINE_DAG and row["run_id"] in tags and host != "unassigned":
                held[host][row["trigger_id"]] = row
    return held


def _job_tags(emulator, tags: set[str]) -> dict[str, str]:
    """Every job id of the batch (data job, alignment job, fine-tune) -> the run's tag."""
    owner: dict[str, str] = {}
    for job in emulator.stored_data_jobs():
        tag = job["name"].rsplit(".", 1)[-1]
        if job["name"].startswith(f"{PIPELINE_DAG}.{DATA_JOB_TASK}.") and tag in tags:
            owner[job["id"]] = tag
    for tag in tags:
        for job in emulator.jobs_for(tag):
            owner[job["id"]] = tag
    projects = {p["id"]: p["name"] for p in emulator.stored_projects()}
    for fine_tune in emulator.stored_fine_tunes():
        name = projects.get(fine_tune["project_id"], "")
        for tag in tags:
            if name.endswith(f"[run {tag}]"):
                owner[fine_tune["id"]] = tag
    return owner


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "min": round(values[0], 1),
        "median": round(statistics.median(values), 1),
        "max": round(values[-1], 1),
    }


def test_triggerer_sigkill_hands_every_wait_to_the_other_triggerer(deployment, emulator, figures):
    api = deployment.api
    emulator.reset(job_duration=35.0, ingestion_seconds=2.0, fine_tune_duration=8.0)
    tags = [f"{PREFIX}{i:03d}" for i in range(RUNS)]
    batch = set(tags)
    for tag in tags:
        api.trigger(PIPELINE_DAG, tag, deployment.conf(tag))

    # Both triggerers hold waits, the bigger share between 30 and 70 % of at least half the batch.
    # Waits clump on one triggerer (a CI run put all twelve on one): while one holds more than 70 %,
    # it is frozen in pulses so most new waits go to the other (tests/system/distributed/steering.py).
    picked: dict[str, dict[int, dict]] = {}
    pulses: list[PulsedFreeze] = []  # the last one is steering, if any

    def split_reached() -> bool:
        held = _held(deployment, batch)
        counts = {host: len(held.get(host, {})) for host in deployment.triggerers}
        total = sum(counts.values())
        if total >= RUNS // 2 and min(counts.values()) > 0 and max(counts.values()) <= 0.7 * total:
            picked.update(held)
            return True
        crowded = max(counts, key=lambda host: counts[host])
        steering = pulses[-1].component.name if pulses else None
        if total >= STEER_FROM and counts[crowded] > 0.7 * total and crowded != steering:
            for pulse in pulses:
                pulse.stop()
            pulses.append(PulsedFreeze(deployment.components[crowded]))
        return False

    try:
        wait_for("both triggerers to hold about half of the batch's waits", split_reached, 300, 0.5,
                 lambda: str({h: len(r) for h, r in _held(deployment, batch).items()}))  # fmt: skip
    finally:
        for pulse in pulses:
            pulse.stop()
    frozen_s: dict[str, float] = collections.defaultdict(float)
    for pulse in pulses:
        frozen_s[pulse.component.name] = round(frozen_s[pulse.component.name] + pulse.frozen_s, 1)
    counts = {host: len(picked.get(host, {})) for host in deployment.triggerers}
    victim = max(counts, key=lambda host: counts[host])
    survivor = next(host for host in deployment.triggerers if host != victim)
    victim_waits = dict(picked[victim])
    alive = deployment.triggerers_alive()
    survivor_job = alive[survivor]
    # How old the victim's last heartbeat already is: the threshold counts from it, not from the kill.
    heartbeat_age = deployment.db_query(
        "select extract(epoch from now() - latest_heartbeat)::float as age from job where id = %s",
        (alive[victim],),
    )[0]["age"]

    killed_at, killed_wall = time.monotonic(), time.time()
    deployment.components[victim].kill()

    taken_over: dict[int, float] = {}  # trigger id -> seconds after the kill it was the survivor's
    ended_first: set[int] = set()  # fired and removed before the kill took effect

    def every_wait_moved() -> bool:
        rows = {
            row["trigger_id"]: row for rows in deployment.triggers_by_triggerer().values() for row in rows
        }
        now = time.monotonic() - killed_at
        for trigger_id in victim_waits:
            row = rows.get(trigger_id)
            if trigger_id in taken_over:
                continue
            if row is None:
                ended_first.add(trigger_id)
            elif row["triggerer_job_id"] == survivor_job:
                taken_over[trigger_id] = now
        return len(taken_over) + len(ended_first) == len(victim_waits)

    wait_for(f"{survivor} to take over {victim}'s {len(victim_waits)} waits", every_wait_moved, 180, 0.5,
             lambda: f"taken over {len(taken_over)}, gone {len(ended_first)}")  # fmt: skip

    runs = {tag: run["state"] for tag, run in api.wait_runs(PIPELINE_DAG, batch, 600, 2).items()}
    failed = sorted(tag for tag, state in runs.items() if state != "success")

    # When the service saw each moved wait poll again: the first status read of its run's jobs after the kill.
    owner = _job_tags(emulator, batch)
    victim_tags = {row["run_id"]: trigger_id for trigger_id, row in victim_waits.items()}
    resumed: dict[str, float] = {}
    for entry in emulator.journal():
        if entry["ts"] < killed_wall or entry.get("route") not in STATUS_ROUTES:
            continue
        tag = owner.get(entry["path"].split("?")[0].strip("/").split("/")[3])
        if tag in victim_tags and tag not in resumed:
            resumed[tag] = entry["ts"] - killed_wall
    problems, records = check_pipeline_runs(deployment, PIPELINE_DAG, tags, PREFIX, failed)

    # The killed triggerer comes back for the tests after this one.
    deployment.components[victim].start()
    deployment.wait_distributed_ready()

    takeover = sorted(taken_over.values())
    resume = sorted(resumed.values())
    figures["triggerer_failover"] = {
        "runs": RUNS,
        "waits_held_at_kill": counts,
        "killed": victim,
        "victim_share_pct": round(100 * counts[victim] / sum(counts.values()), 1),
        "steered_away_from_s": dict(frozen_s),
        "health_check_threshold_s": HEALTH_CHECK_THRESHOLD_S,
        "victim_heartbeat_age_at_kill_s": round(heartbeat_age, 1),
        "waits_taken_over": len(taken_over),
        "waits_ended_before_kill": len(ended_first),
        "takeover_s": _spread(takeover),
        "first_poll_after_kill_s": _spread(resume),
        "succeeded": RUNS - len(failed),
        "failed": failed,
        **records,
        "runs_with_problems": problems,
    }
    print(figures["triggerer_failover"])
    assert_every_run_whole(failed, problems, records, RUNS)
    assert len(taken_over) >= len(victim_waits) - len(ended_first) and taken_over, figures[
        "triggerer_failover"
    ]
    # Airflow hands a dead triggerer's triggers over once its last heartbeat is older than the health
    # threshold (not before: the survivor does not steal from a live triggerer), and not much later.
    assert takeover[0] + heartbeat_age >= HEALTH_CHECK_THRESHOLD_S - 1, (takeover, heartbeat_age)
    assert takeover[-1] <= HEALTH_CHECK_THRESHOLD_S + 45, takeover
    # Every moved wait polled the service again (its run succeeded only through that poll, too).
    moved_tags = {victim_waits[t]["run_id"] for t in taken_over}
    assert moved_tags <= set(resumed), f"waits never seen polling after the kill: {moved_tags - set(resumed)}"
