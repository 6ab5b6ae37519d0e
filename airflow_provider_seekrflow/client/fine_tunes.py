"""SeekrFlow fine-tuning jobs: endpoints, models, calls, the request checked locally, lost-answer search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import Field

from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.file_ids import checked_file_ids
from airflow_provider_seekrflow.client.lost_answers import Snapshot, adopt, matches_echoed_fields
from airflow_provider_seekrflow.client.service_model import (
    OptionalDatetime,
    OptionalInt,
    OptionalNumber,
    ServiceModel,
    config_error,
)
from airflow_provider_seekrflow.vocabulary import LORA_BIASES, AcceleratorType, FineTuneStatus, FineTuneType

# The reference and the sync client create at the singular path; the async client's plural one is not used.
CREATE_FINE_TUNE = Endpoint("create_fine_tune", "POST", "/v1/flow/fine-tune", repeatable=False)
LIST_FINE_TUNES = Endpoint("list_fine_tunes", "GET", "/v1/flow/fine-tunes", repeatable=True)
GET_FINE_TUNE = Endpoint("get_fine_tune", "GET", "/v1/flow/fine-tunes/{fine_tune_id}", repeatable=True)
# The client contradicts itself on the method (sync PUT, async POST): PUT first, POST on a 405.
CANCEL_FINE_TUNE_PUT = Endpoint(
    "cancel_fine_tune_put", "PUT", "/v1/flow/fine-tunes/{fine_tune_id}/cancel", repeatable=True
)
CANCEL_FINE_TUNE_POST = Endpoint(
    "cancel_fine_tune_post", "POST", "/v1/flow/fine-tunes/{fine_tune_id}/cancel", repeatable=True
)
LIST_FINE_TUNE_EVENTS = Endpoint(
    "list_fine_tune_events", "GET", "/v1/flow/fine-tunes/{fine_tune_id}/events", repeatable=True
)
ENDPOINTS = (
    CREATE_FINE_TUNE,
    LIST_FINE_TUNES,
    GET_FINE_TUNE,
    CANCEL_FINE_TUNE_PUT,
    CANCEL_FINE_TUNE_POST,
    LIST_FINE_TUNE_EVENTS,
)
MAX_BATCH_SIZE = 1024
# What a service that does not take PUT on the cancel route answers; then POST is the method (API.md G).
METHOD_NOT_ALLOWED = 405


class FineTuneEvent(ServiceModel):
    """One event of a fine-tune: an epoch's loss, and a reward for reinforcement fine-tuning."""

    object: str = "fine-tune-event"
    created_at: OptionalDatetime = None
    loss: OptionalNumber = None
    epoch: OptionalNumber = None
    reward: OptionalNumber = None

    def describe(self) -> str:
        """Summarise the event on one line for the task log."""
        parts = []
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch:g}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4g}")
        if self.reward is not None:
            parts.append(f"reward {self.reward:.4g}")
        return ", ".join(parts) or "event"


class FineTuneEvents(ServiceModel):
    """A fine-tune's events."""

    data: list[FineTuneEvent] | None = Field(default_factory=list)


class FineTune(ServiceModel):
    """A fine-tuning job."""

    id: str | None = None
    status: str = "unknown"
    model: str | None = None
    project_id: OptionalInt = None
    training_files: list[str] | None = None
    n_epochs: OptionalInt = None
    created_at: OptionalDatetime = None
    completed_at: OptionalDatetime = None
    inference_available: bool | None = None
    error_analysis: str | None = None
    events: list[FineTuneEvent] | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the job has stopped moving; an unknown status counts as still moving."""
        return self.status in FineTuneStatus.terminal_states()

    @property
    def succeeded(self) -> bool:
        """Whether the job completed: only then is there a model."""
        return self.status == FineTuneStatus.COMPLETED.value


class FineTuneList(ServiceModel):
    """The caller's fine-tunes."""

    data: list[FineTune] | None = Field(default_factory=list)


