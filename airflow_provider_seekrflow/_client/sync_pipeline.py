"""
The blocking client's data-job, fine-tune and project operations, each done once even when an answer is lost.

Every request that is not harmless to repeat (create, add files, start) is reconciled against what
the service lists before it is sent again: the job, the attached files or the started run that a
lost answer hid is used instead of a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from airflow_provider_seekrflow._client import data_jobs, fine_tunes, projects
from airflow_provider_seekrflow._client.endpoints import Call
from airflow_provider_seekrflow._client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import SeekrFlowAPIError, SeekrFlowConnectionError, SeekrFlowError

T = TypeVar("T")


class PipelineOperations:
    """Data jobs, fine-tunes and projects over a :class:`SyncTransport`; mixed into ``SyncClient``."""

    transport: SyncTransport
    log: Any

    def _once(self, call: Call[T], lookup: Callable[[], T | None]) -> T:
        """
        Send a call that must not happen twice; when its answer is lost, ``lookup`` tells what it did.

        :param call: The call.
        :param lookup: Returns what the call made or changed when the service shows it, else None
            (the service provably does not have it, so the call is sent again).
        """

        def attempt() -> T:
            try:
                return self.transport.call_once(call)
            except SeekrFlowConnectionError as err:
                if not err.may_have_reached_service:
                    raise
                try:
                    found = lookup()
                except SeekrFlowError as lookup_err:
                    # Still unknown whether the service did it: the ambiguous error stands, never resent.
                    self.log.warning(
                        "Could not check whether %s %s was done: %s",
                        call.endpoint.method,
                        call.path,
                        lookup_err,
                    )
                    raise err from lookup_err
                if found is not None:
                    self.log.warning(
                        "The answer to %s %s was lost, but the service did it; using that",
                        call.endpoint.method,
                        call.path,
                    )
                    return found
                raise SeekrFlowConnectionError(
                    str(err), may_have_reached_service=False, method=err.method, path=err.path
                ) from None

        return self.transport.retrying(call.endpoint, attempt)

    # -- data jobs ------------------------------------------------------------------------------

    def create_data_job(self, body: dict[str, Any]) -> data_jobs.DataJob:
        """Create a data job from a checked body, never twice."""
        since = datetime.now(timezone.utc)
        return self._once(
            data_jobs.create(body), lambda: self.find_created_data_job(body["name"], body["job_type"], since)
        )

    def find_created_data_job(self, name: str, job_type: str, since: datetime) -> data_jobs.DataJob | None:
        """
        Return the data job a create request sent at ``since`` made, if the service lists it.

        :param name: The name the request gave the job.
        :param job_type: The request's job type.
        :param since: When it was sent.
        """
        listed = self.transport.call(data_jobs.list_jobs(job_type=job_type)).data
        return data_jobs.find_lost_job(listed, name, job_type, since=since)

    def add_data_job_files(
        self, data_job_id: str, file_ids: list[str], method: str
    ) -> data_jobs.DataJobDetail:
        """Attach files to a data job, never attaching one twice: only the files not yet attached are sent."""
        detail = self.transport.call(data_jobs.get(data_job_id))
        missing = [file_id for file_id in file_ids if file_id not in data_jobs.attached_file_ids(detail)]
        if not missing:
            self.log.info("Data job %s already has its %d file(s)", data_job_id, len(file_ids))
            return detail

        def lookup() -> data_jobs.DataJobDetail | None:
            now = self.transport.call(data_jobs.get(data_job_id))
            return now if set(missing) <= data_jobs.attached_file_ids(now) else None

        return self._once(data_jobs.add_files(data_job_id, missing, method), lookup)

    def start_data_job(self, data_job_id: str) -> data_jobs.DataJobDetail:
        """Start a data job's alignment once: a job already started is returned as it is."""

        def lookup() -> data_jobs.DataJobDetail | None:
            now = self.transport.call(data_jobs.get(data_job_id))
            return now if data_jobs.was_started(now) else None

        started = lookup()
        if started is not None:
            self.log.info("Data job %s was already started (%s)", data_job_id, started.status)
            return started
        return self._once(data_jobs.start(data_job_id), lookup)

    # -- projects -------------------------------------------------------------------------------

    def find_project(self, name: str) -> projects.Project | None:
        """Return the project named ``name``, looking through every page."""
        skip = 0
        while True:
            page = self.transport.call(projects.list_projects(skip=skip)).data
            found = projects.find_by_name(page, name)
            if found is not None or len(page) < projects.PAGE_SIZE:
                return found
            skip += len(page)

    def ensure_project(self, name: str, description: str) -> projects.Project:
        """Return the project named ``name``, creating it when absent (a retry finds the one its first try made)."""
        body = projects.create_request(name, description)
        found = self.find_project(name)
        if found is not None:
            return found
        project = self._once(projects.create(body), lambda: self.find_project(name))
        self.log.info("Created project %s (%s)", project.id, name)
        return project

    # -- fine-tunes -----------------------------------------------------------------------------

    def create_fine_tune(self, body: dict[str, Any]) -> fine_tunes.FineTune:
        """Create a fine-tune from a checked body, never twice."""
        since = datetime.now(timezone.utc)
        return self._once(fine_tunes.create(body), lambda: self.find_created_fine_tune(body, since))

    def find_created_fine_tune(self, body: dict[str, Any], since: datetime) -> fine_tunes.FineTune | None:
        """
        Return the fine-tune a create request sent at ``since`` made, if the service lists it.

        :param body: The create request.
        :param since: When it was sent.
        """
        listed = self.transport.call(fine_tunes.list_jobs()).data or []
        return fine_tunes.find_lost_job(listed, body, since=since)

    def cancel_fine_tune(self, fine_tune_id: str) -> fine_tunes.FineTune:
        """Cancel a fine-tune with PUT (the sync client's method), or POST where the service refuses PUT."""
        try:
            return self.transport.call(fine_tunes.cancel(fine_tune_id, method="PUT"))
        except SeekrFlowAPIError as err:
            if err.status_code != fine_tunes.METHOD_NOT_ALLOWED:
                raise
        return self.transport.call(fine_tunes.cancel(fine_tune_id, method="POST"))
