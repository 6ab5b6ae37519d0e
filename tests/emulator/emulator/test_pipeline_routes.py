"""The emulator's data-job, project and fine-tune routes, over real HTTP.

- The whole pipeline: upload a ``.md`` and a ``.txt`` -> data job -> add-files -> ``file_processing``
  -> ``ready_to_start`` -> start -> ``completed`` -> the parquet ``fine-tune`` output -> project ->
  fine-tune on that output -> one event per epoch with a falling loss -> ``completed``.
- ``needs_review`` from a file named in ``ingestion_fail`` and from a missing system prompt, and
  the fixes (remove-files, PATCH ``system_prompt``); starts and cancels refused (409) out of turn.
- Fine-tune failure (``error_analysis``), cancel by PUT and by POST, 422s naming the field, 404s.
- Restart on the same data directory, the journal and fault injection on the new operation ids.
Every answer is also parsed with the client's models (``client.data_jobs``/``fine_tunes``/``projects``).
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests

from airflow_provider_seekrflow.client.alignment import AlignmentJob
from airflow_provider_seekrflow.client.data_jobs import DataJobDetail, DataJobList, review_problems
from airflow_provider_seekrflow.client.fine_tunes import FineTune, FineTuneEvents, FineTuneList
from airflow_provider_seekrflow.client.projects import Project, ProjectList
from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from airflow_provider_seekrflow.emulator.__main__ import parse_args
from airflow_provider_seekrflow.emulator.data_jobs import draft_system_prompt
from airflow_provider_seekrflow.emulator.fine_tunes import epoch_loss

SYSTEM_PROMPT = "You answer questions about the store's returns policy."
INSTRUCTIONS = "Teach the returns policy."
RETURNS_MD = b"# Returns\n\nCustomers may return unworn shoes within thirty days of purchase.\n"
REFUNDS_TXT = b"Refunds are paid to the original card within five business days.\n"
SENTENCES = {
    "Customers may return unworn shoes within thirty days of purchase.",
    "Refunds are paid to the original card within five business days.",
}
TRAINING_JSONL = (
    b'{"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}\n'
)
INGESTION_SECONDS = 0.6
FINE_TUNE_SECONDS = 1.5
N_EPOCHS = 3


@pytest.fixture
def emu(fresh_emulator_state):
    fresh_emulator_state.configure(
        job_duration=1.0, ingestion_seconds=INGESTION_SECONDS, fine_tune_duration=FINE_TUNE_SECONDS
    )
    return fresh_emulator_state


# ------------------------------------------------------------------------------------ helpers


def call(emu, method: str, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": emu.api_key}
    return requests.request(method, f"{emu.base_url}{path}", json=json, headers=headers, timeout=30, **kwargs)


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def upload(emu, filename: str, content: bytes, purpose: str = "alignment") -> str:
    response = requests.put(
        f"{emu.base_url}/v1/flow/files",
        files={"files": (filename, content)},
        data={"purpose": purpose},
        headers={"Authorization": emu.api_key},
        timeout=30,
    )
    return ok(response)["id"]


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


def parsed(model: Any, emu, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
    """The answer of a request that must succeed, parsed with the client's ``model``."""
    response = call(emu, method, path, body, **kwargs)
    ok(response)
    return model.model_validate_json(response.content)


def create_data_job(emu, **body: Any) -> DataJobDetail:
    body = {"name": unique("returns"), "job_type": "principle_files", **body}
    return parsed(DataJobDetail, emu, "POST", "/v1/flow/data-jobs", body)


def get_data_job(emu, data_job_id: str) -> DataJobDetail:
    return parsed(DataJobDetail, emu, "GET", f"/v1/flow/data-jobs/{data_job_id}")


def act(emu, data_job_id: str, action: str, body: Any = None) -> DataJobDetail:
    return parsed(DataJobDetail, emu, "POST", f"/v1/flow/data-jobs/{data_job_id}/{action}", body)


