"""Generate alignment training pairs on SeekrFlow (the deprecated generate endpoint) and, by default, wait for them."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow._client.alignment import (
    check_alignment_type,
    describe_outputs,
    generate_request,
    training_output_id,
)
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowConfigError,
    SeekrFlowNotFoundError,
)
from airflow_provider_seekrflow.jobs.errors import (
    error_for_unsuccessful_job,
    raise_unless_completed,
)
from airflow_provider_seekrflow.jobs.kinds import ALIGNMENT
from airflow_provider_seekrflow.jobs.progress import ProgressLog
from airflow_provider_seekrflow.jobs.results import completed_line
from airflow_provider_seekrflow.operators.job_base import SeekrFlowJobOperator
from airflow_provider_seekrflow.vocabulary import AlignmentType

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

JOB_ID_XCOM_KEY = "alignment_job_id"


class SeekrFlowGenerateAlignmentOperator(SeekrFlowJobOperator):
    """
    Start a SeekrFlow alignment job that generates training pairs from uploaded documents.

    The task returns ``{"job_id", "status", "output_files"}`` in every mode: after the job
    completed when it waits (the default), as just submitted with ``wait_for_completion=False``.
    The job id is pushed under the XCom key ``alignment_job_id`` as soon as it exists, and the
    ``fine-tune`` output's id under ``fine_tune_file_id`` when the job completes (both unless
    ``do_xcom_push`` is off). On Airflow 3.3 and later a retry reattaches to the job of the
    previous try instead of submitting another, unless that job ended unsuccessfully. The event of
    each asset (Dataset on Airflow 2) in ``outlets`` carries the training file as
    ``extra["training_file_id"]`` (:mod:`airflow_provider_seekrflow.assets`).

    SeekrFlow's reference marks the generate endpoint deprecated in favour of data jobs.

    :param instructions: What the training pairs should teach; must not be blank. (templated)
    :param files: Ids of files uploaded with purpose ``alignment``, e.g. the upload operator's output. (templated)
    :param alignment_type: ``principle`` (default) or ``context_data``.
    :param system_prompt: System prompt of the generated conversations; ignored for ``context_data``. (templated)
    :param vector_database_id: Vector database used by ``context_data`` retrieval. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param wait_for_completion: Whether to wait for the job to end.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: The longest time between two status checks, in seconds; the wait sleeps
        toward the service's completion estimate when it gives one.
    :param min_poll_interval: The shortest time between two status checks, in seconds.
    :param timeout: Seconds to wait before cancelling the job and failing; None waits for ever.
    :param cancel_on_kill: Whether killing the task, or a timeout, cancels the job.
    :param durable: Whether a retry picks up the job of an earlier try (Airflow 3.3+) instead of
        submitting another.
    """

    template_fields: Sequence[str] = (
        "instructions",
        "system_prompt",
        "files",
        "vector_database_id",
        "seekrflow_conn_id",
    )
    template_fields_renderers = {"instructions": "md", "system_prompt": "md", "files": "json"}
    state_key = "seekrflow_alignment_job_id"
    # Before the operator had a state key of its own it stored the job id under its XCom key.
    legacy_state_keys = (JOB_ID_XCOM_KEY,)
    job_id_xcom_key = JOB_ID_XCOM_KEY
    kind = ALIGNMENT
    terminal_states = ALIGNMENT.terminal_states
    success_status = ALIGNMENT.success_status
    announces_training_data = True

    def __init__(
        self,
        *,
        instructions: str,
        files: Any,
        alignment_type: str = AlignmentType.PRINCIPLE.value,
        system_prompt: str | None = None,
        vector_database_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_alignment_type(alignment_type)
        self.instructions = instructions
        self.files = files
        self.alignment_type = alignment_type
        self.system_prompt = system_prompt
        self.vector_database_id = vector_database_id
        self._body: dict[str, Any] | None = None
        self._result: dict[str, Any] | None = None

    # -- the request ----------------------------------------------------------------------------

    def prepare_request(self) -> None:
        """Check the rendered request locally; nothing is sent when it is wrong."""
        files = self.files
        if files is not None and not isinstance(files, (str, list, tuple)):
            try:
                files = list(files)
            except TypeError:
                raise SeekrFlowConfigError(
                    f"files: expected a file id or a list of file ids, got {type(files).__name__}"
                ) from None
        self._body = generate_request(
            self.instructions,
            files or [],
            alignment_type=self.alignment_type,
            system_prompt=self.system_prompt,
            vector_database_id=self.vector_database_id,
        )
        if self.system_prompt and self.alignment_type == AlignmentType.CONTEXT_DATA.value:
            message = "system_prompt is ignored by SeekrFlow for alignment_type='context_data'"
            warnings.warn(message, UserWarning, stacklevel=2)
            self.log.warning(message)

    def submit_job(self, context: Context) -> str:
        """Submit the alignment job and return its id."""
        if self._body is None:
            self.prepare_request()
        assert self._body is not None
        job = self.hook.generate_alignment(
            self.instructions,
            self._body["files"],
            alignment_type=self.alignment_type,
            system_prompt=self.system_prompt,
            vector_database_id=self.vector_database_id,
        )
        return job.id

    # -- the job --------------------------------------------------------------------------------

    def job_status(self, job_id: str) -> str | None:
        """Return the job's status, or None when it no longer exists."""
        try:
            return self.hook.get_alignment_job(job_id).status
        except SeekrFlowNotFoundError:
            return None

    def cancel_job(self, job_id: str) -> str:
        """Cancel the alignment job and return its status after."""
        return self.hook.cancel_alignment_job(job_id).status

    def build_trigger(self, job_id: str, end_time: float | None) -> Any:
        """Return the trigger that polls the job in the triggerer."""
        # Imported here: the trigger module pulls in Airflow's trigger machinery, which DAG parsing never needs.
        from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger

        return SeekrFlowJobTrigger(kind=ALIGNMENT.key, **self.trigger_arguments(job_id, end_time))

    def poll_until_complete(self, job_id: str, context: Context) -> dict[str, Any]:
        """Wait on the worker for the job to end, and return the task's result or raise its failure."""
        try:
            job = self.hook.wait_for_alignment_job(
                job_id,
                poll_interval=self.poll_interval,
                min_poll_interval=self.min_poll_interval,
                timeout=self.timeout,
                on_poll=ProgressLog(self.log.info, self.log.warning),
            )
        except SeekrFlowAlignmentJobTimeoutError:
            self.cancel("the wait timed out")
            raise
        raise_unless_completed(job)
        return self.get_job_result(job_id, context, job.status)

    def execute_complete(
        self, context: Context, event: Any = None, job_id: str | None = None, end_time: float | None = None
    ) -> Any:
        """
        Turn the trigger's event into the task's result or its distinct failure.

        :param context: The task context.
        :param event: The trigger's event.
        :param job_id: The job the task deferred on.
        :param end_time: The wait's deadline (epoch seconds): a timeout that came early by this clock waits the rest.
        """
        outcome = self.outcome_of(event, job_id, deadline=end_time)
        if outcome.kind == "completed":
            return self.get_job_result(outcome.job_id, context, outcome.status)
        raise error_for_unsuccessful_job(outcome.job_id, outcome.status, outcome.status_message)

    def get_job_result(self, job_id: str, context: Context, status: str | None = None) -> dict[str, Any]:
        """Return ``{"job_id", "status", "output_files"}``; a completed job's training file id goes to XCom."""
        if self._result is not None and self._result["job_id"] == job_id:
            return self._result
        if status is None:
            job = self.hook.get_alignment_job(job_id)
            if not job.succeeded:
                return {
                    "job_id": job_id,
                    "status": job.status,
                    "output_files": describe_outputs(job.output_files),
                }
        outputs = self.hook.get_alignment_outputs(job_id)
        training_file_id = training_output_id(outputs)
        self._result = {
            "job_id": job_id,
            "status": self.success_status,
            "output_files": describe_outputs(outputs),
        }
        if training_file_id is not None:
            self.publish_training_file(context, job_id, training_file_id, self._result["output_files"])
        line = completed_line(f"Alignment job {job_id}", self._result["output_files"], training_file_id)
        (self.log.info if training_file_id else self.log.warning)("%s", line)
        return self._result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Return this run's OpenLineage datasets: the documents read, the output files made (training file included).

        :param task_instance: The task instance that ended (unused: the operator kept its result).
        """
        from airflow_provider_seekrflow.lineage import training_data_lineage

        return training_data_lineage(self)
