"""
The requests that create or start something on SeekrFlow, each done once even when an answer is lost.

Data jobs (create, add files, start), projects, fine-tunes, generate and deployments (create,
promote, demote), as functions over a
:class:`~airflow_provider_seekrflow.client.sync_transport.SyncTransport`. A create is matched only
against the objects new since a snapshot taken before it was sent
(:mod:`~airflow_provider_seekrflow.client.lost_answers`); see :mod:`.reconcile` for the rule.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.client import alignment, data_jobs, deployments, fine_tunes, projects
from airflow_provider_seekrflow.client.log_text import for_log
from airflow_provider_seekrflow.client.lost_answers import Snapshot
from airflow_provider_seekrflow.client.reconcile import once
from airflow_provider_seekrflow.client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import SeekrFlowAPIError, SeekrFlowError
from airflow_provider_seekrflow.vocabulary import DeploymentStatus

# -- data jobs ------------------------------------------------------------------------------


def snapshot_data_jobs(transport: SyncTransport, job_type: str) -> Snapshot:
    """Return the ids of the data jobs of ``job_type`` listed now, to tell a new one from them later."""
    listed = transport.call(data_jobs.list_jobs(job_type=job_type)).data
    return Snapshot.of(listed, page_size=data_jobs.LIST_LIMIT)


def create_data_job(
    transport: SyncTransport, body: dict[str, Any], snapshot: Snapshot | None = None
) -> data_jobs.DataJob:
    """
    Create a data job from a checked body, never twice.

    :param body: The create request.
    :param snapshot: The data jobs listed before it is sent (taken now when not given).
    """
    before = snapshot or snapshot_data_jobs(transport, body["job_type"])
    return once(transport, data_jobs.create(body), lambda: find_created_data_job(transport, body, before))


def find_created_data_job(
    transport: SyncTransport, body: dict[str, Any], snapshot: Snapshot
) -> data_jobs.DataJob | None:
    """
    Return the data job a create request made, if the service lists exactly one new job matching it.

    :param body: The create request.
    :param snapshot: The data jobs listed before it was sent.
    """
    listed = transport.call(data_jobs.list_jobs(job_type=body["job_type"])).data
    return data_jobs.find_lost_job(listed, body, snapshot)


def add_data_job_files(
    transport: SyncTransport, data_job_id: str, file_ids: list[str], method: str
) -> data_jobs.DataJobDetail:
    """Attach files to a data job, never attaching one twice: only the files not yet attached are sent."""
    detail = transport.call(data_jobs.get(data_job_id))
    missing = [file_id for file_id in file_ids if file_id not in data_jobs.attached_file_ids(detail)]
    if not missing:
        transport.log.info("Data job %s already has its %d file(s)", data_job_id, len(file_ids))
        return detail

    def lookup() -> data_jobs.DataJobDetail | None:
        now = transport.call(data_jobs.get(data_job_id))
        return now if set(missing) <= data_jobs.attached_file_ids(now) else None

    return once(transport, data_jobs.add_files(data_job_id, missing, method), lookup)


def start_data_job(transport: SyncTransport, data_job_id: str) -> data_jobs.DataJobDetail:
    """Start a data job's alignment once: a job already started is returned as it is."""

    def lookup() -> data_jobs.DataJobDetail | None:
        now = transport.call(data_jobs.get(data_job_id))
        return now if data_jobs.was_started(now) else None

    started = lookup()
    if started is not None:
        transport.log.info("Data job %s was already started (%s)", data_job_id, for_log(started.status))
        return started
    return once(transport, data_jobs.start(data_job_id), lookup)


# -- projects -------------------------------------------------------------------------------


def find_project(transport: SyncTransport, name: str) -> projects.Project | None:
    """Return the project named ``name``, looking through every page."""
    skip = 0
    while True:
        page = transport.call(projects.list_projects(skip=skip)).data
        found = projects.find_by_name(page, name)
        if found is not None or len(page) < projects.PAGE_SIZE:
            return found
        skip += len(page)