def patch(emu, data_job_id: str, changes: dict[str, Any]) -> DataJobDetail:
    return parsed(DataJobDetail, emu, "PATCH", f"/v1/flow/data-jobs/{data_job_id}", changes)


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 15.0) -> list[Any]:
    """Every answer of ``fetch`` until ``done`` holds for one (the last), polling fast."""
    seen = [fetch()]
    deadline = time.monotonic() + timeout
    while not done(seen[-1]):
        assert time.monotonic() < deadline, f"still not done: {seen[-1]}"
        time.sleep(0.05)
        seen.append(fetch())
    return seen


def ingested_job(emu, files: list[tuple[str, bytes]], **body: Any) -> DataJobDetail:
    """A data job with ``files`` attached, polled until its ingestion is over."""
    job = create_data_job(emu, **body)
    act(emu, job.id, "add-files", {"file_ids": [upload(emu, name, content) for name, content in files]})
    return poll(lambda: get_data_job(emu, job.id), lambda d: d.status != "file_processing")[-1]


def ready_job(emu) -> DataJobDetail:
    job = ingested_job(
        emu, [("returns.md", RETURNS_MD)], system_prompt=SYSTEM_PROMPT, instructions=INSTRUCTIONS
    )
    assert job.status == "ready_to_start", job.status_message
    return job


def completed_job(emu) -> DataJobDetail:
    started = act(emu, ready_job(emu).id, "start")
    return poll(lambda: get_data_job(emu, started.id), lambda d: d.is_terminal)[-1]


def create_project(emu) -> Project:
    body = {"id": None, "name": unique("proj"), "description": "Returns bot"}
    return parsed(Project, emu, "POST", "/v1/flow/projects", body)


def fine_tune_body(project_id: int, training_file: str, **training: Any) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "training_config": {
            "training_files": [training_file],
            "model": "meta-llama/Llama-3.1-8B",
            "n_epochs": N_EPOCHS,
            **training,
        },
        "infrastructure_config": {"accel_type": "H100", "n_accel": 1},
    }


def create_fine_tune(emu, body: dict[str, Any]) -> FineTune:
    return parsed(FineTune, emu, "POST", "/v1/flow/fine-tune", body)


def get_fine_tune(emu, fine_tune_id: str) -> FineTune:
    return parsed(FineTune, emu, "GET", f"/v1/flow/fine-tunes/{fine_tune_id}")


def fine_tune_events(emu, fine_tune_id: str) -> FineTuneEvents:
    return parsed(FineTuneEvents, emu, "GET", f"/v1/flow/fine-tunes/{fine_tune_id}/events")


def parquet_output(emu, alignment_job_id: str) -> str:
    outputs = ok(call(emu, "GET", f"/v1/flow/alignment/{alignment_job_id}/outputs"))
    (training,) = [o for o in outputs if o["purpose"] == "fine-tune"]
    assert training["file_type"] == "parquet"
    return training["id"]


def details(response: requests.Response) -> dict[tuple, str]:
    """A 422's items as ``{loc: type}``."""
    assert response.status_code == 422, response.text
    return {tuple(item["loc"]): item["type"] for item in response.json()["detail"]}


# ------------------------------------------------------------------------------- the pipeline


