"""Fault soak of the vector database sync: a 1,000-file folder synced, changed, and synced again, against a faulty service.

``it_vector_sync_soak`` (tests/system/integration/dags/seekrflow_vector_sync_dags.py) finds the
database by name (creating it once) and syncs a folder of ``IT_VECTOR_SYNC_FILES`` (1,000) small
markdown documents written under the deployment's work directory. Then, twice, a twentieth of the
documents are edited, as many added and as many removed, and the DAG runs again on the same name.

Every run meets the pipeline soak's fault mix (tests/system/integration/pipeline_checks.py). The
once-only requests of a sync (``upload_file``, ``create_vector_database``,
``create_vector_database_ingestion``) are each certain to get a 500, a 429 and then the three kinds
of lost answer (dropped after the service acted, a 502 and a 504 after it acted); then 10 % of
their answers are lost after acting at random; and every route gets 429, 500, 502, 503, 1 s and 2 s
delays and connections dropped before processing at ``IT_SOAK_FAULT_RATE`` (0.2). The ingestion's
wait is deferred; every task has retries.

A sync makes one database and one ingestion, and the first lost answer of each is its last call of
that route (it is found, never resent). So each round puts another kind of lost answer first, and
the three rounds meet all three on the ingestion route; in the first round two more databases are
created beside the sync's (``it_vector_database_create``, other names), so the create route meets
all three too.

Judged from the emulator's stored state, its journal, the Airflow Variable and the XComs, after each
round: exactly one database of each name; the database lists exactly the folder's current
documents, each once (0 duplicates by filename, 0 lost), all ``completed``; the sync's record (the
Variable) names exactly the database's files, with nothing pending; each sync started one
ingestion; a changed folder's sync counts exactly the changes made; and the file store holds one
upload per document version, no orphan (an upload in no database, sent again where its lost answer
should have been found).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_seekrflow.operators.vector_sync_record import RECORD_KEY_TEMPLATE
from tests.system.integration.pipeline_checks import (
    CERTAIN_KINDS,
    SHARED_KINDS,
    fault_rules,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

FILES = int(os.environ.get("IT_VECTOR_SYNC_FILES", "1000"))
FAULT_RATE = float(os.environ.get("IT_SOAK_FAULT_RATE", "0.2"))
DAG = "it_vector_sync_soak"
DATABASE = "Northwind handbook [vector sync soak]"
PREFIX = "vsync-"
# A sync's requests that must not happen twice: a lost answer must be reconciled, never resent.
ONCE_ROUTES = ("upload_file", "create_vector_database", "create_vector_database_ingestion")
# The kinds of lost answer, one put first in each round (a once-only request that is answered
# after one is found, never resent).
LOST_KINDS = ("drop_after", "502_after", "504_after")
ROUNDS = ("first", "second", "third")
# Databases created beside the sync's in the first round, so the create route meets every lost kind.
OTHER_DATABASES = tuple(f"{DATABASE} [create {i}]" for i in (1, 2))
CREATE_DAG = "it_vector_database_create"
# Seconds each file takes to ingest: 1,000 files in 1 s, so the run's time is the sync's own.
INGESTION_SECONDS = 0.001


def _rules(round_index: int) -> list[dict]:
    """Return the round's fault rules: its certain lost answer first, then the other two, and the random mix."""
    lost = LOST_KINDS[round_index:] + LOST_KINDS[:round_index]
    return fault_rules(FAULT_RATE, ONCE_ROUTES, certain=("500", "429", *lost))


def _document(index: int, version: int = 1) -> str:
    """Return a small markdown document, different for every index and version."""
    return (
        f"# Northwind handbook, page {index}\n\n"
        f"Version {version}. Orders numbered {index * 7919 % 100000:05d} ship from warehouse "
        f"{index % 13} within {index % 5 + 1} business days.\n\n"
        + "".join(f"- Rule {index}.{n}: keep the receipt for {30 + n} days.\n" for n in range(version + 2))
    )


def _write_folder(folder: Path, count: int) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"{PREFIX}{index:04d}.md").write_text(_document(index))


