"""Concurrent batch uploads (``max_concurrency``), run by Airflow (``dag.test()``) against the emulator over real HTTP."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowInvalidFileError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from tests.emulator.operators import seekrflow_dag_support as dags
from tests.emulator.operators.test_upload_file_operator import _WrappedJournal

# Seconds the emulator holds each upload: long enough that overlap, or its absence, is plain.
UPLOAD_DELAY = 0.6


def _dag(request, file_path, operator=SeekrFlowUploadFileOperator, suffix="", **kwargs):
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        operator(task_id="upload", file_path=file_path, **kwargs)
    return dag


def _documents(tmp_path, prefix, count):
    return [str(dags.document(tmp_path, f"{prefix}-{i:02d}.md")) for i in range(count)]


def _stored(prefix):
    """The emulator's files whose name starts with ``prefix``, oldest first: ``[(filename, id)]``."""
    listed = SeekrFlowHook().list_files(sort_by="created_at", sort_order="asc", limit=1000)
    return [(f.filename, f.id) for f in listed if (f.filename or "").startswith(prefix)]


def _filenames(ids):
    hook = SeekrFlowHook()
    return [hook.get_file(file_id).filename for file_id in ids]


def test_uploads_overlap_and_ids_come_back_in_input_order(emu, request, tmp_path):
    paths = _documents(tmp_path, "overlap", 8)
    emu.set_faults([{"route": "upload_file", "kind": "delay", "delay": UPLOAD_DELAY}])
    dr = dags.run_dag(_dag(request, paths, max_concurrency=8))

    assert dags.states(dr) == {"upload": "success"}
    ids = dags.xcom(dr, "upload")
    assert _filenames(ids) == [f"overlap-{i:02d}.md" for i in range(8)]
    # Every upload reached the emulator before the first could have been answered: all 8 in flight at once.
    arrivals = sorted(entry["ts"] for entry in emu.journal(route="upload_file"))
    assert len(arrivals) == 8
    assert arrivals[-1] - arrivals[0] < UPLOAD_DELAY, (
        f"uploads arrived over {arrivals[-1] - arrivals[0]:.2f} s"
    )


def _most_arrivals_within(arrivals, window):
    """The most requests that arrived within ``window`` seconds of each other: all in flight together, if each takes longer."""
    return max(sum(1 for other in arrivals if 0 <= other - first < window) for first in arrivals)


def test_no_more_than_max_concurrency_files_are_in_flight(emu, request, tmp_path):
    paths = _documents(tmp_path, "bounded", 9)
    emu.set_faults([{"route": "upload_file", "kind": "delay", "delay": UPLOAD_DELAY}])
    dr = dags.run_dag(_dag(request, paths, max_concurrency=3))

    assert dags.states(dr) == {"upload": "success"}
    arrivals = sorted(entry["ts"] for entry in emu.journal(route="upload_file"))
    # Each upload is held 0.6 s: requests arriving within less than that were in flight together.
    assert _most_arrivals_within(arrivals, 0.9 * UPLOAD_DELAY) == 3
    # Three waves of three: the last wave starts after two uploads' time at least.
    assert arrivals[-1] - arrivals[0] >= 2 * UPLOAD_DELAY


def test_max_concurrency_1_sends_in_input_order_one_at_a_time(emu, request, tmp_path):
    names = ["seq-c.md", "seq-a.md", "seq-b.md", "seq-d.md"]
    paths = [str(dags.document(tmp_path, name)) for name in names]
    emu.set_faults([{"route": "upload_file", "kind": "delay", "delay": 0.2}])
    dr = dags.run_dag(_dag(request, paths, max_concurrency=1))

    assert dags.states(dr) == {"upload": "success"}
    assert _filenames(dags.xcom(dr, "upload")) == names
    assert [name for name, _ in _stored("seq-")] == names  # stored in input order
    arrivals = sorted(entry["ts"] for entry in emu.journal(route="upload_file"))
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(arrivals))


def test_lost_answers_on_several_files_of_one_batch_store_each_file_once(emu, request, tmp_path):
    # Two files of the same name and size (in two folders) among them: the rule that matters most.
    paths = _documents(tmp_path, "lost", 6)
    same_a = str(dags.document(tmp_path / "a", "lost-same.md"))
    same_b = str(dags.document(tmp_path / "b", "lost-same.md"))
    paths = [paths[0], same_a, *paths[1:4], same_b, *paths[4:]]
    # Every upload's answer is lost after the service stored it: each file is found, none sent twice.
    emu.set_faults([{"route": "upload_file", "kind": "502_after", "count": len(paths)}])
    dr = dags.run_dag(_dag(request, paths, max_concurrency=8))

    assert dags.states(dr) == {"upload": "success"}
    ids = dags.xcom(dr, "upload")
    assert len(set(ids)) == len(paths)
    stored = _stored("lost-")
    assert sorted(name for name, _ in stored) == sorted(p.rsplit("/", 1)[1] for p in paths)
    assert sorted(file_id for _, file_id in stored) == sorted(ids)
    assert _filenames(ids) == [p.rsplit("/", 1)[1] for p in paths]
    assert dags.count(emu, "upload_file") == len(paths)  # never sent again