def test_the_whole_pipeline_from_upload_to_a_fine_tuned_model(emu):
    md, txt = upload(emu, "returns.md", RETURNS_MD), upload(emu, "refunds.txt", REFUNDS_TXT)
    job = create_data_job(emu, system_prompt=SYSTEM_PROMPT, instructions=INSTRUCTIONS)
    assert job.id.startswith("dj-") and job.files == [] and job.alignment_job is None

    attached = act(emu, job.id, "add-files", {"file_ids": [md, txt], "method": "accuracy-optimized"})
    assert attached.status == "file_processing"
    (run,) = attached.ingestion_jobs
    records = {record.filename: record for record in run.records}
    assert records["returns.md"].status == "completed"  # Markdown is ready at once
    assert records["refunds.txt"].status in ("queued", "running")
    assert {f.file_id for f in attached.files} == {md, txt}

    seen = poll(lambda: get_data_job(emu, job.id), lambda d: d.status != "file_processing")
    ready = seen[-1]
    assert ready.status == "ready_to_start", ready.status_message
    assert all(r.status == "completed" and r.error_message is None for r in ready.ingestion_jobs[0].records)
    assert [e["event_type"] for e in ok(call(emu, "GET", f"/v1/flow/data-jobs/{job.id}"))["timeline"]][
        :2
    ] == [
        "created",
        "files_added",
    ]

    started = act(emu, job.id, "start")
    assert started.status in ("pending", "queued", "running")
    assert started.alignment_job_id and started.alignment_job_id.startswith("al-")
    statuses = [d.status for d in poll(lambda: get_data_job(emu, job.id), lambda d: d.is_terminal)]
    assert statuses[-1] == "completed" and set(statuses[:-1]) <= {"pending", "queued", "running"}

    done = ok(call(emu, "GET", f"/v1/flow/data-jobs/{job.id}"))
    alignment = ok(call(emu, "GET", f"/v1/flow/alignment/{started.alignment_job_id}"))
    assert done["alignment_job"] == alignment  # exactly as the alignment route shows it
    assert AlignmentJob.model_validate(alignment).succeeded
    output = parquet_output(emu, started.alignment_job_id)
    assert output in {o["id"] for o in done["alignment_job"]["output_files"]}
    content = call(emu, "GET", f"/v1/flow/files/{output}/content").content
    rows = pq.read_table(io.BytesIO(content)).to_pylist()
    assert {row["messages"][2]["content"] for row in rows} == SENTENCES
    assert {row["messages"][0]["content"] for row in rows} == {SYSTEM_PROMPT}

    project = create_project(emu)
    fine_tune = create_fine_tune(emu, fine_tune_body(project.id, output))
    assert fine_tune.id.startswith("ft-") and fine_tune.status == "pending"
    assert (fine_tune.project_id, fine_tune.training_files, fine_tune.inference_available) == (
        project.id,
        [output],
        False,
    )
    ft_statuses = [f.status for f in poll(lambda: get_fine_tune(emu, fine_tune.id), lambda f: f.is_terminal)]
    assert ft_statuses[-1] == "completed" and "running" in ft_statuses
    finished = get_fine_tune(emu, fine_tune.id)
    assert finished.inference_available is True and finished.completed_at is not None
    events = fine_tune_events(emu, fine_tune.id).data or []
    assert [e.epoch for e in events] == [1, 2, 3]
    losses = [e.loss for e in events]
    assert losses == sorted(losses, reverse=True) and len(set(losses)) == N_EPOCHS
    assert all(
        e.object == "fine-tune-event" and e.created_at is not None and e.reward is None for e in events
    )

    assert fine_tune.id in get_data_job(emu, job.id).fine_tuning_job_ids
    listed = parsed(ProjectList, emu, "GET", "/v1/flow/projects", params={"limit": 1000})
    (mine,) = [p for p in listed.data if p.id == project.id]
    extra = mine.model_extra or {}
    assert (extra["runs"], extra["runs_deployed"]) == (1, 0)
    last_modified = datetime.fromisoformat(extra["last_modified"].replace("Z", "+00:00"))
    assert last_modified == fine_tune.created_at  # the project's last change: its newest fine-tune
    all_fine_tunes = parsed(FineTuneList, emu, "GET", "/v1/flow/fine-tunes")
    assert fine_tune.id in {f.id for f in all_fine_tunes.data or []}


