"""The SeekrFlow hook: the Airflow connection, the task log, and every SeekrFlow call a worker makes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_seekrflow.client import alignment, creates, files
from airflow_provider_seekrflow.client.alignment import AlignmentJob, AlignmentOutput
from airflow_provider_seekrflow.client.config import ClientConfig
from airflow_provider_seekrflow.client.endpoints import Call
from airflow_provider_seekrflow.client.log_text import for_log
from airflow_provider_seekrflow.client.retry import RetryPolicy
from airflow_provider_seekrflow.client.sync_transport import SyncTransport
from airflow_provider_seekrflow.client.waiting import limit_text, wait_until
from airflow_provider_seekrflow.defaults import UNTIL_END, check_poll_intervals
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowError,
    SeekrFlowUnexpectedResponseError,
)
from airflow_provider_seekrflow.hooks.base import SeekrFlowBaseHook
from airflow_provider_seekrflow.hooks.file_methods import FileHookMethods
from airflow_provider_seekrflow.hooks.pipeline_methods import PipelineHookMethods
from airflow_provider_seekrflow.hooks.upload_batch_methods import BatchUploadHookMethods
from airflow_provider_seekrflow.jobs.base import JobKind, JobWatcher, Operation, run_sync
from airflow_provider_seekrflow.vocabulary import AlignmentType

if TYPE_CHECKING:
    import requests

    from airflow_provider_seekrflow.client.lost_answers import Snapshot

T = TypeVar("T")


class SeekrFlowHook(FileHookMethods, BatchUploadHookMethods, PipelineHookMethods, SeekrFlowBaseHook):
    """
    Talk to the SeekrFlow API from a worker: files, alignment, data jobs, projects and fine-tunes.

    The connection is read as :class:`~airflow_provider_seekrflow.hooks.base.SeekrFlowBaseHook` says.

    :param seekrflow_conn_id: The Airflow connection to use.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param max_retries: Retries of a failed request, overriding the connection's ``max_retries`` extra.
    """

    # Airflow 2 reads a connection type's form only from its hook class's own attributes.
    get_ui_field_behaviour = SeekrFlowBaseHook.__dict__["get_ui_field_behaviour"]
    get_connection_form_widgets = SeekrFlowBaseHook.__dict__["get_connection_form_widgets"]

    @cached_property
    def config(self) -> ClientConfig:
        """Return the validated client settings of the connection."""
        conn = self.get_connection(self.seekrflow_conn_id)
        return self._config_from(conn, conn.extra_dejson)

    @cached_property
    def transport(self) -> SyncTransport:
        """Return this connection's transport (settings, session, retries), logging to the task log."""
        return SyncTransport(self.config, self.log, conn_id=self.seekrflow_conn_id)

    @property
    def retry_policy(self) -> RetryPolicy:
        """Return the retry policy built from the connection's ``max_retries``."""
        return self.transport.retry_policy

    @property
    def session(self) -> requests.Session:
        """Return the hook's one HTTP session, carrying the authentication headers."""
        return self.transport.session

    def get_conn(self) -> requests.Session:
        """Return the authenticated ``requests.Session``."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        if "transport" in self.__dict__:
            self.transport.close()

    # -- alignment ------------------------------------------------------------------------------

    def generate_alignment(
        self,
        instructions: str,
        files: Sequence[str],
        *,
        alignment_type: str = AlignmentType.PRINCIPLE.value,
        system_prompt: str | None = None,
        vector_database_id: str | None = None,
        snapshot: Snapshot | None = None,
    ) -> AlignmentJob:
        """
        Start an alignment job that generates training pairs from uploaded documents, never twice.

        SeekrFlow's reference marks this endpoint deprecated in favour of data jobs.

        :param instructions: What the training pairs should teach; must not be blank.
        :param files: Ids of files uploaded with purpose ``alignment``.
        :param alignment_type: ``principle`` or ``context_data``.
        :param system_prompt: System prompt for the generated conversations (``principle`` only).
        :param vector_database_id: Vector database for ``context_data`` retrieval.
        :param snapshot: The alignment jobs listed before sending (``snapshot_alignment_jobs``), when
            the caller keeps it for a later try; taken here otherwise.
        """
        body = alignment.generate_request(
            instructions,
            files,
            alignment_type=alignment_type,
            system_prompt=system_prompt,
            vector_database_id=vector_database_id,
        )
        job = creates.generate_alignment(self.transport, body, snapshot)
        self.log.info("Started alignment job %s (%s)", for_log(job.id), for_log(job.describe()))
        return job

    def snapshot_alignment_jobs(self) -> Snapshot:
        """Return the alignment jobs the service lists now, to tell later which job is new."""
        return creates.snapshot_alignment_jobs(self.transport)

    def find_generated_alignment(self, body: dict[str, Any], snapshot: Snapshot) -> AlignmentJob | None:
        """
        Return the alignment job a generate request made: the one new job echoing the request.

        A retry whose earlier try sent the request but never read its answer asks this before sending.

        :param body: The generate request (``client.alignment.generate_request``).
        :param snapshot: The alignment jobs listed before it was sent (``snapshot_alignment_jobs``).
        :raises SeekrFlowAmbiguousResultError: More than one new job may be it.
        """
        return creates.find_generated_alignment(self.transport, body, snapshot)

    def get_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Return an alignment job.

        :param job_id: The job's id.
        """
        return self.call(alignment.get_job(job_id))

    def list_alignment_jobs(self) -> list[AlignmentJob]:
        """List alignment jobs."""
        return self.call(alignment.list_jobs()).data

    def cancel_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Cancel an alignment job; a job that already ended is returned unchanged.

        :param job_id: The job's id.
        """
        return self.call(alignment.cancel_job(job_id))

    def delete_alignment_job(self, job_id: str) -> None:
        """
        Delete an alignment job; a retry finding it gone counts as done.

        :param job_id: The job's id.
        """
        self.transport.delete(alignment.delete_job(job_id), gone=lambda: None)

    def get_alignment_outputs(self, job_id: str) -> list[AlignmentOutput]:
        """
        Return an alignment job's output files.

        :param job_id: The job's id.
        """
        return self.call(alignment.get_outputs(job_id))

    # -- any job kind ---------------------------------------------------------------------------

    def call(self, call: Call[T]) -> T:
        """
        Send one request through this hook's transport (retried as its endpoint allows) and return its answer.

        :param call: The request, e.g. ``data_jobs.get(job_id)``.
        """
        return self.transport.call(call)

    def run(self, operation: Operation[T]) -> T:
        """
        Run a job kind's operation (a read, a cancel, a result) through this hook's transport.

        :param operation: The operation, e.g. ``DATA_JOB.watch("end", log.info).read(job_id)``.
        """
        return run_sync(operation, self.call)

    def wait_for_job(
        self,
        kind: JobKind,
        job_id: str,
        *,
        until: str = UNTIL_END,
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        timeout: float | None = None,
        timed_out: Callable[[Any], Exception] | None = None,
        watcher: JobWatcher | None = None,
    ) -> Any:
        """
        Block until the wait is over for a job of any kind, and return the job, whatever its final status.

        The kind says how to read the job, what to log and how long to sleep (toward the service's
        estimate where it gives one). The time limit is the sooner of ``timeout`` and any bound the
        task set (its ``execution_timeout``), and holds while a status check is in flight.

        :param kind: The job's kind, e.g. ``airflow_provider_seekrflow.jobs.fine_tune.FINE_TUNE``.
        :param job_id: The job's id.
        :param until: What to wait for: ``end``, or a kind's own phase (a data job's ``ingestion``).
        :param poll_interval: The longest sleep between two status checks, in seconds.
        :param min_poll_interval: The shortest sleep between two status checks, in seconds.
        :param timeout: Give up after this many seconds (monotonic clock); wait for ever when None.
        :param timed_out: Returns the exception raised when time runs out, given the job as last
            read (None when no read finished in time); the kind's timeout error by default.
        :param watcher: The wait's watcher, when the caller keeps one across waits (its progress log).
        """
        check_poll_intervals(poll_interval, min_poll_interval)
        watcher = watcher or kind.watch(until, self.log.info, self.log.warning)

        def default_timed_out(job: Any) -> Exception:
            return kind.timed_out(
                job_id,
                f"{kind.label} {job_id} did not finish {limit_text(timeout)}",
                job.status if job is not None else None,
            )

        return wait_until(
            lambda: self.run(watcher.read(job_id)),
            done=watcher.is_over,
            delay=lambda job: watcher.delay(job, poll_interval=poll_interval, min_interval=min_poll_interval),
            timeout=timeout,
            timed_out=timed_out or default_timed_out,
        )

    # -- connection test ------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the connection with one cheap authenticated call; never raises.

        The UI's Test button (and the REST API's) tests the form under a random, temporary
        connection id, so the message calls it "this connection" rather than naming that id.
        """
        ok, message = self._test_connection()
        return ok, self._as_this_connection(message)

    def _as_this_connection(self, message: str) -> str:
        named = repr(self.seekrflow_conn_id)
        return (
            message.replace(f"SeekrFlow connection {named}", "This connection")
            .replace(f"of connection {named}", "of this connection")
            .replace(f"connection {named}", "this connection")
        )

    def _test_connection(self) -> tuple[bool, str]:
        try:
            config = self.config
            transport = SyncTransport(
                config,
                self.log,
                conn_id=self.seekrflow_conn_id,
                retry_policy=RetryPolicy(max_retries=min(config.max_retries, 1), max_retry_after=5.0),
            )
            try:
                transport.call(files.list_files(limit=1))
            finally:
                transport.close()
        except SeekrFlowUnexpectedResponseError as err:
            return False, f"{config.base_url} does not answer like the SeekrFlow API: {err}"
        except SeekrFlowError as err:
            return False, str(err)
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        return True, f"Connected to SeekrFlow at {config.base_url}; the API key was accepted."
