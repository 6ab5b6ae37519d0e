"""
Nothing twice and nothing adopted when an answer is lost, over real HTTP against the emulator.

The emulator's ``<status>_after`` faults run the request and then answer 500/502/504, as a gateway
does whose backend acted; ``drop_after`` closes the connection after acting. Each once-only request
must then be found on the service (one call, one object), and a search must adopt only what this
request made: a mapped sibling's job, a sweep sibling's fine-tune or a same-named file never.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.client import data_jobs, fine_tunes
from airflow_provider_seekrflow.exceptions import SeekrFlowAmbiguousResultError, SeekrFlowConnectionError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
from tests.emulator.operators import seekrflow_dag_support as dags

SYSTEM_PROMPT = "You answer questions about the store's returns policy, briefly."
LOST_AFTER_ACTING = ["500_after", "502_after", "504_after"]


def conversation(word: str) -> str:
    """One fine-tune JSONL line; lines of equal-length words have equal sizes."""
    line = {"messages": [{"role": "user", "content": word}, {"role": "assistant", "content": word[::-1]}]}
    return json.dumps(line) + "\n"


@pytest.fixture
def hook(emu) -> SeekrFlowHook:
    emu.configure(job_duration=0.5, ingestion_seconds=0.2, fine_tune_duration=0.5)
    return SeekrFlowHook()


def data_job_ids() -> set[str]:
    return {job.id for job in SeekrFlowHook().call(data_jobs.list_jobs()).data}


def fine_tune_list() -> list[fine_tunes.FineTune]:
    return SeekrFlowHook().call(fine_tunes.list_jobs()).data or []


# -- every once-only request: a 5xx after acting is a lost answer, reconciled ----------------------


@pytest.mark.parametrize("kind", LOST_AFTER_ACTING)
def test_upload_answered_5xx_after_storing_is_stored_once(hook, emu, tmp_path, kind):
    path = dags.document(tmp_path, "returns.md")
    before = {f.id for f in hook.list_files(purpose="alignment")}
    emu.set_faults([{"route": "upload_file", "kind": kind, "count": 1}])

    stored = hook.upload_file(path, "alignment")

    new = [f for f in hook.list_files(purpose="alignment") if f.id not in before]
    assert [f.id for f in new] == [stored.id]
    assert dags.count(emu, "upload_file") == 1


@pytest.mark.parametrize("kind", LOST_AFTER_ACTING)
def test_data_job_create_add_files_and_start_answered_5xx_after_acting_happen_once(hook, emu, tmp_path, kind):
    file_id = hook.upload_file(dags.document(tmp_path, "returns.md"), "alignment").id
    before = data_job_ids()
    emu.clear_journal()
    emu.set_faults(
        [
            {"route": route, "kind": kind, "count": 1}
            for route in ("submit_data_job", "add_files_to_data_job", "start_data_job")
        ]
    )

    job = hook.create_data_job(f"lost-{kind}", "principle_files", system_prompt=SYSTEM_PROMPT)
    detail = hook.add_data_job_files(job.id, [file_id])
    started = hook.start_data_job(job.id)

    assert data_job_ids() - before == {job.id}
    assert data_jobs.attached_file_ids(detail) == {file_id}
    assert started.id == job.id and data_jobs.was_started(started)
    for route in ("submit_data_job", "add_files_to_data_job", "start_data_job"):
        assert dags.count(emu, route) == 1, route


@pytest.mark.parametrize("kind", LOST_AFTER_ACTING)
def test_project_and_fine_tune_create_answered_5xx_after_acting_make_one_each(hook, emu, tmp_path, kind):
    training = dags.write(tmp_path / "train.jsonl", conversation("refund") * 3)
    file_id = hook.upload_file(training, "fine-tune").id
    before = {job.id for job in fine_tune_list()}
    emu.clear_journal()
    emu.set_faults([{"route": r, "kind": kind, "count": 1} for r in ("create_project", "create_fine_tune")])

    project = hook.ensure_project(f"lost-{kind}-{file_id}", "a project")
    job = hook.create_fine_tune(
        project_id=project.id,
        training_files=[file_id],
        model="meta-llama/Llama-3.1-8B-Instruct",
        n_epochs=1,
        accel_type="H100",
        n_accel=1,
    )

    assert [j.id for j in fine_tune_list() if j.id not in before] == [job.id]
    assert hook.find_project(project.name).id == project.id
    assert dags.count(emu, "create_project") == 1
    assert dags.count(emu, "create_fine_tune") == 1


@pytest.mark.parametrize("kind", LOST_AFTER_ACTING)
def test_generate_answered_5xx_after_acting_starts_one_job(hook, emu, tmp_path, kind):
    file_id = hook.upload_file(dags.document(tmp_path, "returns.md"), "alignment").id
    before = {job.id for job in hook.list_alignment_jobs()}
    emu.set_faults([{"route": "alignment_generate", "kind": kind, "count": 1}])

    job = hook.generate_alignment("Teach the returns policy.", [file_id])

    assert {j.id for j in hook.list_alignment_jobs()} - before == {job.id}
    assert dags.count(emu, "alignment_generate") == 1


@pytest.mark.parametrize(
    ("route", "listing"), [("upload_file", "list_files"), ("alignment_generate", "list_alignment_jobs")]
)
def test_a_lost_answer_whose_search_fails_is_raised_and_never_resent(hook, emu, tmp_path, route, listing):
    file_id = hook.upload_file(dags.document(tmp_path, "returns.md"), "alignment").id
    emu.clear_journal()
    # The listing before sending (the snapshot) passes; the search after the lost answer fails.
    emu.set_faults(
        [
            {"route": route, "kind": "drop_after", "count": 1},
            {"route": listing, "kind": "503", "skip": 1, "count": 10},
        ]
    )

    with pytest.raises(SeekrFlowConnectionError) as caught:
        if route == "upload_file":
            hook.upload_file(dags.document(tmp_path, "other.md"), "alignment")
        else:
            hook.generate_alignment("Teach the returns policy.", [file_id])

    assert caught.value.may_have_reached_service is True
    assert caught.value.method in ("PUT", "POST")
    assert dags.count(emu, route) == 1


def test_two_new_candidates_are_ambiguous_and_neither_is_adopted(hook, emu, tmp_path):
    # Two uploads of one name and size land between the snapshot and the search (a concurrent run).
    path = dags.write(tmp_path / "data.jsonl", conversation("abcd"))
    snapshot = hook.snapshot_files("fine-tune")
    twins = {hook.upload_file(path, "fine-tune").id for _ in range(2)}
    emu.set_faults([{"route": "upload_file", "kind": "502_after", "count": 1}])

    with pytest.raises(SeekrFlowAmbiguousResultError, match="new object"):
        hook.upload_file(path, "fine-tune", snapshot=snapshot)

    assert len(twins) == 2
    assert dags.count(emu, "upload_file") == 3


# -- through Airflow: mapped siblings, sweeps and same-named files ---------------------------------


def test_mapped_data_jobs_with_a_lost_create_get_a_job_each_with_its_own_files(hook, emu, request, tmp_path):
    ids = [hook.upload_file(dags.document(tmp_path, f"doc{n}.md"), "alignment").id for n in range(2)]
    emu.clear_journal()
    # Map index 1's create is lost after the job was made; in the old search it adopted index 0's job.
    emu.set_faults([{"route": "submit_data_job", "kind": "drop_after", "skip": 1, "count": 1}])
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowDataJobOperator.partial(
            task_id="pairs", system_prompt=SYSTEM_PROMPT, wait_for_completion=False, **dags.FAST_POLL
        ).expand(files=[[ids[0]], [ids[1]]])

    dr = dags.run_dag(dag)

    assert set(dags.states(dr).values()) == {"success"}
    jobs = [dags.xcom(dr, "pairs", map_index=index)["job_id"] for index in (0, 1)]
    assert len(set(jobs)) == 2
    for index, job_id in enumerate(jobs):
        detail = hook.get_data_job(job_id)
        assert data_jobs.attached_file_ids(detail) == {ids[index]}
        assert detail.name.endswith(f".{index}.try1")
    assert dags.count(emu, "submit_data_job") == 2


def test_a_fine_tune_sweep_with_a_lost_create_trains_every_configuration(hook, emu, request, tmp_path):
    file_id = hook.upload_file(
        dags.write(tmp_path / "train.jsonl", conversation("refund") * 3), "fine-tune"
    ).id
    emu.clear_journal()
    emu.set_faults([{"route": "create_fine_tune", "kind": "502_after", "skip": 1, "count": 1}])
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowFineTuneOperator.partial(
            task_id="tune",
            training_files=[file_id],
            model="meta-llama/Llama-3.1-8B-Instruct",
            n_epochs=1,
            project_name=f"sweep-{file_id}",
            wait_for_completion=False,
            **dags.FAST_POLL,
        ).expand(learning_rate=[1e-5, 3e-5])

    dr = dags.run_dag(dag)

    assert set(dags.states(dr).values()) == {"success"}
    made = {job.id: job for job in fine_tune_list() if job.training_files == [file_id]}
    assert len(made) == 2
    for index, rate in enumerate((1e-5, 3e-5)):
        job = made[dags.xcom(dr, "tune", map_index=index)["job_id"]]
        assert float((job.model_extra or {})["learning_rate"]) == pytest.approx(rate)
    assert dags.count(emu, "create_fine_tune") == 2


def test_same_name_same_size_files_get_two_ids_and_their_own_bytes(hook, emu, request, tmp_path):
    first = dags.write(tmp_path / "a" / "data.jsonl", conversation("abcd"))
    second = dags.write(tmp_path / "b" / "data.jsonl", conversation("wxyz"))
    assert first.stat().st_size == second.stat().st_size
    # The second upload's answer is lost after the file was stored.
    emu.set_faults([{"route": "upload_file", "kind": "drop_after", "skip": 1, "count": 1}])
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowUploadFileOperator(
            task_id="upload", file_path=[str(first), str(second)], purpose="fine-tune"
        )

    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"upload": "success"}
    ids = dags.xcom(dr, "upload")
    assert len(set(ids)) == 2
    for file_id, source in zip(ids, (first, second), strict=True):
        copy = hook.download_file(file_id, tmp_path / f"{file_id}.jsonl")
        assert Path(copy).read_bytes() == source.read_bytes()
    assert dags.count(emu, "upload_file") == 2


class _FiveMinutesAhead(datetime):
    """The worker's clock, five minutes ahead of the service's."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return datetime.now(tz) + timedelta(minutes=5)


