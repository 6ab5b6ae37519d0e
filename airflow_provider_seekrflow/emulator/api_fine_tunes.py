"""The emulator's fine-tune routes: create (``POST /v1/flow/fine-tune``), list, read, cancel, events.

The create body is the contract's ``RequestConfig``: shapes and bounds are checked by its models
(422 naming the field, e.g. ``["body", "training_config", "batch_size"]``), then what needs the
store: the project must exist and every training or validation file must be a stored file of
purpose ``fine-tune`` (or the purpose of the fine-tune type: ``preference-fine-tune`` for
PREFERENCE, ``reinforcement-fine-tune`` for REINFORCEMENT/GRPO, ``pre-train`` with
``pre_train``). A data job's parquet output qualifies, and the fine-tune is then listed in that
data job's ``fine_tuning_job_ids``. Cancel answers both PUT and POST, as the contract lists both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_seekrflow.client import fine_tunes
from airflow_provider_seekrflow.emulator.refusals import (
    FINE_TUNE,
    found,
    invalid,
    unusable_files,
    value_error,
)
from airflow_provider_seekrflow.emulator.routes import route
from airflow_provider_seekrflow.emulator.state import EmulatorState
from airflow_provider_seekrflow.vocabulary import LORA_BIASES, AcceleratorType, FilePurpose, FineTuneType

__all__ = ["add_fine_tune_routes", "training_purposes"]

GRADER_TYPES = ("format_check", "math_accuracy", "string_check", "text_similarity", "llm")
if TYPE_CHECKING:
    LoraBias = str
    GraderType = str
else:
    # Literals rather than enums, so a bad value is refused with pydantic's literal_error.
    LoraBias = Literal[LORA_BIASES]
    GraderType = Literal[GRADER_TYPES]
REWARDED = (FineTuneType.REINFORCEMENT, FineTuneType.GRPO)


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    r: int = Field(8, gt=0)
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.1, ge=0, le=1)
    bias: LoraBias = "none"
    extras: dict[str, Any] = Field(default_factory=dict)


class Grader(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: GraderType
    weight: float | None = Field(None, gt=0, le=1)


class RewardComponents(BaseModel):
    model_config = ConfigDict(extra="allow")

    format_reward_weight: float = Field(0.1, gt=0, le=1)
    graders: list[Grader] = Field(min_length=1)


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    training_files: list[str] = Field(min_length=1)
    model: str = Field(min_length=1)
    n_epochs: int = Field(ge=1)
    learning_rate: float | None = Field(None, gt=0)
    n_checkpoints: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1, le=fine_tunes.MAX_BATCH_SIZE)
    experiment_name: str | None = None
    max_length: int | None = Field(None, ge=1)
    pre_train: bool = False
    fine_tune_type: FineTuneType = FineTuneType.STANDARD
    lora_config: LoraConfig | None = None
    validation_files: list[str] | None = None
    reward_components: RewardComponents | None = None
    beta: float | None = None
    gradient_checkpointing: bool | None = None


class InfrastructureConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    accel_type: AcceleratorType
    n_accel: int = Field(ge=1)
    n_node: int = Field(1, ge=1)


class RequestConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    project_id: int
    training_config: TrainingConfig
    infrastructure_config: InfrastructureConfig


def training_purposes(training: TrainingConfig) -> tuple[str, ...]:
    """Return the file purposes a fine-tune of this configuration trains on."""
    purposes = [FilePurpose.FINE_TUNE.value]
    if training.fine_tune_type == FineTuneType.PREFERENCE:
        purposes.append(FilePurpose.PREFERENCE_FINE_TUNE.value)
    elif training.fine_tune_type in REWARDED:
        purposes.append(FilePurpose.REINFORCEMENT_FINE_TUNE.value)
    if training.pre_train:
        purposes.append(FilePurpose.PRE_TRAIN.value)
    return tuple(purposes)


def add_fine_tune_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register the fine-tune routes on ``api``, serving ``state``'s fine-tunes."""
    service = state.fine_tunes

    def request_errors(body: RequestConfig) -> list[dict[str, Any]]:
        """Return the 422 items for what the service refuses in a well-formed create request."""
        training = body.training_config
        loc = ("body", "training_config")
        errors = []
        if not state.projects.exists(body.project_id):
            errors.append(
                value_error(("body", "project_id"), f"project {body.project_id} not found", body.project_id)
            )
        if not training.model.strip():
            errors.append(value_error((*loc, "model"), "model must name a base model", training.model))
        purposes = training_purposes(training)
        for field in ("training_files", "validation_files"):
            ids = getattr(training, field) or []
            errors += unusable_files((*loc, field), ids, state.store.get_file, purposes, "fine-tuning")
        if training.reward_components is not None and training.fine_tune_type not in REWARDED:
            reason = "reward_components is only for fine_tune_type REINFORCEMENT"
            errors.append(value_error((*loc, "reward_components"), reason, None))
        if training.beta is not None and training.fine_tune_type != FineTuneType.PREFERENCE:
            errors.append(
                value_error((*loc, "beta"), "beta is only for fine_tune_type PREFERENCE", training.beta)
            )
        return errors

    @route(api, fine_tunes.CREATE_FINE_TUNE)
    async def create_fine_tune(request: Request, body: RequestConfig) -> Response:
        errors = request_errors(body)
        if errors:
            raise invalid(*errors)
        config = state.config
        job = service.create(
            body.model_dump(mode="json", exclude_none=True),
            duration=config["fine_tune_duration"],
            outcome=config["fine_tune_outcome"],
            team_id=request.headers.get("x-team-id"),
        )
        state.data_jobs.record_fine_tune(body.training_config.training_files, job["id"])
        return JSONResponse(job)

    @route(api, fine_tunes.LIST_FINE_TUNES)
    async def list_fine_tunes() -> Response:
        return JSONResponse({"object": "list", "data": service.list_jobs()})

    @route(api, fine_tunes.GET_FINE_TUNE)
    async def get_fine_tune(fine_tune_id: str) -> Response:
        return JSONResponse(found(service.get(fine_tune_id), FINE_TUNE, fine_tune_id))

    async def cancel_fine_tune(fine_tune_id: str) -> Response:
        return JSONResponse(found(service.cancel(fine_tune_id), FINE_TUNE, fine_tune_id))

    for endpoint in (fine_tunes.CANCEL_FINE_TUNE_PUT, fine_tunes.CANCEL_FINE_TUNE_POST):
        route(api, endpoint)(cancel_fine_tune)

    @route(api, fine_tunes.LIST_FINE_TUNE_EVENTS)
    async def list_fine_tune_events(fine_tune_id: str) -> Response:
        events = found(service.events(fine_tune_id), FINE_TUNE, fine_tune_id)
        return JSONResponse({"object": "list", "data": events})
