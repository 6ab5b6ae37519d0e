"""The vector database sync, run by Airflow (``dag.test()``) against the emulator over HTTP.

A first sync, a re-sync with nothing changed (no upload), one changed + one added + one removed
(exactly those moved), lost answers on every once-only request (nothing twice), an ingestion failure
naming the file, a kill while ingesting (the next run cleans up), a dry run, the asset event's counts,
and files another party added left alone. S3 through moto is in ``tests/emulator/sources``.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.assets import vector_database_asset
from airflow_provider_seekrflow.client import vector_databases
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.ingestion import SeekrFlowIngestionFailedError
from airflow_provider_seekrflow.operators.vector_database_sync import SeekrFlowVectorDatabaseSyncOperator
from airflow_provider_seekrflow.operators.vector_sync_record import RECORD_KEY_TEMPLATE
from tests.emulator.operators import seekrflow_dag_support as dags

MODEL = "BAAI/bge-large-en-v1.5"
MODES = [pytest.param(False, id="worker"), pytest.param(True, id="deferred")]


@pytest.fixture
def fast_ingestion(emu):
    emu.configure(vector_ingestion_seconds=0.1)


def _database() -> str:
    body = vector_databases.create_request(name=f"sync {uuid.uuid4().hex[:10]}", model=MODEL)
    return str(SeekrFlowHook().call(vector_databases.create(body)).id)


def _files(database_id: str) -> dict[str, vector_databases.VectorDatabaseFile]:
    return {str(f.id): f for f in SeekrFlowHook().call(vector_databases.list_files(database_id)).data or []}


def _folder(tmp_path: Path, **documents: str) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for name, text in documents.items():
        (folder / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (folder / name.replace("__", "/")).write_text(text)
    return folder


def _sync_dag(request, database_id: str, source, suffix: str = "", **kwargs) -> DAG:
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowVectorDatabaseSyncOperator(
            task_id="sync", vector_database_id=database_id, source=source, **{**dags.FAST_POLL, **kwargs}
        )
    return dag


def _sync(request, database_id: str, source, suffix: str = "", **kwargs):
    dr = dags.run_dag(_sync_dag(request, database_id, source, suffix, **kwargs))
    return dr, dags.xcom(dr, "sync")


def _record(database_id: str) -> dict:
    """The sync's record of the database, read from the metadata database as the UI shows it."""
    from airflow.models.variable import Variable

    return json.loads(Variable.get(RECORD_KEY_TEMPLATE.format(vector_database_id=database_id)))


def _counts(result: dict) -> tuple[int, int, int, int]:
    return result["added"], result["changed"], result["removed"], result["unchanged"]


@pytest.mark.parametrize("deferrable", MODES)
def test_a_first_sync_then_a_resync_with_nothing_changed_sends_no_upload(
    emu, request, tmp_path, fast_ingestion, deferrable
):
    folder = _folder(
        tmp_path,
        **{"returns.md": "# Returns\n30 days.", "shipping.md": "# Shipping", "faq__warranty.md": "2 years"},
    )
    database_id = _database()
    dr, first = _sync(request, database_id, str(folder), "first", deferrable=deferrable)

    assert dags.states(dr) == {"sync": "success"}
    assert _counts(first) == (3, 0, 0, 0)
    files = _files(database_id)
    assert sorted(files) == sorted(first["file_ids"])
    assert {f.status for f in files.values()} == {"completed"}
    assert sorted(f.filename for f in files.values()) == ["returns.md", "shipping.md", "warranty.md"]
    assert set(_record(database_id)["documents"]) == {str(p) for p in folder.rglob("*.md")}
    emu.clear_journal()

    dr, again = _sync(request, database_id, str(folder), "again", deferrable=deferrable)
    assert dags.states(dr) == {"sync": "success"}
    assert _counts(again) == (0, 0, 0, 3)
    assert again["file_ids"] == [] and again["ingestion_job_id"] is None
    assert dags.count(emu, "upload_file") == 0
    assert dags.count(emu, "create_vector_database_ingestion") == 0
    assert dags.count(emu, "delete_vector_database_file") == 0


def test_one_changed_one_added_one_removed_moves_exactly_those(
    emu, request, tmp_path, fast_ingestion, task_logs
):
    folder = _folder(tmp_path, **{"keep.md": "same", "edit.md": "old text", "gone.md": "bye"})
    database_id = _database()
    _, first = _sync(request, database_id, str(folder), "first")
    old = dict(zip(["edit.md", "gone.md", "keep.md"], first["file_ids"], strict=True))
    (folder / "edit.md").write_text("new text, same folder")
    (folder / "gone.md").unlink()
    (folder / "new.md").write_text("a new document")
    emu.clear_journal()

    dr, second = _sync(request, database_id, str(folder), "second")

    assert dags.states(dr) == {"sync": "success"}
    assert _counts(second) == (1, 1, 1, 1)
    assert dags.count(emu, "upload_file") == 2
    assert dags.count(emu, "create_vector_database_ingestion") == 1
    deleted = sorted(e["path"].rsplit("/", 1)[-1] for e in emu.journal(route="delete_vector_database_file"))
    assert deleted == sorted([old["edit.md"], old["gone.md"]])
    files = _files(database_id)
    assert sorted(f.filename for f in files.values()) == ["edit.md", "keep.md", "new.md"]
    assert old["keep.md"] in files and old["edit.md"] not in files
    assert "1 added, 1 changed, 1 removed, 1 unchanged" in task_logs.text()


