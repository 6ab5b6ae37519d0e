"""
Training data and vector databases as Airflow assets (Datasets on Airflow 2): announce them, schedule on them, read them back.

A data job or generate task with assets in its ``outlets`` fills each asset event's ``extra`` with
the training file it produced, so a DAG scheduled on that asset fine-tunes on exactly that file::

    TRAINING_DATA = training_data_asset("support-assistant")
    SeekrFlowDataJobOperator(task_id="make_training_pairs", ..., outlets=[TRAINING_DATA])

    with DAG("fine_tune_on_new_data", schedule=[TRAINING_DATA]):
        @task
        def training_file(**context):
            return training_file_id_from_trigger(context, TRAINING_DATA)

The ``seekrflow`` URI scheme is registered in the provider's metadata (``asset-uris`` and, for
Airflow 2, ``dataset-uris``): ``seekrflow://<SeekrFlow host>/training-data/<name>``. Its handler
checks the URI when a DAG declares it, and OpenLineage reads it as the dataset
``training-data/<name>`` in the namespace of that host, as the operators' own lineage does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.defaults import DEFAULT_BASE_URL
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.lineage import SCHEME as ASSET_SCHEME
from airflow_provider_seekrflow.lineage import seekrflow_namespace

if TYPE_CHECKING:
    from urllib.parse import SplitResult

    from airflow.providers.common.compat.assets import Asset

TRAINING_DATA_PATH = "training-data"
VECTOR_DATABASE_PATH = "vector-databases"
DEFAULT_HOST = DEFAULT_BASE_URL.split("://", 1)[1]

#: The keys of the ``extra`` an announced asset event carries.
TRAINING_FILE_ID = "training_file_id"
JOB_ID = "job_id"
JOB_KIND = "job_kind"
OUTPUT_FILE_IDS = "output_file_ids"
VECTOR_DATABASE_ID = "vector_database_id"
#: The XCom key of the training file (the ``fine-tune`` output) a data job or generate produced.
FINE_TUNE_FILE_XCOM_KEY = "fine_tune_file_id"


def training_data_asset(name: str, *, host: str = DEFAULT_HOST) -> Asset:
    """
    Return the asset of a pipeline's training data on SeekrFlow.

    :param name: What the training data is for, e.g. ``support-assistant``; letters, digits,
        ``-``, ``_`` and ``.``.
    :param host: The SeekrFlow host the data lives on (the connection's host, without scheme);
        ``flow.seekr.com`` by default. It only names the asset: the connection decides where requests go.
    """
    return create_asset(name=name, host=host)


def create_asset(*, name: str, host: str = DEFAULT_HOST, extra: dict[str, Any] | None = None) -> Asset:
    """
    Build the asset of training data ``name`` on ``host`` (the factory registered for the ``seekrflow`` scheme).

    :param name: What the training data is for.
    :param host: The SeekrFlow host, without scheme.
    :param extra: The asset's own ``extra``.
    """
    return _asset("training_data_asset", TRAINING_DATA_PATH, name, host, extra)


def vector_database_asset(name: str, *, host: str = DEFAULT_HOST) -> Asset:
    """
    Return the asset of a vector database on SeekrFlow: ``seekrflow://<host>/vector-databases/<name>``.

    ``SeekrFlowVectorDatabaseSyncOperator`` with it in ``outlets`` announces each sync on it, the
    event's ``extra`` carrying the database id and the added/changed/removed/unchanged counts, so a
    DAG scheduled on it (a ``context_grounded_vector_db`` data job) runs on every refresh and reads
    the database with :func:`vector_database_id_from_trigger`.

    :param name: The database's name (or any stable label of it): letters, digits, ``-``, ``_`` and ``.``.
    :param host: The SeekrFlow host (the connection's host, without scheme); ``flow.seekr.com`` by default.
    """
    return _asset("vector_database_asset", VECTOR_DATABASE_PATH, name, host, None)


def _asset(made_by: str, path: str, name: str, host: str, extra: dict[str, Any] | None) -> Asset:
    from airflow.providers.common.compat.assets import Asset

    bad = [ch for ch in name if not (ch.isalnum() or ch in "-_.")]
    if not name or bad:
        raise SeekrFlowConfigError(
            f"{made_by}: name {name!r} must be letters, digits, '-', '_' or '.'"
            + (f" (found {''.join(sorted(set(bad)))!r})" if bad else "")
        )
    if not host or "/" in host or "@" in host:
        raise SeekrFlowConfigError(
            f"{made_by}: host {host!r} must be a host name (and port), e.g. flow.seekr.com"
        )
    uri = f"{ASSET_SCHEME}://{host}/{path}/{name}"
    return Asset(uri, extra=extra) if extra else Asset(uri)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """
    Check a ``seekrflow://`` asset URI when a DAG declares it (the handler registered for the scheme).

    :param uri: The URI, split.
    """
    if not uri.netloc:
        raise ValueError(
            "A seekrflow:// asset URI needs the SeekrFlow host, e.g. seekrflow://flow.seekr.com/..."
        )
    if not uri.path.strip("/"):
        raise ValueError(
            f"A seekrflow:// asset URI needs a path, e.g. seekrflow://{uri.netloc}/{TRAINING_DATA_PATH}/<name>"
        )
    return uri._replace(path="/" + uri.path.strip("/"))


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """
    Return the OpenLineage dataset of a ``seekrflow://`` asset (the converter registered for the scheme).

    :param asset: The asset.
    :param lineage_context: Unused; the converter's signature.
    """
    from urllib.parse import urlsplit

    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(asset.uri)
    # The namespace the operators' own lineage gives that host, so both name one dataset alike.
    return Dataset(namespace=seekrflow_namespace(parts.netloc), name=parts.path.strip("/"))


def asset_outlets(outlets: Iterable[Any] | None) -> list[Any]:
    """
    Return the assets (Datasets on Airflow 2) among a task's outlets; aliases and other lineage objects are left out.

    :param outlets: The task's ``outlets``.
    """
    from airflow.providers.common.compat.assets import Asset

    return [outlet for outlet in outlets or () if isinstance(outlet, Asset)]


def check_outlets_can_be_announced(task_id: str, outlets: Iterable[Any] | None, waits: bool) -> None:
    """
    Refuse asset outlets on a task that ends before its training data exists.

    Airflow records an event for every outlet when the task succeeds; without waiting for the job,
    that event would schedule the downstream DAG with no training file to read.

    :param task_id: The task, for the message.
    :param outlets: The task's ``outlets``.
    :param waits: Whether the task waits for the job to complete.
    """
    assets = asset_outlets(outlets)
    if assets and not waits:
        raise SeekrFlowConfigError(
            f"outlets: task {task_id!r} announces {', '.join(a.uri for a in assets)} but does not wait "
            "for its job (wait_for_completion=False), so the event would carry no training file; "
            "wait for completion, or move the outlets to the task that waits (a sensor)"
        )


def announce_training_data(
    context: Mapping[str, Any],
    outlets: Iterable[Any] | None,
    *,
    training_file_id: str,
    job_id: str,
    job_kind: str,
    output_file_ids: list[str],
) -> list[str]:
    """
    Put the training file into the ``extra`` of every asset event this task emits; return the assets' URIs.

    :param context: The task context, whose ``outlet_events`` Airflow records when the task succeeds.
    :param outlets: The task's ``outlets``.
    :param training_file_id: The file a fine-tune trains on.
    :param job_id: The job that produced it.
    :param job_kind: ``data_job`` or ``alignment``.
    :param output_file_ids: Every output file of the job.
    """
    assets = asset_outlets(outlets)
    events = context.get("outlet_events")
    if not assets or events is None:
        return []
    for asset in assets:
        events[asset].extra.update(
            {
                TRAINING_FILE_ID: training_file_id,
                JOB_ID: job_id,
                JOB_KIND: job_kind,
                OUTPUT_FILE_IDS: list(output_file_ids),
            }
        )
    return [asset.uri for asset in assets]


def training_file_id_from_trigger(
    context: Mapping[str, Any],
    asset: Any = None,
    *,
    source_dag_id: str | None = None,
    source_task_id: str | None = None,
) -> str:
    """
    Return the training file of the asset event that triggered this run (the newest, when several did).

    Anyone allowed to create asset events (the REST API's permission) can put a file id in one;
    naming the producing DAG and task reads only the events that task announced.

    :param context: The task context (``triggering_asset_events``; ``triggering_dataset_events`` on Airflow 2).
    :param asset: Only read events of this asset; any event carrying a training file otherwise.
    :param source_dag_id: Only read events announced by a task of this DAG.
    :param source_task_id: Only read events announced by this task.
    """
    return _newest_from_trigger(
        context,
        TRAINING_FILE_ID,
        asset,
        source_dag_id,
        source_task_id,
        "this run was not started by a data job or generate task announcing its training data; trigger "
        "it through the asset, or pass the training file ids yourself",
    )


def vector_database_id_from_trigger(
    context: Mapping[str, Any],
    asset: Any = None,
    *,
    source_dag_id: str | None = None,
    source_task_id: str | None = None,
) -> str:
    """
    Return the vector database of the sync event that triggered this run (the newest, when several did).

    :param context: The task context (``triggering_asset_events``; ``triggering_dataset_events`` on Airflow 2).
    :param asset: Only read events of this asset (a :func:`vector_database_asset`).
    :param source_dag_id: Only read events announced by a task of this DAG.
    :param source_task_id: Only read events announced by this task.
    """
    return _newest_from_trigger(
        context,
        VECTOR_DATABASE_ID,
        asset,
        source_dag_id,
        source_task_id,
        "this run was not started by a vector database sync announcing the database; trigger it "
        "through the asset, or pass the vector database id yourself",
    )


def _newest_from_trigger(
    context: Mapping[str, Any],
    key: str,
    asset: Any,
    source_dag_id: str | None,
    source_task_id: str | None,
    otherwise: str,
) -> str:
    """Return ``extra[key]`` of the newest triggering asset event that has it, or raise saying why none did."""
    events: Any = context.get("triggering_asset_events")
    if events is None:
        events = context.get("triggering_dataset_events") or {}
    wanted = getattr(asset, "uri", asset)
    found: list[tuple[Any, str]] = []
    for event_key in events:
        # Airflow 3 keys the events by asset, Airflow 2 by URI.
        uri = event_key if isinstance(event_key, str) else getattr(event_key, "uri", None)
        if wanted is not None and uri != wanted:
            continue
        for event in events[event_key]:
            if not _announced_by(event, source_dag_id, source_task_id):
                continue
            value = (getattr(event, "extra", None) or {}).get(key)
            if value:
                found.append((getattr(event, "timestamp", None), str(value)))
    if not found:
        run = context.get("dag_run")
        source = ".".join(part for part in (source_dag_id, source_task_id) if part)
        raise SeekrFlowConfigError(
            f"No triggering asset event{f' of {wanted}' if wanted else ''}"
            f"{f' announced by {source}' if source else ''} carries a {key!r}"
            f" (run {getattr(run, 'run_id', '?')!r}, run type {getattr(run, 'run_type', '?')!s}): {otherwise}"
        )
    found.sort(key=lambda item: (item[0] is not None, item[0] or 0))
    return found[-1][1]


def announce_vector_database_sync(
    context: Mapping[str, Any],
    outlets: Iterable[Any] | None,
    *,
    vector_database_id: str,
    counts: Mapping[str, int],
) -> list[str]:
    """
    Put the database and the sync's counts into the ``extra`` of every asset event this task emits; return the URIs.

    :param context: The task context, whose ``outlet_events`` Airflow records when the task succeeds.
    :param outlets: The task's ``outlets``.
    :param vector_database_id: The database synced.
    :param counts: ``{"added", "changed", "removed", "unchanged"}``.
    """
    assets = asset_outlets(outlets)
    events = context.get("outlet_events")
    if not assets or events is None:
        return []
    for asset in assets:
        events[asset].extra.update({VECTOR_DATABASE_ID: vector_database_id, **dict(counts)})
    return [asset.uri for asset in assets]


def _announced_by(event: Any, source_dag_id: str | None, source_task_id: str | None) -> bool:
    """Return whether an asset event came from the named DAG and task (each None: any)."""
    if source_dag_id is not None and getattr(event, "source_dag_id", None) != source_dag_id:
        return False
    return source_task_id is None or getattr(event, "source_task_id", None) == source_task_id


def publish_training_file(task: Any, context: Mapping[str, Any], job_id: str, result: Any) -> None:
    """
    Push a job's training file to XCom (``fine_tune_file_id``) and into the event of each asset in ``outlets``.

    The one publication of operators and sensors alike; nothing happens for a job without a training file.

    :param task: The operator or sensor (its ``kind``, ``outlets``, ``do_xcom_push`` and ``log``).
    :param context: The task context.
    :param job_id: The job that produced the file.
    :param result: The job's :class:`~airflow_provider_seekrflow.jobs.base.JobResult`.
    """
    training_file_id = result.training_file_id
    if training_file_id is None:
        return
    ti = context.get("ti")
    if ti is not None and task.do_xcom_push:
        ti.xcom_push(key=FINE_TUNE_FILE_XCOM_KEY, value=training_file_id)
    announced = announce_training_data(
        context,
        task.outlets,
        training_file_id=training_file_id,
        job_id=job_id,
        job_kind=task.kind.key,
        output_file_ids=[output["id"] for output in result.value.get("output_files", [])],
    )
    if announced:
        task.log.info("Training file %s announced on %s", training_file_id, ", ".join(announced))
