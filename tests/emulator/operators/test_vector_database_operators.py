"""What only the vector database operators do, run by Airflow (``dag.test()``) against the emulator.

What every job kind does (submit once, reattach, lost answers, each end, timeout, kill) is in the
contract suites (``job_kinds.VECTOR_INGESTION``); here: a database created once (a lost create answer
too), an ingestion failure naming the file and the service's ``error_message``, a kill while
ingesting that removes only this job's files, inputs refused before any request, and the sensor's
two ids.
"""

from __future__ import annotations

import uuid

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.client import vector_databases
from airflow_provider_seekrflow.client.vector_database_creates import list_vector_databases, start_ingestion
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.ingestion import SeekrFlowIngestionFailedError
from airflow_provider_seekrflow.operators.vector_database import (
    SeekrFlowCreateVectorDatabaseOperator,
    SeekrFlowVectorDatabaseIngestionOperator,
)
from airflow_provider_seekrflow.sensors.vector_database import SeekrFlowVectorDatabaseIngestionSensor
from tests.emulator.operators import seekrflow_dag_support as dags

MODEL = "BAAI/bge-large-en-v1.5"
# The emulator's per-file failure (emulator/vector_databases.py FILE_FAILURE), as the service words it.
FILE_FAILURE = "no text could be extracted from the document"


def _upload(tmp_path, name: str) -> str:
    return SeekrFlowHook().upload_file(dags.document(tmp_path / uuid.uuid4().hex, name), "alignment").id


def _database() -> str:
    body = vector_databases.create_request(name=f"ops {uuid.uuid4().hex[:10]}", model=MODEL)
    return str(SeekrFlowHook().call(vector_databases.create(body)).id)


def _files(database_id: str) -> dict[str, vector_databases.VectorDatabaseFile]:
    return {str(f.id): f for f in SeekrFlowHook().call(vector_databases.list_files(database_id)).data or []}


def _named(name: str) -> list[vector_databases.VectorDatabase]:
    return [db for db in list_vector_databases(SeekrFlowHook().transport) if db.name == name]


def _create_dag(request, name: str, suffix: str = "", **kwargs) -> DAG:
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowCreateVectorDatabaseOperator(task_id="create", name=name, model=MODEL, **kwargs)
    return dag


def test_a_database_is_created_once_and_found_by_name_and_model_after(emu, request):
    name = f"docs {uuid.uuid4().hex[:10]}"
    first = dags.run_dag(_create_dag(request, name, "1", description="Shop policies"))
    second = dags.run_dag(_create_dag(request, name, "2"))

    assert dags.states(first) == dags.states(second) == {"create": "success"}
    database_id = dags.xcom(first, "create")
    assert dags.xcom(second, "create") == database_id
    assert [dags.xcom(dr, "create", key="vector_database_created") for dr in (first, second)] == [True, False]
    assert [db.id for db in _named(name)] == [database_id]
    assert dags.count(emu, "create_vector_database") == 1
    link = dags.xcom(second, "create", key="seekrflow_vector_database_link")
    assert link["id"] == database_id and link["url"].endswith(f"/vector-databases/{database_id}")


def test_the_same_name_with_another_model_is_another_database(emu, request):
    name = f"docs {uuid.uuid4().hex[:10]}"
    other = SeekrFlowHook().call(
        vector_databases.create(
            vector_databases.create_request(name=name, model="intfloat/e5-mistral-7b-instruct")
        )
    )
    dr = dags.run_dag(_create_dag(request, name))
    assert dags.states(dr) == {"create": "success"}
    assert dags.xcom(dr, "create") != other.id
    assert len(_named(name)) == 2


@pytest.mark.parametrize("fault", ["drop_after", "500_after"])
def test_a_lost_create_answer_makes_exactly_one_database(emu, request, fault):
    name = f"docs {uuid.uuid4().hex[:10]}"
    emu.set_faults([{"route": "create_vector_database", "kind": fault, "count": 1}])
    dr = dags.run_dag(_create_dag(request, name))

    assert dags.states(dr) == {"create": "success"}
    assert [db.id for db in _named(name)] == [dags.xcom(dr, "create")]
    assert [entry["fault"] for entry in emu.journal(route="create_vector_database")] == [fault]


def _ingest_dag(request, database_id, file_ids, suffix="", **kwargs) -> DAG:
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowVectorDatabaseIngestionOperator(
            task_id="ingest",
            vector_database_id=database_id,
            file_ids=file_ids,
            **{**dags.FAST_POLL, **kwargs},
        )
    return dag


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_an_ingestion_failure_names_the_file_and_the_services_error_message(
    emu, request, tmp_path, deferrable
):
    good, bad = _upload(tmp_path, "returns.md"), _upload(tmp_path, "scanned-invoice.md")
    database_id = _database()
    emu.configure(vector_ingestion_seconds=0.3, vector_ingestion_fail=["scanned-invoice.md"])
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _ingest_dag(request, database_id, [good, bad], deferrable=deferrable, on_failure_callback=recorder)
    )

    assert dags.states(dr) == {"ingest": "failed"}
    error = recorder.last
    assert type(error) is SeekrFlowIngestionFailedError, repr(error)
    assert error.job_id == dags.xcom(dr, "ingest", key="ingestion_job_id")
    assert f"scanned-invoice.md ({bad}): Could not ingest scanned-invoice.md: {FILE_FAILURE}" in str(error)
    assert "returns.md" not in str(error)
    assert list(error.failed_files) == [bad] and FILE_FAILURE in error.failed_files[bad]
    # The job's own error_message is the status message.
    assert error.status_message and "scanned-invoice.md" in error.status_message
    files = _files(database_id)
    assert (files[good].status, files[bad].status) == ("completed", "failed")


