"""Generate alignment training pairs on SeekrFlow (the deprecated generate endpoint) and, by default, wait for them."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.defaults import check_alignment_type
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.links import SeekrFlowAlignmentJobLink
from airflow_provider_seekrflow.operators.job_base import SeekrFlowJobOperator
from airflow_provider_seekrflow.vocabulary import AlignmentType

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.jobs.submissions import SubmissionNote


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
    kind_key = "alignment"
    operator_extra_links = (SeekrFlowAlignmentJobLink(),)
    finds_unanswered_submissions = True

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

    # -- the request ----------------------------------------------------------------------------

    def prepare_request(self) -> None:
        """Check the rendered request locally; nothing is sent when it is wrong."""
        from airflow_provider_seekrflow.client.alignment import generate_request

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
        job = self.hook.generate_alignment(
            self.instructions,
            self._request()["files"],
            alignment_type=self.alignment_type,
            system_prompt=self.system_prompt,
            vector_database_id=self.vector_database_id,
            snapshot=self.snapshot,
        )
        return job.id

    def snapshot_before_submit(self, context: Context) -> Snapshot:
        """Return the alignment jobs listed before the request is sent."""
        return self.hook.snapshot_alignment_jobs()

    def find_submitted_job(self, note: SubmissionNote, context: Context) -> str | None:
        """Return the alignment job an earlier try's unanswered request made (the new job echoing it), if listed."""
        job = self.hook.find_generated_alignment(self._request(), note.snapshot)
        return job.id if job is not None else None

    def _request(self) -> dict[str, Any]:
        if self._body is None:
            self.prepare_request()
        assert self._body is not None
        return self._body

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Return this run's OpenLineage datasets: the documents read, the output files made (training file included).

        :param task_instance: The task instance that ended (unused: the operator kept its result).
        """
        from airflow_provider_seekrflow.lineage import training_data_lineage

        return training_data_lineage(self)