def test_a_bad_file_among_many_fails_before_any_upload(emu, request, tmp_path):
    paths = _documents(tmp_path, "many", 30)
    paths.insert(17, str(dags.write(tmp_path / "many-empty.md", "")))
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(_dag(request, paths, max_concurrency=16, on_failure_callback=recorder))

    assert dags.states(dr) == {"upload": "failed"}
    assert isinstance(recorder.last, SeekrFlowInvalidFileError)
    assert "many-empty.md" in str(recorder.last)
    assert emu.journal() == [], "a request reached the service although a local check failed"


@pytest.mark.parametrize("value", [0, 33, -1, True, 2.5, "8"])
def test_a_bad_max_concurrency_is_refused_naming_the_field(value):
    if value == "8":  # a template's text is read once rendered: accepted here
        SeekrFlowUploadFileOperator(task_id="upload", file_path="/x.md", max_concurrency=value)
        return
    with pytest.raises(SeekrFlowConfigError, match=r"^max_concurrency: must be a whole number from 1 to 32"):
        SeekrFlowUploadFileOperator(task_id="upload", file_path="/x.md", max_concurrency=value)


def test_a_templated_max_concurrency_is_read_once_rendered(emu, request, tmp_path):
    paths = _documents(tmp_path, "templated", 3)
    dr = dags.run_dag(_dag(request, paths, max_concurrency="{{ params.n }}", params={"n": 2}))
    assert dags.states(dr) == {"upload": "success"}

    recorder = dags.FailureRecorder()
    bad = _dag(
        request,
        paths,
        suffix="bad",
        max_concurrency="{{ params.n }}",
        params={"n": "lots"},
        on_failure_callback=recorder,
    )
    assert dags.states(dags.run_dag(bad)) == {"upload": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError)
    assert str(recorder.last).startswith("max_concurrency: ")


class CrashOnTheFourthSend(SeekrFlowUploadFileOperator):
    """Test double of a worker dying with a concurrent batch half done: the fourth file to start is never sent."""

    def _upload(self, sources, journal, *args):
        started = []

        def before_sending(index):
            started.append(index)
            if self._first_try and len(started) == 4:
                raise RuntimeError(f"simulated worker crash before uploading {sources[index].name}")

        return super()._upload(sources, _WrappedJournal(journal, before_sending=before_sending), *args)

    def execute(self, context):
        self._first_try = context["ti"].try_number == 1
        return super().execute(context)


class CrashWithAnswerUnrecorded(SeekrFlowUploadFileOperator):
    """Test double of a worker dying with files in flight: the service stores file 2, the try never records its answer."""

    def _upload(self, sources, journal, *args):
        def before_stored(index, file_id):
            if self._first_try and index == 2:
                raise RuntimeError(f"simulated worker crash: {sources[index].name} stored as {file_id}")

        return super()._upload(sources, _WrappedJournal(journal, before_stored=before_stored), *args)

    def execute(self, context):
        self._first_try = context["ti"].try_number == 1
        return super().execute(context)


def _record(dr):
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(TaskStateStoreModel)
            .filter_by(dag_id=dr.dag_id, run_id=dr.run_id, task_id="upload", key="uploaded_files")
            .one()
        )
        return json.loads(row.value)


@pytest.mark.skipif(not dags.AIRFLOW_V3_3, reason="a retry resumes from the task state store (Airflow 3.3+)")
@pytest.mark.parametrize("operator", [CrashOnTheFourthSend, CrashWithAnswerUnrecorded])
def test_a_retry_resumes_a_half_done_concurrent_batch(emu, request, tmp_path, operator):
    prefix = f"resume{operator.__name__[5:9].lower()}"
    paths = _documents(tmp_path, prefix, 8)
    # Slow uploads, so several are in flight when the try dies.
    emu.set_faults([{"route": "upload_file", "kind": "delay", "delay": 0.2}])
    dag = _dag(request, paths, operator=operator, max_concurrency=3, retries=1, retry_delay=timedelta(0))
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"upload": "success"}
    ids = dags.xcom(dr, "upload")
    assert _filenames(ids) == [p.rsplit("/", 1)[1] for p in paths]
    # Each file stored once, and sent once: what the first try stored (even unrecorded) is reused.
    assert sorted(name for name, _ in _stored(prefix)) == sorted(p.rsplit("/", 1)[1] for p in paths)
    assert dags.count(emu, "upload_file") == len(paths)
    record = _record(dr)
    assert sorted(entry["file_id"] for entry in record) == sorted(ids)
    assert not any("sent_at" in entry for entry in record)
