"""Generate alignment training pairs on SeekrFlow and, by default, wait for them."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, ResumableJobMixin, conf

from airflow_provider_seekrflow._client.alignment import generate_request
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowConfigError,
    SeekrFlowError,
    SeekrFlowNotFoundError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.job_outcome import (
    EVENT_ERROR,
    EVENT_TIMEOUT,
    ProgressLog,
    check_event,
    describe_outputs,
    error_for_unsuccessful_job,
    fine_tune_output_id,
    raise_unless_completed,
    timeout_error,
)
from airflow_provider_seekrflow.models import AlignmentJob, AlignmentJobStatus, AlignmentType

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

JOB_ID_XCOM_KEY = "alignment_job_id"
FINE_TUNE_FILE_XCOM_KEY = "fine_tune_file_id"
# The deferred wait ends this much before execution_timeout, so the operator (not Airflow) ends it
# and can cancel the job; Airflow 2 otherwise fails the task from the scheduler without a word to us.
EXECUTION_TIMEOUT_MARGIN = timedelta(seconds=30)
try:  # Airflow 3: the Task SDK's own name (BaseOperator has already loaded this module)
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR as _TRIGGER_FAIL
except ImportError:  # Airflow 2 only spells it inline (models/baseoperator.py, models/trigger.py)
    _TRIGGER_FAIL = "__fail__"


class SeekrFlowGenerateAlignmentOperator(ResumableJobMixin, BaseOperator):
    """
    Start a SeekrFlow alignment job that generates training pairs from uploaded documents.

    With ``wait_for_completion`` (the default) the task waits for the job and returns
    ``{"job_id", "status", "output_files"}``, pushing the ``fine-tune`` output's id under the XCom
    key ``fine_tune_file_id``; the job id is pushed under ``alignment_job_id`` as soon as it exists.
    On Airflow 3.3 and later a retry reattaches to the job of the previous try instead of
    submitting another, unless that job ended unsuccessfully.

    :param instructions: What the training pairs should teach; must not be blank. (templated)
    :param files: Ids of files uploaded with purpose ``alignment``, e.g. the upload operator's output. (templated)
    :param alignment_type: ``principle`` (default) or ``context_data``.
    :param system_prompt: System prompt of the generated conversations; ignored for ``context_data``. (templated)
    :param vector_database_id: Vector database used by ``context_data`` retrieval. (templated)
    :param seekrflow_conn_id: The Airflow connection to use.
    :param wait_for_completion: Whether to wait for the job to end.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: The longest time between two status checks, in seconds; the wait sleeps
        toward the service's completion estimate when it gives one.
    :param timeout: Seconds to wait before cancelling the job and failing; None waits for ever.
    :param cancel_on_kill: Whether killing the task, or a timeout, cancels the job.
    """

    template_fields: Sequence[str] = ("instructions", "system_prompt", "files", "vector_database_id")
    template_fields_renderers = {"instructions": "md", "system_prompt": "md", "files": "json"}
    ui_color = "#e8f0ff"
    external_id_key = JOB_ID_XCOM_KEY

    def __init__(
        self,
        *,
        instructions: str,
        files: Any,
        alignment_type: str = AlignmentType.PRINCIPLE.value,
        system_prompt: str | None = None,
        vector_database_id: str | None = None,
        seekrflow_conn_id: str = SeekrFlowHook.default_conn_name,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        timeout: float | None = None,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        allowed = [member.value for member in AlignmentType]
        if alignment_type not in allowed:
            raise SeekrFlowConfigError(
                f"alignment_type: {alignment_type!r} is not one of {', '.join(allowed)}"
            )
        if poll_interval <= 0 or min_poll_interval <= 0:
            raise SeekrFlowConfigError("poll_interval and min_poll_interval must be greater than 0")
        if timeout is not None and timeout <= 0:
            raise SeekrFlowConfigError(f"timeout: must be greater than 0 seconds, got {timeout!r}")
        self.instructions = instructions
        self.files = files
        self.alignment_type = alignment_type
        self.system_prompt = system_prompt
        self.vector_database_id = vector_database_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.min_poll_interval = min_poll_interval
        self.timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        self.job_id: str | None = None
        self._body: dict[str, Any] | None = None
        self._result: dict[str, Any] | None = None

    @cached_property
    def hook(self) -> SeekrFlowHook:
        """Return the SeekrFlow hook of this task's connection."""
        return SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id)

    # -- execution ------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Check the request, then submit, reattach or finish, depending on the mode."""
        self._body = self._request_body()
        if context.get("task_state_store") is None:
            self.log.warning(
                "This Airflow has no task state store (it arrives in 3.3): if this task is retried after "
                "its job was submitted, the retry submits a new alignment job rather than reattaching."
            )
        if self.deferrable and self.wait_for_completion:
            return self._execute_deferrable(context)
        if not self.wait_for_completion:
            return self._execute_without_waiting(context)
        return self.execute_resumable(context)

    def _request_body(self) -> dict[str, Any]:
        files = self.files
        if files is not None and not isinstance(files, (str, list, tuple)):
            try:
                files = list(files)
            except TypeError:
                raise SeekrFlowConfigError(
                    f"files: expected a file id or a list of file ids, got {type(files).__name__}"
                ) from None
        body = generate_request(
            self.instructions,
            files or [],
            alignment_type=self.alignment_type,
            system_prompt=self.system_prompt,
            vector_database_id=self.vector_database_id,
        )
        if self.system_prompt and self.alignment_type == AlignmentType.CONTEXT_DATA.value:
            warnings.warn(
                "system_prompt is ignored by SeekrFlow for alignment_type='context_data'",
                UserWarning,
                stacklevel=2,
            )
            self.log.warning("system_prompt is ignored by SeekrFlow for alignment_type='context_data'")
        return body

    def _stored_job(self, context: Context) -> AlignmentJob | None:
        store = context.get("task_state_store")
        if store is None:
            return None
        job_id = store.get(self.external_id_key)
        if not job_id:
            return None
        try:
            return self.hook.get_alignment_job(str(job_id))
        except SeekrFlowNotFoundError:
            self.log.warning("The previous try's alignment job %s no longer exists; submitting anew", job_id)
            return None

    def _execute_without_waiting(self, context: Context) -> str:
        job = self._stored_job(context)
        if job is not None and (job.succeeded or not job.is_terminal):
            self.log.info("Reusing alignment job %s of an earlier try (%s)", job.id, job.describe())
            self._remember(job.id, context)
            return job.id
        job_id = self.submit_job(context)
        self._persist(job_id, context)
        return job_id

    def _execute_deferrable(self, context: Context) -> Any:
        job = self._stored_job(context)
        if job is not None:
            if job.succeeded:
                self.log.info("Alignment job %s of an earlier try already completed", job.id)
                self._remember(job.id, context)
                return self.get_job_result(job.id, context)
            if not job.is_terminal:
                self.log.info(
                    "Reattaching to alignment job %s of an earlier try (%s)", job.id, job.describe()
                )
                self._remember(job.id, context)
                self._defer(job.id, context)
            self.log.warning("The earlier try's job %s ended %s; submitting a new one", job.id, job.status)
        job_id = self.submit_job(context)
        self._persist(job_id, context)
        self._defer(job_id, context)
        return None  # unreachable: defer raises

    def _deadline(self, context: Context) -> float | None:
        deadlines = []
        if self.timeout is not None:
            deadlines.append(time.time() + self.timeout)
        if self.execution_timeout:
            ti = context.get("ti")
            started = getattr(ti, "start_date", None) or datetime.now(timezone.utc)
            margin = min(EXECUTION_TIMEOUT_MARGIN, self.execution_timeout / 10)
            deadlines.append((started + self.execution_timeout - margin).timestamp())
        return min(deadlines) if deadlines else None

    def _defer(self, job_id: str, context: Context) -> None:
        # Imported here: the trigger module pulls in Airflow's trigger machinery, which DAG parsing never needs.
        from airflow_provider_seekrflow.triggers.alignment import SeekrFlowAlignmentJobTrigger

        self.defer(
            trigger=SeekrFlowAlignmentJobTrigger(
                job_id=job_id,
                seekrflow_conn_id=self.seekrflow_conn_id,
                poll_interval=self.poll_interval,
                min_poll_interval=self.min_poll_interval,
                end_time=self._deadline(context),
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
            kwargs={"job_id": job_id},
        )

    def execute_complete(self, context: Context, event: Any = None, job_id: str | None = None) -> Any:
        """
        Turn the trigger's event into the task's result or its distinct failure.

        :param context: The task context.
        :param event: The trigger's event.
        :param job_id: The job the task deferred on.
        """
        event = check_event(event, job_id)
        self.job_id = event["job_id"]
        status = event["status"]
        if status == AlignmentJobStatus.COMPLETED.value:
            return self.get_job_result(self.job_id, context)
        if status == EVENT_TIMEOUT:
            self._cancel("the wait timed out")
            raise timeout_error(self.job_id, event.get("message"), None)
        if status == EVENT_ERROR:
            raise SeekrFlowError(f"Waiting for alignment job {self.job_id} failed: {event.get('message')}")
        raise error_for_unsuccessful_job(self.job_id, status, event.get("status_message"))

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Cancel the job when Airflow ends the deferral itself (a trigger timeout or failure)."""
        if next_method == _TRIGGER_FAIL:
            self.job_id = (next_kwargs or {}).get("job_id") or self._pulled_job_id(context)
            self._cancel("Airflow ended the deferred wait")
        return super().resume_execution(next_method, next_kwargs, context)

    def _pulled_job_id(self, context: Context) -> str | None:
        ti = context.get("ti")
        return ti.xcom_pull(task_ids=self.task_id, key=JOB_ID_XCOM_KEY) if ti is not None else None

    # -- ResumableJobMixin ----------------------------------------------------------------------

    def submit_job(self, context: Context) -> str:
        """Submit the alignment job and publish its id at once."""
        body = self._body if self._body is not None else self._request_body()
        job = self.hook.generate_alignment(
            self.instructions,
            body["files"],
            alignment_type=self.alignment_type,
            system_prompt=self.system_prompt,
            vector_database_id=self.vector_database_id,
        )
        self._remember(job.id, context)
        return job.id

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """Return the job's status, or ``failed`` when it no longer exists so a new one is submitted."""
        try:
            return self.hook.get_alignment_job(str(external_id)).status
        except SeekrFlowNotFoundError:
            return AlignmentJobStatus.FAILED.value

    def is_job_active(self, status: str) -> bool:
        """Return whether the job is still going: any status but a terminal one, unknown ones included."""
        return status not in AlignmentJobStatus.terminal_states()

    def is_job_succeeded(self, status: str) -> bool:
        """Return whether the status is ``completed``."""
        return status == AlignmentJobStatus.COMPLETED.value

    # Airflow 3.3 returns this method's value when it reattaches to a running job, so it must be the result.
    def poll_until_complete(self, external_id: Any, context: Context) -> dict[str, Any]:  # type: ignore[override]
        """Wait on the worker for the job to end, and return the task's result or raise its failure."""
        job_id = str(external_id)
        self._remember(job_id, context)
        try:
            job = self.hook.wait_for_alignment_job(
                job_id,
                poll_interval=self.poll_interval,
                min_poll_interval=self.min_poll_interval,
                timeout=self.timeout,
                on_poll=ProgressLog(self.log.info, self.log.warning),
            )
        except SeekrFlowAlignmentJobTimeoutError:
            self._cancel("the wait timed out")
            raise
        raise_unless_completed(job)
        return self.get_job_result(job_id, context)

    def get_job_result(self, external_id: Any, context: Context) -> dict[str, Any]:
        """Return ``{"job_id", "status", "output_files"}`` and push the fine-tune output's id."""
        job_id = str(external_id)
        if self._result is not None and self._result["job_id"] == job_id:
            return self._result
        outputs = self.hook.get_alignment_outputs(job_id)
        fine_tune_id = fine_tune_output_id(outputs)
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key=FINE_TUNE_FILE_XCOM_KEY, value=fine_tune_id)
        if fine_tune_id is None:
            self.log.warning("Alignment job %s completed without a fine-tune output", job_id)
        self._result = {
            "job_id": job_id,
            "status": AlignmentJobStatus.COMPLETED.value,
            "output_files": describe_outputs(outputs),
        }
        self.log.info("Alignment job %s completed with %d output file(s)", job_id, len(outputs))
        return self._result

    # -- helpers --------------------------------------------------------------------------------

    def _remember(self, job_id: str, context: Context) -> None:
        if self.job_id == job_id:
            return
        self.job_id = job_id
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key=JOB_ID_XCOM_KEY, value=job_id)

    def _persist(self, job_id: str, context: Context) -> None:
        store = context.get("task_state_store")
        if store is not None:
            store.set(self.external_id_key, job_id)

    def _cancel(self, reason: str) -> None:
        if not self.cancel_on_kill or not self.job_id:
            return
        try:
            job = self.hook.cancel_alignment_job(self.job_id)
        except SeekrFlowError as err:
            self.log.warning("Could not cancel alignment job %s (%s): %s", self.job_id, reason, err)
        else:
            self.log.info(
                "Cancelled alignment job %s because %s; it is now %s", self.job_id, reason, job.status
            )

    def on_kill(self) -> None:
        """Cancel the job when the task is killed while waiting on the worker."""
        self._cancel("the task was killed")
