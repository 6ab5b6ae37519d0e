"""Wait for a SeekrFlow data job started elsewhere, in poke, reschedule or deferrable mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.defaults import UNTIL_END, UNTIL_END_OR_REVIEW
from airflow_provider_seekrflow.links import SeekrFlowDataJobLink
from airflow_provider_seekrflow.sensors.job_base import SeekrFlowJobSensor
from airflow_provider_seekrflow.vocabulary import DataJobStatus

if TYPE_CHECKING:
    from airflow_provider_seekrflow.client.data_jobs import DataJobDetail


class SeekrFlowDataJobSensor(SeekrFlowJobSensor):
    """
    Wait until a data job completes, and return ``{"job_id", "status", "alignment_job_id", "output_files"}``.

    Ingestion and alignment progress go to the task log on change. The ``fine-tune`` output's id is
    pushed under the XCom key ``fine_tune_file_id``, and put into the event of each asset in
    ``outlets`` (``extra["training_file_id"]``), as the data job operator does. A job that ends
    ``failed``, ``cancelled`` or ``stopped`` fails the task at once; so does one that needs review,
    naming every file at fault (``fail_on_review=False`` keeps waiting for someone to fix and start
    it). ``soft_fail`` skips instead, in every mode. The sensor never cancels or starts the job.

    :param job_id: The data job to wait for: its id, or the data job operator's result. (templated)
    :param fail_on_review: Whether a job in ``needs_review`` fails the task (the default) or is waited on.
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: In deferrable mode, the longest time between two status checks, in
        seconds; the trigger sleeps toward the alignment's completion estimate once it runs.
    """

    kind_key = "data_job"
    operator_extra_links = (SeekrFlowDataJobLink(),)

    def __init__(self, *, fail_on_review: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_on_review = fail_on_review
        self.wait_until = UNTIL_END_OR_REVIEW if fail_on_review else UNTIL_END
        self._review_reported = False

    def check_job(self, job: DataJobDetail) -> None:
        """Fail on a job that needs review (or log its problems once, with ``fail_on_review=False``)."""
        if job.status != DataJobStatus.NEEDS_REVIEW.value:
            return
        from airflow_provider_seekrflow.client.log_text import for_log
        from airflow_provider_seekrflow.jobs.data_job import needs_review_error

        error = needs_review_error(job, f"Data job {job.id} needs review")
        if self.fail_on_review:
            raise error
        if not self._review_reported:
            self._review_reported = True
            self.log.warning("%s\nWaiting for it to be fixed and started.", for_log(str(error)))
