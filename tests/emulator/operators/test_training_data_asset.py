"""Training data announced as an asset event (a Dataset event on Airflow 2), through ``dag.test()`` and the emulator.

The event is read back from Airflow's metadata database, where the scheduler reads it to start the
DAGs scheduled on the asset: its ``extra`` must name the training file the task also pushed to XCom.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY, TRAINING_FILE_ID, training_data_asset
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.sensors.data_job import SeekrFlowDataJobSensor
from tests.emulator.operators import seekrflow_dag_support as dags

EXAMPLE_DAGS = Path(__file__).resolve().parents[3] / "example_dags"
SYSTEM_PROMPT = "You answer questions about the store's returns policy, briefly."
MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]


@pytest.fixture
def document_id(emu, tmp_path) -> str:
    """One Markdown document on the (emulated) service, ingested at once."""
    emu.configure(job_duration=1.0, ingestion_seconds=0.5)
    return SeekrFlowHook().upload_file(dags.document(tmp_path, "returns.md"), "alignment").id


@pytest.mark.parametrize("deferrable", MODES)
def test_data_job_announces_its_training_file_on_every_asset_outlet(
    emu, request, document_id, task_logs, deferrable
):
    first, second = training_data_asset("support-bot"), training_data_asset("faq-bot", host="localhost")
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowDataJobOperator(
            task_id="pairs",
            files=[document_id],
            system_prompt=SYSTEM_PROMPT,
            instructions="Teach the returns policy.",
            deferrable=deferrable,
            outlets=[first, second],
            **dags.FAST_POLL,
        )
    dr = dags.run_announcing(dag)

    assert dags.states(dr) == {"pairs": "success"}
    result = dags.xcom(dr, "pairs")
    training_file_id = dags.xcom(dr, "pairs", key=FINE_TUNE_FILE_XCOM_KEY)
    assert training_file_id
    expected = {
        TRAINING_FILE_ID: training_file_id,
        "job_id": result["job_id"],
        "job_kind": "data_job",
        "output_file_ids": [o["id"] for o in result["output_files"]],
    }
    assert sorted(dags.asset_events(dr)) == sorted([(first.uri, expected), (second.uri, expected)])
    assert f"Training file {training_file_id} announced on {first.uri}, {second.uri}" in task_logs.text()


def test_generate_announces_its_training_file(emu, request, document_id):
    asset = training_data_asset("generate-bot")
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowGenerateAlignmentOperator(
            task_id="generate",
            instructions="Teach it.",
            files=[document_id],
            outlets=[asset],
            **dags.FAST_POLL,
        )
    dr = dags.run_announcing(dag)

    assert dags.states(dr) == {"generate": "success"}
    ((uri, extra),) = dags.asset_events(dr)
    assert uri == asset.uri
    assert extra[TRAINING_FILE_ID] == dags.xcom(dr, "generate", key=FINE_TUNE_FILE_XCOM_KEY)
    assert (extra["job_id"], extra["job_kind"]) == (dags.xcom(dr, "generate")["job_id"], "alignment")


def test_data_job_sensor_announces_the_training_file(emu, request, document_id):
    hook = SeekrFlowHook()
    job = hook.create_data_job(
        f"asset-{uuid.uuid4().hex[:8]}", "principle_files", system_prompt=SYSTEM_PROMPT, instructions="Teach."
    )
    hook.add_data_job_files(job.id, [document_id])
    deadline = time.monotonic() + 30
    while hook.get_data_job(job.id).status == "file_processing" and time.monotonic() < deadline:
        time.sleep(0.2)
    hook.start_data_job(job.id)
    asset = training_data_asset("sensed-bot")
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowDataJobSensor(task_id="wait", job_id=job.id, poke_interval=0.5, outlets=[asset])
    dr = dags.run_announcing(dag)

    assert dags.states(dr) == {"wait": "success"}
    ((uri, extra),) = dags.asset_events(dr)
    assert uri == asset.uri
    assert extra[TRAINING_FILE_ID] == dags.xcom(dr, "wait", key=FINE_TUNE_FILE_XCOM_KEY)


def test_outlets_without_waiting_are_refused_before_any_request(emu, request, document_id):
    emu.clear_journal()
    recorder = dags.FailureRecorder()
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowDataJobOperator(
            task_id="pairs",
            files=[document_id],
            system_prompt=SYSTEM_PROMPT,
            wait_for_completion=False,
            outlets=[training_data_asset("early-bot")],
            on_failure_callback=recorder,
        )
    dr = dags.run_announcing(dag)

    assert dags.states(dr) == {"pairs": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError)
    assert "outlets: task 'pairs' announces seekrflow://flow.seekr.com/training-data/early-bot" in str(
        recorder.last
    )
    assert emu.journal() == []
    assert dags.asset_events(dr) == []


def test_example_training_data_dag_announces_what_the_fine_tune_dag_reads(emu):
    from tests.emulator.examples.test_example_dags import _fresh_dag

    emu.configure(job_duration=1, ingestion_seconds=0.5)
    producer = _fresh_dag("example_seekrflow_training_data")
    pairs = producer.get_task("make_training_pairs")
    pairs.min_poll_interval, pairs.poll_interval = 0.5, 1  # the example's production waits, shortened
    dr = dags.run_announcing(producer)

    assert dags.states(dr) == {"upload_documents": "success", "make_training_pairs": "success"}
    ((uri, extra),) = dags.asset_events(dr)
    consumer = _fresh_dag("example_seekrflow_fine_tune_on_new_data")
    # The fine-tune DAG is scheduled on exactly the asset the data job announces.
    timetable = consumer.timetable
    condition = timetable.asset_condition if dags.AIRFLOW_V3 else timetable.dataset_condition
    scheduled_on = [asset.uri for asset in condition.objects]
    assert scheduled_on == [uri] == [a.uri for a in producer.get_task("make_training_pairs").outlets]
    assert extra[TRAINING_FILE_ID] == dags.xcom(dr, "make_training_pairs", key=FINE_TUNE_FILE_XCOM_KEY)
    assert SeekrFlowHook().get_file(extra[TRAINING_FILE_ID]).purpose == "fine-tune"
