"""The deployment kind's pure logic: request checks, reuse and lost-create search, status meanings, cancel, result."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_seekrflow.client import deployments
from airflow_provider_seekrflow.client.deployments import Deployment
from airflow_provider_seekrflow.client.lost_answers import Snapshot
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAmbiguousResultError,
    SeekrFlowConfigError,
    SeekrFlowValidationError,
)
from airflow_provider_seekrflow.jobs.base import UNTIL_END, run_sync
from airflow_provider_seekrflow.jobs.deployment import (
    DEPLOYMENT,
    SeekrFlowDeploymentFailedError,
    SeekrFlowDeploymentInactiveError,
    deployment_result,
)
from airflow_provider_seekrflow.jobs.kinds import KINDS
from airflow_provider_seekrflow.jobs.resume import ResumeAction, decide_resume
from airflow_provider_seekrflow.vocabulary import DeploymentStatus

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
REQUEST = {
    "name": "support bot",
    "model_id": "ft-1",
    "model_type": "Fine-tuned Run",
    "n_instances": 2,
    "description": "Served by tests",
}


def _deployment(deployment_id: str, status: str = "Active", minutes: int = 0, **fields) -> Deployment:
    values = {
        "id": deployment_id,
        "name": "support bot",
        "model_id": "ft-1",
        "model_type": "Fine-tuned Run",
        "n_instances": 2,
        "status": status,
        "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        **fields,
    }
    return Deployment.model_validate(values)


# ------------------------------------------------------------------------------ request checks


def test_a_valid_request_is_the_contracts_body():
    assert deployments.create_request(**REQUEST) == {
        "name": "support bot",
        "description": "Served by tests",
        "model_type": "Fine-tuned Run",
        "model_id": "ft-1",
        "n_instances": 2,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "four"),
        ("name", "x" * 101),
        ("name", "     "),
        ("description", "tiny"),
        ("description", "x" * 1001),
        ("model_type", "LoRA"),
        ("model_id", ""),
        ("model_id", "   "),
        ("model_id", None),
        ("n_instances", 0),
        ("n_instances", 51),
        ("n_instances", True),
        ("n_instances", "2"),
    ],
)
def test_each_bound_of_the_contract_is_checked_locally_naming_the_field(field, value):
    with pytest.raises(SeekrFlowConfigError, match=f"^{field}: "):
        deployments.create_request(**{**REQUEST, field: value})


def test_the_bounds_themselves_are_accepted():
    deployments.create_request(**{**REQUEST, "name": "x" * 5, "description": "y" * 1000, "n_instances": 50})
    deployments.create_request(**{**REQUEST, "name": "x" * 100, "model_type": "Base Model", "n_instances": 1})


@pytest.mark.parametrize(
    ("given", "expected"),
    [("dep-1", "dep-1"), ({"job_id": "dep-2", "status": "Active"}, "dep-2"), (" dep-3 ", "dep-3")],
)
def test_a_deployment_id_is_taken_as_text_or_as_a_result(given, expected):
    assert deployments.checked_id(given) == expected


@pytest.mark.parametrize("given", ["", None, {"status": "Active"}, "../x", 7])
def test_a_deployment_id_that_is_not_one_is_refused(given):
    with pytest.raises(SeekrFlowConfigError, match="deployment_id"):
        deployments.checked_id(given)


# -------------------------------------------------------------------------------- liberal reads


def test_the_model_reads_liberally():
    deployment = Deployment.model_validate(
        {
            "id": "dep-1",
            "status": "Warming",
            "n_instances": "3",
            "total_input_tokens": "120",
            "total_output_tokens": None,
            "processor": "H100",
            "created_at": "not a time",
        }
    )
    assert (deployment.n_instances, deployment.total_input_tokens, deployment.total_output_tokens) == (
        3,
        120,
        None,
    )
    assert deployment.model_extra == {"processor": "H100"}
    assert deployment.created_at is None
    assert not deployment.is_terminal and not deployment.succeeded


# ------------------------------------------------------------------------------ status meanings


def test_active_is_the_one_success_and_failed_and_inactive_end_the_wait():
    assert DEPLOYMENT.success_status == "Active"
    assert DEPLOYMENT.terminal_states == {"Active", "Failed", "Inactive"}
    assert DeploymentStatus.unsuccessful_states() == {"Failed", "Inactive"}
    assert KINDS["deployment"] is DEPLOYMENT
    assert (DEPLOYMENT.job_id_xcom_key, DEPLOYMENT.state_key) == ("deployment_id", "seekrflow_deployment_id")


@pytest.mark.parametrize("status", ["Pending", "Started", "Success", "Warming"])
def test_undocumented_and_unknown_statuses_read_as_not_finished(status):
    deployment = _deployment("dep-1", status)
    assert not deployment.is_terminal and not deployment.succeeded
    assert (
        decide_resume(
            "dep-1",
            status,
            durable=True,
            terminal_states=DEPLOYMENT.terminal_states,
            success_status=DEPLOYMENT.success_status,
        ).action
        is ResumeAction.REATTACH
    )


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("Active", ResumeAction.REUSE),
        ("Pending", ResumeAction.REATTACH),
        ("Failed", ResumeAction.SUBMIT),
        ("Inactive", ResumeAction.SUBMIT),
    ],
)
def test_a_retry_reuses_a_serving_deployment_and_reattaches_to_a_starting_one(status, action):
    decision = decide_resume(
        "dep-1",
        status,
        durable=True,
        terminal_states=DEPLOYMENT.terminal_states,
        success_status=DEPLOYMENT.success_status,
    )
    assert decision.action is action


def test_the_other_kinds_keep_completed_as_success():
    assert {key: kind.success_status for key, kind in KINDS.items() if key != "deployment"} == {
        "alignment": "completed",
        "data_job": "completed",
        "fine_tune": "completed",
        "vector_ingestion": "completed",
    }


# ------------------------------------------------------------------------------------ failures


def test_failed_names_the_deployment_and_what_the_service_said():
    deployment = _deployment("dep-9", "Failed", status_message="no accelerator was free")
    error = DEPLOYMENT.watch(UNTIL_END, print).failure(deployment)
    assert type(error) is SeekrFlowDeploymentFailedError
    assert (error.job_id, error.status, error.status_message) == (
        "dep-9",
        "Failed",
        "no accelerator was free",
    )
    assert "dep-9" in str(error) and "support bot" in str(error) and "no accelerator was free" in str(error)


def test_failed_without_a_reason_says_so():
    error = DEPLOYMENT.watch(UNTIL_END, print).failure(_deployment("dep-9", "Failed"))
    assert "the service gave no reason" in str(error)


def test_inactive_is_its_own_error():
    error = DEPLOYMENT.watch(UNTIL_END, print).failure(_deployment("dep-9", "Inactive"))
    assert type(error) is SeekrFlowDeploymentInactiveError
    assert "demoted" in str(error) and error.status_message is None


# ---------------------------------------------------------------------------------------- result


def test_the_result_holds_id_status_model_instances_and_tokens():
    deployment = _deployment("dep-1", total_input_tokens=10, total_output_tokens="4")
    assert deployment_result(deployment) == {
        "job_id": "dep-1",
        "status": "Active",
        "model_id": "ft-1",
        "model_type": "Fine-tuned Run",
        "n_instances": 2,
        "total_input_tokens": 10,
        "total_output_tokens": 4,
        "usage": {"input_tokens": 10, "output_tokens": 4},
    }
    result = run_sync(DEPLOYMENT.watch(UNTIL_END, print).result(deployment), lambda call: None)
    assert result.value == deployment_result(deployment) and result.training_file_id is None


# ---------------------------------------------------------------------------------------- cancel


class _Service:
    """Answers the kind's calls from a script: a status for each read, a result (or error) for the demote."""

    def __init__(self, statuses: list[str], demote: object = None) -> None:
        self.statuses = statuses
        self.demote = demote
        self.sent: list[str] = []

    def __call__(self, call):
        self.sent.append(call.endpoint.name)
        if call.endpoint.name == "demote_deployment":
            if isinstance(self.demote, Exception):
                raise self.demote
            return _deployment("dep-1", "Inactive")
        return _deployment("dep-1", self.statuses.pop(0))