def test_a_dry_run_logs_the_plan_and_changes_nothing(emu, request, tmp_path, fast_ingestion, task_logs):
    folder = _folder(tmp_path, **{"a.md": "a", "b.md": "b"})
    database_id = _database()
    _sync(request, database_id, str(folder), "first")
    (folder / "a.md").write_text("changed")
    (folder / "b.md").unlink()
    emu.clear_journal()

    dr, result = _sync(request, database_id, str(folder), "dry", plan_only=True)

    assert dags.states(dr) == {"sync": "success"}
    assert result["plan_only"] is True and _counts(result) == (0, 1, 1, 0)
    assert [e["route"] for e in emu.journal() if e["method"] != "GET"] == []
    assert f"Dry run: would upload and ingest {folder / 'a.md'} (changed)" in task_logs.text()
    assert f"Dry run: would remove {folder / 'b.md'}" in task_logs.text()


@pytest.mark.parametrize("route", ["upload_file", "create_vector_database_ingestion"])
@pytest.mark.parametrize("fault", ["drop_after", "502_after"])
def test_lost_answers_store_and_ingest_each_document_once(
    emu, request, tmp_path, fast_ingestion, route, fault
):
    folder = _folder(tmp_path, **{f"doc{i}.md": f"document {i}" for i in range(4)})
    database_id = _database()
    emu.set_faults([{"route": route, "kind": fault, "count": 2}])

    dr, result = _sync(request, database_id, str(folder))

    assert dags.states(dr) == {"sync": "success"}
    assert [e["fault"] for e in emu.journal(route=route)][:1] == [fault]
    files = _files(database_id)
    assert sorted(f.filename for f in files.values()) == [f"doc{i}.md" for i in range(4)]
    assert dags.count(emu, "create_vector_database_ingestion") <= 2  # a lost start is looked up, not resent
    ingestions = SeekrFlowHook().call(vector_databases.list_ingestions(database_id)).data
    assert len(ingestions) == 1 and sorted(ingestions[0].file_ids) == sorted(result["file_ids"])


def test_an_ingestion_failure_names_the_file_and_the_next_sync_sends_it_again(
    emu, request, tmp_path, fast_ingestion
):
    folder = _folder(tmp_path, **{"fine.md": "ok", "broken.md": "unreadable"})
    database_id = _database()
    emu.configure(vector_ingestion_fail=["broken.md"])
    recorder = dags.FailureRecorder()
    dr, _ = _sync(request, database_id, str(folder), "first", on_failure_callback=recorder)

    assert dags.states(dr) == {"sync": "failed"}
    assert type(recorder.last) is SeekrFlowIngestionFailedError
    assert "broken.md" in str(recorder.last) and "fine.md (" not in str(recorder.last)

    emu.configure(vector_ingestion_fail=[])
    dr, second = _sync(request, database_id, str(folder), "second")
    assert dags.states(dr) == {"sync": "success"}
    assert _counts(second) == (2, 0, 0, 0)
    files = _files(database_id)
    assert sorted(f.filename for f in files.values()) == ["broken.md", "fine.md"]
    assert {f.status for f in files.values()} == {"completed"}


def test_a_kill_while_ingesting_removes_its_files_and_the_next_run_syncs_whole(
    emu, request, tmp_path, task_logs
):
    folder = _folder(tmp_path, **{"a.md": "a", "b.md": "b"})
    database_id = _database()
    emu.configure(vector_ingestion_seconds=60)
    dr, started = _sync(request, database_id, str(folder), "started", wait_for_completion=False)
    assert dags.states(dr) == {"sync": "success"}
    operator = SeekrFlowVectorDatabaseSyncOperator(
        task_id="sync", vector_database_id=database_id, source=str(folder)
    )
    operator.job_id = started["ingestion_job_id"]
    operator.on_kill()
    assert _files(database_id) == {}

    emu.configure(vector_ingestion_seconds=0.1)
    dr, again = _sync(request, database_id, str(folder), "again")
    assert dags.states(dr) == {"sync": "success"}
    assert _counts(again) == (2, 0, 0, 0)
    assert sorted(f.filename for f in _files(database_id).values()) == ["a.md", "b.md"]
    assert "of an earlier try ended" in task_logs.text()


def test_a_sync_left_ingesting_is_recorded_by_the_next_run(emu, request, tmp_path):
    folder = _folder(tmp_path, **{"a.md": "a"})
    database_id = _database()
    emu.configure(vector_ingestion_seconds=0.1)
    _, started = _sync(request, database_id, str(folder), "started", wait_for_completion=False)
    emu.clear_journal()

    dr, again = _sync(request, database_id, str(folder), "again")

    assert dags.states(dr) == {"sync": "success"}
    assert _counts(again) == (0, 0, 0, 1)
    assert dags.count(emu, "upload_file") == 0
    assert next(iter(_record(database_id)["documents"].values()))["file_id"] == started["file_ids"][0]


