"""
Pydantic models of the SeekrFlow API objects, following ``openapi.yaml``.

They read liberally: unknown fields are kept, an unknown status is kept as given, ``progress``
may be a number or a string (older servers send ``"40%"``), and an optional field the service
fills oddly becomes None instead of failing the pipeline that reads it.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator


def _none_if_unreadable(value: Any, handler: Any) -> Any:
    # An optional detail the service sent in a shape we cannot read must not fail a status check.
    try:
        return handler(value)
    except ValidationError:
        return None


OptionalDatetime = Annotated["datetime | None", WrapValidator(_none_if_unreadable)]
OptionalInt = Annotated["int | None", WrapValidator(_none_if_unreadable)]
OptionalNumber = Annotated["float | None", WrapValidator(_none_if_unreadable)]
# Kept as sent: the reference says number, older servers send strings such as "40%".
NumberOrText = Annotated["float | str | None", WrapValidator(_none_if_unreadable)]


def percent(value: float | str | None) -> float | None:
    """
    Return a progress value as a number of percent, or None when it holds none.

    :param value: A number (``40``, ``40.5``) or a string (``"40"``, ``"40%"``, ``" 40.5 % "``).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().removesuffix("%").strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class FilePurpose(str, Enum):
    """What an uploaded file is for; each purpose has its own accepted content."""

    FINE_TUNE = "fine-tune"
    ALIGNMENT = "alignment"
    PREFERENCE_FINE_TUNE = "preference-fine-tune"
    PRE_TRAIN = "pre-train"
    REINFORCEMENT_FINE_TUNE = "reinforcement-fine-tune"


class AlignmentType(str, Enum):
    """How training pairs are generated from the source documents."""

    PRINCIPLE = "principle"
    CONTEXT_DATA = "context_data"


class AlignmentJobStatus(str, Enum):
    """Status of an alignment job, with the service's active and terminal sets."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"

    @classmethod
    def active_states(cls) -> frozenset[str]:
        """Return the statuses of a job that is still going."""
        return frozenset({cls.PENDING.value, cls.QUEUED.value, cls.RUNNING.value})

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        """Return the statuses from which a job never moves again."""
        return frozenset({cls.COMPLETED.value, cls.FAILED.value, cls.CANCELLED.value, cls.STOPPED.value})

    @classmethod
    def unsuccessful_states(cls) -> frozenset[str]:
        """Return the terminal statuses that are not success."""
        return cls.terminal_states() - {cls.COMPLETED.value}

    @classmethod
    def known_states(cls) -> frozenset[str]:
        """Return every status this provider knows; any other is treated as not finished."""
        return cls.active_states() | cls.terminal_states()


class _ServiceModel(BaseModel):
    # The service adds fields over time; unknown ones are kept, never rejected.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SeekrFlowFile(_ServiceModel):
    """A file stored on SeekrFlow."""

    id: str
    object: str = "file"
    created_at: OptionalDatetime = None
    type: str | None = None
    purpose: str | None = None
    filename: str | None = None
    bytes: OptionalInt = None
    created_by: str | None = None
    original_file_id: str | None = None
    deleted: bool | None = None


class SeekrFlowFileList(_ServiceModel):
    """A page of files."""

    object: str = "list"
    data: list[SeekrFlowFile] = Field(default_factory=list)


class SeekrFlowFileDeleted(_ServiceModel):
    """The answer to a file deletion."""

    id: str
    object: str = "file"
    deleted: bool


class FileMetadataValidation(_ServiceModel):
    """The service's verdict on an alignment source file's type and size."""

    is_valid: bool
    errors: str | None = None


class AlignmentOutput(_ServiceModel):
    """An output file of an alignment job."""

    id: str
    filename: str | None = None
    bytes: OptionalInt = None
    created_at: OptionalDatetime = None
    file_type: str | None = None
    purpose: str | None = None


class AlignmentJob(_ServiceModel):
    """An alignment (training-pair generation) job."""

    id: str
    status: str
    created_at: OptionalDatetime = None
    updated_at: OptionalDatetime = None
    completed_at: OptionalDatetime = None
    current_step: str | None = None
    step_progress: NumberOrText = None
    progress: NumberOrText = None
    estimated_completion_at: OptionalDatetime = None
    eta_minutes: OptionalNumber = None
    status_message: str | None = None
    output_files: list[AlignmentOutput] = Field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        """Whether the job has stopped moving; an unknown status counts as still moving."""
        return self.status in AlignmentJobStatus.terminal_states()

    @property
    def has_known_status(self) -> bool:
        """Whether the status is one this provider knows."""
        return self.status in AlignmentJobStatus.known_states()

    @property
    def succeeded(self) -> bool:
        """Whether the job completed; nothing else counts as success."""
        return self.status == AlignmentJobStatus.COMPLETED.value

    def describe(self) -> str:
        """Summarise status, step, progress and ETA on one line for the task log."""
        parts = [f"status={self.status}"]
        if self.current_step:
            parts.append(f"step={self.current_step!r}")
        progress = percent(self.progress)
        if progress is not None:
            parts.append(f"progress={progress:g}%")
        elif self.progress not in (None, ""):
            parts.append(f"progress={self.progress!r}")
        if self.eta_minutes is not None:
            parts.append(f"eta={self.eta_minutes:g} min")
        return ", ".join(parts)

    def progress_signature(self) -> tuple[Any, ...]:
        """Return what a change-only progress log compares between polls."""
        return (self.status, self.current_step, self.progress, self.eta_minutes)


class AlignmentJobList(_ServiceModel):
    """A list of alignment jobs."""

    object: str = "list"
    data: list[AlignmentJob] = Field(default_factory=list)
