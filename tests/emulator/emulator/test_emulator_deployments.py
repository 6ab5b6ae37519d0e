"""Issue 22, item 5: the emulator's deployments over real HTTP, against openapi.yaml's shapes.

- create -> ``Pending`` for ``deployment_duration`` -> ``Active``; ``deployment_outcome: Failed``
  -> ``Failed`` with its ``status_message``.
- promote/demote: ``Active`` -> demote -> ``Inactive`` -> promote -> ``Pending`` -> ``Active``; out of
  turn (promote while ``Pending``/``Active``/``Failed``, demote while ``Inactive``) 409 with a ``detail``.
- create refusals (404 unknown fine-tune, 422 naming the field), paging with ``skip``/``limit``.
- token counters grow with chat completions; a project's ``runs_deployed`` follows its Active runs.
- fault rules and the journal know the new routes by their operationIds.
"""

from __future__ import annotations

import time

import pytest

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from tests.emulator.emulator import serving_helpers as serving

deployments_emulator, emu = serving.serving_emulator_fixture("deployments")


@pytest.fixture
def model(emu: SeekrFlowEmulator) -> str:
    """A completed fine-tune's model id (the fine-tune's id) trained on ``TRAINING_PAIRS``."""
    return str(serving.fine_tune(emu, serving.upload(emu, "pairs.jsonl", serving.training_jsonl()))["id"])


def create(emu: SeekrFlowEmulator, model_id: str, **changes: object) -> dict:
    return serving.check(
        serving.DEPLOYMENT,
        serving.call(emu, "POST", "/v1/flow/deployments", serving.deployment_body(model_id, **changes)),
    )


def act(emu: SeekrFlowEmulator, deployment_id: str, action: str, status: int = 200) -> dict:
    answer = serving.call(emu, "PUT", f"/v1/flow/deployments/{deployment_id}/{action}")
    return serving.check(serving.DEPLOYMENT if status == 200 else serving.ERROR_DETAIL, answer, status)


def test_a_new_deployment_is_pending_for_the_configured_time_then_active(emu, model):
    emu.configure(deployment_duration=1.0)
    started = time.monotonic()
    created = create(emu, model, n_instances=3)
    assert created["status"] == "Pending"
    assert created["model_id"] == model and created["model_type"] == "Fine-tuned Run"
    assert created["n_instances"] == 3
    assert created["last_deployed_at"] is None
    assert (created["total_input_tokens"], created["total_output_tokens"]) == (0, 0)

    seen = serving.poll(
        lambda: serving.get_deployment(emu, created["id"]), lambda d: d["status"] != "Pending"
    )
    assert time.monotonic() - started >= 0.9
    statuses = [d["status"] for d in seen]
    assert statuses[-1] == "Active" and set(statuses[:-1]) == {"Pending"}, statuses
    active = seen[-1]
    assert active["last_deployed_at"] is not None and active["updated_at"] > created["updated_at"]
    assert "status_message" not in active
    listed = serving.check(serving.DEPLOYMENT_LIST, serving.call(emu, "GET", "/v1/flow/deployments"))["data"]
    assert [d["id"] for d in listed] == [created["id"]] and listed[0]["status"] == "Active"


def test_the_failure_switch_ends_in_failed_with_its_message_and_nothing_is_served(emu, model):
    emu.configure(deployment_outcome="failed", deployment_status_message="No H100 free in the region")
    failed = serving.deploy(emu, model)
    assert failed["status"] == "Failed"
    assert failed["status_message"] == "No H100 free in the region"
    assert failed["last_deployed_at"] is None
    assert serving.chat(emu, model, serving.TRAINING_PAIRS[0][0]).status_code == 404

    emu.configure(deployment_outcome="Failed")  # no message given: the default one
    assert "emulated failure" in serving.deploy(emu, model)["status_message"]
    # Failed is out of turn for promote; demote releases it.
    act(emu, failed["id"], "promote", 409)
    assert act(emu, failed["id"], "demote")["status"] == "Inactive"