def ensure_project(transport: SyncTransport, name: str, description: str) -> projects.Project:
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
            page = transport.call(projects.list_projects(skip=skip)).data
            found += [project for project in page if project.name == name]
            if len(page) < projects.PAGE_SIZE:
                return found
            skip += len(page)

    def oldest(found: list[projects.Project]) -> projects.Project:
        chosen = min(found, key=lambda project: project.id)
        if len(found) > 1:
            others = ", ".join(str(project.id) for project in found if project is not chosen)
            transport.log.warning(
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
    created = once(transport, projects.create(body), lambda: find_project(transport, name))
    transport.log.info("Created project %s (%s)", created.id, for_log(name))
    # Listed again: another task may have created the name at the same moment.
    now = named()
    return oldest(now if any(project.id == created.id for project in now) else [*now, created])


# -- fine-tunes -----------------------------------------------------------------------------


def snapshot_fine_tunes(transport: SyncTransport) -> Snapshot:
    """Return the ids of the fine-tunes listed now, to tell a new one from them later."""
    return Snapshot.of(transport.call(fine_tunes.list_jobs()).data or [])


def create_fine_tune(
    transport: SyncTransport, body: dict[str, Any], snapshot: Snapshot | None = None
) -> fine_tunes.FineTune:
    """
    Create a fine-tune from a checked body, never twice.

    :param body: The create request.
    :param snapshot: The fine-tunes listed before it is sent (taken now when not given).
    """
    before = snapshot or snapshot_fine_tunes(
        transport,
    )
    return once(transport, fine_tunes.create(body), lambda: find_created_fine_tune(transport, body, before))


def find_created_fine_tune(
    transport: SyncTransport, body: dict[str, Any], snapshot: Snapshot
) -> fine_tunes.FineTune | None:
    """
    Return the fine-tune a create request made, if the service lists exactly one new fine-tune matching it.

    :param body: The create request: its whole training and infrastructure config is compared.
    :param snapshot: The fine-tunes listed before it was sent.
    """
    listed = transport.call(fine_tunes.list_jobs()).data or []
    return fine_tunes.find_lost_job(listed, body, snapshot)


# -- alignment ------------------------------------------------------------------------------


def snapshot_alignment_jobs(transport: SyncTransport) -> Snapshot:
    """Return the ids of the alignment jobs listed now, to tell a new one from them later."""
    return Snapshot.of(transport.call(alignment.list_jobs()).data or [])


def generate_alignment(
    transport: SyncTransport, body: dict[str, Any], snapshot: Snapshot | None = None
) -> alignment.AlignmentJob:
    """
    Start an alignment job from a checked request body, never starting it twice.

    When the answer is lost, the jobs made since a snapshot taken before sending are searched for
    the one this request made; the request is sent again only when the service provably has none.

    :param transport: The transport.
    :param body: A body from :func:`alignment.generate_request`.
    :param snapshot: The alignment jobs listed before it is sent (taken now when not given).
    """
    before = snapshot or snapshot_alignment_jobs(transport)
    return once(
        transport, alignment.generate(body), lambda: find_generated_alignment(transport, body, before)
    )


def find_generated_alignment(
    transport: SyncTransport, body: dict[str, Any], snapshot: Snapshot
) -> alignment.AlignmentJob | None:
    """
    Return the alignment job a generate request made, if the service lists exactly one new job echoing it.

    :param body: The generate request.
    :param snapshot: The alignment jobs listed before it was sent.
    """
    found, _absent = alignment.find_lost_job(transport.call(alignment.list_jobs()).data or [], body, snapshot)
    return found


# -- deployments ----------------------------------------------------------------------------


def list_deployments(transport: SyncTransport) -> tuple[list[deployments.Deployment], bool]:
    """Return every deployment the service lists (all pages), and whether the listing is complete."""
    from airflow_provider_seekrflow.jobs.base import run_sync

    return run_sync(deployments.list_all(), transport.call)


def create_deployment(
    transport: SyncTransport, body: dict[str, Any], snapshot: Snapshot
) -> deployments.Deployment:
    """
    Create a deployment from a checked body, never twice: a lost answer is matched against the deployments new since ``snapshot``.

    :param body: A body from :func:`deployments.create_request`.
    :param snapshot: The deployments listed before it is sent.
    """

    def lookup() -> deployments.Deployment | None:
        return deployments.find_lost_deployment(list_deployments(transport)[0], body, snapshot)

    created = once(transport, deployments.create(body), lookup)
    if not created.id:
        raise SeekrFlowError(f"SeekrFlow created a deployment but its answer names no id: {created!r}")
    return created


def promote_deployment(transport: SyncTransport, deployment_id: str) -> deployments.Deployment | None:
    """
    Promote an ``Inactive`` deployment once; return it, or None when another party started it first (409).

    A lost answer is looked up, never blindly resent: a deployment no longer ``Inactive`` was promoted.

    :param deployment_id: The deployment.
    """

    def lookup() -> deployments.Deployment | None:
        now = transport.call(deployments.get(deployment_id))
        return None if now.status == DeploymentStatus.INACTIVE.value else now

    try:
        return once(transport, deployments.promote(deployment_id), lookup)
    except SeekrFlowAPIError as err:
        if err.status_code != deployments.CONFLICT:
            raise
        return None


def demote_deployment(transport: SyncTransport, deployment_id: str) -> tuple[deployments.Deployment, bool]:
    """
    Demote a deployment once; return it as demoted, and whether this call demoted it (False: it was already ``Inactive``).

    A lost answer is looked up, never blindly resent; a 409 on an ``Inactive`` deployment is success.

    :param deployment_id: The deployment.
    """
    inactive = DeploymentStatus.INACTIVE.value

    def lookup() -> deployments.Deployment | None:
        now = transport.call(deployments.get(deployment_id))
        return now if now.status == inactive else None

    try:
        return once(transport, deployments.demote(deployment_id), lookup), True
    except SeekrFlowAPIError as err:
        if err.status_code != deployments.CONFLICT:
            raise
        now = transport.call(deployments.get(deployment_id))
        if now.status != inactive:
            raise
        return now, False
