"""Wait for a SeekrFlow data job started elsewhere, in poke, reschedule or deferrable mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow._client import data_jobs
from airflow_provider_seekrflow._client.data_jobs import DataJobDetail
from airflow_provider_seekrflow._client.log_text import for_log
from airflow_provider_seekrflow.assets import announce_training_data
from airflow_provider_seekrflow.exceptions import SeekrFlowDataJobNeedsReviewError
from airflow_provider_seekrflow.jobs.events import UNTIL_END, UNTIL_END_OR_REVIEW
from airflow_provider_seekrflow.jobs.kinds import DATA_JOB
from airflow_provider_seekrflow.jobs.progress import DataJobProgressLog
from airflow_provider_seekrflow.jobs.results import data_job_result
from airflow_provider_seekrflow.operators.job_base import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.sensors.job_base import SeekrFlowJobSensor
from airflow_provider_seekrflow.vocabulary import DataJobStatus

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


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

    kind = DATA_JOB

    def __init__(self, *, fail_on_review: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_on_review = fail_on_review
        self.wait_until = UNTIL_END_OR_REVIEW if fail_on_review else UNTIL_END
        self._progress = DataJobProgressLog(self.log.info, self.log.warning)
        self._review_reported = False

    def read_job(self, job_id: str) -> DataJobDetail:
        """Read the job once, logging its ingestion or alignment when it changed."""
        detail = self.hook.get_data_job(job_id)
        self._progress(detail)
        return detail

    def check_job(self, job: DataJobDetail) -> None:
        """Fail on a job that needs review (or log its problems once, with ``fail_on_review=False``)."""
        if job.status != DataJobStatus.NEEDS_REVIEW.value:
            return
        problems = data_jobs.review_problems(job)
        message = f"Data job {job.id} needs review:\n- " + "\n- ".join(problems)
        if self.fail_on_review:
            raise SeekrFlowDataJobNeedsReviewError(
                message,
                problems=problems,
                job_id=job.id,
                status=job.status,
                status_message=job.status_message,
            )
        if not self._review_reported:
            self._review_reported = True
            self.log.warning("%s\nWaiting for it to be fixed and started.", for_log(message))

    def result(self, job: DataJobDetail, context: Context) -> dict[str, Any]:
        """Return the data job operator's result, pushing the training file's id under ``fine_tune_file_id``."""
        result, training_file_id = data_job_result(self.hook, job)
        if training_file_id is None:
            return result
        ti = context.get("ti")
        if ti is not None and self.do_xcom_push:
            ti.xcom_push(key=FINE_TUNE_FILE_XCOM_KEY, value=training_file_id)
        output_ids = [output["id"] for output in result["output_files"]]
        announced = announce_training_data(
            context,
            self.outlets,
            training_file_id=training_file_id,
            job_id=job.id,
            job_kind=self.kind.key,
            output_file_ids=output_ids,
        )
        if announced:
            self.log.info("Training file %s announced on %s", training_file_id, ", ".join(announced))
        return result