def test_a_kill_while_ingesting_removes_only_this_jobs_files(emu, request, tmp_path, task_logs):
    earlier, mine = _upload(tmp_path, "earlier.md"), _upload(tmp_path, "mine.md")
    database_id = _database()
    emu.configure(vector_ingestion_seconds=0.2)
    # An earlier job, completed: its file must survive this task's kill.
    done = dags.run_dag(_ingest_dag(request, database_id, [earlier], "earlier"))
    assert dags.xcom(done, "ingest")["status"] == "completed"
    emu.configure(vector_ingestion_seconds=60)
    dr = dags.run_dag(_ingest_dag(request, database_id, [mine], wait_for_completion=False))
    ref = dags.xcom(dr, "ingest")["job_id"]
    emu.clear_journal()

    operator = SeekrFlowVectorDatabaseIngestionOperator(
        task_id="ingest", vector_database_id=database_id, file_ids=[mine]
    )
    operator.job_id = ref
    operator.on_kill()

    deletes = emu.journal(route="delete_vector_database_file")
    assert [(entry["path"].rsplit("/", 1)[-1], entry["status"]) for entry in deletes] == [(mine, 204)]
    files = _files(database_id)
    assert mine not in files and files[earlier].status == "completed"
    assert f"its 1 file(s) were removed from vector database {database_id}: {mine}" in task_logs.text()
    # A second kill finds the file gone (404) and fails nothing.
    operator.on_kill()
    assert [entry["status"] for entry in emu.journal(route="delete_vector_database_file")][1:] == [404]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"file_ids": []}, "file_ids"),
        ({"file_ids": ["file-a", "file-a"]}, "file_ids"),
        ({"file_ids": ["../etc"]}, "file_ids[0]"),
        ({"token_count": 0}, "token_count"),
        ({"overlap_tokens": 800}, "overlap_tokens"),
        ({"metadata": {"tags": ["a", "b"]}}, "metadata['tags']"),
        ({"chunking_method": " "}, "chunking_method"),
        ({"vector_database_id": ""}, "vector_database_id"),
    ],
)
def test_bad_inputs_are_refused_by_field_before_any_request(emu, request, changes, field):
    recorder = dags.FailureRecorder()
    inputs = {"vector_database_id": "vdb-1", "file_ids": ["file-a"], **changes}
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowVectorDatabaseIngestionOperator(task_id="ingest", on_failure_callback=recorder, **inputs)
    dr = dags.run_dag(dag)
    assert dags.states(dr) == {"ingest": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError), repr(recorder.last)
    assert field in str(recorder.last)
    assert emu.journal() == []


def test_the_upload_operators_list_reaches_the_ingestion_as_a_rendered_template(emu, request, tmp_path):
    first, second = _upload(tmp_path, "a.md"), _upload(tmp_path, "b.md")
    database_id = _database()
    emu.configure(vector_ingestion_seconds=0.2)
    # A string template renders a list as its text; the operator reads it back as the list.
    dr = dags.run_dag(_ingest_dag(request, database_id, "{{ params.ids }}", params={"ids": [first, second]}))
    assert dags.states(dr) == {"ingest": "success"}
    result = dags.xcom(dr, "ingest")
    assert result["file_ids"] == [first, second] and result["files"] == {"completed": 2, "failed": 0}


def test_the_sensor_takes_a_database_id_and_a_bare_job_id(emu, request, tmp_path):
    file_id = _upload(tmp_path, "policy.md")
    database_id = _database()
    emu.configure(vector_ingestion_seconds=0.2)
    job = start_ingestion(
        SeekrFlowHook().transport, database_id, vector_databases.ingestion_request(file_ids=[file_id])
    )
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowVectorDatabaseIngestionSensor(
            task_id="wait", vector_database_id=database_id, job_id=str(job.id), poke_interval=0.5, timeout=60
        )
    dr = dags.run_dag(dag)
    assert dags.states(dr) == {"wait": "success"}
    assert dags.xcom(dr, "wait")["job_id"] == f"{database_id}/{job.id}"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"job_id": "vdbjob-1"}, "vector_database_id"),
        ({"job_id": "vdb-1/j-1", "vector_database_id": "vdb-2"}, "vector_database_id"),
    ],
    ids=["bare-id-without-database", "another-database"],
)
def test_the_sensor_refuses_ids_that_name_no_job_before_any_request(emu, request, kwargs, field):
    recorder = dags.FailureRecorder()
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowVectorDatabaseIngestionSensor(
            task_id="wait", poke_interval=0.5, timeout=5, on_failure_callback=recorder, **kwargs
        )
    dr = dags.run_dag(dag)
    assert dags.states(dr) == {"wait": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError) and field in str(recorder.last)
    assert emu.journal() == []
