"""Wait for a SeekrFlow vector database ingestion job to end, in poke, reschedule or deferrable mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.links import SeekrFlowVectorDatabaseLink
from airflow_provider_seekrflow.sensors.job_base import SeekrFlowJobSensor
from airflow_provider_seekrflow.vocabulary import INGESTION_REF_SEPARATOR

if TYPE_CHECKING:
    from airflow_provider_seekrflow.jobs.ingestion import IngestionWatcher


class SeekrFlowVectorDatabaseIngestionSensor(SeekrFlowJobSensor):
    """
    Wait until an ingestion job is ``completed``, and return the ingestion operator's result.

    It returns ``{"job_id", "status", "vector_database_id", "ingestion_id", "file_ids", "files",
    "error_message"}``. Its status goes to the task log on change. ``failed`` fails the task at once
    with ``SeekrFlowIngestionFailedError``, naming each failed file with the service's
    ``error_message``; ``soft_fail`` skips instead, in every mode. The sensor never removes anything.

    :param vector_database_id: The database the job runs in: its id, or the create operator's
        result. Not needed when ``job_id`` is the ingestion operator's result or its ``job_id``
        (``<vector_database_id>/<ingestion_id>``). (templated)
    :param job_id: The ingestion job: its id in the database, the reference
        ``<vector_database_id>/<ingestion_id>``, or the ingestion operator's result. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: In deferrable mode, the longest time between two status checks, in seconds.
    """

    template_fields: Sequence[str] = ("vector_database_id", "job_id", "seekrflow_conn_id")
    kind_key = "vector_ingestion"
    operator_extra_links = (SeekrFlowVectorDatabaseLink(),)

    def __init__(
        self,
        *,
        job_id: str | dict[str, Any],
        vector_database_id: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(job_id=job_id, **kwargs)
        self.vector_database_id = vector_database_id

    def _check_job_id(self) -> str:
        """Return the job's reference ``<vector_database_id>/<ingestion_id>`` from ``job_id`` and ``vector_database_id``."""
        from airflow_provider_seekrflow.client import vector_databases

        job_id = self.job_id.get("job_id") if isinstance(self.job_id, dict) else self.job_id
        if not isinstance(job_id, str) or not job_id.strip():
            raise SeekrFlowConfigError(f"job_id: must be a non-empty ingestion job id, got {self.job_id!r}")
        job_id = job_id.strip()
        given = (
            None
            if self.vector_database_id in (None, "")
            else vector_databases.checked_vector_database_id(self.vector_database_id)
        )
        if INGESTION_REF_SEPARATOR in job_id:
            database_id, _ = vector_databases.split_ingestion_ref(job_id)
            if given is not None and given != database_id:
                raise SeekrFlowConfigError(
                    f"vector_database_id: {given} is not the database of ingestion job {job_id}"
                )
            return job_id
        if given is None:
            raise SeekrFlowConfigError(
                f"vector_database_id: needed to find ingestion job {job_id!r} (or give job_id as "
                f"'<vector_database_id>{INGESTION_REF_SEPARATOR}<job_id>', the ingestion operator's job_id)"
            )
        return vector_databases.ingestion_ref(given, job_id)

    def unsuccessful_error(self, job: Any) -> Exception:
        """Return the failure of the job, naming each failed file with the service's ``error_message``."""
        return self.hook.run(cast("IngestionWatcher", self.watcher).explain(job))