@pytest.mark.skipif(
    not dags.AIRFLOW_V3_3, reason="a retry finds its job through the task state store (Airflow 3.3+)"
)
def test_a_worker_clock_five_minutes_ahead_still_makes_one_data_job(
    hook, emu, request, tmp_path, monkeypatch
):
    from airflow_provider_seekrflow.operators import job_submission

    monkeypatch.setattr(job_submission, "datetime", _FiveMinutesAhead)
    file_id = hook.upload_file(dags.document(tmp_path, "returns.md"), "alignment").id
    emu.clear_journal()
    # The create's answer is lost and so is the search: the retry must find the job by its note.
    # A search by the worker's send time (minus a 2-minute allowance) skips a job the service
    # stamped 5 minutes "earlier" and creates a second one.
    emu.set_faults(
        [
            {"route": "submit_data_job", "kind": "drop_after", "count": 1},
            {"route": "list_data_jobs", "kind": "503", "skip": 1, "count": 1},
        ]
    )
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowDataJobOperator(
            task_id="pairs",
            files=[file_id],
            system_prompt=SYSTEM_PROMPT,
            wait_for_completion=False,
            hook_params={"max_retries": 0},
            retries=1,
            retry_delay=timedelta(seconds=0),
            **dags.FAST_POLL,
        )

    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"pairs": "success"}
    assert dags.count(emu, "submit_data_job") == 1
    made = [
        job
        for job in SeekrFlowHook().call(data_jobs.list_jobs()).data
        if job.name and job.name.startswith(dag.dag_id)
    ]
    assert [job.id for job in made] == [dags.xcom(dr, "pairs")["job_id"]]
