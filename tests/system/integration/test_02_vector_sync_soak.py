"""Fault soak of the vector database sync: a 1,000-file folder synced, changed, and synced again, against a faulty service.

``it_vector_sync_soak`` (tests/system/integration/dags/seekrflow_vector_sync_dags.py) finds the
database by name (creating it once) and syncs a folder of ``IT_VECTOR_SYNC_FILES`` (1,000) small
markdown documents written under the deployment's work directory. Then a twentieth of the documents
are edited, as many added and as many removed, and the DAG runs again on the same database name.

Both runs meet the pipeline soak's fault mix (tests/system/integration/pipeline_checks.py): the
once-only requests of a sync (``upload_file``, ``create_vector_database``,
``create_vector_database_ingestion``) are each certain to get a 500, a 429, two answers dropped
after the service acted, and a 502 and a 504 after it acted; then 10 % of their answers are lost
after acting; and every route gets 429, 500, 502, 503, 1 s and 2 s delays and connections dropped
before processing at ``IT_SOAK_FAULT_RATE`` (0.2). The ingestion's wait is deferred; every task has
retries.

Judged from the emulator's stored state, its journal, the Airflow Variable and the XComs, after each
run: exactly one database of the name; the database lists exactly the folder's current documents,
each once (0 duplicates by filename, 0 lost), all ``completed``; the sync's record (the Variable)
names exactly the database's files, with nothing pending; each sync started one ingestion; the
second sync's counts are exactly the changes made; and the file store holds one upload per document
version, no orphan (an upload not in the database that reconciliation should have reused).
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

from airflow_provider_seekrflow.operators.vector_database_sync import RECORD_KEY_TEMPLATE
from tests.system.integration.pipeline_checks import (
    CERTAIN_KINDS,
    SHARED_KINDS,
    fault_rules,
    run_under_faults,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

FILES = int(os.environ.get("IT_VECTOR_SYNC_FILES", "1000"))
FAULT_RATE = float(os.environ.get("IT_SOAK_FAULT_RATE", "0.2"))
DAG = "it_vector_sync_soak"
DATABASE = "Northwind handbook [vector sync soak]"
PREFIX = "vsync-"
# A sync's requests that must not happen twice: a lost answer must be reconciled, never resent.
ONCE_ROUTES = ("upload_file", "create_vector_database", "create_vector_database_ingestion")
# Seconds each file takes to ingest: 1,000 files in 1 s, so the run's time is the sync's own.
INGESTION_SECONDS = 0.001


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


def _change_folder(folder: Path, count: int) -> dict[str, list[str]]:
    """Edit, add and remove a twentieth of the documents each; return the names of each change."""
    step = max(1, count // 20)
    names = sorted(p.name for p in folder.iterdir())
    # Edited and removed documents are spread over the folder (every other block of ``step``).
    edited = names[0 : 2 * step : 2]
    removed = names[1 : 2 * step : 2]
    added = [f"{PREFIX}{index:04d}.md" for index in range(count, count + step)]
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
        "result": api.xcom(DAG, run_id, "sync"),
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


def _retries(api: Any, run_id: str) -> dict[str, int]:
    return {
        task_id: ti["try_number"] - 1
        for task_id, ti in api.task_instances(DAG, run_id).items()
        if ti["try_number"] > 1
    }


def _sync_under_faults(deployment: Any, emulator: Any, run_id: str, folder: Path) -> dict[str, Any]:
    """Run the DAG once on the folder under the fault mix; return the run's figures (judged after)."""
    runs, wall, journal = run_under_faults(
        deployment,
        emulator,
        DAG,
        [run_id],
        fault_rules(FAULT_RATE, ONCE_ROUTES),
        f"vector sync {run_id}",
        conf=lambda tag: {"database": DATABASE, "docs_dir": str(folder)},
    )
    return {
        "state": runs[run_id]["state"],
        "wall_s": round(wall, 1),
        "task_retries": _retries(deployment.api, run_id),
        **_fault_figures(journal),
        "_journal": journal,
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
    emulator.reset(vector_ingestion_seconds=INGESTION_SECONDS)
    folder = deployment.work / "vector-sync" / "handbook"
    _write_folder(folder, FILES)

    first = _sync_under_faults(deployment, emulator, "vsync-first", folder)
    assert first["state"] == "success", first["task_retries"]
    first.update(_sync_figures(deployment, emulator, "vsync-first", folder))
    stored_after_first = _stored_uploads(emulator)
    in_database_first = set(first.pop("file_ids"))

    changes = _change_folder(folder, FILES)
    second = _sync_under_faults(deployment, emulator, "vsync-second", folder)
    assert second["state"] == "success", second["task_retries"]
    second.update(_sync_figures(deployment, emulator, "vsync-second", folder))
    in_database_second = set(second.pop("file_ids"))

    # Every upload in the file store must be a document version that was in the database after one
    # of the syncs: the first's files, or the second's new ones. Anything else is an orphan, an upload
    # sent again where its lost answer should have been reconciled.
    stored = _stored_uploads(emulator)
    stored_ids = {file_id for ids in stored.values() for file_id in ids}
    orphans_first = {i for ids in stored_after_first.values() for i in ids} - in_database_first
    orphans = stored_ids - in_database_first - in_database_second
    versions = FILES + len(changes["edited"]) + len(changes["added"])
    step = len(changes["added"])
    expected_counts = {
        "added": step,
        "changed": step,
        "removed": step,
        "unchanged": FILES - 2 * step,
    }
    moved = {k: second["result"][k] for k in expected_counts}
    journals = first.pop("_journal") + second.pop("_journal")
    both = _fault_figures(journals)

    figures["vector_sync_soak"] = {
        "files": FILES,
        "changes": {k: len(v) for k, v in changes.items()},
        "first": first,
        "second": second,
        "second_moved": moved,
        "ingestion_jobs": second["ingestion_jobs_total"],
        "uploads_stored": len(stored_ids),
        "uploads_expected": versions,
        "orphans_after_first": len(orphans_first),
        "orphans": len(orphans),
        "orphan_names": sorted(n for n, ids in stored.items() if set(ids) & orphans),
        "duplicates": first["duplicates"] + second["duplicates"],
        "lost": first["lost"] + second["lost"],
        "faults_on_once_routes": both["faults_on_once_routes"],
        "faults_by_kind": both["faults_by_kind"],
        "fault_share": both["fault_share"],
        "test_wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures["vector_sync_soak"], indent=2))

    for name, run in (("first", first), ("second", second)):
        assert not run["problems"], f"{name} sync: {run['problems']}"
        assert run["duplicates"] == run["lost"] == run["extra"] == 0, f"{name} sync: {run}"
    assert first["result"]["added"] == FILES and first["result"]["removed"] == 0, first["result"]
    assert first["ingestion_jobs_total"] == 1, "the first sync started more than one ingestion"
    assert moved == expected_counts, f"the second sync moved {moved}, the changes were {expected_counts}"
    assert len(second["result"]["file_ids"]) == 2 * step, second["result"]
    assert second["ingestion_jobs_total"] == 2, "the second sync started more than one ingestion"
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
