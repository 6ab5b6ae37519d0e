"""Whether a task's try submits a new job, reattaches to the previous try's, or reuses its result."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum


class ResumeAction(str, Enum):
    """What a try does about the job an earlier try may have left."""

    SUBMIT = "submit"
    REATTACH = "reattach"
    REUSE = "reuse"


@dataclass(frozen=True)
class ResumeDecision:
    """
    The decision, with the job it concerns and why, for the task log.

    :param action: Submit, reattach or reuse.
    :param job_id: The earlier try's job (None when there is none to speak of).
    :param reason: Why, in words for the task log; empty for a plain first submission.
    """

    action: ResumeAction
    job_id: str | None
    reason: str


def decide_resume(
    stored_job_id: str | None,
    stored_status: str | None,
    *,
    durable: bool,
    terminal_states: Collection[str],
    success_status: str,
) -> ResumeDecision:
    """
    Decide what a try does, from the job id an earlier try stored and that job's status now.

    A job still going (an unknown status counts as going) is reattached to; a completed one is
    reused; one that ended otherwise, or vanished, is replaced by a new submission.

    :param stored_job_id: The job id in the task state store, if any.
    :param stored_status: That job's status now; None when the service no longer has it.
    :param durable: Whether the operator resumes at all; False always submits.
    :param terminal_states: The statuses a job never leaves.
    :param success_status: The one terminal status that is success.
    """
    if not durable or not stored_job_id:
        return ResumeDecision(ResumeAction.SUBMIT, None, "")
    if stored_status is None:
        return ResumeDecision(ResumeAction.SUBMIT, stored_job_id, "it no longer exists")
    if stored_status == success_status:
        return ResumeDecision(ResumeAction.REUSE, stored_job_id, f"it already {stored_status}")
    if stored_status not in terminal_states:
        return ResumeDecision(ResumeAction.REATTACH, stored_job_id, f"it is still {stored_status}")
    return ResumeDecision(ResumeAction.SUBMIT, stored_job_id, f"it ended {stored_status}")