@pytest.mark.parametrize("status", ["Pending", "Active"])
def test_cancel_demotes_a_deployment_that_holds_instances(status):
    service = _Service([status])
    assert run_sync(DEPLOYMENT.cancel("dep-1"), service).status == "Inactive"
    assert service.sent == ["get_deployment", "demote_deployment"]


@pytest.mark.parametrize("status", ["Inactive", "Failed", "Started"])
def test_cancel_leaves_a_deployment_that_holds_none(status):
    service = _Service([status])
    assert run_sync(DEPLOYMENT.cancel("dep-1"), service).status == status
    assert service.sent == ["get_deployment"]


def test_cancel_takes_a_409_as_already_stopped():
    refused = SeekrFlowValidationError("out of turn", status_code=409)
    service = _Service(["Pending", "Inactive"], demote=refused)
    assert run_sync(DEPLOYMENT.cancel("dep-1"), service).status == "Inactive"
    assert service.sent == ["get_deployment", "demote_deployment", "get_deployment"]


def test_cancel_raises_any_other_refusal():
    service = _Service(["Pending"], demote=SeekrFlowValidationError("bad", status_code=422))
    with pytest.raises(SeekrFlowValidationError):
        run_sync(DEPLOYMENT.cancel("dep-1"), service)


# ------------------------------------------------------------------------------------- reuse