def test_reinforcement_fine_tune_events_carry_a_rising_reward(emu):
    output = parquet_output(emu, completed_job(emu).alignment_job_id or "")
    fine_tune = create_fine_tune(
        emu, fine_tune_body(create_project(emu).id, output, fine_tune_type="REINFORCEMENT")
    )
    poll(lambda: get_fine_tune(emu, fine_tune.id), lambda f: f.is_terminal)
    events = fine_tune_events(emu, fine_tune.id).data or []
    rewards = [e.reward for e in events]
    assert len(rewards) == N_EPOCHS and rewards == sorted(rewards) and None not in rewards
    assert [e.loss for e in events] == [epoch_loss(epoch) for epoch in (1, 2, 3)]


# ------------------------------------------------------------------------------ needs_review


def test_a_file_named_in_ingestion_fail_puts_the_job_in_needs_review_with_a_fix(emu):
    emu.configure(ingestion_fail=["broken.txt"])
    job = ingested_job(
        emu,
        [("returns.md", RETURNS_MD), ("broken.txt", REFUNDS_TXT)],
        system_prompt=SYSTEM_PROMPT,
    )
    assert job.status == "needs_review"
    (failed,) = [r for r in job.ingestion_jobs[0].records if r.filename == "broken.txt"]
    assert failed.status == "failed" and failed.error_message and failed.suggested_fix
    (listed,) = [f for f in job.files if f.name == "broken.txt"]
    assert (listed.status, listed.suggested_fix) == ("failed", failed.suggested_fix)
    assert "broken.txt" in (job.status_message or "")
    assert any(p.startswith("broken.txt: ") and "suggested fix" in p for p in review_problems(job))
    refused = call(emu, "POST", f"/v1/flow/data-jobs/{job.id}/start")
    assert refused.status_code == 409 and "needs_review" in refused.json()["detail"]

    fixed = act(emu, job.id, "remove-files", {"file_ids": [failed.alignment_file_id]})
    assert fixed.status == "ready_to_start"
    assert [r.filename for run in fixed.ingestion_jobs for r in run.records] == ["returns.md"]


def test_a_principle_job_without_a_system_prompt_needs_review_until_one_is_patched(emu):
    job = ingested_job(emu, [("returns.md", RETURNS_MD)], instructions=INSTRUCTIONS)
    assert job.status == "needs_review" and "system prompt" in (job.status_message or "")
    assert review_problems(job) == ["the job has no system prompt, which a principle_files job needs"]
    refused = call(emu, "POST", f"/v1/flow/data-jobs/{job.id}/start")
    assert refused.status_code == 409 and "needs_review" in refused.json()["detail"]

    drafted = ok(call(emu, "POST", "/v1/flow/data-jobs/gen_system_prompt", {"instructions": INSTRUCTIONS}))
    assert (
        drafted == {"system_prompt": draft_system_prompt(INSTRUCTIONS)}
        and INSTRUCTIONS in drafted["system_prompt"]
    )
    patched = patch(emu, job.id, {"system_prompt": drafted["system_prompt"]})
    assert patched.status == "ready_to_start"
    assert (patched.name, patched.instructions, patched.system_prompt) == (
        job.name,
        INSTRUCTIONS,
        drafted["system_prompt"],
    )
    assert (patched.model_extra or {})["system_prompt_updated_at"] is not None

    cleared = patch(emu, job.id, {"instructions": None})
    assert (cleared.instructions, cleared.system_prompt) == (None, drafted["system_prompt"])


def test_a_vector_db_job_needs_review_until_it_has_a_vector_database_and_takes_no_files(emu):
    job = create_data_job(emu, job_type="context_grounded_vector_db")
    assert job.status == "needs_review" and "vector_database_id" in (job.status_message or "")
    refused = call(
        emu, "POST", f"/v1/flow/data-jobs/{job.id}/add-files", {"file_ids": [upload(emu, "a.md", RETURNS_MD)]}
    )
    assert details(refused) == {("body", "file_ids"): "value_error"}
    assert patch(emu, job.id, {"vector_database_id": "vdb-1"}).status == "ready_to_start"
    started = act(emu, job.id, "start")
    done = poll(lambda: get_data_job(emu, started.id), lambda d: d.is_terminal)[-1]
    assert done.status == "completed" and parquet_output(emu, done.alignment_job_id or "")


