"""Keep documents searchable on SeekrFlow: create (or find) a vector database, and ingest uploaded files into it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_seekrflow.defaults import DEFAULT_CONN_ID, UNTIL_END
from airflow_provider_seekrflow.links import SeekrFlowVectorDatabaseLink
from airflow_provider_seekrflow.operators.job_base import SeekrFlowJobOperator

# DAG parsing imports this module: the client and the job kind load when a task runs.
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.jobs.ingestion import IngestionWatcher
    from airflow_provider_seekrflow.jobs.submissions import SubmissionNote

# The contract's defaults (client.vector_databases), restated so DAG parsing imports no client.
DEFAULT_METHOD = "accuracy-optimized"
DEFAULT_CHUNKING_METHOD = "markdown"
DEFAULT_TOKEN_COUNT = 800
DEFAULT_OVERLAP_TOKENS = 100


class SeekrFlowCreateVectorDatabaseOperator(BaseOperator):
    """
    Return the id of the vector database of this ``name`` and embedding ``model``, creating it when there is none.

    Names are not keys on SeekrFlow, so name and model together say which database is meant: the
    oldest one of both is used (others are logged), and a retry or a later run finds the database
    an earlier one made instead of making a second. A create whose answer was lost is looked up
    (the one database of that name and model new since a listing taken before it was sent), never
    blindly resent. The id is the task's return value, for the ingestion operator's
    ``vector_database_id``; ``vector_database_created`` (XCom) says whether this task made it.

    :param name: The database's name. (templated)
    :param model: The embedding model, e.g. ``intfloat/e5-mistral-7b-instruct``. (templated)
    :param description: What it holds, sent when it is created. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``.
    """

    template_fields: Sequence[str] = ("name", "model", "description", "seekrflow_conn_id")
    ui_color = "#e8f0ff"
    operator_extra_links = (SeekrFlowVectorDatabaseLink(),)

    def __init__(
        self,
        *,
        name: str,
        model: str,
        description: str | None = None,
        seekrflow_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.model = model
        self.description = description
        self.seekrflow_conn_id = seekrflow_conn_id
        self.hook_params = dict(hook_params or {})

    def execute(self, context: Context) -> str:
        """Find the database of this name and model, or create it once; return its id."""
        from airflow_provider_seekrflow.client import vector_databases
        from airflow_provider_seekrflow.client.log_text import for_log
        from airflow_provider_seekrflow.client.vector_database_creates import create_or_find_vector_database
        from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

        body = vector_databases.create_request(name=self.name, model=self.model, description=self.description)
        hook = SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id, **self.hook_params)
        database, created = create_or_find_vector_database(hook.transport, body)
        database_id = str(database.id)
        SeekrFlowVectorDatabaseLink.persist(context, self, database_id, config=hook.config)
        self.log.info(
            "%s vector database %s (%s, model %s, dimension %s, %s file(s))",
            "Created" if created else "Using the existing",
            database_id,
            for_log(repr(self.name)),
            for_log(self.model),
            database.dimension,
            database.file_count,
        )
        ti = context.get("ti")
        if ti is not None and self.do_xcom_push:
            ti.xcom_push(key="vector_database_created", value=created)
        return database_id


class _VectorIngestionTask(SeekrFlowJobOperator):
    """
    What starting one ingestion job and waiting for it needs: the database, the chunking settings, the once-only start, the cancel.

    The base of the ingestion and sync operators (the files come from the user, or from what a sync
    uploaded); each documents these parameters for its users.
    """

    template_fields: Sequence[str] = (
        "vector_database_id",
        "method",
        "chunking_method",
        "metadata",
        "seekrflow_conn_id",
    )
    template_fields_renderers = {"metadata": "json"}
    operator_extra_links = (SeekrFlowVectorDatabaseLink(),)
    kind_key = "vector_ingestion"
    finds_unanswered_submissions = True

    def __init__(
        self,
        *,
        vector_database_id: str | dict[str, Any],
        method: str = DEFAULT_METHOD,
        chunking_method: str = DEFAULT_CHUNKING_METHOD,
        token_count: int = DEFAULT_TOKEN_COUNT,
        overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vector_database_id = vector_database_id
        #: The files to ingest: the ingestion operator's argument, or what a sync uploaded.
        self.file_ids: str | list[str] = []
        self.method = method
        self.chunking_method = chunking_method
        self.token_count = token_count
        self.overlap_tokens = overlap_tokens
        self.metadata = metadata

    def _database_id(self) -> str:
        from airflow_provider_seekrflow.client import vector_databases

        return vector_databases.checked_vector_database_id(self.vector_database_id)

    def _body(self) -> dict[str, Any]:
        from airflow_provider_seekrflow.client import vector_databases

        return vector_databases.ingestion_request(
            file_ids=self.file_ids,
            method=self.method,
            chunking_method=self.chunking_method,
            token_count=self.token_count,
            overlap_tokens=self.overlap_tokens,
            metadata=self.metadata,
        )

    def prepare_request(self) -> None:
        """Check the database id and the rendered request locally; nothing is sent when one is wrong."""
        self._database_id()
        self._body()

    def snapshot_before_submit(self, context: Context) -> Snapshot:
        """List the database's ingestion jobs: what a start whose answer is lost is told apart from."""
        from airflow_provider_seekrflow.client.vector_database_creates import snapshot_ingestions

        return snapshot_ingestions(self.hook.transport, self._database_id())

    def submit_job(self, context: Context) -> str:
        """Start the ingestion once and return its reference ``<vector_database_id>/<ingestion_id>``."""
        from airflow_provider_seekrflow.client.vector_database_creates import start_ingestion

        body = self._body()
        job = start_ingestion(self.hook.transport, self._database_id(), body, self.snapshot)
        self.log.info("Started ingestion %s of %d file(s): %s", job.ref, len(body["file_ids"]), job.status)
        return job.ref

    def find_submitted_job(self, note: SubmissionNote, context: Context) -> str | None:
        """Return the job an earlier try's unanswered start made, if the database lists it."""
        from airflow_provider_seekrflow.client import vector_databases
        from airflow_provider_seekrflow.client.vector_database_creates import list_ingestions

        database_id = self._database_id()
        found = vector_databases.find_lost_ingestion(
            list_ingestions(self.hook.transport, database_id), self._body(), note.snapshot
        )
        return vector_databases.ingestion_ref(database_id, str(found.id)) if found is not None else None

    def finish(self, job: Any, context: Context) -> dict[str, Any]:
        """Return the result of a completed job, or raise the failure naming each failed file."""
        if not job.succeeded:
            watcher = cast("IngestionWatcher", self.kind.watch(UNTIL_END, self.log.info))
            raise self.hook.run(watcher.explain(job))
        return super().finish(job, context)

    def cancel_job(self, job_id: str) -> str:
        """Remove the job's files from its database (the service has no cancel for ingestion); return its status."""
        return str(self.hook.run(self.kind.watch(UNTIL_END, self.log.info).cancel(job_id)).status)


