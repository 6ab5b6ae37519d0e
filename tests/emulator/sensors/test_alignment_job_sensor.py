"""SeekrFlowAlignmentJobSensor in poke, reschedule and deferrable modes, run by Airflow against the emulator."""

from __future__ import annotations

from airflow_provider_seekrflow.sensors.alignment import SeekrFlowAlignmentJobSensor
from tests.emulator.operators.job_kinds import SENSOR_MODES, sensor_dag
from tests.emulator.operators.seekrflow_dag_support import (
    run_dag,
    start_job,
    states,
    xcom,
)

MODES = SENSOR_MODES


def test_modes_give_the_same_result_for_a_completed_job(emu, request, tmp_path):
    emu.configure(job_duration=1.5)
    results = {}
    for mode in MODES:
        job_id = start_job(tmp_path)
        dr = run_dag(sensor_dag(request, SeekrFlowAlignmentJobSensor, job_id, mode, suffix=mode))
        assert states(dr) == {"wait": "success"}, mode
        result = xcom(dr, "wait")
        assert result["job_id"] == job_id
        assert result["status"] == "completed"
        results[mode] = [
            (o["purpose"], o["filename"].replace(job_id, "<job>")) for o in result["output_files"]
        ]
    assert results["poke"] == results["reschedule"] == results["deferrable"]
    assert ("fine-tune", "<job>-training-pairs.parquet") in results["poke"]
