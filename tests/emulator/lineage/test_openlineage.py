"""
OpenLineage events of every operator, as Airflow's OpenLineage listener emits them.

A pipeline (upload from local files and an S3 object, generate, data job, fine-tune on the data
job's training file) runs through ``dag.test()`` against the emulator, once on the worker and once
deferred (the deferred tasks finish in ``execute_complete`` on the instance that resumed). The
OpenLineage provider is enabled with its ``file`` transport, so each COMPLETE (or FAIL) event lands
in a file this test reads. The DAG runs in a fresh interpreter (``run_lineage_dags.py``): OpenLineage reads
its settings, and Airflow loads its listener, once per process, and the rest of the suite runs
with OpenLineage off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from tests.emulator.operators.seekrflow_dag_support import document
from tests.emulator.sources.moto_s3 import (
    AMBIENT_AWS_VARIABLES,
    MotoS3,
    aws_connection,
    isolated_aws_environment,
)

pytest.importorskip(
    "airflow.providers.openlineage", reason="the test extra installs the OpenLineage provider"
)

REPO = Path(__file__).resolve().parents[3]
BUCKET = "lineage-sources"
S3_KEY = "docs/warranty.md"
OPERATORS = [
    "airflow_provider_seekrflow.operators.files",
    "airflow_provider_seekrflow.operators.alignment",
    "airflow_provider_seekrflow.operators.data_job",
    "airflow_provider_seekrflow.operators.fine_tune",
    "airflow_provider_seekrflow.lineage",
]


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """moto's S3 server with one bucket holding one document: the upload's object-storage source."""
    server = MotoS3().start()
    try:
        server.create_bucket(BUCKET)
        server.put(BUCKET, S3_KEY, b"# Warranty\n\nEvery product has a two-year warranty.\n")
        yield server
    finally:
        server.stop()


def run_pipeline(tmp_path: Path, moto: MotoS3, *, deferrable: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the pipeline with OpenLineage on; return its outcome (states, XComs) and the events emitted."""
    events_file = tmp_path / "openlineage-events.jsonl"
    outcome_file = tmp_path / "outcome.json"
    dag_id = f"lineage_{'deferred' if deferrable else 'sync'}_{uuid.uuid4().hex[:8]}"
    spec = {
        "dag_id": dag_id,
        "sources": [str(tmp_path / "docs" / "*.md"), f"s3://aws_lineage@{BUCKET}/{S3_KEY}"],
        "deferrable": deferrable,
        "with_failure": not deferrable,
        "project_name": f"lineage project {uuid.uuid4().hex[:8]}",
        "outcome_file": str(outcome_file),
    }
    env = {key: value for key, value in os.environ.items() if key not in AMBIENT_AWS_VARIABLES}
    env.update(isolated_aws_environment(tmp_path))
    env.update(
        {
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(events_file), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "seekrflow_lineage_tests",
            "AIRFLOW_CONN_AWS_LINEAGE": aws_connection(moto.endpoint_url),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.emulator.lineage.run_lineage_dags", json.dumps(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0 and outcome_file.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    outcome = json.loads(outcome_file.read_text())
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    # Each task's last event: COMPLETE, or FAIL for a task that failed.
    ended = {
        event["job"]["name"].removeprefix(f"{dag_id}."): event
        for event in events
        if event["eventType"] in ("COMPLETE", "FAIL") and event["job"]["name"] != dag_id
    }
    return outcome, ended


def names(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(dataset["namespace"], dataset["name"]) for dataset in datasets]


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_every_operator_reports_its_inputs_and_outputs(emu, moto, tmp_path, deferrable):
    emu.configure(fine_tune_duration=1.5)
    docs = [document(tmp_path / "docs", name) for name in ("returns.md", "shipping.md")]
    outcome, completed = run_pipeline(tmp_path, moto, deferrable=deferrable)
    expected = dict.fromkeys(("upload", "generate", "data_job", "fine_tune"), "success")
    assert outcome["states"] == (expected if deferrable else {**expected, "fine_tune_refused": "failed"})
    refused = completed.pop("fine_tune_refused", None)
    xcoms = outcome["xcoms"]
    base = urlsplit(emu.base_url)
    namespace = f"seekrflow://{base.hostname}:{base.port}"  # the emulator listens on 127.0.0.1:<port>

    def files(ids: list[str]) -> list[tuple[str, str]]:
        return [(namespace, f"files/{file_id}") for file_id in ids]

    assert set(completed) == {"upload", "generate", "data_job", "fine_tune"}

    # upload: each local file (glob order) and the S3 object, then the file each was stored as
    upload = completed["upload"]
    assert names(upload["inputs"]) == [
        ("file", str(docs[0])),
        ("file", str(docs[1])),
        (f"s3://{BUCKET}", S3_KEY),  # the connection named in the URI is not part of it
    ]
    assert len(xcoms["upload"]) == 3
    assert names(upload["outputs"]) == files(xcoms["upload"])

    # data job: the uploaded files in; its output files out, the training file among them
    data_job = completed["data_job"]
    assert names(data_job["inputs"]) == files(xcoms["upload"])
    produced = [output["id"] for output in xcoms["data_job"]["output_files"]]
    assert names(data_job["outputs"]) == files(produced)
    assert xcoms["fine_tune_file_id"] in produced

    # generate (do_xcom_push=False: nothing in XCom): read its outputs back from the service
    generate = completed["generate"]
    assert xcoms["generate"] is None
    assert names(generate["inputs"]) == files(xcoms["upload"])
    generated = [name.removeprefix("files/") for _, name in names(generate["outputs"])]
    assert generated and not set(generated) & set(produced)
    hook = SeekrFlowHook()
    purposes = sorted(hook.get_file(file_id).purpose for file_id in generated)
    assert purposes == ["alignment", "fine-tune"]  # the summary and the training file

    # fine-tune: the data job's training file in, the model out
    fine_tune = completed["fine_tune"]
    assert names(fine_tune["inputs"]) == files([xcoms["fine_tune_file_id"]])
    assert xcoms["fine_tune"]["model_id"]
    assert names(fine_tune["outputs"]) == [(namespace, f"models/{xcoms['fine_tune']['model_id']}")]
    # and what it used, in the event's run facets as in its result (a lineage backend sums these)
    usage = {k: v for k, v in fine_tune["run"]["facets"]["seekrflow_usage"].items() if not k.startswith("_")}
    assert usage == {"kind": "fine_tune", **xcoms["fine_tune"]["usage"]}
    assert "seekrflow_usage" not in completed["data_job"]["run"]["facets"]  # a data job reports no usage

    # a task that failed reports what it had: the refused fine-tune, its inputs and no model
    if not deferrable:
        assert refused is not None and refused["eventType"] == "FAIL"
        assert names(refused["inputs"]) == files(xcoms["upload"])
        assert refused["outputs"] == []


def test_importing_the_operators_does_not_import_openlineage():
    # A fresh interpreter with OpenLineage configured, parsing a DAG of every operator. Airflow 3
    # itself reads every provider's metadata (get_provider_info) at start-up: that is the baseline.
    code = (
        "import sys\n"
        "from airflow.providers.common.compat.sdk import DAG, BaseOperator\n"
        "def loaded():\n"
        "    return {m for m in sys.modules if m.startswith(('airflow.providers.openlineage', 'openlineage'))}\n"
        "baseline = loaded()\n"
        + "".join(f"import {module}\n" for module in OPERATORS)
        + "from tests.emulator.lineage.run_lineage_dags import build\n"
        "build({'dag_id': 'parse_only', 'sources': '/tmp/none/*.md', 'deferrable': True, "
        "'project_name': 'parse only'})\n"
        "print(sorted(loaded() - baseline))\n"
        "metadata = {'airflow.providers.openlineage', 'airflow.providers.openlineage.get_provider_info'}\n"
        "print(sorted(baseline - metadata))\n"
    )
    env = {**os.environ, "AIRFLOW__OPENLINEAGE__TRANSPORT": '{"type": "console"}'}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    added, deep_baseline = done.stdout.strip().splitlines()[-2:]
    assert added == "[]"
    # Nor does Airflow load the provider's code (listener, extractors, the client), only its metadata.
    assert deep_baseline == "[]"