# ------------------------------------------------------------------------- refused out of turn


def test_start_and_cancel_are_refused_before_the_job_is_ready_or_started(emu):
    job = create_data_job(emu, system_prompt=SYSTEM_PROMPT)
    files = [upload(emu, name, REFUNDS_TXT) for name in ("first.txt", "second.txt")]
    attached = act(emu, job.id, "add-files", {"file_ids": files})
    records = {r.filename: r for r in attached.ingestion_jobs[0].records}
    assert (records["first.txt"].status, records["first.txt"].queue_position) == ("running", None)
    assert (records["second.txt"].status, records["second.txt"].queue_position) == ("queued", 1)
    for action in ("start", "cancel"):
        refused = call(emu, "POST", f"/v1/flow/data-jobs/{job.id}/{action}")
        assert refused.status_code == 409, refused.text
        assert "file_processing" in refused.json()["detail"]
    assert get_data_job(emu, job.id).alignment_job_id is None


def test_cancelling_a_started_job_cancels_its_alignment_and_freezes_its_files(emu):
    emu.configure(job_duration=30.0)
    started = act(emu, ready_job(emu).id, "start")
    cancelled = act(emu, started.id, "cancel")
    assert cancelled.status == "cancelled"
    assert ok(call(emu, "GET", f"/v1/flow/alignment/{started.alignment_job_id}"))["status"] == "cancelled"
    assert act(emu, started.id, "cancel").status == "cancelled"  # again: harmless
    again = call(
        emu,
        "POST",
        f"/v1/flow/data-jobs/{started.id}/add-files",
        {"file_ids": [upload(emu, "x.md", RETURNS_MD)]},
    )
    assert again.status_code == 409
    assert call(emu, "POST", f"/v1/flow/data-jobs/{started.id}/start").status_code == 409


# --------------------------------------------------------------------------------- fine-tunes


def test_a_failing_fine_tune_fails_with_an_error_analysis(emu):
    emu.configure(fine_tune_outcome="failed")
    output = parquet_output(emu, completed_job(emu).alignment_job_id or "")
    fine_tune = create_fine_tune(emu, fine_tune_body(create_project(emu).id, output))
    statuses = [f.status for f in poll(lambda: get_fine_tune(emu, fine_tune.id), lambda f: f.is_terminal)]
    failed = get_fine_tune(emu, fine_tune.id)
    assert statuses[-1] == "failed" and failed.error_analysis and failed.inference_available is False
    assert 0 < len(fine_tune_events(emu, fine_tune.id).data or []) < N_EPOCHS


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_a_fine_tune_is_cancelled_by_put_and_by_post(emu, method):
    emu.configure(fine_tune_duration=60.0)
    output = parquet_output(emu, completed_job(emu).alignment_job_id or "")
    fine_tune = create_fine_tune(emu, fine_tune_body(create_project(emu).id, output))
    cancelled = parsed(FineTune, emu, method, f"/v1/flow/fine-tunes/{fine_tune.id}/cancel")
    assert (cancelled.id, cancelled.status, cancelled.inference_available) == (
        fine_tune.id,
        "cancelled",
        False,
    )
    assert get_fine_tune(emu, fine_tune.id).status == "cancelled"
    assert ok(call(emu, method, f"/v1/flow/fine-tunes/{fine_tune.id}/cancel"))["status"] == "cancelled"
    assert [e["route"] for e in emu.journal() if e["path"].endswith("/cancel")] == [
        f"cancel_fine_tune_{method.lower()}"
    ] * 2


# ---------------------------------------------------------------------------- 422s and 404s


