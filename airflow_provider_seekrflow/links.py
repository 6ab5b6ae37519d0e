"""
Operator extra links: a button on the task's page that opens the task's SeekrFlow object in SeekrFlow's web app.

A task persists its link as soon as its object exists (the job id known, before any deferral; a
file uploaded; a sensor's first check): an XCom under the link's key holding the object's kind, its
id and the URL built from the connection's ``console_url`` extra (``ClientConfig.console_link``),
never anything else of the connection. ``get_link`` reads that XCom back.

DAG parsing imports this module with every operator and sensor: it imports no hook, no client and
no pydantic at module level (``tests/unit/test_parse_imports.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_seekrflow.vocabulary import INGESTION_REF_SEPARATOR

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskInstanceKey

    from airflow_provider_seekrflow.client.config import ClientConfig


class SeekrFlowLink(BaseOperatorLink):
    """
    The link to one kind of SeekrFlow object; each subclass names its kind and its button.

    ``persist`` stores ``{"kind", "id", "url"}`` in the task's XCom under ``key``; ``get_link``
    returns its ``url``, or an empty string (no button) before the task had an object.
    """

    #: The button's text on the task's page.
    name: ClassVar[str] = "SeekrFlow"
    #: The kind of object, a key of ``client.connection_extras.CONSOLE_PAGES``.
    kind: ClassVar[str] = ""

    @classmethod
    def xcom_key_of(cls) -> str:
        """Return the XCom key the link's parameters are persisted under."""
        return f"seekrflow_{cls.kind}_link"

    @classmethod
    def persist(
        cls, context: Context, task: Any, object_id: str, *, config: ClientConfig | None = None
    ) -> str:
        """
        Store the link of ``object_id`` in the task's XCom and return its URL.

        :param context: The task context (its ``ti`` pushes the XCom).
        :param task: The operator or sensor; its ``hook`` gives the connection when ``config`` is None.
        :param object_id: The object's id.
        :param config: The connection's client settings, when the task already has them.
        """
        settings = config if config is not None else task.hook.config
        url = settings.console_link(cls.kind, object_id)
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key=cls.xcom_key_of(), value={"kind": cls.kind, "id": str(object_id), "url": url})
        # Once per task object and URL: a sensor persists its link at every poke.
        logged: set[str] = task.__dict__.setdefault("_seekrflow_links_logged", set())
        if url not in logged:
            logged.add(url)
            task.log.info("%s %s in SeekrFlow's web app: %s", cls.name, object_id, url)
        return url

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """
        Return the URL persisted for the task instance, or an empty string when it has none yet.

        :param operator: The operator the link is shown for.
        :param ti_key: The task instance.
        """
        value = XCom.get_value(key=self.xcom_key_of(), ti_key=ti_key)
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            return str(value["url"])
        return ""


class SeekrFlowFileLink(SeekrFlowLink):
    """The uploaded file's page (an upload of several files: the first file's)."""

    name = "SeekrFlow File"
    kind = "file"


class SeekrFlowDataJobLink(SeekrFlowLink):
    """The data job's page."""

    name = "SeekrFlow Data Job"
    kind = "data_job"


class SeekrFlowAlignmentJobLink(SeekrFlowLink):
    """The alignment job's page (``POST /v1/flow/alignment/generate``)."""

    name = "SeekrFlow Alignment Job"
    kind = "alignment"


class SeekrFlowFineTuneLink(SeekrFlowLink):
    """The fine-tune's page."""

    name = "SeekrFlow Fine-tune"
    kind = "fine_tune"


class SeekrFlowDeploymentLink(SeekrFlowLink):
    """The deployment's page."""

    name = "SeekrFlow Deployment"
    kind = "deployment"


class SeekrFlowVectorDatabaseLink(SeekrFlowLink):
    """The vector database's page; given an ingestion job's reference (``<database id>/<job id>``), its database's."""

    name = "SeekrFlow Vector Database"
    kind = "vector_database"

    @classmethod
    def persist(
        cls, context: Context, task: Any, object_id: str, *, config: ClientConfig | None = None
    ) -> str:
        """Store the link of the database ``object_id`` names (a database id, or an ingestion job's reference)."""
        database_id = str(object_id).split(INGESTION_REF_SEPARATOR, 1)[0]
        return super().persist(context, task, database_id, config=config)


#: The link of each kind of job, by the job kind's key (``jobs.kinds.KINDS``): an ingestion job's
#: page is its vector database's (the service shows ingestion jobs only there).
JOB_LINKS: dict[str, type[SeekrFlowLink]] = {
    **{
        link.kind: link
        for link in (
            SeekrFlowDataJobLink,
            SeekrFlowAlignmentJobLink,
            SeekrFlowFineTuneLink,
            SeekrFlowDeploymentLink,
        )
    },
    "vector_ingestion": SeekrFlowVectorDatabaseLink,
}
#: Every link class, as the provider info registers them.
ALL_LINKS: tuple[type[SeekrFlowLink], ...] = (SeekrFlowFileLink, *JOB_LINKS.values())