def test_demote_then_promote_and_every_out_of_turn_refusal(emu, model):
    deployment = serving.deploy(emu, model)
    assert deployment["status"] == "Active"
    refusal = act(emu, deployment["id"], "promote", 409)
    assert "Active" in refusal["detail"]

    demoted = act(emu, deployment["id"], "demote")
    assert (
        demoted["status"] == "Inactive"
        and serving.get_deployment(emu, deployment["id"])["status"] == "Inactive"
    )
    assert demoted["last_deployed_at"] == deployment["last_deployed_at"]  # kept after the demote
    assert serving.chat(emu, model, serving.TRAINING_PAIRS[0][0]).status_code == 404
    assert "Inactive" in act(emu, deployment["id"], "demote", 409)["detail"]

    promoted = act(emu, deployment["id"], "promote")
    assert promoted["status"] == "Pending"
    assert "Pending" in act(emu, deployment["id"], "promote", 409)["detail"]
    again = serving.poll(
        lambda: serving.get_deployment(emu, deployment["id"]), lambda d: d["status"] != "Pending"
    )[-1]
    assert again["status"] == "Active" and again["last_deployed_at"] > deployment["last_deployed_at"]
    assert serving.chat(emu, model, serving.TRAINING_PAIRS[0][0]).status_code == 200

    # Demoting a Pending deployment stops it before it serves.
    other = create(emu, model)
    assert act(emu, other["id"], "demote")["status"] == "Inactive"
    for action in ("promote", "demote"):
        assert serving.check(
            serving.ERROR_DETAIL, serving.call(emu, "PUT", f"/v1/flow/deployments/dep-nope/{action}"), 404
        )


def test_create_refuses_what_cannot_be_served(emu, model):
    unknown = serving.call(emu, "POST", "/v1/flow/deployments", serving.deployment_body("ft-does-not-exist"))
    assert "ft-does-not-exist" in serving.check(serving.ERROR_DETAIL, unknown, 404)["detail"]

    emu.configure(fine_tune_duration=60)
    running = serving.fine_tune(emu, serving.upload(emu, "p.jsonl", serving.training_jsonl()), wait=False)
    refusal = serving.check(
        serving.HTTP_VALIDATION_ERROR,
        serving.call(emu, "POST", "/v1/flow/deployments", serving.deployment_body(running["id"])),
        422,
    )
    assert refusal["detail"][0]["loc"] == ["body", "model_id"]

    for field, value in (
        ("name", "abc"),
        ("description", "x"),
        ("n_instances", 0),
        ("n_instances", 51),
        ("model_type", "Adapter"),
    ):
        answer = serving.call(
            emu, "POST", "/v1/flow/deployments", serving.deployment_body(model, **{field: value})
        )
        assert serving.check(serving.HTTP_VALIDATION_ERROR, answer, 422)["detail"][0]["loc"] == [
            "body",
            field,
        ]
    assert serving.check(serving.ERROR_DETAIL, serving.call(emu, "GET", "/v1/flow/deployments/dep-nope"), 404)
    assert (
        serving.check(serving.DEPLOYMENT_LIST, serving.call(emu, "GET", "/v1/flow/deployments"))["data"] == []
    )

    base = create(emu, "meta-llama/Llama-3.1-8B-Instruct", model_type="Base Model")
    assert base["model_type"] == "Base Model" and base["status"] == "Pending"


def test_list_pages_with_skip_and_limit_oldest_first(emu, model):
    made = [create(emu, model)["id"] for _ in range(3)]
    page = serving.check(
        serving.DEPLOYMENT_LIST,
        serving.call(emu, "GET", "/v1/flow/deployments", params={"skip": 1, "limit": 1}),
    )
    assert [d["id"] for d in page["data"]] == [made[1]]
    everything = serving.check(serving.DEPLOYMENT_LIST, serving.call(emu, "GET", "/v1/flow/deployments"))[
        "data"
    ]
    assert [d["id"] for d in everything] == made
    for params in ({"limit": 0}, {"skip": -1}):
        serving.check(
            serving.HTTP_VALIDATION_ERROR,
            serving.call(emu, "GET", "/v1/flow/deployments", params=params),
            422,
        )


