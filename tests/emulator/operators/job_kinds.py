"""The job kinds, each described once, for the contract suites of operators, sensors and triggers.

A kind whose statuses are not the jobs' ``completed``/``cancelled``/``failed`` (a deployment's
``Active``/``Inactive``/``Failed``) says which of its statuses plays each part; a kind whose
operator behaves otherwise by design (a deployment operator reuses one of the same name and model,
so a retry never makes a second even without a task state store) says so in a field the suites read.

Imported by ``test_job_kind_contract.py`` and the sensor and trigger contract suites. Each ``Kind``
says how to build its operator and sensor, how to start a job of its own through the hook (set-up,
not under test), how to make the emulator end a job in a given status, and the routes its requests
take. The exceptions come from ``airflow_provider_seekrflow.jobs.kinds.KINDS``, never by name.
Nothing of the provider is mocked: everything talks to the emulator over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.client import data_jobs, deployments, fine_tunes, vector_databases
from airflow_provider_seekrflow.client.vector_database_creates import (
    list_ingestions,
    list_vector_databases,
    start_ingestion,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.base import JobKind
from airflow_provider_seekrflow.jobs.kinds import KINDS
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.deployment import SeekrFlowDeployModelOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
from airflow_provider_seekrflow.operators.vector_database import SeekrFlowVectorDatabaseIngestionOperator
from airflow_provider_seekrflow.sensors.alignment import SeekrFlowAlignmentJobSensor
from airflow_provider_seekrflow.sensors.data_job import SeekrFlowDataJobSensor
from airflow_provider_seekrflow.sensors.deployment import SeekrFlowDeploymentSensor
from airflow_provider_seekrflow.sensors.fine_tune import SeekrFlowFineTuneSensor
from airflow_provider_seekrflow.sensors.vector_database import SeekrFlowVectorDatabaseIngestionSensor
from tests.emulator.operators.seekrflow_dag_support import CHAT_LINE, START_DATE, dag_id_for, document, write

MODEL = "meta-llama/Llama-3.1-8B"
SYSTEM_PROMPT = "You answer questions about the store's returns policy, briefly."
INSTRUCTIONS = "Teach the returns policy."
STARTED = ("pending", "queued", "running")
# A status no kind knows, for the event validation tests.
UNKNOWN_STATUS = "exploded"
# How the emulator ends a job in an unsuccessful status: by configuration before the job is made,
# or by another party's cancel while it runs.
BY_CANCEL = "cancel"


@dataclass(frozen=True)
class Kind:
    """One job kind as the contract suites see it."""

    key: str
    prefix: str
    operator_class: type
    sensor_class: type
    xcom_key: str
    result_keys: frozenset[str]
    submit_route: str
    read_route: str
    cancel_route: str
    list_route: str
    # kwargs for the emulator's configure() that make new jobs take a minute
    slow: dict[str, Any]
    # status -> kwargs for configure(), or BY_CANCEL; only statuses the emulator can produce
    ends: dict[str, Any]
    # Whether the emulator carries a status_message for this kind's unsuccessful ends.
    status_message: bool
    # Whether the operator's and sensor's wait ends only at the job's end (an unknown status is refused).
    refuses_unknown_status: bool
    upload: Callable[[Path], dict[str, Any]] = field(repr=False)
    start: Callable[[dict[str, Any]], str] = field(repr=False)
    status: Callable[[str], str] = field(repr=False)
    cancel: Callable[[str], Any] = field(repr=False)
    job_ids: Callable[[], set[str]] = field(repr=False)
    # The statuses that play the parts of success, failure, cancelled (by the operator or another
    # party) and still going; the jobs' own unless the kind's vocabulary differs.
    success: str = "completed"
    failed: str = "failed"
    cancelled: str = "cancelled"
    started: tuple[str, ...] = STARTED
    # configure() kwargs that make new jobs end in about two seconds (the retry tests).
    quick: dict[str, Any] = field(default_factory=lambda: {"job_duration": 2})
    # Whether the operator reuses a job of the same request instead of submitting another: then a
    # retry makes no second job even without a task state store, or with durable=False.
    reuses_existing: bool = False
    # How many list requests the snapshot before a submission takes (the list route's fault skips them).
    list_requests: Callable[[], int] = field(default=lambda: 1, repr=False)
    # The id of a job the service does not have (its read answers 404); prefix + "0000-does-not-exist" unless given.
    unknown_id: str | None = None
    # What the path of a cancel request of a job holds (the job id, unless the cancel goes elsewhere),
    # and the status a done cancel answers.
    cancel_mark: Callable[[str], str] = field(default=lambda job_id: job_id, repr=False)
    cancel_status: int = 200
    # Whether a cancel ends the job (in ``cancelled``); False where the service has no cancel and
    # the kind's cancel undoes what the job did instead, the job running on.
    cancel_ends_job: bool = True

    @property
    def job_kind(self) -> JobKind:
        """The package's own description of the kind: its errors and its label."""
        return KINDS[self.key]

    def operator(self, inputs: dict[str, Any], **kwargs: Any) -> Any:
        return self.operator_class(task_id="job", **{**inputs, **kwargs})

    def unsuccessful(self) -> list[str]:
        return list(self.ends)

    @property
    def missing_id(self) -> str:
        return self.unknown_id or f"{self.prefix}0000-does-not-exist"


