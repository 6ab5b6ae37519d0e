"""One resume path for every operator that runs one SeekrFlow job and (by default) waits for it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_seekrflow._client.deadline import bounded_by, lifted
from airflow_provider_seekrflow._client.log_text import for_log
from airflow_provider_seekrflow.assets import announce_training_data, check_outlets_can_be_announced
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowError
from airflow_provider_seekrflow.hooks.pipeline_methods import check_poll_intervals
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.events import UNTIL_END, Outcome, event_outcome
from airflow_provider_seekrflow.jobs.kinds import JobKind
from airflow_provider_seekrflow.jobs.resume import ResumeAction
from airflow_provider_seekrflow.operators.job_submission import SubmitsOnce

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow._client.lost_answers import Snapshot

try:  # Airflow 3: the Task SDK's own name (BaseOperator has already loaded this module)
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR
except ImportError:  # Airflow 2 only spells it inline (models/baseoperator.py, models/trigger.py)
    TRIGGER_FAIL_REPR = "__fail__"

# The deferred wait ends this much before execution_timeout, so the operator (not Airflow) ends it
# and can cancel the job; Airflow 2 otherwise fails the task from the scheduler without a word to us.
EXECUTION_TIMEOUT_MARGIN = timedelta(seconds=30)
# A trigger's timeout this much before the deadline by the worker's clock is a clock disagreement,
# not the latency of resuming the task.
EARLY_TIMEOUT_TOLERANCE_SECONDS = 5.0
#: The XCom key of the training file (the ``fine-tune`` output) a data job or generate produced.
FINE_TUNE_FILE_XCOM_KEY = "fine_tune_file_id"


class SeekrFlowJobOperator(SubmitsOnce, BaseOperator):
    """
    Run one SeekrFlow job: submit it, or pick up the one an earlier try left, then wait on the worker or deferred.

    Subclasses say how to check the request, submit, read, cancel and wait for their kind of job,
    and what its result is; this class decides, in one place for every mode, whether a try
    submits, reattaches or reuses (:func:`~airflow_provider_seekrflow.jobs.resume.decide_resume`).

    The parameters below are every job operator's; each subclass documents them for its users.

    :param seekrflow_conn_id: Connection id.
    :param hook_params: Hook keyword arguments, also given to the trigger.
    :param wait_for_completion: Wait for the end, or return the job as submitted.
    :param deferrable: Wait in the triggerer.
    :param poll_interval: Longest sleep between status checks (seconds).
    :param min_poll_interval: Shortest sleep between status checks (seconds).
    :param timeout: Seconds before the job is cancelled and the task fails; None for no limit.
    :param cancel_on_kill: Cancel the job on a kill or a timeout.
    :param durable: Let a retry pick up an earlier try's job (Airflow 3.3+).
    """

    template_fields: Sequence[str] = ("seekrflow_conn_id",)
    ui_color = "#e8f0ff"
    #: The task state store key of the job id; renaming it loses the jobs of in-flight retries.
    state_key: str = "seekrflow_job_id"
    #: Older state store keys still read, so an upgrade mid-retry reattaches too.
    legacy_state_keys: tuple[str, ...] = ()
    #: Whether a retry can ask the service for the job an earlier try's unanswered submission made
    #: (``find_submitted_job``); such tries note in the task state store when they submitted.
    finds_unanswered_submissions: bool = False
    #: The XCom key the job id is pushed under as soon as the job exists.
    job_id_xcom_key: str = "job_id"
    #: The statuses a job of this kind never leaves, and the one that is success.
    terminal_states: frozenset[str] = frozenset()
    success_status: str = "completed"
    #: Whether the job produces training data, announced on the task's asset outlets.
    announces_training_data: bool = False
    #: What the kind's statuses mean; set by each subclass.
    kind: JobKind

    def __init__(
        self,
        *,
        seekrflow_conn_id: str = SeekrFlowHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        timeout: float | None = None,
        cancel_on_kill: bool = True,
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_poll_intervals(poll_interval, min_poll_interval)
        if timeout is not None and timeout <= 0:
            raise SeekrFlowConfigError(f"timeout: must be greater than 0 seconds, got {timeout!r}")
        self.seekrflow_conn_id = seekrflow_conn_id
        self.hook_params = dict(hook_params or {})
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.min_poll_interval = min_poll_interval
        self.timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        self.durable = durable
        self.job_id: str | None = None
        #: The jobs listed before this try's submission, handed to the create (``snapshot_before_submit``).
        self.snapshot: Snapshot | None = None
        #: The task's result once it has one, for what runs after it (OpenLineage): not an XCom, so
        #: it is there with ``do_xcom_push=False`` too.
        self.last_result: dict[str, Any] | None = None

    @cached_property
    def hook(self) -> SeekrFlowHook:
        """Return the SeekrFlow hook of this task's connection."""
        return SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id, **self.hook_params)

    # -- what each kind of job says -------------------------------------------------------------

    def prepare_request(self) -> None:
        """Check the request locally, raising before anything is sent."""
        raise NotImplementedError

    def poll_until_complete(self, job_id: str, context: Context) -> dict[str, Any]:
        """Wait on the worker for the job to end, and return the task's result or raise its failure."""
        raise NotImplementedError

    def cancel_job(self, job_id: str) -> str:
        """Cancel the job and return its status after."""
        raise NotImplementedError

    def build_trigger(self, job_id: str, end_time: float | None) -> Any:
        """Return the trigger that waits for the job in the triggerer."""
        raise NotImplementedError

    def get_job_result(self, job_id: str, context: Context, status: str | None = None) -> dict[str, Any]:
        """
        Return the task's result for the job: ``{"job_id", "status", "output_files"}``.

        :param job_id: The job.
        :param context: The task context.
        :param status: The job's status when just read (it saves a call), else None to read it.
        """
        raise NotImplementedError

    def execute_complete(self, context: Context, event: Any = None, job_id: str | None = None) -> Any:
        """Turn the trigger's event into the task's result or its distinct failure."""
        raise NotImplementedError

    def trigger_arguments(self, job_id: str, end_time: float | None) -> dict[str, Any]:
        """Return the arguments every job trigger takes, from this operator's settings (never a secret)."""
        return {
            "job_id": job_id,
            "seekrflow_conn_id": self.seekrflow_conn_id,
            "poll_interval": self.poll_interval,
            "min_poll_interval": self.min_poll_interval,
            "end_time": end_time,
            "cancel_on_kill": self.cancel_on_kill,
            "hook_params": self.hook_params,
        }

    def outcome_of(
        self, event: Any, job_id: str | None, *, until: str = UNTIL_END, deadline: float | None = None
    ) -> Outcome:
        """
        Return what the trigger's event means, raising the task's failure for any end but success.

        A timeout cancels the job first, once this worker's clock agrees the deadline has passed: a
        triggerer whose clock runs ahead fires early, and then the wait goes on for the time this
        worker still sees (:meth:`defer_early_timeout`). An event whose job went on (``until``
        ingestion) is returned.

        :param event: The trigger's event.
        :param job_id: The job the task deferred on.
        :param until: What the wait waited for.
        :param deadline: The wait's deadline as this task set it (the deferral's ``end_time``), when
            Airflow passed it back; else the event's.
        """
        outcome = event_outcome(event, job_id, self.kind, until=until)
        self.job_id = outcome.job_id
        if outcome.kind == "timeout":
            self.defer_early_timeout(event, outcome.job_id, deadline)
            self.cancel("the wait timed out")
            raise self.kind.timed_out(outcome.job_id, outcome.message, None)
        if outcome.kind == "error":
            raise SeekrFlowError(
                f"Waiting for {self.kind.label.lower()} {outcome.job_id} failed: {outcome.message}"
            )
        return outcome

    def finish_without_waiting(self, job_id: str, context: Context) -> dict[str, Any]:
        """Return the task's result when it does not wait for the job's end: the job as submitted."""
        return self.get_job_result(job_id, context)

    # -- the one path ---------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Check the request, then submit, reattach or reuse, and wait as the mode says."""
        self.last_result = None  # an operator run again in one process reports no earlier run's result
        if self.announces_training_data:
            check_outlets_can_be_announced(self.task_id, self.outlets, self.wait_for_completion)
        self.prepare_request()
        decision = self.resume_decision(context)
        if decision.action is ResumeAction.REUSE:
            self.log.info("Using job %s of an earlier try: %s", decision.job_id, decision.reason)
            assert decision.job_id is not None
            self.remember(decision.job_id, context)
            return self.keep_result(self.get_job_result(decision.job_id, context, self.success_status))
        if decision.action is ResumeAction.REATTACH:
            self.log.info("Reattaching to job %s of an earlier try: %s", decision.job_id, decision.reason)
            assert decision.job_id is not None
            job_id = decision.job_id
        else:
            if decision.job_id is not None:
                self.log.warning(
                    "Not reusing job %s of an earlier try: %s; submitting a new one",
                    decision.job_id,
                    decision.reason,
                )
            job_id = self._submit(context)
        self.remember(job_id, context)
        # A wait on the worker ends (and cancels the job) before Airflow's execution_timeout would
        # kill the task without a word to us, even with a status check in flight.
        with bounded_by(self._seconds_to(self._execution_deadline(context))):
            if not self.wait_for_completion:
                return self.keep_result(self.finish_without_waiting(job_id, context))
            return self._wait_for_end(job_id, context)

    def _wait_for_end(self, job_id: str, context: Context) -> Any:
        if self.deferrable:
            deadline = self._deadline(context)
            self.defer(
                trigger=self.build_trigger(job_id, deadline),
                method_name="execute_complete",
                # The deadline travels along, so a job waited on in several deferrals keeps one.
                kwargs={"job_id": job_id, "end_time": deadline},
            )
        return self.keep_result(self.poll_until_complete(job_id, context))

    def remember(self, job_id: str, context: Context) -> None:
        """Keep the job id for ``on_kill`` and publish it under its XCom key, unless XComs are off."""
        if self.job_id == job_id:
            return
        self.job_id = job_id
        ti = context.get("ti")
        if ti is not None and self.do_xcom_push:
            ti.xcom_push(key=self.job_id_xcom_key, value=job_id)

    def push_extra_xcom(self, context: Context, key: str, value: Any) -> None:
        """Push an XCom beside the return value, unless the task's XComs are off."""
        ti = context.get("ti")
        if ti is not None and self.do_xcom_push:
            ti.xcom_push(key=key, value=value)

    def publish_training_file(
        self, context: Context, job_id: str, training_file_id: str, output_files: list[dict[str, Any]]
    ) -> None:
        """
        Push the training file to XCom and into the event of every asset in ``outlets``.

        :param context: The task context.
        :param job_id: The job that produced the file.
        :param training_file_id: The ``fine-tune`` output's id.
        :param output_files: Every output of the job, as the task's result lists them.
        """
        self.push_extra_xcom(context, FINE_TUNE_FILE_XCOM_KEY, training_file_id)
        announced = announce_training_data(
            context,
            self.outlets,
            training_file_id=training_file_id,
            job_id=job_id,
            job_kind=self.kind.key,
            output_file_ids=[output["id"] for output in output_files],
        )
        if announced:
            self.log.info("Training file %s announced on %s", training_file_id, ", ".join(announced))

    def _deadline(self, context: Context) -> float | None:
        deadlines = []
        if self.timeout is not None:
            deadlines.append(time.time() + self.timeout)
        execution_deadline = self._execution_deadline(context)
        if execution_deadline is not None:
            deadlines.append(execution_deadline)
        return min(deadlines) if deadlines else None

    def defer_early_timeout(self, event: Any, job_id: str, deadline: float | None = None) -> None:
        """
        Wait again, deferred, when a ``timeout`` event came before the deadline by this worker's clock.

        The deadline is an epoch time from a worker's clock, compared with the triggerer's: a
        triggerer clock ahead by S seconds fires S seconds early. The new trigger's deadline is
        moved by the disagreement seen, so that clock reaches it when this one reaches the real one.

        :param event: The trigger's ``timeout`` event.
        :param job_id: The job waited on.
        :param deadline: The task's own deadline, kept in the deferral's kwargs: a moved trigger's
            event names the moved time, and comparing with that would move it again for ever.
        """
        end_time = deadline if isinstance(deadline, (int, float)) else None
        if end_time is None and isinstance(event, dict):
            end_time = event.get("end_time")
        if not isinstance(end_time, (int, float)):
            return
        early = end_time - time.time()
        if early <= EARLY_TIMEOUT_TOLERANCE_SECONDS:
            return
        self.log.warning(
            "The triggerer timed out the wait for job %s %.0f s before its deadline by this worker's "
            "clock (its clock runs ahead); waiting the rest before cancelling",
            job_id,
            early,
        )
        self.defer(
            trigger=self.build_trigger(job_id, end_time + early),
            method_name="execute_complete",
            kwargs={"job_id": job_id, "end_time": end_time},
        )

    def _execution_deadline(self, context: Context) -> float | None:
        """Return when (epoch seconds) a wait must end to leave the margin before ``execution_timeout``; None without one."""
        if not self.execution_timeout:
            return None
        ti = context.get("ti")
        started = getattr(ti, "start_date", None) or datetime.now(timezone.utc)
        margin = min(EXECUTION_TIMEOUT_MARGIN, self.execution_timeout / 10)
        return (started + self.execution_timeout - margin).timestamp()

    @staticmethod
    def _seconds_to(moment: float | None) -> float | None:
        # Same host, same clock as the task's start_date: the epoch moment becomes a span once, here.
        return None if moment is None else moment - time.time()

    # -- ending it ------------------------------------------------------------------------------

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Cancel the job when Airflow ends the deferral itself (a trigger timeout or failure)."""
        if next_method == TRIGGER_FAIL_REPR:
            self.job_id = (next_kwargs or {}).get("job_id") or self._pulled_job_id(context)
            self.cancel("Airflow ended the deferred wait")
        return self.keep_result(super().resume_execution(next_method, next_kwargs, context))

    def keep_result(self, result: Any) -> Any:
        """Keep the task's result in ``last_result`` and return it: a deferred task keeps it when it resumes."""
        self.last_result = result if isinstance(result, dict) else None
        return result

    def _pulled_job_id(self, context: Context) -> str | None:
        ti = context.get("ti")
        return ti.xcom_pull(task_ids=self.task_id, key=self.job_id_xcom_key) if ti is not None else None

    def cancel(self, reason: str) -> None:
        """Cancel the running job, if any and if ``cancel_on_kill``; a failure to cancel is only logged."""
        if not self.cancel_on_kill or not self.job_id:
            return
        try:
            # Unbounded: a wait that ran out of time cancels in the margin kept before execution_timeout.
            with lifted():
                status = self.cancel_job(self.job_id)
        except SeekrFlowError as err:
            self.log.warning("Could not cancel job %s (%s): %s", self.job_id, reason, for_log(str(err)))
        else:
            self.log.info("Cancelled job %s because %s; it is now %s", self.job_id, reason, for_log(status))

    def on_kill(self) -> None:
        """Cancel the job when the task is killed while waiting on the worker."""
        self.cancel("the task was killed")