def test_files_another_party_added_are_left_alone(emu, request, tmp_path, fast_ingestion):
    folder = _folder(tmp_path, **{"a.md": "a"})
    database_id = _database()
    theirs = SeekrFlowHook().upload_file(dags.document(tmp_path / "theirs", "theirs.md"), "alignment").id
    SeekrFlowHook().call(
        vector_databases.start_ingestion(database_id, vector_databases.ingestion_request(file_ids=[theirs]))
    )
    _sync(request, database_id, str(folder), "first")
    (folder / "a.md").unlink()
    (folder / "b.md").write_text("b")

    _, result = _sync(request, database_id, str(folder), "second")

    assert _counts(result) == (1, 0, 1, 0)
    assert theirs in _files(database_id)


def test_the_asset_event_carries_the_database_and_the_counts(emu, request, tmp_path, fast_ingestion):
    folder = _folder(tmp_path, **{"a.md": "a", "b.md": "b"})
    database_id = _database()
    asset = vector_database_asset("support-docs")
    dr = dags.run_announcing(_sync_dag(request, database_id, str(folder), outlets=[asset]))
    assert dags.states(dr) == {"sync": "success"}
    ((uri, extra),) = dags.asset_events(dr)
    assert uri == asset.uri
    assert extra == {
        "vector_database_id": database_id,
        "added": 2,
        "changed": 0,
        "removed": 0,
        "unchanged": 0,
    }


def test_a_bad_document_fails_before_anything_is_sent_or_removed(emu, request, tmp_path, fast_ingestion):
    folder = _folder(tmp_path, **{"a.md": "a"})
    database_id = _database()
    _sync(request, database_id, str(folder), "first")
    (folder / "a.md").unlink()
    (folder / "tool.exe").write_bytes(b"MZ")
    emu.clear_journal()
    recorder = dags.FailureRecorder()

    dr, _ = _sync(request, database_id, str(folder), "second", on_failure_callback=recorder)

    assert dags.states(dr) == {"sync": "failed"}
    assert "tool.exe" in str(recorder.last)
    assert [e["route"] for e in emu.journal() if e["method"] != "GET"] == []


class _DiesOnceAfterStartingIngestion(SeekrFlowVectorDatabaseSyncOperator):
    """The first try dies once its ingestion is started and done, as Airflow kills a resumed deferral."""

    def poll_until_complete(self, job_id, context):
        if context["ti"].try_number == 1:
            time.sleep(0.5)  # the ingestion completes meanwhile: the retry only records it
            raise RuntimeError(f"simulated kill while waiting for {job_id}")
        return super().poll_until_complete(job_id, context)


def test_a_retry_that_only_records_its_earlier_tries_ingestion_reports_that_tries_counts(
    emu, request, tmp_path
):
    folder = _folder(tmp_path, **{"a.md": "a", "b.md": "b"})
    database_id = _database()
    emu.configure(vector_ingestion_seconds=0.01)
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        _DiesOnceAfterStartingIngestion(
            task_id="sync",
            vector_database_id=database_id,
            source=str(folder),
            retries=1,
            retry_delay=timedelta(seconds=0),
            **dags.FAST_POLL,
        )
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"sync": "success"}
    result = dags.xcom(dr, "sync")
    assert _counts(result) == (2, 0, 0, 0)
    assert sorted(result["file_ids"]) == sorted(_files(database_id))
    assert result["ingestion_job_id"].startswith(f"{database_id}/")
    assert dags.count(emu, "upload_file") == 2 and dags.count(emu, "create_vector_database_ingestion") == 1


class _DiesOnceAfterRecording(SeekrFlowVectorDatabaseSyncOperator):
    """The first try records its completed ingestion, then dies before its end (killed by Airflow)."""

    def _done(self, database_id, counts, file_ids, job_id, context):
        if context["ti"].try_number == 1 and job_id:
            raise RuntimeError(f"simulated kill after recording {job_id}")
        return super()._done(database_id, counts, file_ids, job_id, context)


def test_a_retry_after_its_earlier_try_recorded_the_sync_reports_that_sync(emu, request, tmp_path):
    folder = _folder(tmp_path, **{"a.md": "a", "b.md": "b"})
    database_id = _database()
    emu.configure(vector_ingestion_seconds=0.01)
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        _DiesOnceAfterRecording(
            task_id="sync",
            vector_database_id=database_id,
            source=str(folder),
            retries=1,
            retry_delay=timedelta(seconds=0),
            **dags.FAST_POLL,
        )
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"sync": "success"}
    result = dags.xcom(dr, "sync")
    assert _counts(result) == (2, 0, 0, 0)
    assert sorted(result["file_ids"]) == sorted(_files(database_id))
    assert dags.count(emu, "upload_file") == 2