def _hook() -> SeekrFlowHook:
    return SeekrFlowHook()


# ------------------------------------------------------------------------------------ alignment


def _alignment_inputs(tmp_path: Path) -> dict[str, Any]:
    file_id = _hook().upload_file(document(tmp_path, f"src-{uuid.uuid4().hex[:8]}.md"), "alignment").id
    return {"instructions": INSTRUCTIONS, "files": [file_id]}


def _alignment_start(inputs: dict[str, Any]) -> str:
    return _hook().generate_alignment(inputs["instructions"], inputs["files"]).id


# ------------------------------------------------------------------------------------- data job


def _data_job_inputs(tmp_path: Path) -> dict[str, Any]:
    # Markdown is ingested at once, so a data job on it can start right away.
    file_id = _hook().upload_file(document(tmp_path, f"src-{uuid.uuid4().hex[:8]}.md"), "alignment").id
    return {"files": [file_id], "system_prompt": SYSTEM_PROMPT, "instructions": INSTRUCTIONS}


def _data_job_start(inputs: dict[str, Any]) -> str:
    hook = _hook()
    job = hook.create_data_job(
        f"contract-{uuid.uuid4().hex[:8]}",
        "principle_files",
        system_prompt=inputs["system_prompt"],
        instructions=inputs["instructions"],
    )
    hook.add_data_job_files(job.id, inputs["files"])
    hook.start_data_job(job.id)
    return job.id


def _data_job_ids() -> set[str]:
    return {job.id for job in _hook().call(data_jobs.list_jobs()).data}


# ------------------------------------------------------------------------------------ fine-tune


def _fine_tune_inputs(tmp_path: Path) -> dict[str, Any]:
    hook = _hook()
    path = write(tmp_path / f"pairs-{uuid.uuid4().hex[:8]}.jsonl", CHAT_LINE * 3)
    file_id = hook.upload_file(path, "fine-tune").id
    project = hook.ensure_project(f"contract project {uuid.uuid4().hex[:10]}", "Contract tests")
    return {"training_files": [file_id], "model": MODEL, "n_epochs": 3, "project_id": project.id}


def _fine_tune_start(inputs: dict[str, Any]) -> str:
    return (
        _hook()
        .create_fine_tune(
            project_id=inputs["project_id"],
            training_files=inputs["training_files"],
            model=inputs["model"],
            n_epochs=inputs["n_epochs"],
            accel_type="H100",
            n_accel=1,
        )
        .id
    )


def _fine_tune_ids() -> set[str]:
    return {job.id for job in _hook().call(fine_tunes.list_jobs()).data or []}


# ----------------------------------------------------------------------------------- deployment


def _deployment_inputs(tmp_path: Path) -> dict[str, Any]:
    # A base model needs no fine-tune first; the name carries the run, so each DAG run deploys its own
    # (a second run with the same name and model would reuse the first's deployment, by design).
    return {
        "model_id": MODEL,
        "model_type": "Base Model",
        "name": f"contract {uuid.uuid4().hex[:10]} {{{{ run_id }}}}",
    }