def test_bad_requests_are_refused_with_422_naming_the_field(emu):
    create = "/v1/flow/data-jobs"
    assert details(call(emu, "POST", create, {"name": "", "job_type": "principle_files"})) == {
        ("body", "name"): "string_too_short"
    }
    assert details(call(emu, "POST", create, {"name": "x" * 256, "job_type": "principle_files"})) == {
        ("body", "name"): "string_too_long"
    }
    assert details(call(emu, "POST", create, {"name": "ok", "job_type": "sideways"})) == {
        ("body", "job_type"): "enum"
    }
    assert details(call(emu, "POST", create, {"job_type": "principle_files"})) == {
        ("body", "name"): "missing"
    }
    assert details(call(emu, "GET", create, params={"limit": 101})) == {("query", "limit"): "less_than_equal"}

    job = create_data_job(emu)
    md = upload(emu, "a.md", RETURNS_MD)
    tuned = upload(emu, "pairs.jsonl", TRAINING_JSONL, purpose="fine-tune")
    add = call(
        emu, "POST", f"/v1/flow/data-jobs/{job.id}/add-files", {"file_ids": [md, "file-missing", tuned]}
    )
    assert details(add) == {("body", "file_ids", 1): "value_error", ("body", "file_ids", 2): "value_error"}
    assert "file-missing not found" in add.text and "purpose 'fine-tune'" in add.text
    assert details(call(emu, "POST", f"/v1/flow/data-jobs/{job.id}/add-files", {"file_ids": []})) == {
        ("body", "file_ids"): "too_short"
    }
    remove = call(emu, "POST", f"/v1/flow/data-jobs/{job.id}/remove-files", {"file_ids": [md]})
    assert details(remove) == {("body", "file_ids", 0): "value_error"}
    assert details(call(emu, "PATCH", f"/v1/flow/data-jobs/{job.id}", {"name": None})) == {
        ("body", "name"): "value_error"
    }
    assert get_data_job(emu, job.id).files == []  # nothing was attached by the refused requests

    projects = "/v1/flow/projects"
    assert details(call(emu, "POST", projects, {"name": "abc", "description": "long enough"})) == {
        ("body", "name"): "string_too_short"
    }
    assert details(call(emu, "POST", projects, {"name": "long enough", "description": "x" * 1001})) == {
        ("body", "description"): "string_too_long"
    }

    project = create_project(emu)
    body = fine_tune_body(project.id, tuned, batch_size=2048)
    body["infrastructure_config"]["accel_type"] = "TPU"
    assert details(call(emu, "POST", "/v1/flow/fine-tune", body)) == {
        ("body", "training_config", "batch_size"): "less_than_equal",
        ("body", "infrastructure_config", "accel_type"): "enum",
    }
    lora = fine_tune_body(project.id, tuned, lora_config={"bias": "some"})
    assert details(call(emu, "POST", "/v1/flow/fine-tune", lora)) == {
        ("body", "training_config", "lora_config", "bias"): "literal_error"
    }
    unknown = fine_tune_body(project.id + 1000, md)
    assert details(call(emu, "POST", "/v1/flow/fine-tune", unknown)) == {
        ("body", "project_id"): "value_error",
        ("body", "training_config", "training_files", 0): "value_error",
    }
    assert (
        ok(call(emu, "POST", "/v1/flow/fine-tune", fine_tune_body(project.id, tuned)))["status"] == "pending"
    )


