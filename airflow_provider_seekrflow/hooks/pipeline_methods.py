"""The sync hook's data-job, fine-tune and project methods (mixed into ``SeekrFlowHook``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_seekrflow.client import creates, data_jobs, fine_tunes, projects
from airflow_provider_seekrflow.client.data_jobs import DataJob, DataJobDetail
from airflow_provider_seekrflow.client.fine_tunes import FineTune, FineTuneEvent
from airflow_provider_seekrflow.client.log_text import for_log
from airflow_provider_seekrflow.client.lost_answers import Snapshot, known_before
from airflow_provider_seekrflow.client.projects import Project
from airflow_provider_seekrflow.defaults import DEFAULT_INGESTION_METHOD
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowNotFoundError
from airflow_provider_seekrflow.jobs.data_job import ingestion_summary
from airflow_provider_seekrflow.jobs.fine_tune import FINE_TUNE

if TYPE_CHECKING:
    from airflow_provider_seekrflow.client.endpoints import Call
    from airflow_provider_seekrflow.client.sync_transport import SyncTransport

T = TypeVar("T")


class PipelineHookMethods:
    """Data jobs (the current way to make training pairs), projects and fine-tunes."""

    log: Any

    if TYPE_CHECKING:  # SeekrFlowHook's

        @property
        def transport(self) -> SyncTransport:
            """The hook's transport: connection settings, session, retries."""

        def call(self, call: Call[T]) -> T:
            """Send one request through the hook's transport."""

    # -- data jobs ------------------------------------------------------------------------------

    def create_data_job(
        self,
        name: str,
        job_type: str,
        *,
        system_prompt: str | None = None,
        instructions: str | None = None,
        vector_database_id: str | None = None,
        snapshot: Snapshot | None = None,
    ) -> DataJob:
        """
        Create a data job (it has no files yet), never twice even when the answer is lost.

        :param name: The job's name, 1 to 255 characters.
        :param job_type: ``principle_files``, ``context_grounded_files`` or ``context_grounded_vector_db``.
        :param system_prompt: The system prompt of the generated conversations (``principle_files`` needs one).
        :param instructions: What the training data should teach.
        :param vector_database_id: The vector database of a ``context_grounded_vector_db`` job.
        :param snapshot: The data jobs listed before sending (``snapshot_data_jobs``), when the caller
            keeps it for a later try; taken here otherwise.
        """
        body = data_jobs.create_request(
            name,
            job_type,
            system_prompt=system_prompt,
            instructions=instructions,
            vector_database_id=vector_database_id,
        )
        job = creates.create_data_job(self.transport, body, snapshot)
        self.log.info(
            "Created data job %s (%s, %s)",
            for_log(job.id),
            for_log(job.job_type or job_type),
            for_log(job.status),
        )
        return job

    def snapshot_data_jobs(self, job_type: str) -> Snapshot:
        """
        Return the data jobs of ``job_type`` the service lists now, to tell later which job is new.

        :param job_type: The job type a create is about to send.
        """
        return creates.snapshot_data_jobs(self.transport, job_type)

    def find_created_data_job(
        self,
        name: str,
        job_type: str,
        *,
        snapshot: Snapshot | None = None,
        since: datetime | None = None,
        **fields: Any,
    ) -> DataJob | None:
        """
        Return the data job a create request made: the one new job of this name and request.

        A retry whose earlier try sent the create but never read its answer asks this before creating.

        :param name: The name the create request gave the job.
        :param job_type: The create request's job type.
        :param snapshot: The data jobs listed before the create was sent (``snapshot_data_jobs``).
        :param since: Instead of a snapshot, when the create was sent: then only a job with a
            creation time at most two minutes older counts as new.
        :param fields: The create request's other fields (``system_prompt``, ``instructions``,
            ``vector_database_id``), compared where the service echoes them.
        :raises SeekrFlowAmbiguousResultError: More than one new job matches.
        """
        body = {"name": name, "job_type": job_type, **{k: v for k, v in fields.items() if v is not None}}
        return creates.find_created_data_job(self.transport, body, _search_base(snapshot, since))

    def get_data_job(self, data_job_id: str) -> DataJobDetail:
        """
        Return a data job in full: status, ingestion runs and their files, the linked alignment job.

        :param data_job_id: The job's id.
        """
        return self.call(data_jobs.get(data_job_id))

    def update_data_job(self, data_job_id: str, **changes: Any) -> DataJobDetail:
        """
        Change only the given fields of a data job (``name``, ``system_prompt``, ``instructions``, ...).

        :param data_job_id: The job's id.
        :param changes: The fields to change; None clears one.
        """
        return self.call(data_jobs.update(data_job_id, changes))

    def add_data_job_files(
        self, data_job_id: str, file_ids: Sequence[str], *, method: str = DEFAULT_INGESTION_METHOD
    ) -> DataJobDetail:
        """
        Attach uploaded files to a data job; files already attached are not sent again.

        :param data_job_id: The job's id.
        :param file_ids: Ids of files uploaded with purpose ``alignment``.
        :param method: The ingestion method for files that are not Markdown.
        """
        return creates.add_data_job_files(self.transport, data_job_id, list(file_ids), method)

    def generate_system_prompt(self, instructions: str, document_summary: str | None = None) -> str:
        """
        Ask the service to draft a system prompt from instructions.

        :param instructions: What the training data should teach.
        :param document_summary: A summary of the documents, to ground the prompt.
        """
        return self.call(data_jobs.generate_system_prompt(instructions, document_summary)).system_prompt

    def start_data_job(self, data_job_id: str) -> DataJobDetail:
        """
        Start a data job's alignment once; a job already started is returned as it is.

        :param data_job_id: The job's id.
        """
        detail = creates.start_data_job(self.transport, data_job_id)
        # With the ingestion outcome: on Airflow 3.3, a task's second deferral (the alignment wait)
        # reopens the try's trigger log for writing, and the ingestion wait's progress lines are lost
        # from the task log; this worker line stays.
        if data_jobs.ingestion_records(detail):
            self.log.info(
                "Started data job %s (%s) after %s",
                data_job_id,
                for_log(detail.status),
                for_log(ingestion_summary(detail)),
            )
        else:
            self.log.info("Started data job %s (%s)", data_job_id, for_log(detail.status))
        return detail

    def cancel_data_job(self, data_job_id: str) -> DataJobDetail:
        """
        Cancel a data job's running alignment.

        :param data_job_id: The job's id.
        """
        return self.call(data_jobs.cancel(data_job_id))

    def delete_data_job(self, data_job_id: str) -> None:
        """
        Delete a data job; a retry finding it gone counts as done.

        :param data_job_id: The job's id.
        """
        self.transport.delete(data_jobs.delete(data_job_id), gone=lambda: None)

    # -- projects -------------------------------------------------------------------------------

    def get_project(self, project_id: int) -> Project:
        """
        Return a project.

        :param project_id: The project's integer id.
        """
        return self.call(projects.get(project_id))

    def find_project(self, name: str) -> Project | None:
        """
        Return the project named ``name``, or None when there is none.

        :param name: The project's name.
        """
        return creates.find_project(self.transport, name)

    def ensure_project(self, name: str, description: str) -> Project:
        """
        Return the project named ``name``, creating it when absent; a retry finds the one an earlier try made.

        :param name: 5 to 100 characters.
        :param description: 5 to 1000 characters, used when the project is created.
        """
        return creates.ensure_project(self.transport, name, description)

    # -- fine-tunes -----------------------------------------------------------------------------

    def create_fine_tune(self, *, snapshot: Snapshot | None = None, **request: Any) -> FineTune:
        """
        Create a fine-tune, checked locally first and never sent twice; see ``fine_tunes.create_request``.

        :param snapshot: The fine-tunes listed before sending (``snapshot_fine_tunes``), when the
            caller keeps it for a later try; taken here otherwise.
        :param request: ``project_id``, ``training_files``, ``model``, ``n_epochs``, ``accel_type``,
            ``n_accel`` and the optional training and infrastructure settings.
        """
        job = creates.create_fine_tune(self.transport, fine_tunes.create_request(**request), snapshot)
        self.log.info("Created fine-tune %s (%s)", for_log(job.id), for_log(job.status))
        return job

    def snapshot_fine_tunes(self) -> Snapshot:
        """Return the fine-tunes the service lists now, to tell later which fine-tune is new."""
        return creates.snapshot_fine_tunes(self.transport)

    def find_created_fine_tune(
        self, *, snapshot: Snapshot | None = None, since: datetime | None = None, **request: Any
    ) -> FineTune | None:
        """
        Return the fine-tune a create request made: the one new fine-tune matching its whole config.

        A retry whose earlier try sent the create but never read its answer asks this before creating.

        :param snapshot: The fine-tunes listed before the create was sent (``snapshot_fine_tunes``).
        :param since: Instead of a snapshot, when the create was sent: then only a fine-tune with a
            creation time at most two minutes older counts as new.
        :param request: The create request's arguments, as ``create_fine_tune`` takes them.
        :raises SeekrFlowAmbiguousResultError: More than one new fine-tune matches.
        """
        return creates.find_created_fine_tune(
            self.transport, fine_tunes.create_request(**request), _search_base(snapshot, since)
        )

    def get_fine_tune(self, fine_tune_id: str) -> FineTune:
        """
        Return a fine-tune.

        :param fine_tune_id: The job's id.
        """
        return self.call(fine_tunes.get(fine_tune_id))

    def find_fine_tune(self, fine_tune_id: str) -> FineTune | None:
        """
        Return a fine-tune, or None when the service no longer has it.

        :param fine_tune_id: The job's id.
        """
        try:
            return self.get_fine_tune(fine_tune_id)
        except SeekrFlowNotFoundError:
            return None

    def get_fine_tune_events(self, fine_tune_id: str) -> list[FineTuneEvent]:
        """
        Return a fine-tune's events (epoch, loss, reward), oldest first as the service lists them.

        :param fine_tune_id: The job's id.
        """
        return self.call(fine_tunes.events(fine_tune_id)).data or []

    def cancel_fine_tune(self, fine_tune_id: str) -> FineTune:
        """
        Cancel a fine-tune (PUT, or POST where the service refuses PUT).

        :param fine_tune_id: The job's id.
        """
        return self.run(FINE_TUNE.cancel(fine_tune_id))  # type: ignore[attr-defined]


def _search_base(snapshot: Snapshot | None, since: datetime | None) -> Snapshot:
    known = known_before(snapshot, since)
    if known is None:
        raise SeekrFlowConfigError(
            "a search for a lost answer needs the snapshot taken before sending, or since"
        )
    return known
