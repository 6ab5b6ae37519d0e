"""Turn uploaded documents into training pairs with a SeekrFlow data job: ingest, review, align."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.defaults import DEFAULT_INGESTION_METHOD, UNTIL_END, UNTIL_INGESTED
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.jobs.resume import ResumeAction, ResumeDecision
from airflow_provider_seekrflow.links import SeekrFlowDataJobLink
from airflow_provider_seekrflow.operators.job_base import SeekrFlowJobOperator
from airflow_provider_seekrflow.vocabulary import DataJobStatus, DataJobType

# The client's data jobs (pydantic models) load when a task runs: DAG parsing never needs them.
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.data_jobs import DataJobDetail
    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.jobs.submissions import SubmissionNote

# The two waits of a data job: until ingestion is over, then until the job ends.
PHASE_INGESTION = UNTIL_INGESTED
PHASE_ALIGNMENT = UNTIL_END


class SeekrFlowDataJobOperator(SeekrFlowJobOperator):
    """
    Make training pairs from uploaded documents with a SeekrFlow data job, the current way to do it.

    Creates the data job, attaches the files, waits for their ingestion, starts the alignment and
    (by default) waits for it, on the worker or deferred. A job that needs review fails the task
    before anything is started, naming every file at fault with the service's error and suggested
    fix, or the missing system prompt (which ``generate_system_prompt=True`` has the service draft).
    Returns ``{"job_id", "status", "alignment_job_id", "output_files"}`` in every mode. The job id is
    pushed under the XCom key ``data_job_id`` as soon as the job exists, and the ``fine-tune`` output's
    id under ``fine_tune_file_id`` (the file a fine-tune trains on). The event of each asset (Dataset
    on Airflow 2) in ``outlets`` carries it too, as ``extra["training_file_id"]``, for DAGs scheduled
    on the asset (:mod:`airflow_provider_seekrflow.assets`).

    :param files: Ids of files uploaded with purpose ``alignment``, e.g. the upload operator's
        output; none for ``context_grounded_vector_db``. (templated)
    :param job_type: ``principle_files`` (default), ``context_grounded_files`` or
        ``context_grounded_vector_db``.
    :param name: The job's name; ``<dag_id>.<task_id>.<run_id>`` by default, which also lets a retry
        find the job its first try created. (templated)
    :param instructions: What the training data should teach. (templated)
    :param system_prompt: The system prompt of the generated conversations; ``principle_files``
        needs one. (templated)
    :param vector_database_id: The vector database of a ``context_grounded_vector_db`` job. (templated)
    :param generate_system_prompt: Whether a missing system prompt is drafted by the service from
        ``instructions`` instead of failing the task in review.
    :param ingestion_method: How non-Markdown files are converted (the service's ``method``).
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param wait_for_completion: Whether to wait for the alignment to end; when False the task
        returns once the alignment started.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: The longest time between two status checks, in seconds.
    :param min_poll_interval: The shortest time between two status checks, in seconds.
    :param timeout: Seconds to wait, ingestion and alignment together, before cancelling the job and
        failing; None waits for ever.
    :param cancel_on_kill: Whether killing the task, or a timeout, cancels the job.
    :param durable: Whether a retry picks up the job of an earlier try (Airflow 3.3+) instead of
        creating another.
    """

    template_fields: Sequence[str] = (
        "files",
        "name",
        "instructions",
        "system_prompt",
        "vector_database_id",
        "seekrflow_conn_id",
    )
    template_fields_renderers = {"instructions": "md", "system_prompt": "md", "files": "json"}
    kind_key = "data_job"
    operator_extra_links = (SeekrFlowDataJobLink(),)
    finds_unanswered_submissions = True

    def __init__(
        self,
        *,
        files: Any = None,
        job_type: str = DataJobType.PRINCIPLE_FILES.value,
        name: str | None = None,
        instructions: str | None = None,
        system_prompt: str | None = None,
        vector_database_id: str | None = None,
        generate_system_prompt: bool = False,
        ingestion_method: str = DEFAULT_INGESTION_METHOD,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        allowed = [member.value for member in DataJobType]
        if job_type not in allowed:
            raise SeekrFlowConfigError(f"job_type: {job_type!r} is not one of {', '.join(allowed)}")
        self.files = files
        self.job_type = job_type
        self.name = name
        self.instructions = instructions
        self.system_prompt = system_prompt
        self.vector_database_id = vector_database_id
        self.generate_system_prompt = generate_system_prompt
        self.ingestion_method = ingestion_method
        self._file_ids: list[str] = []

    # -- the request ----------------------------------------------------------------------------

    def prepare_request(self) -> None:
        """Check the rendered request locally; nothing is sent when it is wrong."""
        from airflow_provider_seekrflow.client import data_jobs
        from airflow_provider_seekrflow.client.file_ids import checked_file_ids

        file_ids = checked_file_ids("files", self.files, required=False)
        needs_files = self.job_type != DataJobType.CONTEXT_GROUNDED_VECTOR_DB.value
        if needs_files and not file_ids:
            raise SeekrFlowConfigError(f"files: a {self.job_type} job needs at least one file id")
        if not needs_files and file_ids:
            raise SeekrFlowConfigError(
                "files: a context_grounded_vector_db job reads its vector database, not files"
            )
        if (
            self.generate_system_prompt
            and self.job_type == DataJobType.PRINCIPLE_FILES.value
            and not (self.system_prompt or "").strip()
            and not (self.instructions or "").strip()
        ):
            raise SeekrFlowConfigError(
                "generate_system_prompt needs instructions to draft the system prompt from"
            )
        data_jobs.create_request(
            self.name or "placeholder",
            self.job_type,
            system_prompt=self.system_prompt,
            instructions=self.instructions,
            vector_database_id=self.vector_database_id,
        )
        self._file_ids = file_ids

    def _job_name(self, context: Context) -> str:
        if self.name:
            return self.name
        from airflow_provider_seekrflow.client import data_jobs

        run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "manual")
        ti = context.get("ti")
        map_index = getattr(ti, "map_index", -1)
        # Each mapped instance and each try names its own job, so a search for a lost create can
        # never mistake a sibling's (or an earlier try's) job for this one; kept whole when cut.
        suffix = (f".{map_index}" if isinstance(map_index, int) and map_index >= 0 else "") + (
            f".try{getattr(ti, 'try_number', 1)}"
        )
        return f"{self.dag_id}.{self.task_id}.{run_id}"[: data_jobs.MAX_NAME_LENGTH - len(suffix)] + suffix

    def _request_fields(self) -> dict[str, Any]:
        return {
            "system_prompt": self.system_prompt,
            "instructions": self.instructions,
            "vector_database_id": self.vector_database_id,
        }

    def snapshot_before_submit(self, context: Context) -> Snapshot:
        """Return the data jobs of this type listed before the create."""
        return self.hook.snapshot_data_jobs(self.job_type)

    def submission_fields(self, context: Context) -> dict[str, Any]:
        """Return the name this try gives its job: a retry looks for that name."""
        return {"name": self._job_name(context)}

    def submit_job(self, context: Context) -> str:
        """Create the data job and attach the files; ingestion starts on the service by itself."""
        job = self.hook.create_data_job(
            self._job_name(context), self.job_type, snapshot=self.snapshot, **self._request_fields()
        )
        # Stored before the files are attached: a try that dies attaching them leaves its retry this job.
        self._store(job.id, context)
        if self._file_ids:
            self.hook.add_data_job_files(job.id, self._file_ids, method=self.ingestion_method)
        return job.id

    def find_submitted_job(self, note: SubmissionNote, context: Context) -> str | None:
        """Return the data job an earlier try's unanswered create made (its name and request), if the service lists it."""
        name = note.fields.get("name") or self.name or self._legacy_name(context)
        job = self.hook.find_created_data_job(
            str(name), self.job_type, snapshot=note.snapshot, **self._request_fields()
        )
        return job.id if job is not None else None

    def _legacy_name(self, context: Context) -> str:
        # The default name of releases whose note held only a time: an upgrade mid-retry finds it.
        from airflow_provider_seekrflow.client import data_jobs

        run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "manual")
        return f"{self.dag_id}.{self.task_id}.{run_id}"[: data_jobs.MAX_NAME_LENGTH]

    def resume_decision(self, context: Context) -> ResumeDecision:
        """Decide as every job operator does; a job to reattach to gets the files an earlier try did not attach."""
        decision = super().resume_decision(context)
        if decision.action is ResumeAction.REATTACH and decision.job_id and self._file_ids:
            # Only the files not attached yet are sent, so a job that has them all is left as it is.
            self.hook.add_data_job_files(decision.job_id, self._file_ids, method=self.ingestion_method)
        return decision

    # -- the job --------------------------------------------------------------------------------

    def build_trigger(self, job_id: str, end_time: float | None, until: str = PHASE_INGESTION) -> Any:
        """Return the trigger that waits in the triggerer for the end of ``until`` (first, the ingestion)."""
        return super().build_trigger(job_id, end_time, until)

    def advance(self, detail: DataJobDetail) -> DataJobDetail:
        """
        Take a job whose ingestion is over to its alignment: fail on review, fill a prompt if asked, start.

        :param detail: The job, no longer ``file_processing``.
        """
        from airflow_provider_seekrflow.client import data_jobs
        from airflow_provider_seekrflow.jobs.data_job import needs_review_error

        if detail.status == DataJobStatus.NEEDS_REVIEW.value and self._draft_prompt_if_asked(detail):
            detail = self.hook.get_data_job(detail.id)
        if detail.status == DataJobStatus.NEEDS_REVIEW.value:
            raise needs_review_error(detail, f"Data job {detail.id} needs review; nothing was started")
        if data_jobs.was_started(detail):
            return detail
        return self.hook.start_data_job(detail.id)

    def _draft_prompt_if_asked(self, detail: DataJobDetail) -> bool:
        missing_prompt = (
            detail.job_type == DataJobType.PRINCIPLE_FILES.value and not (detail.system_prompt or "").strip()
        )
        if not (self.generate_system_prompt and missing_prompt):
            return False
        if not (self.instructions or "").strip():
            raise SeekrFlowConfigError(
                "generate_system_prompt needs instructions to draft the system prompt from"
            )
        prompt = self.hook.generate_system_prompt(self.instructions or "")
        self.hook.update_data_job(detail.id, system_prompt=prompt)
        self.log.info("Data job %s had no system prompt; the service drafted one: %r", detail.id, prompt)
        return True

    def finish_without_waiting(self, job_id: str, context: Context) -> dict[str, Any]:
        """Wait for the ingestion only (in the triggerer when deferrable), start the alignment, return the job as started."""
        return self.defer_or_wait(job_id, context)

    def poll_until_complete(self, job_id: str, context: Context) -> dict[str, Any]:
        """Wait on the worker through ingestion and alignment, and return the task's result or raise."""
        # One watcher for both waits, so the progress log reports each change once.
        watcher = self.kind.watch(PHASE_INGESTION, self.log.info, self.log.warning)
        # One limit for ingestion and alignment together, as documented: the second wait gets what is left.
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        started = self.advance(self.wait_on_worker(job_id, until=PHASE_INGESTION, watcher=watcher))
        if not self.wait_for_completion:
            return self.get_job_result(job_id, context, job=started)
        watcher.until = PHASE_ALIGNMENT
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.finish(
            self.wait_on_worker(job_id, until=PHASE_ALIGNMENT, timeout=left, watcher=watcher), context
        )

    def execute_complete(
        self,
        context: Context,
        event: Any = None,
        job_id: str | None = None,
        end_time: float | None = None,
        phase: str | None = None,
    ) -> Any:
        """
        Turn the trigger's event into the next wait, the task's result, or its distinct failure.

        What comes next is read from the job itself, not from the wait that ended: ``dag.test()``
        on Airflow 3 resumes a task with the event alone, without the deferral's other arguments.

        :param context: The task context.
        :param event: The trigger's event.
        :param job_id: The job the task deferred on.
        :param end_time: The wait's deadline (epoch seconds), kept for the next deferral.
        :param phase: Which wait ended (``ingestion`` or ``end``); informative only.
        """
        from airflow_provider_seekrflow.client import data_jobs

        # Any status the job can still move on from ends a wait here; the job's own state decides.
        outcome = self.outcome_of(event, job_id, until=PHASE_INGESTION, deadline=end_time)
        detail = self.hook.get_data_job(outcome.job_id)
        if end_time is None and isinstance(event, dict):
            end_time = event.get("end_time")  # resumed with the event alone (dag.test())
        if detail.is_terminal:
            return self.finish(detail, context)
        next_wait = PHASE_ALIGNMENT
        if detail.status == DataJobStatus.FILE_PROCESSING.value:
            next_wait = PHASE_INGESTION  # files attached since, or an event older than the job
        elif not data_jobs.was_started(detail):
            detail = self.advance(detail)
            if not self.wait_for_completion:
                return self.get_job_result(detail.id, context, job=detail)
        self.defer(
            trigger=self.build_trigger(detail.id, end_time, next_wait),
            method_name="execute_complete",
            kwargs={"job_id": detail.id, "end_time": end_time, "phase": next_wait},
        )
        return None  # unreachable: defer raises

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Return this run's OpenLineage datasets: the documents read, the output files made (training file included).

        :param task_instance: The task instance that ended (unused: the operator kept its result).
        """
        from airflow_provider_seekrflow.lineage import training_data_lineage

        return training_data_lineage(self)
