"""Shared by the emulator's deployment and chat tests: HTTP calls, a served fine-tune, and openapi.yaml's schemas.

The schemas are copied from ``openapi.yaml`` (``Deployment``, ``DeploymentList``, ``ErrorDetail``,
``HTTPValidationError``, ``ChatCompletionResponse``), as the contract states them, so an answer
that leaves the contract fails ``check`` (jsonschema, which Airflow depends on).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
import requests

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from tests.conftest import own_emulator, reset_around

_NULL = {"type": "null"}
_DATE_TIME = {"type": "string", "format": "date-time"}
_CHAT_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
        "content": {"anyOf": [{"type": "string"}, {"type": "array"}, _NULL]},
    },
}
DEPLOYMENT = {
    "type": "object",
    "required": [
        *("id", "model_type", "model_id", "name", "description", "status", "total_input_tokens"),
        *("total_output_tokens", "created_at", "updated_at", "n_instances", "user_id"),
    ],
    "properties": {
        "id": {"type": "string"},
        "model_type": {"type": "string", "enum": ["Fine-tuned Run", "Base Model"]},
        "model_id": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["Inactive", "Pending", "Active", "Failed", "Started", "Success"],
        },
        "memory": {"anyOf": [{"type": "string"}, _NULL]},
        "hardware_type": {"type": "string", "enum": ["Serverless", "Dedicated"]},
        "total_input_tokens": {"type": "integer"},
        "total_output_tokens": {"type": "integer"},
        "created_at": _DATE_TIME,
        "last_deployed_at": {"anyOf": [_DATE_TIME, _NULL]},
        "updated_at": _DATE_TIME,
        "processor": {"type": "string"},
        "n_instances": {"type": "integer"},
        "user_id": {"type": "integer"},
        "team_id": {"anyOf": [{"type": "string"}, _NULL]},
    },
}
DEPLOYMENT_LIST = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "array", "items": DEPLOYMENT}},
}
ERROR_DETAIL = {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}
HTTP_VALIDATION_ERROR = {
    "type": "object",
    "properties": {
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        }
    },
}
CHAT_COMPLETION_RESPONSE = {
    "type": "object",
    "properties": {
        "id": {"anyOf": [{"type": "string"}, _NULL]},
        "object": {"anyOf": [{"type": "string"}, _NULL]},
        "created": {"anyOf": [{"type": "integer"}, _NULL]},
        "model": {"anyOf": [{"type": "string"}, _NULL]},
        "choices": {
            "anyOf": [
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "index": {"anyOf": [{"type": "integer"}, _NULL]},
                            "finish_reason": {"anyOf": [{"type": "string"}, _NULL]},
                            "message": {"anyOf": [_CHAT_MESSAGE, _NULL]},
                        },
                    },
                },
                _NULL,
            ]
        },
        "usage": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "prompt_tokens": {"type": "integer"},
                        "completion_tokens": {"type": "integer"},
                        "total_tokens": {"type": "integer"},
                    },
                },
                _NULL,
            ]
        },
    },
}
TRAINING_PAIRS = (
    ("What is the return window?", "Customers may return unworn shoes within thirty days."),
    ("How are refunds paid?", "Refunds go to the original card within five business days."),
)


def check(schema: dict[str, Any], answer: requests.Response, status: int = 200) -> Any:
    """Return the JSON of ``answer``, which must have ``status`` and fit ``schema``."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)
    return body


def call(
    emu: SeekrFlowEmulator, method: str, path: str, json: Any = None, **kwargs: Any
) -> requests.Response:
    """Send one API request with the emulator's key."""
    headers = {"Authorization": emu.api_key}
    return requests.request(method, f"{emu.base_url}{path}", json=json, headers=headers, timeout=30, **kwargs)


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 15.0) -> list[Any]:
    """Every answer of ``fetch`` until ``done`` holds for one (the last), polling fast."""
    seen = [fetch()]
    deadline = time.monotonic() + timeout
    while not done(seen[-1]):
        assert time.monotonic() < deadline, f"still not done: {seen[-1]}"
        time.sleep(0.05)
        seen.append(fetch())
    return seen