def test_token_counters_grow_with_each_chat_completion(emu, model):
    deployment = serving.deploy(emu, model)
    totals = [0, 0]
    for prompt, _ in (*serving.TRAINING_PAIRS, ("Something never trained on", "")):
        usage = serving.chat(emu, model, prompt).json()["usage"]
        totals = [totals[0] + usage["prompt_tokens"], totals[1] + usage["completion_tokens"]]
        now = serving.get_deployment(emu, deployment["id"])
        assert [now["total_input_tokens"], now["total_output_tokens"]] == totals
    assert totals[0] == sum(len(p.split()) for p, _ in serving.TRAINING_PAIRS) + 4
    assert totals[1] > sum(len(a.split()) for _, a in serving.TRAINING_PAIRS)
    # The project of the served fine-tune counts it as deployed.
    projects = serving.call(emu, "GET", "/v1/flow/projects").json()["data"]
    assert [p["runs_deployed"] for p in projects] == [1]
    act(emu, deployment["id"], "demote")
    assert [p["runs_deployed"] for p in serving.call(emu, "GET", "/v1/flow/projects").json()["data"]] == [0]


def test_fault_rules_and_the_journal_name_the_deployment_routes(emu, model):
    emu.set_faults([{"route": "create_deployment", "kind": "503", "count": 1}])
    assert (
        serving.call(emu, "POST", "/v1/flow/deployments", serving.deployment_body(model)).status_code == 503
    )
    assert (
        serving.check(serving.DEPLOYMENT_LIST, serving.call(emu, "GET", "/v1/flow/deployments"))["data"] == []
    )  # not acted on
    deployment = create(emu, model)
    emu.set_faults(["promote_deployment:429:count=1:retry_after=3"])
    act(emu, deployment["id"], "demote")
    refused = serving.call(emu, "PUT", f"/v1/flow/deployments/{deployment['id']}/promote")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
    assert serving.get_deployment(emu, deployment["id"])["status"] == "Inactive"
    assert act(emu, deployment["id"], "promote")["status"] == "Pending"
    routes = {entry["route"] for entry in emu.journal()}
    assert {
        "create_deployment",
        "list_deployments",
        "get_deployment",
        "promote_deployment",
        "demote_deployment",
    } <= routes
    assert [e["fault"] for e in emu.journal(route="promote_deployment")] == ["429", None]


def test_deployments_survive_a_restart_on_the_same_data_directory(tmp_path, api_key):
    with SeekrFlowEmulator(api_key=api_key, data_dir=str(tmp_path)) as first:
        first.configure(deployment_duration=0.0)
        made = create(first, "meta-llama/Llama-3.1-8B-Instruct", model_type="Base Model")
        serving.chat(first, made["model_id"], "Hello there")
        before = serving.get_deployment(first, made["id"])
    with SeekrFlowEmulator(api_key=api_key, data_dir=str(tmp_path)) as second:
        after = serving.get_deployment(second, made["id"])
    assert after == before and after["status"] == "Active" and after["total_input_tokens"] == 2


def test_the_new_switches_refuse_bad_values_and_reset_to_their_defaults(emu):
    for bad in ({"deployment_outcome": "Exploded"}, {"deployment_duration": -1}, {"chat_latency": "soon"}):
        with pytest.raises(RuntimeError, match="422"):
            emu.configure(**bad)
    config = emu.configure(deployment_outcome="FAILED", deployment_status_message="gone")
    assert (config["deployment_outcome"], config["deployment_status_message"]) == ("Failed", "gone")
    # A new outcome without a message brings the default message back.
    assert emu.configure(deployment_outcome="active")["deployment_status_message"] is None
    reset = emu.reset_config()
    assert (reset["deployment_duration"], reset["deployment_outcome"], reset["chat_latency"]) == (
        2.0,
        "Active",
        0.0,
    )
