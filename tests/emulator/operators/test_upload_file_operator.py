"""SeekrFlowUploadFileOperator, run by Airflow (``dag.test()``) against the emulator over real HTTP."""

from __future__ import annotations

import json
import os

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.exceptions import (
    SeekrFlowError,
    SeekrFlowInvalidFileError,
    SeekrFlowValidationError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from tests.emulator.operators import seekrflow_dag_support as dags


def _filenames(file_ids):
    hook = SeekrFlowHook()
    return [hook.get_file(file_id).filename for file_id in file_ids]


def _upload_dag(request, file_path, **kwargs):
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowUploadFileOperator(task_id="upload", file_path=file_path, **kwargs)
    return dag


def test_single_path_returns_one_id(emu, request, tmp_path):
    path = dags.document(tmp_path, "returns.md")
    dr = dags.run_dag(_upload_dag(request, str(path)))

    assert dags.states(dr) == {"upload": "success"}
    file_id = dags.xcom(dr, "upload")
    assert isinstance(file_id, str)
    stored = SeekrFlowHook().get_file(file_id)
    assert (stored.filename, stored.purpose, stored.bytes) == ("returns.md", "alignment", path.stat().st_size)
    assert dags.count(emu, "upload_file") == 1


def test_list_returns_ids_in_input_order(emu, request, tmp_path):
    names = ["zeta.md", "alpha.txt", "mid.md"]
    paths = [str(dags.document(tmp_path, name)) for name in names]
    dr = dags.run_dag(_upload_dag(request, paths))

    assert dags.states(dr) == {"upload": "success"}
    ids = dags.xcom(dr, "upload")
    assert isinstance(ids, list) and len(ids) == 3
    assert _filenames(ids) == names


def test_glob_returns_list_of_ids_sorted_by_path(emu, request, tmp_path):
    for name in ["b.md", "a.md", "c.txt"]:
        dags.document(tmp_path / "docs", name)
    dr = dags.run_dag(_upload_dag(request, str(tmp_path / "docs" / "*")))

    ids = dags.xcom(dr, "upload")
    assert isinstance(ids, list)
    assert _filenames(ids) == ["a.md", "b.md", "c.txt"]


def test_glob_matching_one_file_still_returns_a_list(emu, request, tmp_path):
    dags.document(tmp_path / "docs", "only.md")
    dr = dags.run_dag(_upload_dag(request, str(tmp_path / "docs" / "*.md")))
    assert isinstance(dags.xcom(dr, "upload"), list)


def test_dynamic_task_mapping(emu, request, tmp_path):
    names = ["one.md", "two.md", "three.md"]
    paths = [str(dags.document(tmp_path, name)) for name in names]
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowUploadFileOperator.partial(task_id="upload", purpose="alignment").expand(file_path=paths)
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {("upload", i): "success" for i in range(3)}
    ids = [dags.xcom(dr, "upload", map_index=i) for i in range(3)]
    assert all(isinstance(i, str) for i in ids)
    assert _filenames(ids) == names
    assert dags.count(emu, "upload_file") == 3


def test_file_uri(emu, request, tmp_path):
    path = dags.document(tmp_path, "uri.md")
    dr = dags.run_dag(_upload_dag(request, f"file://{path}"))
    assert dags.states(dr) == {"upload": "success"}
    assert _filenames([dags.xcom(dr, "upload")]) == ["uri.md"]


def test_object_storage_path_of_local_file(emu, request, tmp_path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    path = dags.document(tmp_path, "osp.md")
    dr = dags.run_dag(_upload_dag(request, ObjectStoragePath(f"file://{path}")))
    assert dags.states(dr) == {"upload": "success"}
    file_id = dags.xcom(dr, "upload")
    assert isinstance(file_id, str)
    stored = SeekrFlowHook().get_file(file_id)
    assert (stored.filename, stored.bytes) == ("osp.md", path.stat().st_size)


def _assert_rejected_locally(emu, request, file_path, **kwargs):
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(_upload_dag(request, file_path, on_failure_callback=recorder, **kwargs))
    assert dags.states(dr) == {"upload": "failed"}
    assert emu.journal() == [], "a request reached the service although a local check failed"
    assert isinstance(recorder.last, SeekrFlowError)
    return recorder.last


def test_missing_file(emu, request, tmp_path):
    error = _assert_rejected_locally(emu, request, str(tmp_path / "docs" / "nope.md"))
    assert isinstance(error, SeekrFlowInvalidFileError)
    # The whole path as given: which folder was wrong matters as much as the name.
    assert str(error) == f"file_path: {tmp_path / 'docs' / 'nope.md'}: file not found"


def test_empty_file(emu, request, tmp_path):
    error = _assert_rejected_locally(emu, request, str(dags.write(tmp_path / "empty.md", "")))
    assert isinstance(error, SeekrFlowInvalidFileError)
    assert "empty" in str(error).lower()


def test_directory(emu, request, tmp_path):
    (tmp_path / "folder.md").mkdir()
    error = _assert_rejected_locally(emu, request, str(tmp_path / "folder.md"))
    assert isinstance(error, SeekrFlowInvalidFileError)


@pytest.mark.parametrize(
    ("name", "purpose"),
    [("picture.png", "alignment"), ("notes.md", "fine-tune")],
)
def test_wrong_extension_for_purpose(emu, request, tmp_path, name, purpose):
    error = _assert_rejected_locally(
        emu, request, str(dags.write(tmp_path / name, "some text\n")), purpose=purpose
    )
    assert isinstance(error, SeekrFlowInvalidFileError)
    assert name in str(error)


def test_bad_line_in_second_file_of_batch_uploads_nothing(emu, request, tmp_path):
    first = dags.write(tmp_path / "batch-first.jsonl", dags.CHAT_LINE * 3)
    second = dags.write(tmp_path / "batch-second.jsonl", dags.CHAT_LINE + dags.BAD_ROLE_LINE + dags.CHAT_LINE)
    error = _assert_rejected_locally(emu, request, [str(first), str(second)], purpose="fine-tune")

    assert isinstance(error, SeekrFlowInvalidFileError)
    message = str(error)
    assert "batch-second.jsonl" in message
    assert "line 2" in message
    assert "robot" in message and "role" in message
    stored_names = {
        f.filename for f in SeekrFlowHook().list_files()
    }  # the session emulator keeps other tests' files
    assert not stored_names & {"batch-first.jsonl", "batch-second.jsonl"}


def test_validate_false_skips_the_content_check(emu, request, tmp_path):
    """With check_content=False the bad line is not caught locally: the upload is sent, and the service refuses it."""
    bad = dags.write(tmp_path / "unchecked.jsonl", dags.CHAT_LINE + dags.BAD_ROLE_LINE)
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _upload_dag(request, str(bad), purpose="fine-tune", check_content=False, on_failure_callback=recorder)
    )
    assert dags.states(dr) == {"upload": "failed"}
    assert dags.count(emu, "upload_file") == 1
    assert isinstance(recorder.last, SeekrFlowValidationError)
    assert not isinstance(recorder.last, SeekrFlowInvalidFileError)


def test_validate_false_still_uploads_good_data(emu, request, tmp_path):
    good = dags.write(tmp_path / "good.jsonl", dags.CHAT_LINE * 2)
    dr = dags.run_dag(_upload_dag(request, str(good), purpose="fine-tune", check_content=False))
    assert dags.states(dr) == {"upload": "success"}
    assert dags.count(emu, "upload_file") == 1


def test_dropped_connection_after_upload_leaves_one_stored_file(emu, request, tmp_path):
    path = dags.document(tmp_path, "dropped.md")
    emu.set_faults([{"route": "upload_file", "kind": "drop_after", "count": 1}])
    dr = dags.run_dag(_upload_dag(request, str(path)))

    assert dags.states(dr) == {"upload": "success"}
    stored = [f for f in SeekrFlowHook().list_files(purpose="alignment") if f.filename == "dropped.md"]
    assert len(stored) == 1
    assert dags.xcom(dr, "upload") == stored[0].id
    uploads = emu.journal(route="upload_file")
    assert uploads and uploads[0]["fault"] is not None


class _WrappedJournal:
    """The operator's journal, with a test's hooks around what it notes (the journal itself runs unchanged)."""

    def __init__(self, journal, before_sending=None, before_stored=None):
        self._journal = journal
        self._before_sending = before_sending
        self._before_stored = before_stored

    def __getattr__(self, name):
        return getattr(self._journal, name)

    def sending(self, index, snapshot):
        if self._before_sending is not None:
            self._before_sending(index)
        self._journal.sending(index, snapshot)

    def stored(self, index, file_id):
        if self._before_stored is not None:
            self._before_stored(index, file_id)
        self._journal.stored(index, file_id)


class CrashOnceMidBatch(SeekrFlowUploadFileOperator):
    """Test double of a worker crash: the first try dies as it starts on the second file of the batch."""

    def _upload(self, sources, journal, *args):
        started = []

        def before_sending(index):
            started.append(index)
            if self._first_try and len(started) == 2:
                raise RuntimeError(f"simulated worker crash before uploading {sources[index].name}")

        return super()._upload(sources, _WrappedJournal(journal, before_sending=before_sending), *args)

    def execute(self, context):
        self._first_try = context["ti"].try_number == 1
        return super().execute(context)


def _task_state(dr, task_id: str, key: str):
    """Return a value of the task state store (Airflow 3.3+) as the UI reads it."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(TaskStateStoreModel)
            .filter_by(dag_id=dr.dag_id, run_id=dr.run_id, task_id=task_id, key=key)
            .one()
        )
        return json.loads(row.value)


def test_retry_after_a_partial_batch_uploads_only_the_rest(emu, request, tmp_path):
    from datetime import timedelta

    paths = [str(dags.document(tmp_path, name)) for name in ("part-one.md", "part-two.md", "part-three.md")]
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        # One at a time: the counts below follow the sequential order (test_upload_concurrency.py covers the batch).
        CrashOnceMidBatch(
            task_id="upload", file_path=paths, retries=1, retry_delay=timedelta(seconds=0), max_concurrency=1
        )
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"upload": "success"}
    ids = dags.xcom(dr, "upload")
    assert _filenames(ids) == ["part-one.md", "part-two.md", "part-three.md"]
    stored = [f.filename for f in SeekrFlowHook().list_files() if f.filename.startswith("part-")]
    if dags.AIRFLOW_V3_3:
        # The first try's upload is in the task state store: the retry sends only the two missing files.
        assert dags.count(emu, "upload_file") == 3
        assert sorted(stored) == ["part-one.md", "part-three.md", "part-two.md"]
        # The record reads plainly in the UI's task state view: one entry per file, no escaped keys.
        record = _task_state(dr, "upload", "uploaded_files")
        assert [entry["source"] for entry in record] == paths
        assert [entry["file_id"] for entry in record] == ids
        assert {entry["purpose"] for entry in record} == {"alignment"}
        assert all(entry["bytes"] == os.path.getsize(path) for entry, path in zip(record, paths, strict=True))
    else:
        # Without a task state store the retry sends the whole batch again.
        assert dags.count(emu, "upload_file") == 4


class CrashInFlight(SeekrFlowUploadFileOperator):
    """Test double of a worker killed with a file in flight: the service stores the second file, the try dies before its answer is recorded."""

    def _upload(self, sources, journal, *args):
        def before_stored(index, file_id):
            if self._try_number == 1 and sources[index].name == "flight-two.md":
                raise RuntimeError(
                    f"simulated worker crash: {sources[index].name} stored as {file_id}, answer never seen"
                )

        # The service stored it; the try dies before the answer is recorded (only the note stands).
        return super()._upload(sources, _WrappedJournal(journal, before_stored=before_stored), *args)

    def execute(self, context):
        self._try_number = context["ti"].try_number
        return super().execute(context)


def test_retry_after_a_try_killed_mid_upload_reuses_the_file_the_service_stored(emu, request, tmp_path):
    from datetime import timedelta

    paths = [
        str(dags.document(tmp_path, name)) for name in ("flight-one.md", "flight-two.md", "flight-three.md")
    ]
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        CrashInFlight(
            task_id="upload", file_path=paths, retries=1, retry_delay=timedelta(seconds=0), max_concurrency=1
        )
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"upload": "success"}
    ids = dags.xcom(dr, "upload")
    assert _filenames(ids) == ["flight-one.md", "flight-two.md", "flight-three.md"]
    stored = sorted(f.filename for f in SeekrFlowHook().list_files() if f.filename.startswith("flight-"))
    if dags.AIRFLOW_V3_3:
        # The first try noted flight-two.md before sending it: its retry found the stored file instead
        # of sending it again. One upload call per file, one stored file per file.
        assert dags.count(emu, "upload_file") == 3
        assert stored == ["flight-one.md", "flight-three.md", "flight-two.md"]
        record = _task_state(dr, "upload", "uploaded_files")
        assert [entry["file_id"] for entry in record] == ids
        assert not any("sent_at" in entry for entry in record)  # the notes gave way to the records
    else:
        # Without a task state store nothing tells the retry: the whole batch goes again.
        assert dags.count(emu, "upload_file") == 5
        assert stored.count("flight-two.md") == 2


def test_the_connection_is_templated():
    assert "seekrflow_conn_id" in SeekrFlowUploadFileOperator.template_fields
