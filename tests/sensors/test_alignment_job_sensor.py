"""SeekrFlowAlignmentJobSensor in poke, reschedule and deferrable modes, run by Airflow against the emulator."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.sensors.alignment import SeekrFlowAlignmentJobSensor
from tests.operators.seekrflow_dag_support import (
    START_DATE,
    dag_id_for,
    run_dag,
    start_job,
    states,
    xcom,
)

MODES = ["poke", "reschedule", "deferrable"]


def _mode_kwargs(mode: str) -> dict:
    if mode == "deferrable":
        return {"deferrable": True, "poll_interval": 0.5}
    return {"mode": mode, "deferrable": False}


def _sensor_dag(request, job_id, mode, suffix="", **kwargs):
    params = {"poke_interval": 0.5, "timeout": 60, **_mode_kwargs(mode), **kwargs}
    with DAG(dag_id_for(request, suffix), schedule=None, start_date=START_DATE) as dag:
        SeekrFlowAlignmentJobSensor(task_id="wait", job_id=job_id, **params)
    return dag


def test_modes_give_the_same_result_for_a_completed_job(emu, request, tmp_path):
    emu.configure(job_duration=1.5)
    results = {}
    for mode in MODES:
        job_id = start_job(tmp_path)
        dr = run_dag(_sensor_dag(request, job_id, mode, suffix=mode))
        assert states(dr) == {"wait": "success"}, mode
        result = xcom(dr, "wait")
        assert result["job_id"] == job_id
        assert result["status"] == "completed"
        results[mode] = [
            (o["purpose"], o["filename"].replace(job_id, "<job>")) for o in result["output_files"]
        ]
    assert results["poke"] == results["reschedule"] == results["deferrable"]
    assert ("fine-tune", "<job>-training-pairs.parquet") in results["poke"]
