"""Faults for a batch of pipeline runs (upload -> data job -> fine-tune), and what the batch left in the emulator.

``fault_rules`` is the soak's fault mix; ``check_pipeline_runs`` judges the result: one of each, linked.
Shared by the pipeline fault soak (tests/system/integration/test_02_pipeline_fault_soak.py) and the
distributed suite (tests/system/distributed), so "no duplicate, nothing lost" means the same in both.
Runs are attributed by their tag (the run id): stored files are named ``<tag>-<document>``, the data
job is named ``<dag>.make_training_pairs.<tag>.try<n>``, alignment jobs and projects carry ``[run <tag>]``.
Only the records of tags starting with ``prefix`` are counted: other tests share the emulator.
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

DATA_JOB_TASK, FINE_TUNE_TASK = "make_training_pairs", "fine_tune"

# The pipeline's requests that are not harmless to repeat: a lost answer must be reconciled. (The
# serving soak adds its own: serving_checks.SERVE_ONCE_ROUTES.)
ONCE_ROUTES = (
    "submit_data_job",
    "add_files_to_data_job",
    "start_data_job",
    "create_project",
    "create_fine_tune",
)
SHARED_KINDS = ("429", "500", "502", "503", "delay", "drop_before")
# The certain faults each once-only route meets (count rules, spent in this order), and their kinds.
CERTAIN_SEQUENCE = ("500", "429", "drop_after", "drop_after", "502_after", "504_after")
CERTAIN_KINDS = tuple(dict.fromkeys(CERTAIN_SEQUENCE))


def fault_rules(
    rate: float, once_routes: Iterable[str] = ONCE_ROUTES, certain: Iterable[str] = CERTAIN_SEQUENCE
) -> list[dict]:
    """
    First match wins: certain faults on each once-only route, then random drops, then ``rate`` of everything.

    :param rate: The share of every request (once-only routes' included) faulted by ``everywhere``.
    :param once_routes: The routes whose answers are also lost after the service acted, certainly
        (count rules) and at random.
    :param certain: The faults each once-only route is certain to meet, spent in this order.
    """
    once_routes = tuple(once_routes)
    rules: list[dict] = []
    for route in once_routes:
        # Count rules are spent in order (by default a 500, a 429, two dropped answers, then a 502 and
        # a 504 that come after the service acted: a gateway that lost the backend's answer).
        for kind, same in itertools.groupby(certain):
            extra = {"retry_after": 1} if kind == "429" else {}
            rules.append({"route": route, "kind": kind, **extra, "count": len(list(same))})
    # Uploads always get the random losses; a list of once-only routes that names them too (the
    # vector sync soak) gets them once, not a second chain that would double their rate.
    for route in dict.fromkeys((*once_routes, "upload_file")):
        # 10 % of the answers lost after acting as a 502 or 504 (5 % each), then 10 % dropped.
        rules += [
            {"route": route, "kind": "502_after", "rate": 0.05},
            {"route": route, "kind": "504_after", "rate": round(0.05 / 0.95, 6)},
            {"route": route, "kind": "drop_after", "rate": 0.1},
        ]
    return rules + everywhere(rate)


def everywhere(rate: float) -> list[dict]:
    """Rules for every route whose first-match-wins chain faults ``rate`` of all requests, in equal shares per kind.

    Each rule's rate is conditional on the earlier ones not having fired. Shared with the single-task
    fault soak (tests/system/integration/test_02_fault_soak.py).
    """
    shared = [
        {"kind": "429", "retry_after": 1},
        {"kind": "500"},
        {"kind": "502"},
        {"kind": "503"},
        {"kind": "delay", "delay": 1.0},
        {"kind": "delay", "delay": 2.0},
        {"kind": "drop_before"},
    ]
    share = rate / len(shared)
    return [
        {"route": "*", "rate": round(share / (1 - i * share), 6), **rule} for i, rule in enumerate(shared)
    ]


def run_under_faults(
    deployment: Any,
    emulator: Any,
    dag: str,
    tags: list[str],
    rules: list[dict],
    what: str,
    conf: Callable[[str], dict[str, Any]] | None = None,
) -> tuple[dict[str, dict[str, Any]], float, list[dict]]:
    """Trigger a run of ``dag`` per tag with the emulator faulting per ``rules``, and wait for all to end.

    Returns the runs (by tag, as last listed), the seconds from the first trigger to the last end,
    and the emulator's journal; the faults are cleared after. ``conf`` makes a run's conf from its
    tag (default: ``deployment.conf``).
    """
    confs = {tag: (conf or deployment.conf)(tag) for tag in tags}
    emulator.admin("PUT", "faults", rules)
    started = time.monotonic()
    for tag in tags:
        deployment.api.trigger(dag, tag, confs[tag])
    runs = deployment.api.wait_runs(dag, tags, 1500, 5, what)
    wall = time.monotonic() - started
    journal = emulator.journal()
    emulator.admin("DELETE", "faults")
    return runs, wall, journal


def check_pipeline_runs(
    deployment: Any, dag: str, tags: list[str], prefix: str, failed: Iterable[str] = ()
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """
    Problems by tag (only tags that have some), and the counts of what is stored.

    Each run must have exactly its source files once each, one data job (with exactly those files,
    started once: one alignment job), one project and one fine-tune trained on the data job's
    output, completed with a model, and XComs naming them. Runs in ``failed`` are checked for
    duplicates only.
    """
    api, emulator, failed = deployment.api, deployment.emulator, set(failed)
    files = [
        f for f in emulator.stored_files() if f["purpose"] == "alignment" and f["filename"].startswith(prefix)
    ]
    data_jobs = [
        j for j in emulator.stored_data_jobs() if j["name"].startswith(f"{dag}.{DATA_JOB_TASK}.{prefix}")
    ]
    alignment_jobs = [j for j in emulator.stored_jobs() if f"[run {prefix}" in j["instructions"]]
    projects = [p for p in emulator.stored_projects() if f"[run {prefix}" in p["name"]]
    project_ids = {p["id"] for p in projects}
    fine_tunes = [f for f in emulator.stored_fine_tunes() if f["project_id"] in project_ids]

    problems: dict[str, list[str]] = collections.defaultdict(list)
    duplicate_files = lost_files = completed = cancelled_on_kill = 0
    for tag in tags:
        expected = deployment.source_names(tag)
        mine = [f for f in files if f["filename"].startswith(f"{tag}-")]
        names = collections.Counter(f["filename"] for f in mine)
        duplicate_files += sum(n - 1 for n in names.values())
        lost_files += len(set(expected) - set(names))
        if sorted(names.elements()) != expected:
            problems[tag].append(f"stored files {sorted(names.elements())}, expected {expected}")
        # The default name carries the try that created the job: <dag>.<task>.<run_id>.try<n>.
        my_data_jobs = [j for j in data_jobs if j["name"].startswith(f"{dag}.{DATA_JOB_TASK}.{tag}.try")]
        my_alignment = emulator.jobs_for(tag)
        # A try that Airflow kills cancels its data job (and so the job's alignment), and the retry
        # makes a new one: not a duplicate, as long as an earlier try's job is the one cancelled.
        # Airflow 3.3 kills a resumed deferred task on a stale executor event (apache/airflow#72716).
        cancelled = killed_tries_jobs(emulator, my_data_jobs)
        cancelled_on_kill += len(cancelled)
        my_data_jobs = [j for j in my_data_jobs if j["id"] not in cancelled]
        my_alignment = [j for j in my_alignment if j["id"] not in cancelled.values()]
        my_projects = [p for p in projects if p["name"] == f"Northwind support [run {tag}]"]
        my_fine_tunes = [f for f in fine_tunes if my_projects and f["project_id"] == my_projects[0]["id"]]
        for what, found in (("data job", my_data_jobs), ("alignment job", my_alignment),
                            ("project", my_projects), ("fine-tune", my_fine_tunes)):  # fmt: skip
            if len(found) != 1:
                problems[tag].append(f"{len(found)} {what}s: {[r['id'] for r in found]}")
        if problems[tag] or tag in failed:
            continue
        data_job, fine_tune = my_data_jobs[0], my_fine_tunes[0]
        uploaded = api.xcom(dag, tag, "upload_documents")
        training_file = api.xcom(dag, tag, DATA_JOB_TASK, "fine_tune_file_id")
        ft_view = emulator.fine_tune(fine_tune["id"])
        dj_view = emulator.data_job(data_job["id"])
        result = api.xcom(dag, tag, FINE_TUNE_TASK)
        checks = {
            "data job files == uploaded == stored": sorted(data_job["_files"]) == sorted(uploaded)
            == sorted(f["id"] for f in mine),
            "data job started once": data_job["alignment_job_id"] == my_alignment[0]["id"],
            "data job completed": dj_view["status"] == "completed",
            "data_job_id XCom": api.xcom(dag, tag, DATA_JOB_TASK, "data_job_id") == data_job["id"],
            "fine-tune trains on the data job's output": fine_tune["training_files"] == [training_file],
            "data job lists its fine-tune": dj_view["fine_tuning_job_ids"] == [fine_tune["id"]],
            "fine_tune_id XCom": api.xcom(dag, tag, FINE_TUNE_TASK, "fine_tune_id") == fine_tune["id"],
            "fine-tune completed with a model": ft_view["status"] == "completed" and ft_view["inference_available"],
            "result names the model": result["status"] == "completed" and result["job_id"] == fine_tune["id"]
            and bool(result["model_id"]) and result["project_id"] == my_projects[0]["id"],
            "report_model returned it": api.xcom(dag, tag, "report_model") == result["model_id"],
        }  # fmt: skip
        problems[tag] += [name for name, ok in checks.items() if not ok]
        completed += ft_view["status"] == "completed"
    counts = {
        "alignment_files_stored": len(files),
        "data_jobs": len(data_jobs) - cancelled_on_kill,
        "alignment_jobs": len(alignment_jobs) - cancelled_on_kill,
        "data_jobs_cancelled_on_kill": cancelled_on_kill,
        "projects": len(projects),
        "fine_tunes": len(fine_tunes),
        "fine_tunes_completed": completed,
        "duplicate_files": duplicate_files,
        "lost_files": lost_files,
    }
    return {tag: p for tag, p in problems.items() if p}, counts


def killed_tries_jobs(emulator: Any, my_data_jobs: list[dict[str, Any]]) -> dict[str, str]:
    """
    Return the data jobs of one run that a killed try cancelled, each with its alignment job's id.

    Only a job of an earlier try than the run's newest job counts (its name ends ``.try<n>``), so a
    run whose last job was cancelled, or that made two live jobs, still shows as a problem.
    """

    def try_number(job: dict[str, Any]) -> int:
        return int(job["name"].rsplit(".try", 1)[1])

    if len(my_data_jobs) < 2:
        return {}
    newest = max(try_number(job) for job in my_data_jobs)
    return {
        job["id"]: job.get("alignment_job_id") or ""
        for job in my_data_jobs
        if try_number(job) < newest and emulator.data_job(job["id"])["status"] == "cancelled"
    }


def assert_every_run_whole(
    failed: list[str], problems: dict[str, list[str]], records: dict[str, int], runs: int
) -> None:
    """Every run succeeded with its three files and one data job, alignment job, project and fine-tune."""
    assert not failed, f"runs that failed: {failed}"
    assert not problems, f"runs with duplicates, losses or wrong links: {problems}"
    assert records["alignment_files_stored"] == 3 * runs, records
    assert records["duplicate_files"] == records["lost_files"] == 0, records
    whole = ("data_jobs", "alignment_jobs", "projects", "fine_tunes", "fine_tunes_completed")
    assert {records[k] for k in whole} == {runs}, records