def create_request(
    *,
    project_id: int,
    training_files: Sequence[str] | str,
    model: str,
    n_epochs: int,
    accel_type: str,
    n_accel: int,
    n_node: int | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    fine_tune_type: str | None = None,
    lora_config: dict[str, Any] | None = None,
    validation_files: Sequence[str] | None = None,
    experiment_name: str | None = None,
    training_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Return a checked create body (``RequestConfig``), refusing locally what the service would refuse.

    Unset optional fields are left out, as the official client does.

    :param project_id: The project's integer id.
    :param training_files: File ids to train on, e.g. a data job's parquet output.
    :param model: The base model.
    :param n_epochs: Epochs, at least 1.
    :param accel_type: One of the accelerator types (GAUDI2, GAUDI3, A100, A10, H100, MI300X).
    :param n_accel: Accelerators, at least 1.
    :param n_node: Nodes, at least 1.
    :param learning_rate: Greater than 0.
    :param batch_size: 1 to 1024.
    :param fine_tune_type: STANDARD, PREFERENCE, REINFORCEMENT (GRPO is its deprecated name).
    :param lora_config: ``r``, ``alpha`` (positive), ``dropout`` (0-1), ``bias`` (none, all, lora_only).
    :param validation_files: File ids to validate on.
    :param experiment_name: A suffix for the output model's name.
    :param training_options: Further ``training_config`` fields of the contract, sent as given
        (``n_checkpoints``, ``max_length``, ``beta``, ``gradient_checkpointing``, ...).
    """
    if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id < 0:
        raise config_error(f"project_id: must be a project's integer id, got {project_id!r}")
    files = checked_file_ids("training_files", training_files, required=True)
    if not isinstance(model, str) or not model.strip():
        raise config_error("model: must name a base model")
    _positive_int("n_epochs", n_epochs)
    _choice("accel_type", accel_type, [member.value for member in AcceleratorType])
    _positive_int("n_accel", n_accel)
    training: dict[str, Any] = {"training_files": files, "model": model, "n_epochs": n_epochs}
    if learning_rate is not None:
        if (
            isinstance(learning_rate, bool)
            or not isinstance(learning_rate, (int, float))
            or learning_rate <= 0
        ):
            raise config_error(f"learning_rate: must be a number greater than 0, got {learning_rate!r}")
        training["learning_rate"] = learning_rate
    if batch_size is not None:
        _positive_int("batch_size", batch_size, most=MAX_BATCH_SIZE)
        training["batch_size"] = batch_size
    if fine_tune_type is not None:
        _choice("fine_tune_type", fine_tune_type, [member.value for member in FineTuneType])
        training["fine_tune_type"] = fine_tune_type
    if lora_config is not None:
        training["lora_config"] = _lora(lora_config)
    if validation_files:
        training["validation_files"] = checked_file_ids("validation_files", validation_files, required=False)
    if experiment_name:
        training["experiment_name"] = experiment_name
    for key, value in (training_options or {}).items():
        if key in training:
            raise config_error(f"training_options: {key!r} has a parameter of its own; set it there")
        training[key] = value
    infrastructure: dict[str, Any] = {"accel_type": accel_type, "n_accel": n_accel}
    if n_node is not None:
        _positive_int("n_node", n_node)
        infrastructure["n_node"] = n_node
    return {"project_id": project_id, "training_config": training, "infrastructure_config": infrastructure}


def _positive_int(field: str, value: Any, *, most: int | None = None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 1
        or (most is not None and value > most)
    ):
        bounds = f"from 1 to {most}" if most is not None else "at least 1"
        raise config_error(f"{field}: must be a whole number {bounds}, got {value!r}")


def _choice(field: str, value: Any, allowed: list[str]) -> None:
    if value not in allowed:
        raise config_error(f"{field}: {value!r} is not one of {', '.join(allowed)}")


def _lora(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - {"r", "alpha", "dropout", "bias", "extras"}
    if unknown:
        raise config_error(f"lora_config: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("r", "alpha"):
        if key in config:
            _positive_int(f"lora_config.{key}", config[key])
    dropout = config.get("dropout")
    if dropout is not None and (
        isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1
    ):
        raise config_error(f"lora_config.dropout: must be from 0 to 1, got {dropout!r}")
    if "bias" in config:
        _choice("lora_config.bias", config["bias"], list(LORA_BIASES))
    return dict(config)


def create(body: dict[str, Any]) -> Call[FineTune]:
    """Return the call creating a fine-tune from a :func:`create_request` body."""
    return Call(CREATE_FINE_TUNE, FineTune, json=body)


def list_jobs() -> Call[FineTuneList]:
    """Return the call listing the caller's fine-tunes."""
    return Call(LIST_FINE_TUNES, FineTuneList)


def get(fine_tune_id: str) -> Call[FineTune]:
    """Return the call reading a fine-tune."""
    return Call(GET_FINE_TUNE, FineTune, ids={"fine_tune_id": fine_tune_id})


def cancel(fine_tune_id: str, *, method: str = "PUT") -> Call[FineTune]:
    """Return the call cancelling a fine-tune with ``PUT`` (the sync client's method) or ``POST``."""
    endpoint = CANCEL_FINE_TUNE_PUT if method == "PUT" else CANCEL_FINE_TUNE_POST
    return Call(endpoint, FineTune, ids={"fine_tune_id": fine_tune_id})


def events(fine_tune_id: str) -> Call[FineTuneEvents]:
    """Return the call listing a fine-tune's events."""
    return Call(LIST_FINE_TUNE_EVENTS, FineTuneEvents, ids={"fine_tune_id": fine_tune_id})


def find_lost_job(jobs: Iterable[FineTune], body: dict[str, Any], snapshot: Snapshot) -> FineTune | None:
    """
    Return the fine-tune a create request whose answer was lost made: the one new fine-tune that matches it.

    The whole request is compared as far as the service echoes it: the project, the model, the
    training files and every hyperparameter, so a sweep's siblings are told apart.

    :param jobs: The service's fine-tunes, listed after the answer was lost.
    :param body: The create request that was sent.
    :param snapshot: The fine-tunes listed before it was sent.
    :raises SeekrFlowAmbiguousResultError: More than one new fine-tune matches.
    """
    sent = {
        **(body.get("infrastructure_config") or {}),
        **body["training_config"],
        "project_id": body["project_id"],
    }
    return adopt(
        jobs,
        snapshot,
        lambda job: matches_echoed_fields(job.model_dump(), sent, required=("model",)),
        what=f"fine-tune create ({body['training_config']['model']})",
    ).found