def test_unknown_ids_are_404(emu):
    for method, path in [
        ("GET", "/v1/flow/data-jobs/dj-missing"),
        ("PATCH", "/v1/flow/data-jobs/dj-missing"),
        ("DELETE", "/v1/flow/data-jobs/dj-missing"),
        ("POST", "/v1/flow/data-jobs/dj-missing/start"),
        ("POST", "/v1/flow/data-jobs/dj-missing/cancel"),
        ("POST", "/v1/flow/data-jobs/dj-missing/clone"),
        ("POST", "/v1/flow/data-jobs/dj-missing/remove-files"),
        ("GET", "/v1/flow/fine-tunes/ft-missing"),
        ("GET", "/v1/flow/fine-tunes/ft-missing/events"),
        ("PUT", "/v1/flow/fine-tunes/ft-missing/cancel"),
        ("POST", "/v1/flow/fine-tunes/ft-missing/cancel"),
        ("GET", "/v1/flow/projects/987654"),
    ]:
        body = {"file_ids": ["file-x"]} if path.endswith("-files") else {} if method == "PATCH" else None
        response = call(emu, method, path, body)
        assert response.status_code == 404, (method, path, response.text)
        assert "not found" in response.json()["detail"]
    assert details(call(emu, "GET", "/v1/flow/projects/not-a-number")) == {
        ("path", "project_id"): "int_parsing"
    }


# ------------------------------------------------------------------- list, clone, delete


def test_list_filters_sorts_and_pages_data_jobs(emu):
    tag = uuid.uuid4().hex[:8]
    names = [f"{tag} {letter}" for letter in "cab"]
    for name, job_type in zip(
        names, ["principle_files", "context_grounded_files", "principle_files"], strict=True
    ):
        ok(call(emu, "POST", "/v1/flow/data-jobs", {"name": name, "job_type": job_type}))

    def page(**params: Any) -> list[str]:
        listed = parsed(DataJobList, emu, "GET", "/v1/flow/data-jobs", params={"limit": 100, **params})
        assert (listed.model_extra or {})["object"] == "list"
        return [job.name or "" for job in listed.data if tag in (job.name or "")]

    assert page() == [names[2], names[1], names[0]]  # newest first by default
    assert page(sort_by="name", sort_order="asc") == sorted(names)
    assert page(job_type="context_grounded_files") == [names[1]]
    newest = call(emu, "GET", "/v1/flow/data-jobs", params={"limit": 2, "offset": 1}).json()["data"]
    assert [job["name"] for job in newest] == [names[1], names[0]]
    assert "ingestion_jobs" not in newest[0]  # list items are the light view


def test_clone_copies_settings_and_files_and_delete_removes_the_job(emu):
    source = ready_job(emu)
    clone = act(emu, source.id, "clone", {"name": "the copy"})
    assert (clone.name, clone.model_extra["origin_data_job_id"]) == ("the copy", source.id)
    assert clone.id != source.id and [f.file_id for f in clone.files] == [f.file_id for f in source.files]
    assert (clone.system_prompt, clone.instructions, clone.status) == (
        SYSTEM_PROMPT,
        INSTRUCTIONS,
        "ready_to_start",
    )
    assert act(emu, source.id, "clone").name == f"{source.name} (copy)"

    deleted = call(emu, "DELETE", f"/v1/flow/data-jobs/{clone.id}")
    assert ok(deleted) == {"id": clone.id, "object": "data_job", "deleted": True}
    assert call(emu, "GET", f"/v1/flow/data-jobs/{clone.id}").status_code == 404


def test_a_started_job_shows_its_alignment_in_the_legacy_shape_when_switched_on(emu):
    emu.configure(legacy_job_shape=True, job_duration=30.0)
    started = act(emu, ready_job(emu).id, "start")
    shown = ok(call(emu, "GET", f"/v1/flow/data-jobs/{started.id}"))["alignment_job"]
    assert isinstance(shown["progress"], str) and shown["progress"].endswith("%")
    act(emu, started.id, "cancel")


# ---------------------------------------------------------- journal, faults, config, restart


