"""One resume path for every operator that runs one SeekrFlow job and (by default) waits for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_seekrflow.assets import check_outlets_can_be_announced, publish_training_file
from airflow_provider_seekrflow.defaults import DEFAULT_CONN_ID, UNTIL_END, check_poll_intervals
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowError, SeekrFlowNotFoundError
from airflow_provider_seekrflow.job_task import JobKindTask
from airflow_provider_seekrflow.jobs.resume import ResumeAction
from airflow_provider_seekrflow.links import JOB_LINKS
from airflow_provider_seekrflow.operators.job_deadlines import KeepsDeadlines
from airflow_provider_seekrflow.operators.job_submission import SubmitsOnce

# DAG parsing imports this module: the hook, the client and the job kinds (pydantic models, the
# transports) load when a task runs, in the methods that use them (tests/unit/test_parse_imports.py).
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.jobs.base import JobWatcher
    from airflow_provider_seekrflow.jobs.events import Outcome

try:  # Airflow 3: the Task SDK's own name (BaseOperator has already loaded this module)
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR
except ImportError:  # Airflow 2 only spells it inline (models/baseoperator.py, models/trigger.py)
    TRIGGER_FAIL_REPR = "__fail__"


class SeekrFlowJobOperator(JobKindTask, SubmitsOnce, KeepsDeadlines, BaseOperator):
    """
    Run one SeekrFlow job: submit it, or pick up the one an earlier try left, then wait on the worker or deferred.

    Subclasses say how to check the request and submit it; their ``kind`` (named by ``kind_key``)
    says how to read, wait for, cancel and report the job. This class decides, in one place for every mode, whether a try
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
    #: Whether a retry can ask the service for the job an earlier try's unanswered submission made
    #: (``find_submitted_job``); such tries note in the task state store when they submitted.
    finds_unanswered_submissions: bool = False
    #: The key of the kind of job run (``airflow_provider_seekrflow.jobs.kinds.KINDS``); set by each subclass.
    kind_key: str

    def __init__(
        self,
        *,
        seekrflow_conn_id: str = DEFAULT_CONN_ID,
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

    # -- what each kind of job says -------------------------------------------------------------

    def prepare_request(self) -> None:
        """Check the request locally, raising before anything is sent."""
        raise NotImplementedError

    def job_status(self, job_id: str) -> str | None:
        """Return the job's status, or None when the service no longer has it."""
        try:
            return str(self.hook.call(self.kind.get(job_id)).status)
        except SeekrFlowNotFoundError:
            return None

    def cancel_job(self, job_id: str) -> str:
        """Cancel the job and return its status after."""
        return str(self.hook.run(self.kind.cancel(job_id)).status)

    def build_trigger(self, job_id: str, end_time: float | None, until: str = UNTIL_END) -> Any:
        """Return the trigger that waits in the triggerer until the wait (``until``) is over."""
        # Imported here: the trigger module pulls in Airflow's trigger machinery, which DAG parsing never needs.
        from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger

        return SeekrFlowJobTrigger(
            kind=self.kind.key, until=until, **self.trigger_arguments(job_id, end_time)
        )

    def wait_on_worker(
        self,
        job_id: str,
        *,
        until: str = UNTIL_END,
        timeout: float | None = None,
        watcher: JobWatcher | None = None,
    ) -> Any:
        """
        Block until the wait is over and return the job; running out of time cancels it and raises the kind's timeout.

        :param job_id: The job.
        :param until: What to wait for.
        :param timeout: Seconds left for this wait; the operator's ``timeout`` when None.
        :param watcher: The watcher to keep, when several waits share its progress log.
        """
        from airflow_provider_seekrflow.client.waiting import limit_text

        def timed_out(job: Any) -> Exception:
            self.cancel("the wait timed out")
            return self.kind.timed_out(
                job_id,
                f"{self.kind.label} {job_id} did not finish {limit_text(self.timeout)}",
                job.status if job is not None else None,
            )

        return self.hook.wait_for_job(
            self.kind,
            job_id,
            until=until,
            poll_interval=self.poll_interval,
            min_poll_interval=self.min_poll_interval,
            timeout=self.timeout if timeout is None else timeout,
            timed_out=timed_out,
            watcher=watcher or self.kind.watch(until, self.log.info, self.log.warning),
        )

    def poll_until_complete(self, job_id: str, context: Context) -> dict[str, Any]:
        """Wait on the worker for the job to end, and return the task's result or raise its failure."""
        return self.finish(self.wait_on_worker(job_id), context)

    def finish(self, job: Any, context: Context) -> dict[str, Any]:
        """Return the task's result for a job that ended, or raise its kind's failure."""
        if not job.succeeded:
            raise self.kind.watch(UNTIL_END, self.log.info).failure(job)
        return self.get_job_result(job.id, context, job=job)

    def get_job_result(self, job_id: str, context: Context, *, job: Any = None) -> dict[str, Any]:
        """
        Return the task's result for the job, reading it unless given; a completed job's training file is published.

        :param job_id: The job.
        :param context: The task context.
        :param job: The job as just read, which saves a request.
        """
        if job is None:
            job = self.hook.call(self.kind.get(job_id))
        watcher = self.kind.watch(UNTIL_END, self.log.info, self.log.warning)
        result = self.hook.run(watcher.result(job))
        publish_training_file(self, context, job_id, result)
        if job.succeeded:
            no_training_file = self.kind.makes_training_data and result.training_file_id is None
            (self.log.warning if no_training_file else self.log.info)("%s", watcher.completion_line(result))
        return result.value

    def execute_complete(
        self, context: Context, event: Any = None, job_id: str | None = None, end_time: float | None = None
    ) -> Any:
        """
        Turn the trigger's event into the task's result or its kind's distinct failure.

        :param context: The task context.
        :param event: The trigger's event.
        :param job_id: The job the task deferred on.
        :param end_time: The wait's deadline (epoch seconds): a timeout that came early by this clock waits the rest.
        """
        outcome = self.outcome_of(event, job_id, deadline=end_time)
        return self.finish(self.hook.call(self.kind.get(outcome.job_id)), context)

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
        from airflow_provider_seekrflow.jobs.events import event_outcome

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
        from airflow_provider_seekrflow.client.deadline import bounded_by

        self.last_result = None  # an operator run again in one process reports no earlier run's result
        if self.kind.makes_training_data:
            check_outlets_can_be_announced(self.task_id, self.outlets, self.wait_for_completion)
        self.prepare_request()
        decision = self.resume_decision(context)
        if decision.action is ResumeAction.REUSE:
            self.log.info("Using job %s of an earlier try: %s", decision.job_id, decision.reason)
            assert decision.job_id is not None
            self.remember(decision.job_id, context)
            return self.keep_result(self.get_job_result(decision.job_id, context))
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
        return self.keep_result(self.defer_or_wait(job_id, context))

    def defer_or_wait(self, job_id: str, context: Context) -> Any:
        """Defer to this kind's trigger when deferrable (never returning), else wait on the worker and return its result."""
        if self.deferrable:
            deadline = self._deadline(context)
            self.defer(
                trigger=self.build_trigger(job_id, deadline),
                method_name="execute_complete",
                # The deadline travels along, so a job waited on in several deferrals keeps one.
                kwargs={"job_id": job_id, "end_time": deadline},
            )
        return self.poll_until_complete(job_id, context)

    def remember(self, job_id: str, context: Context) -> None:
        """
        Keep the job id for ``on_kill``, publish it under its XCom key (unless XComs are off) and persist the task's link to it.

        Called as soon as the job id is known, before any wait or deferral, so the task's page links
        to the job while it runs.
        """
        if self.job_id == job_id:
            return
        self.job_id = job_id
        ti = context.get("ti")
        if ti is not None and self.do_xcom_push:
            ti.xcom_push(key=self.kind.job_id_xcom_key, value=job_id)
        # The link is the page's, not a result: persisted with XComs off too.
        JOB_LINKS[self.kind_key].persist(context, self, job_id)

    def push_extra_xcom(self, context: Context, key: str, value: Any) -> None:
        """Push an XCom beside the return value, unless the task's XComs are off."""
        ti = context.get("ti")
        if ti is not None and self.do_xcom_push:
            ti.xcom_push(key=key, value=value)

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
        return ti.xcom_pull(task_ids=self.task_id, key=self.kind.job_id_xcom_key) if ti is not None else None

    def cancel(self, reason: str) -> None:
        """Cancel the running job, if any and if ``cancel_on_kill``; a failure to cancel is only logged."""
        if not self.cancel_on_kill or not self.job_id:
            return
        from airflow_provider_seekrflow.client.deadline import lifted
        from airflow_provider_seekrflow.client.log_text import for_log

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
