"""The note a job operator keeps in the task state store while a submission awaits its answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_seekrflow.client.lost_answers import Snapshot

__all__ = ["SubmissionNote", "is_definite_refusal"]


@dataclass(frozen=True)
class SubmissionNote:
    """
    What a retry needs to find the job an earlier try's unanswered submission made, and only that job.

    :param sent_at: When the submission was sent (for the log).
    :param snapshot: The jobs the service listed just before it was sent: only a job new since then
        can be the submission's.
    :param fields: What the request carried that a later try cannot work out again (the data job's
        default name carries the try that sent it).
    """

    sent_at: datetime
    snapshot: Snapshot
    fields: dict[str, Any] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        """Return the note as JSON-ready data."""
        return {
            "sent_at": self.sent_at.isoformat(),
            "snapshot": self.snapshot.to_state(),
            "fields": self.fields,
        }

    @classmethod
    def from_state(cls, value: Any) -> SubmissionNote | None:
        """
        Return the note stored as ``value``, or None when there is none or it cannot be read.

        An earlier release stored only the time, as an ISO string: then only a job carrying a
        creation time within a little clock skew of it counts as new.

        :param value: What the task state store holds under the note's key.
        """
        if isinstance(value, str):
            moment = _moment(value)
            return None if moment is None else cls(sent_at=moment, snapshot=Snapshot.sent_at(moment))
        if not isinstance(value, dict):
            return None
        moment = _moment(value.get("sent_at"))
        snapshot = Snapshot.from_state(value.get("snapshot"))
        if moment is None:
            return None
        fields = value.get("fields")
        return cls(
            sent_at=moment,
            snapshot=snapshot or Snapshot.sent_at(moment),
            fields=dict(fields) if isinstance(fields, dict) else {},
        )


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def is_definite_refusal(error: BaseException) -> bool:
    """
    Return whether the service answered a request with a refusal that says it did nothing (a 4xx).

    429 (slow down) and 408 (too slow) are not refusals of the request itself.

    :param error: What the request raised.
    """
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)