def test_journal_and_faults_cover_the_new_routes(emu):
    emu.clear_journal()
    emu.set_faults([{"route": "submit_data_job", "kind": "503", "count": 1}])
    body = {"name": unique("faulty"), "job_type": "principle_files"}
    assert call(emu, "POST", "/v1/flow/data-jobs", body).status_code == 503
    job = ok(call(emu, "POST", "/v1/flow/data-jobs", body))
    ok(call(emu, "GET", f"/v1/flow/data-jobs/{job['id']}"))
    ok(call(emu, "GET", "/v1/flow/projects"))
    ok(call(emu, "GET", "/v1/flow/fine-tunes"))

    submits = emu.journal(route="submit_data_job")
    assert [(e["status"], e["fault"]) for e in submits] == [(503, "503"), (200, None)]
    assert [e["route"] for e in emu.journal()] == [
        "submit_data_job",
        "submit_data_job",
        "get_data_job",
        "list_projects",
        "list_fine_tunes",
    ]


def test_config_keys_are_checked_and_reset(emu):
    config = emu.configure(ingestion_seconds=0, ingestion_fail=["a.pdf"], fine_tune_outcome="failed")
    assert (config["ingestion_seconds"], config["ingestion_fail"], config["fine_tune_outcome"]) == (
        0.0,
        ["a.pdf"],
        "failed",
    )
    for bad in (
        {"ingestion_seconds": -1},
        {"fine_tune_duration": "soon"},
        {"ingestion_fail": "a.pdf"},
        {"fine_tune_outcome": "cancelled"},
    ):
        with pytest.raises(RuntimeError, match="422"):
            emu.configure(**bad)
    emu.reset_config()
    assert emu.config()["ingestion_fail"] == [] and emu.config()["fine_tune_outcome"] == "completed"


def test_cli_flags_for_the_pipeline_timing_parse():
    args = parse_args(["--ingestion-seconds", "0.5", "--fine-tune-duration", "4"])
    assert (args.ingestion_seconds, args.fine_tune_duration) == (0.5, 4.0)
    assert (parse_args([]).ingestion_seconds, parse_args([]).fine_tune_duration) == (None, None)


def test_a_restarted_emulator_carries_on_with_data_jobs_projects_and_fine_tunes(tmp_path, in_subprocess):
    # Ingestion outlasts the restart: a subprocess emulator takes several seconds to come back on a
    # loaded CI machine (a 4 s window was over before it answered again, in a CI run of 5 pytest runs
    # on 2 cores).
    with SeekrFlowEmulator(
        api_key="restart-key",
        data_dir=str(tmp_path),
        job_duration=1.0,
        ingestion_seconds=15.0,
        fine_tune_duration=4.0,
        subprocess=in_subprocess,
    ) as emu:
        assert (emu.config()["ingestion_seconds"], emu.config()["fine_tune_duration"]) == (15.0, 4.0)
        job = create_data_job(emu, system_prompt=SYSTEM_PROMPT)
        act(emu, job.id, "add-files", {"file_ids": [upload(emu, "slow.txt", REFUNDS_TXT)]})
        project = create_project(emu)
        tuned = upload(emu, "pairs.jsonl", TRAINING_JSONL, purpose="fine-tune")
        fine_tune = create_fine_tune(emu, fine_tune_body(project.id, tuned))
        assert get_data_job(emu, job.id).status == "file_processing"

        emu.restart()

        assert get_data_job(emu, job.id).status == "file_processing"
        assert (
            poll(lambda: get_data_job(emu, job.id), lambda d: d.status != "file_processing", timeout=40)[
                -1
            ].status
            == "ready_to_start"
        )
        assert (
            poll(lambda: get_fine_tune(emu, fine_tune.id), lambda f: f.is_terminal)[-1].status == "completed"
        )
        assert len(fine_tune_events(emu, fine_tune.id).data or []) == N_EPOCHS
        assert parsed(Project, emu, "GET", f"/v1/flow/projects/{project.id}").name == project.name
        assert create_project(emu).id == project.id + 1
        started = act(emu, job.id, "start")
        assert poll(lambda: get_data_job(emu, started.id), lambda d: d.is_terminal)[-1].status == "completed"
