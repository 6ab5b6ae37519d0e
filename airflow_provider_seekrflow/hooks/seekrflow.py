"""The SeekrFlow hook: the Airflow connection, the task log, and every SeekrFlow call a worker makes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from airflow_provider_seekrflow._client import alignment, files
from airflow_provider_seekrflow._client.alignment import AlignmentJob, AlignmentOutput
from airflow_provider_seekrflow._client.config import ClientConfig
from airflow_provider_seekrflow._client.log_text import for_log
from airflow_provider_seekrflow._client.retry import RetryPolicy
from airflow_provider_seekrflow._client.sync_client import SyncClient
from airflow_provider_seekrflow._client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowError,
    SeekrFlowUnexpectedResponseError,
)
from airflow_provider_seekrflow.hooks.base import SeekrFlowBaseHook
from airflow_provider_seekrflow.hooks.file_methods import FileHookMethods
from airflow_provider_seekrflow.hooks.pipeline_methods import PipelineHookMethods, check_poll_intervals
from airflow_provider_seekrflow.vocabulary import AlignmentType

if TYPE_CHECKING:
    import requests


class SeekrFlowHook(FileHookMethods, PipelineHookMethods, SeekrFlowBaseHook):
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
    def client(self) -> SyncClient:
        """Return the SeekrFlow client of this connection, logging to the task log."""
        return SyncClient(SyncTransport(self.config, self.log, conn_id=self.seekrflow_conn_id))

    @property
    def retry_policy(self) -> RetryPolicy:
        """Return the retry policy built from the connection's ``max_retries``."""
        return self.client.transport.retry_policy

    @property
    def session(self) -> requests.Session:
        """Return the hook's one HTTP session, carrying the authentication headers."""
        return self.client.transport.session

    def get_conn(self) -> requests.Session:
        """Return the authenticated ``requests.Session``."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        if "client" in self.__dict__:
            self.client.transport.close()

    # -- alignment ------------------------------------------------------------------------------

    def generate_alignment(
        self,
        instructions: str,
        files: Sequence[str],
        *,
        alignment_type: str = AlignmentType.PRINCIPLE.value,
        system_prompt: str | None = None,
        vector_database_id: str | None = None,
    ) -> AlignmentJob:
        """
        Start an alignment job that generates training pairs from uploaded documents.

        SeekrFlow's reference marks this endpoint deprecated in favour of data jobs.

        :param instructions: What the training pairs should teach; must not be blank.
        :param files: Ids of files uploaded with purpose ``alignment``.
        :param alignment_type: ``principle`` or ``context_data``.
        :param system_prompt: System prompt for the generated conversations (``principle`` only).
        :param vector_database_id: Vector database for ``context_data`` retrieval.
        """
        body = alignment.generate_request(
            instructions,
            files,
            alignment_type=alignment_type,
            system_prompt=system_prompt,
            vector_database_id=vector_database_id,
        )
        job = self.client.generate_alignment(body)
        self.log.info("Started alignment job %s (%s)", for_log(job.id), for_log(job.describe()))
        return job

    def get_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Return an alignment job.

        :param job_id: The job's id.
        """
        return self.client.call(alignment.get_job(job_id))

    def list_alignment_jobs(self) -> list[AlignmentJob]:
        """List alignment jobs."""
        return self.client.call(alignment.list_jobs()).data

    def cancel_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Cancel an alignment job; a job that already ended is returned unchanged.

        :param job_id: The job's id.
        """
        return self.client.call(alignment.cancel_job(job_id))

    def delete_alignment_job(self, job_id: str) -> None:
        """
        Delete an alignment job; a retry finding it gone counts as done.

        :param job_id: The job's id.
        """
        self.client.transport.delete(alignment.delete_job(job_id), gone=lambda: None)

    def get_alignment_outputs(self, job_id: str) -> list[AlignmentOutput]:
        """
        Return an alignment job's output files.

        :param job_id: The job's id.
        """
        return self.client.call(alignment.get_outputs(job_id))

    def wait_for_alignment_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        timeout: float | None = None,
        on_poll: Callable[[AlignmentJob], None] | None = None,
    ) -> AlignmentJob:
        """
        Block until the job ends and return it, whatever its final status.

        Sleeps toward the service's completion estimate rather than at a fixed pace.

        :param job_id: The job's id.
        :param poll_interval: The longest sleep between two status checks, in seconds.
        :param min_poll_interval: The shortest sleep between two status checks, in seconds.
        :param timeout: Give up after this many seconds (monotonic clock), raising
            ``SeekrFlowAlignmentJobTimeoutError``; wait for ever when None.
        :param on_poll: Called with the job after every status check.
        """
        check_poll_intervals(poll_interval, min_poll_interval)
        return self.client.wait_for_alignment_job(
            job_id,
            poll_interval=poll_interval,
            min_poll_interval=min_poll_interval,
            timeout=timeout,
            on_poll=on_poll,
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