def _deployment_start(inputs: dict[str, Any]) -> str:
    body = deployments.create_request(
        name=f"contract start {uuid.uuid4().hex[:10]}",
        model_id=inputs["model_id"],
        model_type=inputs["model_type"],
        description="Started by the contract tests",
    )
    return str(_hook().call(deployments.create(body)).id)


def _deployment_ids() -> set[str]:
    listed, _complete = _hook().run(deployments.list_all())
    return {str(deployment.id) for deployment in listed}


# ------------------------------------------------------------------------- vector ingestion

# Every contract test's document has this name, so the failure switch (by file name) can name it.
INGESTED_DOCUMENT = "contract-ingested.md"
# What the contract suites call an ingestion job whose files a cancel removed: the service has no
# cancel for ingestion, so the job runs on, and the kind's cancel removes its files instead.
FILES_REMOVED = "files-removed"


def _ingestion_inputs(tmp_path: Path) -> dict[str, Any]:
    hook = _hook()
    file_id = hook.upload_file(document(tmp_path / uuid.uuid4().hex, INGESTED_DOCUMENT), "alignment").id
    body = vector_databases.create_request(
        name=f"contract {uuid.uuid4().hex[:10]}", model="BAAI/bge-large-en-v1.5"
    )
    database = hook.call(vector_databases.create(body))
    return {"vector_database_id": database.id, "file_ids": [file_id]}


def _ingestion_start(inputs: dict[str, Any]) -> str:
    body = vector_databases.ingestion_request(file_ids=inputs["file_ids"])
    return start_ingestion(_hook().transport, inputs["vector_database_id"], body).ref


def _ingestion_status(ref: str) -> str:
    """The job's status, or ``FILES_REMOVED`` when none of its files is in its database any more."""
    hook = _hook()
    database_id, job_id = vector_databases.split_ingestion_ref(ref)
    job = hook.call(vector_databases.get_ingestion(database_id, job_id))
    listed = {f.id for f in hook.call(vector_databases.list_files(database_id)).data or []}
    return job.status if listed & set(job.file_ids or []) else FILES_REMOVED


def _ingestion_ids() -> set[str]:
    transport = _hook().transport
    return {
        job.ref
        for database in list_vector_databases(transport)
        for job in list_ingestions(transport, str(database.id))
    }


def _outcomes(*statuses: str) -> dict[str, Any]:
    return {
        status: {"job_outcome": status, "status_message": f"{status}: out of quota"} for status in statuses
    }


