"""
Submit a job once across tries: what a try notes before it submits, and how its retry finds that job.

Mixed into :class:`~airflow_provider_seekrflow.operators.job_base.SeekrFlowJobOperator`. On Airflow
3.3+ the job id lives in the task state store; a try whose submission lost its answer leaves a
:class:`~airflow_provider_seekrflow.jobs.submissions.SubmissionNote` there instead (what the service
listed before it sent, and the request's fields a retry cannot work out again), and its retry asks
the service for that one job before submitting another.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_seekrflow.exceptions import SeekrFlowError
from airflow_provider_seekrflow.jobs.resume import ResumeDecision, decide_resume

# Light for DAG parsing: the submission note reads the client's snapshots, so it loads when a task runs.
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.jobs.base import JobKind
    from airflow_provider_seekrflow.jobs.submissions import SubmissionNote

NO_STATE_STORE_WARNING = (
    "This Airflow has no task state store (it arrives in 3.3): if this task is retried after its job "
    "was submitted, the retry submits a new job rather than reattaching."
)


def task_state_store(context: Context) -> Any:
    """Return the task state store of this try (Airflow 3.3+), or None where Airflow has none."""
    # Typed loosely: Airflow versions before 3.3 do not declare the key in their Context type.
    return cast("Any", context).get("task_state_store")


class SubmitsOnce:
    """The resume decision and the once-only submission of every job operator (a mixin)."""

    durable: bool
    finds_unanswered_submissions: bool
    snapshot: Snapshot | None
    log: Any

    if TYPE_CHECKING:  # the operator's

        @property
        def kind(self) -> JobKind:
            """The kind of job run."""

    def submit_job(self, context: Context) -> str:
        """Submit the job and return its id (each kind's operator says how)."""
        raise NotImplementedError

    def job_status(self, job_id: str) -> str | None:
        """Return the job's status now, or None when the service no longer has it."""
        raise NotImplementedError

    def snapshot_before_submit(self, context: Context) -> Snapshot | None:
        """Return the jobs the service lists before a submission, or None when the kind needs none."""
        return None

    def find_submitted_job(self, note: SubmissionNote, context: Context) -> str | None:
        """
        Return the job an earlier try's unanswered submission made, when the service lists it; None when it made none.

        A retry asks this when an earlier try submitted but stored no job id (its answer was lost).
        A failure to ask raises, so nothing is submitted twice.

        :param note: What the earlier try noted before it submitted: when, the jobs listed then, and
            the request's fields a retry cannot work out again.
        :param context: The task context.
        """
        raise NotImplementedError

    def resume_decision(self, context: Context) -> ResumeDecision:
        """Read the job id an earlier try stored, if any, and decide what this try does."""
        store = task_state_store(context) if self.durable else None
        if self.durable and store is None:
            self.log.warning(NO_STATE_STORE_WARNING)
        stored = None
        if store is not None:
            stored = store.get(self.kind.state_key) or self._job_of_unanswered_submission(store, context)
        status = self.job_status(str(stored)) if stored else None
        return decide_resume(
            str(stored) if stored else None,
            status,
            durable=self.durable,
            terminal_states=self.kind.terminal_states,
            success_status=self.kind.success_status,
        )

    @property
    def submitted_at_state_key(self) -> str:
        """Return the task state store key of when this task last sent a submission not yet answered."""
        return f"{self.kind.state_key}_submitted_at"

    def _submit(self, context: Context) -> str:
        """Submit, noting first what was listed (on Airflow 3.3+), so a retry can find a job whose answer was lost."""
        from airflow_provider_seekrflow.jobs.submissions import SubmissionNote, is_definite_refusal

        store: Any = task_state_store(context) if self.durable else None
        noting = store is not None and self.finds_unanswered_submissions
        self.snapshot = self.snapshot_before_submit(context) if self.finds_unanswered_submissions else None
        if noting and self.snapshot is not None:
            note = SubmissionNote(datetime.now(timezone.utc), self.snapshot, self.submission_fields(context))
            store.set(self.submitted_at_state_key, note.to_state())
        try:
            job_id = self.submit_job(context)
        except SeekrFlowError as err:
            if noting and is_definite_refusal(err):
                # The service made nothing: a retry must not search for (and adopt) another run's job.
                store.delete(self.submitted_at_state_key)
            raise
        self._store(job_id, context)
        return job_id

    def submission_fields(self, context: Context) -> dict[str, Any]:
        """Return what a retry needs of this try's request to find its job (e.g. a name carrying the try)."""
        return {}

    def _job_of_unanswered_submission(self, store: Any, context: Context) -> str | None:
        """Return the job an earlier try's unanswered submission made, or None when there was none or it made none."""
        from airflow_provider_seekrflow.jobs.submissions import SubmissionNote

        stored = store.get(self.submitted_at_state_key) if self.finds_unanswered_submissions else None
        note = SubmissionNote.from_state(stored) if stored else None
        if note is None:
            return None
        sent_at = note.sent_at.isoformat()
        try:
            job_id = self.find_submitted_job(note, context)
        except SeekrFlowError as err:
            raise SeekrFlowError(
                f"An earlier try submitted a {self.kind.label.lower()} at {sent_at} and lost the answer; "
                f"whether the service made one cannot be checked now ({err}), so none is submitted: "
                "a later retry checks again"
            ) from err
        if job_id is None:
            self.log.info("The submission of an earlier try (at %s) made no job; submitting", sent_at)
            return None
        self.log.warning(
            "The submission of an earlier try (at %s) lost its answer, but the service made job %s",
            sent_at,
            job_id,
        )
        self._store(job_id, context)
        return job_id

    def _store(self, job_id: str, context: Context) -> None:
        store = task_state_store(context) if self.durable else None
        if store is None:
            return
        store.set(self.kind.state_key, job_id)
        if self.finds_unanswered_submissions:
            store.delete(self.submitted_at_state_key)