def training_jsonl(pairs: tuple[tuple[str, str], ...] = TRAINING_PAIRS) -> bytes:
    """A ``fine-tune`` JSONL file with one conversation per ``(question, answer)`` pair."""
    import json

    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You answer questions about returns."},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": reply},
                ]
            }
        )
        for question, reply in pairs
    ]
    return ("\n".join(lines) + "\n").encode()


def upload(emu: SeekrFlowEmulator, filename: str, content: bytes, purpose: str = "fine-tune") -> str:
    answer = requests.put(
        f"{emu.base_url}/v1/flow/files",
        files={"files": (filename, content)},
        data={"purpose": purpose},
        headers={"Authorization": emu.api_key},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def fine_tune(emu: SeekrFlowEmulator, training_file: str, *, wait: bool = True) -> dict[str, Any]:
    """A fine-tune on ``training_file`` in a new project, polled until it ends when ``wait``."""
    project = call(
        emu, "POST", "/v1/flow/projects", {"id": None, "name": unique("proj"), "description": "Returns"}
    )
    assert project.status_code == 200, project.text
    body = {
        "project_id": project.json()["id"],
        "training_config": {
            "training_files": [training_file],
            "model": "meta-llama/Llama-3.1-8B",
            "n_epochs": 1,
        },
        "infrastructure_config": {"accel_type": "H100", "n_accel": 1},
    }
    created = call(emu, "POST", "/v1/flow/fine-tune", body)
    assert created.status_code == 200, created.text
    job = created.json()
    if not wait:
        return job
    ended = poll(lambda: call(emu, "GET", f"/v1/flow/fine-tunes/{job['id']}").json(), _ended)[-1]
    assert ended["status"] == "completed", ended
    return ended


def _ended(job: dict[str, Any]) -> bool:
    return job["status"] not in ("pending", "queued", "running")


def deployment_body(model_id: str, model_type: str = "Fine-tuned Run", **changes: Any) -> dict[str, Any]:
    body = {
        "model_type": model_type,
        "model_id": model_id,
        "name": unique("returns bot"),
        "description": "Answers returns questions",
        "n_instances": 1,
    }
    return {**body, **changes}


def get_deployment(emu: SeekrFlowEmulator, deployment_id: str) -> dict[str, Any]:
    return check(DEPLOYMENT, call(emu, "GET", f"/v1/flow/deployments/{deployment_id}"))


def deploy(emu: SeekrFlowEmulator, model_id: str, model_type: str = "Fine-tuned Run") -> dict[str, Any]:
    """A deployment of ``model_id``, polled until it is no longer ``Pending``."""
    created = check(
        DEPLOYMENT, call(emu, "POST", "/v1/flow/deployments", deployment_body(model_id, model_type))
    )
    assert created["status"] == "Pending", created
    return poll(lambda: get_deployment(emu, created["id"]), lambda d: d["status"] != "Pending")[-1]


def chat(emu: SeekrFlowEmulator, model: str, prompt: str, **extra: Any) -> requests.Response:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}
    return call(emu, "POST", "/v1/inference/chat/completions", body)


def serving_emulator_fixture(name: str) -> Any:
    """A module's own emulator (so its lists and journal hold only that module's objects) and its ``emu``.

    ``emu`` is that emulator wiped and reset before and after each test, with short fine-tunes and
    deployments.
    """
    private = own_emulator(f"{name}_emulator")

    @pytest.fixture(name="emu")
    def fixture(request: pytest.FixtureRequest) -> Iterator[SeekrFlowEmulator]:
        private_emulator = request.getfixturevalue(f"{name}_emulator")
        for emulator in reset_around(private_emulator, wipe=True):
            emulator.configure(fine_tune_duration=0.3, deployment_duration=0.6)
            yield emulator

    return private, fixture
