"""Every SeekrFlowHook method, end to end over real HTTP against the SeekrFlow emulator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests

from airflow_provider_seekrflow import validation
from airflow_provider_seekrflow.defaults import UNTIL_END
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
    SeekrFlowInvalidFileError,
    SeekrFlowNotFoundError,
    SeekrFlowValidationError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT, SeekrFlowAlignmentJobTimeoutError
from airflow_provider_seekrflow.models import AlignmentJob, SeekrFlowFile

SOURCE_TEXT = (
    "The reactor cooling loop must be inspected every morning before the shift starts.\n\n"
    "Operators record the coolant pressure and temperature in the plant log book.\n\n"
    "Any reading outside the normal band is reported to the shift supervisor at once.\n"
)


def fine_tune_lines(count: int = 3) -> str:
    lines = []
    for i in range(count):
        record = {
            "messages": [
                {"role": "system", "content": "You are a plant assistant."},
                {"role": "user", "content": f"Question number {i}?"},
                {"role": "assistant", "content": f"Answer number {i}."},
            ]
        }
        lines.append(json.dumps(record) + "\n")
    return "".join(lines)


@pytest.fixture
def emu(long_jobs):
    return long_jobs


@pytest.fixture
def doc(tmp_path) -> Path:
    path = tmp_path / "plant-manual.txt"
    path.write_text(SOURCE_TEXT)
    return path


@pytest.fixture
def training_file(tmp_path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text(fine_tune_lines())
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def routes(emu) -> list[str]:
    return [entry["route"] for entry in emu.journal()]


def completed_job(hook: SeekrFlowHook, emu, doc: Path) -> AlignmentJob:
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach the plant's inspection routine.", [stored.id])
    emu.fail_job(job.id, status="completed", status_message=None)
    return hook.get_alignment_job(job.id)


# -- files ----------------------------------------------------------------------------------------


def test_upload_alignment_document(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")

    assert isinstance(stored, SeekrFlowFile)
    assert stored.id
    assert stored.filename == "plant-manual.txt"
    assert stored.purpose == "alignment"
    assert stored.bytes == doc.stat().st_size
    assert stored.type == "txt"
    # As the official client does, the document's type and size are checked with the service first;
    # then the files are listed, so a lost answer is compared with what was there before sending.
    assert routes(emu) == ["validate_file_metadata", "list_files", "upload_file"]
    assert all(entry["status"] == 200 for entry in emu.journal())


def test_upload_fine_tune_file(hook, emu, training_file):
    stored = hook.upload_file(training_file, "fine-tune")

    assert stored.purpose == "fine-tune"
    assert stored.filename == "train.jsonl"
    assert stored.bytes == training_file.stat().st_size
    # Only alignment documents have a metadata check.
    assert routes(emu) == ["list_files", "upload_file"]  # the snapshot a lost answer is compared with
    assert hook.get_file(stored.id).bytes == training_file.stat().st_size


def test_upload_under_another_name_with_vector_database(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment", filename="renamed.md", vector_database_id="vdb-1")

    assert stored.filename == "renamed.md"
    assert stored.type == "md"
    listed = {f.id: f.filename for f in hook.list_files(purpose="alignment")}
    assert listed[stored.id] == "renamed.md"


def test_upload_bytes_arrive_intact(hook, emu, tmp_path):
    # Several multipart chunks (the body streams in 1 MiB pieces): the stored bytes must be identical.
    path = tmp_path / "big.txt"
    data = (SOURCE_TEXT * 12_000).encode()
    assert len(data) > 2 * 1024 * 1024
    path.write_bytes(data)

    stored = hook.upload_file(path, "alignment")
    written = hook.download_file(stored.id, tmp_path / "back.txt")

    assert stored.bytes == len(data)
    assert hashlib.sha256(written.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_upload_refused_locally_sends_nothing(hook, emu, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "robot", "content": "hi"}]}\n')
    empty = tmp_path / "empty.txt"
    empty.write_text("")

    with pytest.raises(SeekrFlowInvalidFileError, match=r"bad\.jsonl line 1"):
        hook.upload_file(bad, "fine-tune")
    with pytest.raises(SeekrFlowInvalidFileError, match="empty"):
        hook.upload_file(empty, "alignment")
    with pytest.raises(SeekrFlowInvalidFileError, match="not accepted"):
        hook.upload_file(_write(tmp_path / "tool.exe", "x"), "alignment")
    assert emu.journal() == []


def test_check_file_with_service_refuses_unsupported_document(hook, emu, tmp_path):
    # Skip the local check so the service's metadata verdict is what stops the upload.
    path = _write(tmp_path / "archive.zip", "not really a zip")

    with pytest.raises(SeekrFlowValidationError, match=r"archive\.zip: SeekrFlow refuses this document"):
        hook.upload_file(path, "alignment", check=False)
    assert routes(emu) == ["validate_file_metadata"]


def test_validate_file_metadata(hook, emu):
    accepted = hook.validate_file_metadata("alignment", "pdf", 1234)
    refused = hook.validate_file_metadata("alignment", "exe", 1234)
    empty = hook.validate_file_metadata("alignment", "txt", 0)

    assert accepted.is_valid is True
    assert accepted.errors is None
    assert refused.is_valid is False
    assert "exe" in refused.errors
    assert empty.is_valid is False
    assert routes(emu) == ["validate_file_metadata"] * 3


def test_list_files_filters_sorts_and_pages(hook, emu, doc, training_file):
    # Earlier tests' jobs may finish at any moment and add output files; start from an empty service.
    emu.reset(wipe=True)
    first = hook.upload_file(doc, "alignment")
    second = hook.upload_file(training_file, "fine-tune")

    # The emulator may hold files of earlier tests: reason about these two only.
    everything = [f.id for f in hook.list_files()]
    assert {first.id, second.id} <= set(everything)
    fine_tune = hook.list_files(purpose="fine-tune")
    assert second.id in {f.id for f in fine_tune}
    assert first.id not in {f.id for f in fine_tune}
    assert {f.purpose for f in fine_tune} == {"fine-tune"}
    ascending = [f.id for f in hook.list_files(sort_by="created_at", sort_order="asc")]
    assert ascending.index(first.id) < ascending.index(second.id)
    assert [f.id for f in hook.list_files(sort_by="created_at", sort_order="desc", limit=1)] == [second.id]
    assert [f.id for f in hook.list_files(sort_by="created_at", sort_order="desc", limit=1, offset=1)] == [
        first.id
    ]
    assert len(hook.list_files(limit=1)) == 1


def test_get_file(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")

    fetched = hook.get_file(stored.id)

    assert fetched.id == stored.id
    assert fetched.filename == stored.filename
    assert fetched.created_at is not None
    assert emu.journal(route="get_file")[0]["path"] == f"/v1/flow/files/{stored.id}"


def test_delete_file(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")

    deleted = hook.delete_file(stored.id)

    assert deleted.id == stored.id
    assert deleted.deleted is True
    assert stored.id not in {f.id for f in hook.list_files()}
    with pytest.raises(SeekrFlowNotFoundError):
        hook.get_file(stored.id)
    with pytest.raises(SeekrFlowNotFoundError):
        hook.delete_file(stored.id)


def test_an_id_that_is_not_one_is_refused_before_any_request(hook, emu):
    # An id is data, never a path: "a/b c" would address another resource.
    with pytest.raises(SeekrFlowConfigError, match="file_id 'a/b c' is not a SeekrFlow id"):
        hook.get_file("a/b c")
    assert emu.journal() == []


def test_download_file_streams_to_path(hook, emu, training_file, tmp_path):
    stored = hook.upload_file(training_file, "fine-tune")
    target = tmp_path / "out" / "copy.jsonl"
    target.parent.mkdir()

    written = hook.download_file(stored.id, target)

    assert written == target
    assert target.read_bytes() == training_file.read_bytes()
    # No temporary ``.part`` file is left beside it.
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.jsonl"]
    assert routes(emu)[-1] == "get_file_content"


def test_download_missing_file_leaves_nothing(hook, emu, tmp_path):
    target = tmp_path / "missing.jsonl"

    with pytest.raises(SeekrFlowNotFoundError):
        hook.download_file("file-does-not-exist", target)

    assert list(tmp_path.iterdir()) == []


# -- alignment ------------------------------------------------------------------------------------


def test_generate_alignment(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")

    job = hook.generate_alignment(
        "Teach the plant's inspection routine.",
        [stored.id],
        system_prompt="You are a careful plant operator.",
    )

    assert isinstance(job, AlignmentJob)
    assert job.id
    assert job.status in ("pending", "queued", "running")
    assert not job.is_terminal
    assert routes(emu)[-1] == "alignment_generate"


def test_generate_context_data_alignment(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")

    job = hook.generate_alignment(
        "Answer from the manual.", stored.id, alignment_type="context_data", vector_database_id="vdb-7"
    )

    assert job.id in {j.id for j in hook.list_alignment_jobs()}


@pytest.mark.parametrize(
    ("instructions", "files", "kwargs", "field"),
    [
        ("   ", ["file-1"], {}, "instructions"),
        ("Teach", [], {}, "files"),
        ("Teach", ["file-1", ""], {}, r"files\[1\]"),
        ("Teach", ["file-1"], {"alignment_type": "magic"}, "alignment_type"),
    ],
)
def test_generate_alignment_refuses_bad_arguments_locally(hook, emu, instructions, files, kwargs, field):
    with pytest.raises(SeekrFlowConfigError, match=field):
        hook.generate_alignment(instructions, files, **kwargs)
    assert emu.journal() == []


def test_get_and_list_alignment_jobs(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    first = hook.generate_alignment("Teach one.", [stored.id])
    second = hook.generate_alignment("Teach two.", [stored.id])

    fetched = hook.get_alignment_job(first.id)
    listed = hook.list_alignment_jobs()

    assert fetched.id == first.id
    assert fetched.created_at == first.created_at
    assert {first.id, second.id} <= {job.id for job in listed}
    assert all(isinstance(job, AlignmentJob) for job in listed)


def test_cancel_alignment_job(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])

    cancelled = hook.cancel_alignment_job(job.id)
    again = hook.cancel_alignment_job(job.id)

    assert cancelled.status == "cancelled"
    assert cancelled.is_terminal
    # A job that already ended is returned unchanged.
    assert again.status == "cancelled"
    assert hook.get_alignment_job(job.id).status == "cancelled"
    with pytest.raises(SeekrFlowNotFoundError):
        hook.cancel_alignment_job("al-does-not-exist")


def test_delete_alignment_job(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])

    assert hook.delete_alignment_job(job.id) is None

    assert emu.journal(route="delete_alignment_job")[0]["status"] == 204
    with pytest.raises(SeekrFlowNotFoundError):
        hook.get_alignment_job(job.id)
    with pytest.raises(SeekrFlowNotFoundError):
        hook.delete_alignment_job(job.id)


def test_outputs_and_download_of_the_fine_tune_file(hook, emu, doc, tmp_path):
    job = completed_job(hook, emu, doc)
    assert job.status == "completed"
    assert job.succeeded

    outputs = hook.get_alignment_outputs(job.id)

    assert {o.id for o in outputs} == {o.id for o in job.output_files}
    fine_tune = [o for o in outputs if o.purpose == "fine-tune"]
    assert len(fine_tune) == 1
    out_dir = tmp_path / "downloads"
    out_dir.mkdir()

    # A directory as destination: the file keeps its stored name.
    written = hook.download_file(fine_tune[0].id, out_dir)

    assert written == out_dir / fine_tune[0].filename
    assert written.stat().st_size == fine_tune[0].bytes
    validation.check_file(written, "fine-tune")  # a parquet file is valid fine-tune training data
    # The service writes training pairs as parquet: one conversation per row, a messages column.
    import pyarrow.parquet as pq

    first = pq.read_table(written).slice(0, 1).to_pylist()[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    # The hook's own pre-upload check agrees.
    assert hook.check_file(written, "fine-tune") == written.stat().st_size
    assert [p.name for p in out_dir.iterdir()] == [fine_tune[0].filename]


def test_outputs_of_a_running_job_are_empty(hook, emu, doc):
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])

    assert hook.get_alignment_outputs(job.id) == []
    with pytest.raises(SeekrFlowNotFoundError):
        hook.get_alignment_outputs("al-nope")


def test_wait_for_job_until_an_alignment_job_completed(hook, emu, doc):
    emu.configure(job_duration=1.0)
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])
    lines: list[str] = []
    watcher = ALIGNMENT.watch(UNTIL_END, lines.append, lines.append)

    final = hook.wait_for_job(
        ALIGNMENT, job.id, poll_interval=0.3, min_poll_interval=0.05, timeout=30, watcher=watcher
    )

    assert final.status == "completed"
    assert final.output_files
    assert len(emu.journal(route="get_alignment_job")) >= 2
    progress = [line for line in lines if line.startswith(f"Alignment job {job.id}:")]
    assert progress[-1].startswith(f"Alignment job {job.id}: status=completed")


def test_wait_for_job_returns_a_failed_job(hook, emu, doc):
    emu.configure(job_duration=0.5, job_outcome="failed", status_message="GPU quota exhausted")
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])

    final = hook.wait_for_job(ALIGNMENT, job.id, poll_interval=0.2, min_poll_interval=0.05, timeout=30)

    assert final.status == "failed"
    assert final.status_message == "GPU quota exhausted"
    assert not final.succeeded


def test_wait_for_job_times_out_with_the_kind_s_error(hook, emu, doc):
    emu.configure(job_duration=600)
    stored = hook.upload_file(doc, "alignment")
    job = hook.generate_alignment("Teach.", [stored.id])

    with pytest.raises(SeekrFlowAlignmentJobTimeoutError) as caught:
        hook.wait_for_job(ALIGNMENT, job.id, poll_interval=0.1, min_poll_interval=0.05, timeout=0.3)

    assert caught.value.job_id == job.id
    assert caught.value.status in ("pending", "queued", "running")
    assert hook.get_alignment_job(job.id).status in ("pending", "queued", "running")


# -- session --------------------------------------------------------------------------------------


def test_get_conn_is_an_authenticated_session(hook, emu):
    session = hook.get_conn()

    assert isinstance(session, requests.Session)
    assert session is hook.get_conn()
    # The session works on its own against the API: the bare key is what the service accepts.
    response = session.get(f"{emu.base_url}/v1/flow/files", timeout=10)
    assert response.status_code == 200
    hook.close()
    assert hook.get_conn() is not session


def test_hook_metadata():
    assert SeekrFlowHook.conn_type == "seekrflow"
    assert SeekrFlowHook.default_conn_name == "seekrflow_default"
    behaviour = SeekrFlowHook.get_ui_field_behaviour()
    assert behaviour["relabeling"]["password"] == "API key"


def test_the_hook_names_the_whole_path_it_was_given(hook, emu, tmp_path):
    # Two folders may hold files of one name: the message says which one was meant.
    missing = tmp_path / "data" / "docs" / "onbaording.md"
    with pytest.raises(SeekrFlowInvalidFileError) as caught:
        hook.upload_file(missing, "alignment")
    assert str(caught.value) == f"{missing}: file not found"
    assert emu.journal() == []