class SeekrFlowVectorDatabaseIngestionOperator(_VectorIngestionTask):
    """
    Ingest uploaded files into a vector database (chunk and embed them) and, by default, wait until the job ends.

    Every input is checked locally, by field, before any request. The job is started once: a retry
    reattaches to it (Airflow 3.3+, by the task state store), and a start whose answer was lost is
    looked up among the database's jobs new since a listing taken before it was sent (the one of
    exactly these ``file_ids``), never blindly resent. ``failed`` raises
    ``SeekrFlowIngestionFailedError`` naming each failed file with the service's ``error_message``;
    a timeout raises ``SeekrFlowIngestionTimeoutError``.

    The service has no cancel for ingestion: a kill or a timeout (with ``cancel_on_kill``) removes
    this job's files from the database instead (``DELETE .../files/{file_id}``, the uploaded files'
    ids; one already gone is skipped), so nothing this task started stays half-ingested, and says
    so in the log. It only ever touches the job this task started, and only while that job runs.

    Returns ``{"job_id", "status", "vector_database_id", "ingestion_id", "file_ids", "files",
    "error_message"}``: ``job_id`` is ``<vector_database_id>/<ingestion_id>`` (what the ingestion
    sensor takes), ``files`` counts the job's files ``completed`` and ``failed``. The ``job_id`` is
    pushed under ``ingestion_job_id`` as soon as the job exists.

    :param vector_database_id: The database: its id, or the create operator's result. (templated)
    :param file_ids: The uploaded files (purpose ``alignment``): one id, or a list, e.g. the upload
        operator's result. (templated)
    :param method: The ingestion method. (templated)
    :param chunking_method: How documents are cut into chunks. (templated)
    :param token_count: Tokens per chunk, at least 1.
    :param overlap_tokens: Tokens neighbouring chunks share, 0 to less than ``token_count``.
    :param metadata: Flat JSON (text, number, true/false or null values) attached to every chunk. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param wait_for_completion: Whether to wait until the job ends.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: The longest time between two status checks, in seconds.
    :param min_poll_interval: The shortest time between two status checks, in seconds.
    :param timeout: Seconds to wait before removing the job's files and failing; None waits for ever.
    :param cancel_on_kill: Whether a kill or a timeout removes this job's files from the database.
    :param durable: Whether a retry picks up the job of an earlier try (Airflow 3.3+).
    """

    template_fields: Sequence[str] = (
        "vector_database_id",
        "file_ids",
        "method",
        "chunking_method",
        "metadata",
        "seekrflow_conn_id",
    )

    def __init__(
        self, *, vector_database_id: str | dict[str, Any], file_ids: str | list[str], **kwargs: Any
    ) -> None:
        super().__init__(vector_database_id=vector_database_id, **kwargs)
        self.file_ids = file_ids
