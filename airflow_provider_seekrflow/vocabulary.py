"""
SeekrFlow's vocabulary, defined once: file purposes and the types each accepts, alignment types, job statuses.

Pure Python with no Airflow import, so the client, the operators, the local checks and the
emulator all read the same definitions cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TypeVar

# The API takes files up to 4 GB each (the web UI allows far less).
MAX_FILE_BYTES = 4_000_000_000
MESSAGE_ROLES: tuple[str, ...] = ("system", "user", "assistant")


class FilePurpose(str, Enum):
    """What an uploaded file is for; each purpose has its own accepted content."""

    FINE_TUNE = "fine-tune"
    ALIGNMENT = "alignment"
    PREFERENCE_FINE_TUNE = "preference-fine-tune"
    PRE_TRAIN = "pre-train"
    REINFORCEMENT_FINE_TUNE = "reinforcement-fine-tune"


PURPOSES: tuple[str, ...] = tuple(purpose.value for purpose in FilePurpose)
# Source documents an alignment (training-pair generation) job reads.
ALIGNMENT_DOCUMENT_TYPES: tuple[str, ...] = (
    *("html", "md", "rst", "rtf", "txt", "xml", "json", "jsonl", "csv"),
    *("doc", "docx", "pdf", "ppt", "pptx"),
)
TRAINING_FILE_TYPES: tuple[str, ...] = ("jsonl", "parquet", "pt")


def accepted_types(purpose: str) -> tuple[str, ...]:
    """
    Return the file types (extensions, lower-case, no dot) the service accepts for ``purpose``.

    :param purpose: A file purpose; an unknown one raises ``ValueError``.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    return ALIGNMENT_DOCUMENT_TYPES if purpose == FilePurpose.ALIGNMENT.value else TRAINING_FILE_TYPES


class AlignmentType(str, Enum):
    """How training pairs are generated from the source documents."""

    PRINCIPLE = "principle"
    CONTEXT_DATA = "context_data"


class _StatusSets:
    """The sets a status enum answers with, from the statuses its ``@_statuses`` marks."""

    _active: frozenset[str] = frozenset()
    _terminal: frozenset[str] = frozenset()
    _success: str = "completed"

    @classmethod
    def active_states(cls) -> frozenset[str]:
        """Return the statuses of a job that is still going."""
        return cls._active

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        """Return the statuses from which a job never moves again."""
        return cls._terminal

    @classmethod
    def success_state(cls) -> str:
        """Return the one terminal status that is success."""
        return cls._success

    @classmethod
    def unsuccessful_states(cls) -> frozenset[str]:
        """Return the terminal statuses that are not success."""
        return cls._terminal - {cls._success}

    @classmethod
    def known_states(cls) -> frozenset[str]:
        """Return every status this provider knows; any other is treated as not finished."""
        return frozenset(member.value for member in cls)  # type: ignore[attr-defined]


_Enum = TypeVar("_Enum", bound=type)


def _statuses(
    *, active: tuple[str, ...], terminal: tuple[str, ...], success: str = "completed"
) -> Callable[[_Enum], _Enum]:
    """Mark a status enum's active and terminal statuses and its one success (``completed`` unless given)."""

    def mark(enum_class: _Enum) -> _Enum:
        enum_class._active = frozenset(active)  # type: ignore[attr-defined]
        enum_class._terminal = frozenset(terminal)  # type: ignore[attr-defined]
        enum_class._success = success  # type: ignore[attr-defined]
        return enum_class

    return mark


@_statuses(active=("pending", "queued", "running"), terminal=("completed", "failed", "cancelled", "stopped"))
class AlignmentJobStatus(_StatusSets, str, Enum):
    """Status of an alignment job, with the service's active and terminal sets."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"


class DataJobType(str, Enum):
    """The workflow a data job runs."""

    PRINCIPLE_FILES = "principle_files"
    CONTEXT_GROUNDED_FILES = "context_grounded_files"
    CONTEXT_GROUNDED_VECTOR_DB = "context_grounded_vector_db"


@_statuses(active=("pending", "queued", "running"), terminal=("completed", "failed", "cancelled", "stopped"))
class DataJobStatus(_StatusSets, str, Enum):
    """
    Status of a data job: ingestion states before ``start``, then the linked alignment job's.

    ``stopped`` is not in the reference's data-job enum, but the official client accepts it.
    """

    FILE_PROCESSING = "file_processing"
    NEEDS_REVIEW = "needs_review"
    READY_TO_START = "ready_to_start"
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"

    @classmethod
    def alignment_states(cls) -> frozenset[str]:
        """Return the statuses of a started job whose alignment is still going (its active ones)."""
        return cls.active_states()


@_statuses(active=("pending", "queued", "running"), terminal=("completed", "failed", "cancelled", "deleted"))
class FineTuneStatus(_StatusSets, str, Enum):
    """Status of a fine-tuning job (the official client's enum)."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELETED = "deleted"


@_statuses(active=("Pending",), terminal=("Active", "Failed", "Inactive"), success="Active")
class DeploymentStatus(_StatusSets, str, Enum):
    """
    Status of a deployment, as a wait for it to serve reads it: ``Active`` is the one success.

    ``Failed`` and ``Inactive`` (demoted, or never promoted) end such a wait: neither serves, and
    neither moves again until someone promotes it. ``Started`` and ``Success`` are in the official
    client's enum without documentation: read as not finished, like an unknown status.
    """

    INACTIVE = "Inactive"
    PENDING = "Pending"
    ACTIVE = "Active"
    FAILED = "Failed"
    STARTED = "Started"
    SUCCESS = "Success"


@_statuses(active=("queued", "running"), terminal=("completed", "failed"))
class VectorIngestionStatus(_StatusSets, str, Enum):
    """
    Status of a vector database's ingestion job: ``completed`` is success, ``failed`` (with ``error_message``) the other end.

    The contract types it as a free string (the docs poll until ``completed`` or ``failed``): any
    other value, known or not, is read as not finished.
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


#: Joins a vector database's id and an ingestion job's id into the one string the ingestion kind
#: calls its job id (an ingestion job is only addressed through its database); never in an id.
INGESTION_REF_SEPARATOR = "/"


class DeploymentType(str, Enum):
    """What a deployment serves: a fine-tune's model or a base model."""

    FINE_TUNED_RUN = "Fine-tuned Run"
    BASE_MODEL = "Base Model"


class FineTuneType(str, Enum):
    """What a fine-tune optimises; ``GRPO`` is the deprecated name of ``REINFORCEMENT``."""

    STANDARD = "STANDARD"
    PREFERENCE = "PREFERENCE"
    REINFORCEMENT = "REINFORCEMENT"
    GRPO = "GRPO"


class AcceleratorType(str, Enum):
    """The accelerators a fine-tune can run on."""

    GAUDI2 = "GAUDI2"
    GAUDI3 = "GAUDI3"
    A100 = "A100"
    A10 = "A10"
    H100 = "H100"
    MI300X = "MI300X"


LORA_BIASES: tuple[str, ...] = ("none", "all", "lora_only")
