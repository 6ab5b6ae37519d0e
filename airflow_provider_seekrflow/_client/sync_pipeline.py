"""
The blocking client's data-job, fine-tune and project operations, each done once even when an answer is lost.

Every request that is not harmless to repeat (create, add files, start) is reconciled against what
the service lists before it is sent again: the job, the attached files or the started run that a
lost answer (a dropped connection, or a 500/502/504 after the service acted) hid is used instead
of a second one. A create is matched only against the objects that are new since a snapshot taken
before it was sent (:mod:`~airflow_provider_seekrflow._client.lost_answers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from airflow_provider_seekrflow._client import data_jobs, fine_tunes, projects
from airflow_provider_seekrflow._client.endpoints import Call
from airflow_provider_seekrflow._client.log_text import for_log
from airflow_provider_seekrflow._client.lost_answers import Snapshot
from airflow_provider_seekrflow._client.retry import answer_may_be_lost, resendable, short_reason
from airflow_provider_seekrflow._client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAmbiguousResultError,
    SeekrFlowError,
)

T = TypeVar("T")
R = TypeVar("R")


class PipelineOperations:
    """Data jobs, fine-tunes and projects over a :class:`SyncTransport`; mixed into ``SyncClient``."""

    transport: SyncTransport
    log: Any

    def _once(self, call: Call[T], lookup: Callable[[], T | None]) -> T:
        """
        Send a call that must not happen twice; when its answer is lost, ``lookup`` tells what it did.

        A lost answer is a dropped connection after sending or a 500/502/504 (a gateway may answer
        one after the service acted). When the lookup fails too, the ambiguous error stands and the
        call is not sent again.

        :param call: The call.
        :param lookup: Returns what the call made or changed when the service shows it, else None
            (the service provably does not have it, so the call is sent again); raises
            ``SeekrFlowAmbiguousResultError`` when it cannot tell.
        """

        def attempt() -> T:
            try:
                return self.transport.call_once(call)
            except SeekrFlowError as err:
                if not answer_may_be_lost(err):
                    raise
                found = self._look_up(call.endpoint.method, call.path, err, lookup)
                if found is not None:
                    return found
                raise resendable(err) from None

        return self.transport.retrying(call.endpoint, attempt)

    def _look_up(
        self, method: str, path: str, err: SeekrFlowError, lookup: Callable[[], R | None]
    ) -> R | None:
        """Return what a request whose answer was lost made, or None when it provably made nothing; never resend on doubt."""
        try:
            found = lookup()
        except SeekrFlowAmbiguousResultError as ambiguous:
            ambiguous.method, ambiguous.path = method, path
            raise
        except SeekrFlowError as lookup_err:
            # Still unknown whether the service did it: the ambiguous error stands, never resent.
            self.log.warning("Could not check whether %s %s was done: %s", method, path, lookup_err)
            raise err from lookup_err
        if found is not None:
            self.log.warning(
                "The answer to %s %s was lost (%s), but the service did it; using %s",
                method,
                path,
                short_reason(err),
                getattr(found, "id", None) or "what it made",
            )
        return found

    # -- data jobs ------------------------------------------------------------------------------

    def snapshot_data_jobs(self, job_type: str) -> Snapshot:
        """Return the ids of the data jobs of ``job_type`` listed now, to tell a new one from them later."""
        listed = self.transport.call(data_jobs.list_jobs(job_type=job_type)).data
        return Snapshot.of(listed, page_size=data_jobs.LIST_LIMIT)

    def create_data_job(self, body: dict[str, Any], snapshot: Snapshot | None = None) -> data_jobs.DataJob:
        """
        Create a data job from a checked body, never twice.

        :param body: The create request.
        :param snapshot: The data jobs listed before it is sent (taken now when not given).
        """
        before = snapshot or self.snapshot_data_jobs(body["job_type"])
        return self._once(data_jobs.create(body), lambda: self.find_created_data_job(body, before))

    def find_created_data_job(self, body: dict[str, Any], snapshot: Snapshot) -> data_jobs.DataJob | None:
        """
        Return the data job a create request made, if the service lists exactly one new job matching it.

        :param body: The create request.
        :param snapshot: The data jobs listed before it was sent.
        """
        listed = self.transport.call(data_jobs.list_jobs(job_type=body["job_type"])).data
        return data_jobs.find_lost_job(listed, body, snapshot)

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
            self.log.info("Data job %s was already started (%s)", data_job_id, for_log(started.status))
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
        """
        Return the project named ``name``, creating it when absent; tasks creating one name at once share one.

        Check-then-create is a race: two tasks may both find no project and both create one. So after
        a create the projects of that name are listed again and the oldest (smallest id: ids grow) is
        used, by every task alike; an extra one is logged, as the API has no way to delete a project.
        A retry finds the project its first try made.

        :param name: The project's name.
        :param description: What it is for, when it is created.
        """

        def named() -> list[projects.Project]:
            found: list[projects.Project] = []
            skip = 0
            while True:
                page = self.transport.call(projects.list_projects(skip=skip)).data
                found += [project for project in page if project.name == name]
                if len(page) < projects.PAGE_SIZE:
                    return found
                skip += len(page)

        def oldest(found: list[projects.Project]) -> projects.Project:
            chosen = min(found, key=lambda project: project.id)
            if len(found) > 1:
                others = ", ".join(str(project.id) for project in found if project is not chosen)
                self.log.warning(
                    "SeekrFlow has %d projects named %s (made by tasks creating it at once); using the "
                    "oldest, %s, as every task does; unused: %s",
                    len(found),
                    for_log(repr(name)),
                    chosen.id,
                    others,
                )
            return chosen

        body = projects.create_request(name, description)
        existing = named()
        if existing:
            return oldest(existing)
        created = self._once(projects.create(body), lambda: self.find_project(name))
        self.log.info("Created project %s (%s)", created.id, for_log(name))
        # Listed again: another task may have created the name at the same moment.
        now = named()
        return oldest(now if any(project.id == created.id for project in now) else [*now, created])

    # -- fine-tunes -----------------------------------------------------------------------------

    def snapshot_fine_tunes(self) -> Snapshot:
        """Return the ids of the fine-tunes listed now, to tell a new one from them later."""
        return Snapshot.of(self.transport.call(fine_tunes.list_jobs()).data or [])

    def create_fine_tune(self, body: dict[str, Any], snapshot: Snapshot | None = None) -> fine_tunes.FineTune:
        """
        Create a fine-tune from a checked body, never twice.

        :param body: The create request.
        :param snapshot: The fine-tunes listed before it is sent (taken now when not given).
        """
        before = snapshot or self.snapshot_fine_tunes()
        return self._once(fine_tunes.create(body), lambda: self.find_created_fine_tune(body, before))

    def find_created_fine_tune(self, body: dict[str, Any], snapshot: Snapshot) -> fine_tunes.FineTune | None:
        """
        Return the fine-tune a create request made, if the service lists exactly one new fine-tune matching it.

        :param body: The create request: its whole training and infrastructure config is compared.
        :param snapshot: The fine-tunes listed before it was sent.
        """
        listed = self.transport.call(fine_tunes.list_jobs()).data or []
        return fine_tunes.find_lost_job(listed, body, snapshot)
