"""
OpenLineage inputs and outputs of the SeekrFlow operators, named as OpenLineage's conventions say.

Every operator's ``get_openlineage_facets_on_complete`` calls one function here. What is reported:

- upload: each source read as an input (namespace ``file``, name its absolute path; or ``s3://<bucket>``
  and the object key, and likewise for other object stores), each stored file as an output;
- generate and data job: the files (and vector database) read as inputs, the output files (among them
  the training-data file a fine-tune trains on) as outputs;
- fine-tune: the training and validation files as inputs, the trained model as the output;
- deploy and promote: the model served as the input, the deployment (``deployments/<id>``) as the output;
- evaluation: the prompt set as the input, the answers file as the output.

Fine-tune, deployment and evaluation runs also carry the run facet ``seekrflow_usage``
(``lineage_facets.SeekrFlowUsageRunFacet``): what the service reports of their cost, the result's
``usage`` (accelerator type, count and time; tokens in and out), so a lineage backend sums it per DAG.

What lives on SeekrFlow is named in the deployment's namespace, ``seekrflow://<host>[:<port>]`` from
the connection's host (never its credentials, path or query): ``files/<file_id>``,
``vector-databases/<id>`` and ``models/<model_id>``. Assets the task declares in ``inlets`` and
``outlets`` are reported beside them, since OpenLineage reads those only from operators reporting nothing.

The OpenLineage provider is optional: it is imported only inside :func:`operator_lineage`, which
Airflow calls only when that provider is installed, so parsing a DAG never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_seekrflow.defaults import DEFAULT_BASE_URL

SCHEME = "seekrflow"
#: Ports a URL may leave out: written or not, they name the same deployment.
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Object stores whose URI authority is a bucket, named ``<scheme>://<bucket>`` with the scheme other
#: producers use (what Spark reads as ``s3a://`` is the bucket Airflow's S3 operators call ``s3://``).
_BUCKET_SCHEMES = {"s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gs", "gcs": "gs"}

Datasets = tuple[list["DatasetRef"], list["DatasetRef"]]


class DatasetRef(NamedTuple):
    """
    One OpenLineage dataset, before it becomes the provider's class.

    :param namespace: Where it lives, e.g. ``seekrflow://flow.seekr.com`` or ``s3://bucket``.
    :param name: What it is there, e.g. ``files/file-1`` or an object key.
    :param description: What a person reads about it (a file's name and purpose), if anything.
    """

    namespace: str
    name: str
    description: str | None = None


def seekrflow_namespace(host: str | None, port: int | None = None) -> str:
    """
    Return the OpenLineage namespace of a SeekrFlow deployment: ``seekrflow://<host>[:<port>]``.

    The host is read as the connection reads it (no scheme means https, empty means the public
    service); user info, path, query and fragment are left out, and so is the scheme's default port.

    :param host: The connection's host field, or the client's base URL.
    :param port: The connection's port field, used when the host names none.
    :raises ValueError: When the host names no host, or a bad port.
    """
    raw = (host or "").strip() or DEFAULT_BASE_URL
    parts = urlsplit(raw if "://" in raw else "https://" + raw)
    hostname = (parts.hostname or "").rstrip(".")  # lower-cased, without brackets or user info
    if not hostname:
        raise ValueError(f"{host!r} names no host")
    chosen = parts.port if parts.port is not None else port
    if chosen == _DEFAULT_PORTS.get(parts.scheme.lower()):
        chosen = None
    if ":" in hostname:  # an IPv6 address keeps its brackets, as in a URL
        hostname = f"[{hostname}]"
    return f"{SCHEME}://{hostname}" + (f":{int(chosen)}" if chosen else "")


def source_dataset(shown: str, local: str | os.PathLike[str] | None) -> DatasetRef:
    """
    Return the dataset an upload read: a local file, or an object in storage.

    :param shown: The source as the task names it: a path, or a URI such as ``s3://conn@bucket/key``.
    :param local: The local file, or None for an object in storage.
    """
    if local is not None:
        return DatasetRef("file", os.path.abspath(os.fspath(local)))
    parts = urlsplit(shown)
    scheme = parts.scheme.lower()
    if scheme in _BUCKET_SCHEMES:
        # What stands before "@" is the Airflow connection that read it, not where the object is.
        bucket = parts.netloc.rsplit("@", 1)[-1]
        return DatasetRef(f"{_BUCKET_SCHEMES[scheme]}://{bucket}", parts.path.lstrip("/"))
    # Elsewhere the authority is kept whole: Azure's names the container before "@".
    return DatasetRef(f"{scheme}://{parts.netloc}", parts.path.lstrip("/"))


def file_dataset(namespace: str, file_id: str, description: str | None = None) -> DatasetRef:
    """
    Return the dataset of a file stored on SeekrFlow.

    :param namespace: The deployment's namespace.
    :param file_id: The file's id.
    :param description: Its name and purpose, if known.
    """
    return DatasetRef(namespace, f"files/{file_id}", description)


def ids_in(value: Any) -> list[str]:
    """Return the file ids of a rendered ``files``-like field: one id, a list of them, or nothing."""
    if isinstance(value, str):
        value = [value]
    try:
        return [item for item in value or () if isinstance(item, str) and item.strip()]
    except TypeError:  # not a list of ids: the task failed on it before lineage is asked
        return []


def upload_datasets(namespace: str | None, uploads: Iterable[tuple[str, Any, str]]) -> Datasets:
    """
    Return an upload's inputs (each source) and outputs (each stored file).

    :param namespace: The deployment's namespace; None when the connection could not be read.
    :param uploads: ``(shown, local path or None, file id)`` of each file stored (or reused).
    """
    inputs: list[DatasetRef] = []
    outputs = []
    for shown, local, file_id in uploads:
        source = source_dataset(shown, local)
        if source not in inputs:
            inputs.append(source)
        if namespace is not None:
            outputs.append(file_dataset(namespace, file_id, f"uploaded from {source.name}"))
    return inputs, outputs


def training_data_datasets(
    namespace: str, files: Any, vector_database_id: str | None, result: dict[str, Any] | None
) -> Datasets:
    """
    Return a generate or data job's inputs (its files, its vector database) and outputs (its output files).

    :param namespace: The deployment's namespace.
    :param files: The operator's rendered ``files``.
    :param vector_database_id: The vector database the job reads, if any.
    :param result: The task's result; None when it has none (it failed).
    """
    inputs = [file_dataset(namespace, file_id) for file_id in ids_in(files)]
    if vector_database_id:
        inputs.append(DatasetRef(namespace, f"vector-databases/{vector_database_id}"))
    outputs = [
        file_dataset(namespace, str(out["id"]), f"{out.get('filename')} (purpose {out.get('purpose')})")
        for out in (result or {}).get("output_files") or []
    ]
    return inputs, outputs


def fine_tune_datasets(
    namespace: str, training_files: Any, validation_files: Any, result: dict[str, Any] | None
) -> Datasets:
    """
    Return a fine-tune's inputs (training and validation files) and output (the trained model).

    :param namespace: The deployment's namespace.
    :param training_files: The operator's rendered ``training_files``.
    :param validation_files: The operator's rendered ``validation_files``.
    :param result: The task's result; None when it has none, and no model until the fine-tune completed.
    """
    inputs = [
        file_dataset(namespace, file_id) for file_id in ids_in(training_files) + ids_in(validation_files)
    ]
    result = result or {}
    model_id = result.get("model_id")
    described = f"fine-tuned from {result.get('model')}"
    return inputs, [DatasetRef(namespace, f"models/{model_id}", described)] if model_id else []


def operator_namespace(operator: Any) -> str | None:
    """
    Return the namespace of an operator's connection, or None when it cannot be read.

    The hook read the connection when the task ran, and keeps it, so this asks nothing more.

    :param operator: A SeekrFlow operator.
    """
    try:
        return seekrflow_namespace(operator.hook.config.base_url)
    except Exception:  # no such connection, or a wrong one: the task failed on it already
        return None


def usage_run_facets(kind: str, result: Any) -> dict[str, Any]:
    """
    Return the run facets of a result's usage, ``{"seekrflow_usage": facet}``, or none when it has no usage.

    :param kind: The kind of run: ``fine_tune``, ``deployment`` or ``evaluation``.
    :param result: The task's result (or an evaluation's manifest); None when it has none.
    """
    usage = result.get("usage") if isinstance(result, dict) else None
    if not isinstance(usage, dict):
        return {}
    from airflow_provider_seekrflow.lineage_facets import FACET_KEY, usage_facet

    return {FACET_KEY: usage_facet(kind, usage)}


def operator_lineage(
    inputs: list[DatasetRef],
    outputs: list[DatasetRef],
    operator: Any = None,
    *,
    usage: tuple[str, Any] | None = None,
) -> Any:
    """
    Return the OpenLineage provider's ``OperatorLineage`` of these datasets, or None without that provider.

    :param inputs: The datasets read.
    :param outputs: The datasets written.
    :param operator: The operator, whose declared ``inlets`` and ``outlets`` are added, if any.
    :param usage: ``(kind, result)`` whose ``usage`` becomes the ``seekrflow_usage`` run facet.
    """
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset, DocumentationDatasetFacet
        from airflow.providers.openlineage.extractors import OperatorLineage
        from airflow.providers.openlineage.extractors.manager import ExtractorManager
    except ImportError:  # Airflow asks only with the provider installed; anyone else gets nothing
        return None

    # Declared assets are converted as OpenLineage converts them for operators that report nothing.
    declared_to_dataset = getattr(ExtractorManager, "convert_to_ol_dataset", lambda item: None)

    def convert(refs: list[DatasetRef], declared: Any) -> list[Any]:
        found = {}
        for ref in refs:
            facets: dict[str, Any] = {}
            if ref.description:
                facets["documentation"] = DocumentationDatasetFacet(description=ref.description)
            found[ref[:2]] = Dataset(namespace=ref.namespace, name=ref.name, facets=facets)
        for dataset in filter(None, map(declared_to_dataset, declared or ())):
            found.setdefault((dataset.namespace, dataset.name), dataset)
        return list(found.values())

    return OperatorLineage(
        inputs=convert(inputs, getattr(operator, "inlets", None)),
        outputs=convert(outputs, getattr(operator, "outlets", None)),
        run_facets=usage_run_facets(*usage) if usage else {},
    )


# -- what each operator calls -------------------------------------------------------------------


def upload_lineage(operator: Any) -> Any:
    """
    Return an upload task's lineage: the sources it read and the files it stored, as far as it got.

    :param operator: The ``SeekrFlowUploadFileOperator`` that ran.
    """
    return operator_lineage(*upload_datasets(operator_namespace(operator), operator.uploaded), operator)


def training_data_lineage(operator: Any) -> Any:
    """
    Return a generate or data job task's lineage: the documents it read and the files it produced.

    :param operator: The ``SeekrFlowGenerateAlignmentOperator`` or ``SeekrFlowDataJobOperator`` that ran.
    """
    namespace = operator_namespace(operator)
    if namespace is None:
        return None
    files, vector_database = operator.files, operator.vector_database_id
    return operator_lineage(
        *training_data_datasets(namespace, files, vector_database, operator.last_result), operator
    )


def fine_tune_lineage(operator: Any) -> Any:
    """
    Return a fine-tune task's lineage: the files it trained on and the model it made.

    :param operator: The ``SeekrFlowFineTuneOperator`` that ran.
    """
    namespace = operator_namespace(operator)
    if namespace is None:
        return None
    training, validation = operator.training_files, operator.validation_files
    return operator_lineage(
        *fine_tune_datasets(namespace, training, validation, operator.last_result),
        operator,
        usage=("fine_tune", operator.last_result),
    )


def deployment_datasets(namespace: str, model_id: Any, result: dict[str, Any] | None) -> Datasets:
    """
    Return a deployment's input (the model it serves) and output (the deployment).

    :param namespace: The deployment's namespace.
    :param model_id: The model the operator was given (the deploy operator's), if any.
    :param result: The task's result; None when it has none.
    """
    result = result or {}
    served = result.get("model_id") or (model_id if isinstance(model_id, str) and model_id.strip() else None)
    inputs = [DatasetRef(namespace, f"models/{served}")] if served else []
    deployment_id = result.get("job_id")
    described = f"{result.get('model_type')} {served} on {result.get('n_instances')} instance(s)"
    outputs = [DatasetRef(namespace, f"deployments/{deployment_id}", described)] if deployment_id else []
    return inputs, outputs


def deployment_lineage(operator: Any) -> Any:
    """
    Return a deploy or promote task's lineage: the model served, the deployment serving it, its tokens.

    :param operator: The ``SeekrFlowDeployModelOperator`` or ``SeekrFlowPromoteDeploymentOperator`` that ran.
    """
    namespace = operator_namespace(operator)
    if namespace is None:
        return None
    result = operator.last_result
    return operator_lineage(
        *deployment_datasets(namespace, getattr(operator, "model_id", None), result),
        operator,
        usage=("deployment", result),
    )


def evaluation_lineage(operator: Any) -> Any:
    """
    Return an evaluation task's lineage: the prompt set it read, the answers file it wrote, its tokens.

    :param operator: The ``SeekrFlowEvaluateModelOperator`` that ran.
    """
    files = getattr(operator, "evaluated_files", None)
    if not files:
        return None
    (prompts, prompts_local), (answers, answers_local) = files
    return operator_lineage(
        [source_dataset(prompts, prompts_local)],
        [source_dataset(answers, answers_local)],
        operator,
        usage=("evaluation", getattr(operator, "last_manifest", None)),
    )