ALIGNMENT = Kind(
    key="alignment",
    prefix="al-",
    operator_class=SeekrFlowGenerateAlignmentOperator,
    sensor_class=SeekrFlowAlignmentJobSensor,
    xcom_key="alignment_job_id",
    result_keys=frozenset({"job_id", "status", "output_files"}),
    submit_route="alignment_generate",
    read_route="get_alignment_job",
    cancel_route="cancel_alignment_job",
    list_route="list_alignment_jobs",
    slow={"job_duration": 60},
    ends=_outcomes("failed", "cancelled", "stopped"),
    status_message=True,
    refuses_unknown_status=True,
    upload=_alignment_inputs,
    start=_alignment_start,
    status=lambda job_id: _hook().get_alignment_job(job_id).status,
    cancel=lambda job_id: _hook().cancel_alignment_job(job_id),
    job_ids=lambda: {job.id for job in _hook().list_alignment_jobs()},
)
DATA_JOB = Kind(
    key="data_job",
    prefix="dj-",
    operator_class=SeekrFlowDataJobOperator,
    sensor_class=SeekrFlowDataJobSensor,
    xcom_key="data_job_id",
    result_keys=frozenset({"job_id", "status", "alignment_job_id", "output_files"}),
    submit_route="submit_data_job",
    read_route="get_data_job",
    cancel_route="cancel_data_job",
    list_route="list_data_jobs",
    slow={"job_duration": 60},
    ends=_outcomes("failed", "cancelled", "stopped"),
    status_message=True,
    # Its waits also end at the end of ingestion or at a review: the job itself is read then.
    refuses_unknown_status=False,
    upload=_data_job_inputs,
    start=_data_job_start,
    status=lambda job_id: _hook().get_data_job(job_id).status,
    cancel=lambda job_id: _hook().cancel_data_job(job_id),
    job_ids=_data_job_ids,
)
FINE_TUNE = Kind(
    key="fine_tune",
    prefix="ft-",
    operator_class=SeekrFlowFineTuneOperator,
    sensor_class=SeekrFlowFineTuneSensor,
    xcom_key="fine_tune_id",
    result_keys=frozenset(
        {"job_id", "status", "model_id", "project_id", "model", "inference_available", "usage"}
    ),
    submit_route="create_fine_tune",
    read_route="get_fine_tune",
    cancel_route="cancel_fine_tune_put",
    list_route="list_fine_tunes",
    slow={"fine_tune_duration": 60},
    # ``deleted`` (also unsuccessful) is a status the emulator never gives a fine-tune.
    ends={"failed": {"fine_tune_outcome": "failed"}, "cancelled": BY_CANCEL},
    status_message=False,
    refuses_unknown_status=True,
    upload=_fine_tune_inputs,
    start=_fine_tune_start,
    status=lambda job_id: _hook().get_fine_tune(job_id).status,
    cancel=lambda job_id: _hook().cancel_fine_tune(job_id),
    job_ids=_fine_tune_ids,
)
DEPLOYMENT = Kind(
    key="deployment",
    prefix="dep-",
    operator_class=SeekrFlowDeployModelOperator,
    sensor_class=SeekrFlowDeploymentSensor,
    xcom_key="deployment_id",
    result_keys=frozenset(
        {
            "job_id",
            "status",
            "model_id",
            "model_type",
            "n_instances",
            "total_input_tokens",
            "total_output_tokens",
            "usage",
        }
    ),
    submit_route="create_deployment",
    read_route="get_deployment",
    # A deployment's cancel (a kill or a timeout) is a demote.
    cancel_route="demote_deployment",
    list_route="list_deployments",
    slow={"deployment_duration": 60},
    ends={
        "Failed": {"deployment_outcome": "Failed", "deployment_status_message": "Failed: out of quota"},
        # Demoted by another party while the task waits.
        "Inactive": BY_CANCEL,
    },
    status_message=True,
    refuses_unknown_status=True,
    upload=_deployment_inputs,
    start=_deployment_start,
    status=lambda job_id: _hook().call(deployments.get(job_id)).status,
    cancel=lambda job_id: _hook().run(KINDS["deployment"].cancel(job_id)),
    job_ids=_deployment_ids,
    success="Active",
    failed="Failed",
    cancelled="Inactive",
    started=("Pending",),
    quick={"deployment_duration": 2},
    reuses_existing=True,
    list_requests=lambda: len(_deployment_ids()) // deployments.PAGE_SIZE + 1,
)
VECTOR_INGESTION = Kind(
    key="vector_ingestion",
    prefix="vdb-",
    operator_class=SeekrFlowVectorDatabaseIngestionOperator,
    sensor_class=SeekrFlowVectorDatabaseIngestionSensor,
    xcom_key="ingestion_job_id",
    result_keys=frozenset(
        {"job_id", "status", "vector_database_id", "ingestion_id", "file_ids", "files", "error_message"}
    ),
    submit_route="create_vector_database_ingestion",
    read_route="get_vector_database_ingestion",
    # No cancel route: a kill or a timeout removes the job's files from its database.
    cancel_route="delete_vector_database_file",
    list_route="list_vector_database_ingestions",
    slow={"vector_ingestion_seconds": 60},
    ends={"failed": {"vector_ingestion_fail": [INGESTED_DOCUMENT]}},
    # The job's error_message is the emulator's own, not the "<status>: out of quota" of the others.
    status_message=False,
    refuses_unknown_status=True,
    upload=_ingestion_inputs,
    start=_ingestion_start,
    status=_ingestion_status,
    cancel=lambda ref: _hook().run(KINDS["vector_ingestion"].cancel(ref)),
    job_ids=_ingestion_ids,
    cancelled=FILES_REMOVED,
    started=("queued", "running"),
    quick={"vector_ingestion_seconds": 2},
    unknown_id="vdb-0000-does-not-exist/vdbjob-0000",
    # The removal's path names the database and the file, not the job.
    cancel_mark=lambda ref: f"{ref.split('/')[0]}/files/",
    cancel_status=204,
    cancel_ends_job=False,
)
ALL = (ALIGNMENT, DATA_JOB, FINE_TUNE, DEPLOYMENT, VECTOR_INGESTION)
BY_KEY = {kind.key: kind for kind in ALL}
KIND_PARAMS = [pytest.param(kind, id=kind.key) for kind in ALL]
END_PARAMS = [pytest.param(kind, status, id=f"{kind.key}-{status}") for kind in ALL for status in kind.ends]