def _change_folder(folder: Path, count: int, round_index: int) -> dict[str, list[str]]:
    """Edit, add and remove a twentieth of the documents each (others each round); return the names of each change."""
    step = max(1, count // 20)
    names = sorted(p.name for p in folder.iterdir())
    # Edited and removed documents alternate over a block of 2 * step not touched by earlier rounds.
    block = names[2 * step * (round_index - 1) : 2 * step * round_index]
    edited, removed = block[0::2], block[1::2]
    first_new = count + step * (round_index - 1)
    added = [f"{PREFIX}{index:04d}.md" for index in range(first_new, first_new + step)]
    for name in edited:
        (folder / name).write_text(_document(int(name[len(PREFIX) : -3]), version=2))
    for name in removed:
        (folder / name).unlink()
    for name in added:
        (folder / name).write_text(_document(int(name[len(PREFIX) : -3])))
    return {"edited": edited, "added": added, "removed": removed}


def _sync_figures(deployment: Any, emulator: Any, run_id: str, folder: Path) -> dict[str, Any]:
    """Judge the database, the record and the run's result against the folder; return the figures and problems."""
    api = deployment.api
    expected = sorted(p.name for p in folder.iterdir())
    databases = [d for d in emulator.api("vectordb")["data"] if d["name"] == DATABASE]
    database_id = api.xcom(DAG, run_id, "create_database")
    listed = emulator.api(f"vectordb/{database_id}/files")["data"]
    names = collections.Counter(f["filename"] for f in listed)
    statuses = collections.Counter(f["status"] for f in listed)
    variable = api.get(f"variables/{RECORD_KEY_TEMPLATE.format(vector_database_id=database_id)}")
    record = json.loads(variable["value"])
    recorded = {entry["file_id"]: entry["filename"] for entry in record["documents"].values()}
    ingestions = [j for j in emulator.stored_vector_ingestions() if j["vector_database_id"] == database_id]
    result = api.xcom(DAG, run_id, "sync")
    problems = []
    if [d["id"] for d in databases] != [database_id]:
        problems.append(
            f"databases named {DATABASE!r}: {[d['id'] for d in databases]}, task said {database_id}"
        )
    if sorted(names.elements()) != expected:
        problems.append("the database does not list exactly the folder's documents, each once")
    if set(statuses) != {"completed"}:
        problems.append(f"file statuses {dict(statuses)}")
    if recorded != {f["id"]: f["filename"] for f in listed}:
        problems.append("the Variable's record is not the database's files")
    if record.get("pending"):
        problems.append("the record still has a sync pending")
    return {
        "database_id": database_id,
        "documents": len(expected),
        "listed": len(listed),
        "duplicates": sum(n - 1 for n in names.values()),
        "lost": len(set(expected) - set(names)),
        "extra": len(set(names) - set(expected)),
        "statuses": dict(statuses),
        "recorded": len(recorded),
        "ingestion_jobs_total": len(ingestions),
        # The ids uploaded are counted, not listed: a thousand of them would bury the figures.
        "result": {**result, "file_ids": len(result["file_ids"])},
        "file_ids": sorted(f["id"] for f in listed),
        "problems": problems,
    }


def _fault_figures(journal: list[dict[str, Any]]) -> dict[str, Any]:
    faults = collections.Counter(e["fault"] for e in journal if e["fault"])
    return {
        "requests": len(journal),
        "faulted": sum(faults.values()),
        "fault_share": round(sum(faults.values()) / max(1, len(journal)), 3),
        "faults_by_kind": dict(sorted(faults.items())),
        "faults_on_once_routes": {
            route: dict(
                collections.Counter(e["fault"] for e in journal if e["route"] == route and e["fault"])
            )
            for route in ONCE_ROUTES
        },
        "requests_by_route": dict(sorted(collections.Counter(str(e["route"]) for e in journal).items())),
    }


def _retries(api: Any, dag: str, run_id: str) -> dict[str, int]:
    return {
        task_id: ti["try_number"] - 1
        for task_id, ti in api.task_instances(dag, run_id).items()
        if ti["try_number"] > 1
    }


def _round(deployment: Any, emulator: Any, round_index: int, folder: Path) -> dict[str, Any]:
    """Run the sync once on the folder under the round's faults (the first round: the other creates too)."""
    api, run_id = deployment.api, f"vsync-{ROUNDS[round_index]}"
    # A journal of this round alone; the config is the start-up one again after a reset.
    emulator.reset(vector_ingestion_seconds=INGESTION_SECONDS)
    emulator.admin("PUT", "faults", _rules(round_index))
    started = time.monotonic()
    api.trigger(DAG, run_id, {"database": DATABASE, "docs_dir": str(folder)})
    names = OTHER_DATABASES if round_index == 0 else ()
    creates = [f"vsync-create-{i}" for i in range(len(names))]
    for create_id, name in zip(creates, names, strict=True):
        api.trigger(CREATE_DAG, create_id, {"database": name})
    runs = api.wait_runs(DAG, [run_id], 900, 3, f"vector sync {run_id}")
    wall = time.monotonic() - started
    created = api.wait_runs(CREATE_DAG, creates, 300, 3, "database creates") if creates else {}
    journal = emulator.journal()
    emulator.admin("DELETE", "faults")
    return {
        "state": runs[run_id]["state"],
        "wall_s": round(wall, 1),
        "task_retries": _retries(api, DAG, run_id),
        "other_creates": {
            created_id: {"state": run["state"], "retries": _retries(api, CREATE_DAG, created_id)}
            for created_id, run in created.items()
        },
        **_fault_figures(journal),
        "_journal": journal,
        "_run_id": run_id,
    }


def _stored_uploads(emulator: Any) -> dict[str, list[str]]:
    """The emulator's file store: this soak's uploads, ids by filename."""
    by_name: dict[str, list[str]] = collections.defaultdict(list)
    for stored in emulator.stored_files():
        if stored["filename"].startswith(PREFIX):
            by_name[stored["filename"]].append(stored["id"])
    return by_name


def test_vector_sync_soak(deployment, emulator, figures):
    started = time.monotonic()
    folder = deployment.work / "vector-sync" / "handbook"
    _write_folder(folder, FILES)

    rounds, changes, in_database = [], [], set()
    for round_index in range(len(ROUNDS)):
        if round_index:
            changes.append(_change_folder(folder, FILES, round_index))
        run = _round(deployment, emulator, round_index, folder)
        assert run["state"] == "success", run["task_retries"]
        run.update(_sync_figures(deployment, emulator, run.pop("_run_id"), folder))
        in_database |= set(run.pop("file_ids"))
        rounds.append(run)
    first = rounds[0]

    # Every upload in the file store must be a document version that was in the database after one
    # of the syncs. Anything else is an orphan: an upload sent again where its lost answer should
    # have been found.
    stored = _stored_uploads(emulator)
    stored_ids = {file_id for ids in stored.values() for file_id in ids}
    orphans = stored_ids - in_database
    versions = FILES + sum(len(c["edited"]) + len(c["added"]) for c in changes)
    step = max(1, FILES // 20)
    expected_counts = {"added": step, "changed": step, "removed": step, "unchanged": FILES - 2 * step}
    moved = [{k: run["result"][k] for k in expected_counts} for run in rounds[1:]]
    both = _fault_figures([entry for run in rounds for entry in run.pop("_journal")])
    databases = collections.Counter(d["name"] for d in emulator.api("vectordb")["data"])
    others = {name: databases[name] for name in OTHER_DATABASES}

    figures["vector_sync_soak"] = {
        "files": FILES,
        "changes": [{k: len(v) for k, v in c.items()} for c in changes],
        "rounds": dict(zip(ROUNDS, rounds, strict=True)),
        "moved_by_changed_syncs": moved,
        "other_databases": others,
        "ingestion_jobs": rounds[-1]["ingestion_jobs_total"],
        "uploads_stored": len(stored_ids),
        "uploads_expected": versions,
        "orphans": len(orphans),
        "orphan_names": sorted(n for n, ids in stored.items() if set(ids) & orphans),
        "duplicates": sum(run["duplicates"] for run in rounds),
        "lost": sum(run["lost"] for run in rounds),
        "requests": both["requests"],
        "faulted": both["faulted"],
        "fault_share": both["fault_share"],
        "faults_by_kind": both["faults_by_kind"],
        "faults_on_once_routes": both["faults_on_once_routes"],
        "sync_wall_s": [run["wall_s"] for run in rounds],
        # A retried sync must still report what its run moved (an earlier try's ingestion included).
        "retried_syncs": [
            name for name, run in zip(ROUNDS, rounds, strict=True) if run["task_retries"].get("sync")
        ],
        "test_wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures["vector_sync_soak"], indent=2))

    for name, run in zip(ROUNDS, rounds, strict=True):
        assert not run["problems"], f"{name} sync: {run['problems']}"
        assert run["duplicates"] == run["lost"] == run["extra"] == 0, f"{name} sync: {run}"
    assert first["result"]["added"] == FILES and first["result"]["removed"] == 0, first["result"]
    for name, run, made in zip(ROUNDS[1:], rounds[1:], moved, strict=True):
        assert made == expected_counts, f"the {name} sync moved {made}, the changes were {expected_counts}"
        assert run["result"]["file_ids"] == 2 * step, run["result"]
    ingestions = [run["ingestion_jobs_total"] for run in rounds]
    assert ingestions == [1, 2, 3], f"ingestion jobs after each sync: {ingestions} (one per sync)"
    assert all(c["state"] == "success" for c in first["other_creates"].values()), first["other_creates"]
    assert others == dict.fromkeys(OTHER_DATABASES, 1), f"databases of the other creates: {others}"
    assert not orphans, (
        f"uploads stored twice for one document: {figures['vector_sync_soak']['orphan_names']}"
    )
    assert len(stored_ids) == versions, (len(stored_ids), versions)
    for route in ONCE_ROUTES:
        for kind in CERTAIN_KINDS:
            assert both["faults_on_once_routes"][route].get(kind, 0) > 0, f"no {kind} fault on {route}"
    for kind in (*SHARED_KINDS, "drop_after"):
        assert both["faults_by_kind"].get(kind, 0) > 0, f"no {kind} fault was injected"
    assert both["fault_share"] >= FAULT_RATE * 0.8, both["fault_share"]