def test_reuse_finds_the_same_name_and_model_not_failed_best_first():
    listed = [
        _deployment("dep-old-inactive", "Inactive", 0),
        _deployment("dep-failed", "Failed", 1),
        _deployment("dep-pending", "Pending", 2),
        _deployment("dep-active", "Active", 3),
        _deployment("dep-other-name", "Active", 4, name="another bot"),
        _deployment("dep-other-model", "Active", 5, model_id="ft-2"),
    ]
    found = deployments.find_reusable(listed, "support bot", "ft-1")
    assert [d.id for d in found] == ["dep-active", "dep-pending", "dep-old-inactive"]


def test_reuse_finds_nothing_when_only_a_failed_one_exists():
    assert deployments.find_reusable([_deployment("dep-1", "Failed")], "support bot", "ft-1") == []


# ---------------------------------------------------------------------------- lost-create search


def test_a_lost_create_adopts_the_one_new_matching_deployment():
    before = Snapshot.of([_deployment("dep-old")])
    listed = [_deployment("dep-old"), _deployment("dep-new", "Pending", 1)]
    assert deployments.find_lost_deployment(listed, REQUEST, before).id == "dep-new"


def test_a_lost_create_never_adopts_one_listed_before():
    before = Snapshot.of([_deployment("dep-old")])
    assert deployments.find_lost_deployment([_deployment("dep-old")], REQUEST, before) is None


@pytest.mark.parametrize(
    "field", [{"name": "another bot"}, {"model_id": "ft-2"}, {"model_type": "Base Model"}, {"n_instances": 3}]
)
def test_a_lost_create_never_adopts_a_new_one_of_another_request(field):
    listed = [_deployment("dep-new", "Pending", 1, **field)]
    assert deployments.find_lost_deployment(listed, REQUEST, Snapshot()) is None


def test_two_new_matching_deployments_are_ambiguous():
    listed = [_deployment("dep-a", "Pending", 1), _deployment("dep-b", "Pending", 2)]
    with pytest.raises(SeekrFlowAmbiguousResultError, match="dep-a, dep-b"):
        deployments.find_lost_deployment(listed, REQUEST, Snapshot())


def test_a_new_one_that_does_not_echo_name_and_model_is_ambiguous():
    listed = [Deployment.model_validate({"id": "dep-x", "status": "Pending"})]
    with pytest.raises(SeekrFlowAmbiguousResultError):
        deployments.find_lost_deployment(listed, REQUEST, Snapshot())


def test_listing_every_page_is_a_complete_snapshot():
    pages = [[_deployment(f"dep-{n}") for n in range(deployments.PAGE_SIZE)], [_deployment("dep-last")]]
    sent = []

    def answer(call):
        sent.append(call.query())
        return deployments.DeploymentList(data=pages[len(sent) - 1])

    listed, complete = run_sync(deployments.list_all(), answer)
    assert complete and len(listed) == deployments.PAGE_SIZE + 1
    assert sent == [{"skip": 0, "limit": 100}, {"skip": 100, "limit": 100}]
    snapshot = deployments.snapshot_of(listed, complete)
    assert snapshot.complete and snapshot.is_new(_deployment("dep-brand-new"))


def test_the_reused_marker_key_sits_beside_the_kinds_state_key():
    from airflow_provider_seekrflow.operators.deployment_task import REUSED_STATE_KEY

    assert f"{DEPLOYMENT.state_key}_reused" == REUSED_STATE_KEY