def ended_job(kind: Kind, inputs: dict[str, Any], emu: Any, status: str) -> str:
    """Start a job of ``kind`` that ends (or has ended) in ``status``; return its id."""
    how = kind.ends[status]
    if how == BY_CANCEL:
        emu.configure(**kind.slow)
        job_id = kind.start(inputs)
        kind.cancel(job_id)
        return job_id
    emu.configure(**how)
    return kind.start(inputs)


@contextlib.contextmanager
def ending_in(kind: Kind, emu: Any, status: str):
    """Make the next job of ``kind`` end in ``status``: configured, or cancelled by another party once made."""
    how = kind.ends[status]
    if how != BY_CANCEL:
        emu.configure(**how)
        yield
        return
    emu.configure(**kind.slow)
    before = kind.job_ids()
    stop = threading.Event()

    def cancel_when_made() -> None:
        while not stop.is_set():
            new = kind.job_ids() - before
            if new:
                for job_id in new:
                    kind.cancel(job_id)
                return
            time.sleep(0.2)

    canceller = threading.Thread(target=cancel_when_made, daemon=True)
    canceller.start()
    try:
        yield
    finally:
        stop.set()
        canceller.join(10)


class MethodRefusingProxy:
    """
    A forwarding HTTP proxy in front of the emulator that answers 405 to ``PUT .../cancel``.

    It stands in for a SeekrFlow deployment that only takes POST on the fine-tune cancel route
    (API.md G.2); every other request goes to the emulator unchanged. It records each request as
    ``(method, path, status)``.
    """

    def __init__(self, upstream: str) -> None:
        self.requests: list[tuple[str, str, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path.split("?", 1)[0]
                content_type = "application/json"
                if self.command == "PUT" and path.endswith("/cancel"):
                    status, payload = 405, b'{"detail": "Method Not Allowed"}'
                else:
                    headers = {
                        key: value
                        for key, value in self.headers.items()
                        if key.lower() not in ("host", "connection", "content-length", "accept-encoding")
                    }
                    outbound = urllib.request.Request(
                        upstream + self.path, data=body, method=self.command, headers=headers
                    )
                    try:
                        with urllib.request.urlopen(outbound, timeout=30) as answer:
                            status, payload = answer.status, answer.read()
                            content_type = answer.headers.get("Content-Type", content_type)
                    except urllib.error.HTTPError as err:
                        status, payload = err.code, err.read()
                proxy.requests.append((self.command, path, status))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> MethodRefusingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def inputs(emu, tmp_path, kind: Kind) -> dict[str, Any]:
    """What a job of ``kind`` needs, already on the service (1 s jobs, 1.5 s fine-tunes); the journal starts empty."""
    emu.configure(fine_tune_duration=1.5)
    made = kind.upload(tmp_path)
    emu.clear_journal()
    return made


# ---------------------------------------------------------------------- sensors and triggers

SENSOR_MODES = ["poke", "reschedule", "deferrable"]


def sensor_mode_kwargs(mode: str) -> dict[str, Any]:
    """A sensor's arguments for ``poke``, ``reschedule`` or ``deferrable``."""
    if mode == "deferrable":
        return {"deferrable": True, "poll_interval": 0.5}
    return {"mode": mode, "deferrable": False}


def sensor_dag(
    request: Any, sensor_class: type, job_id: Any, mode: str, suffix: str = "", **kwargs: Any
) -> Any:
    """A DAG of one sensor ``wait`` on ``job_id`` in ``mode``, checking every 0.5 s for a minute at most."""
    params = {"poke_interval": 0.5, "timeout": 60, **sensor_mode_kwargs(mode), **kwargs}
    with DAG(dag_id_for(request, suffix), schedule=None, start_date=START_DATE) as dag:
        sensor_class(task_id="wait", job_id=job_id, **params)
    return dag


def trigger_events(trigger: Any, limit: float = 60.0) -> list[Any]:
    """Run the trigger to exhaustion (as the triggerer would until its first event) and return all events."""

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), limit))
