"""The OpenLineage names of SeekrFlow deployments, upload sources and what the operators make."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from airflow_provider_seekrflow.lineage import (
    DatasetRef,
    deployment_lineage,
    evaluation_lineage,
    fine_tune_datasets,
    fine_tune_lineage,
    ids_in,
    operator_lineage,
    seekrflow_namespace,
    source_dataset,
    training_data_datasets,
    training_data_lineage,
    upload_datasets,
    upload_lineage,
    usage_run_facets,
)

NS = "seekrflow://flow.seekr.com"


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "seekrflow://flow.seekr.com"),  # empty host: the public service
        ("", None, "seekrflow://flow.seekr.com"),
        ("flow.seekr.com", None, "seekrflow://flow.seekr.com"),  # no scheme: https
        ("https://flow.seekr.com/", None, "seekrflow://flow.seekr.com"),
        ("https://Flow.Seekr.COM.", None, "seekrflow://flow.seekr.com"),  # host names ignore case
        ("https://flow.seekr.com:443", None, "seekrflow://flow.seekr.com"),  # default ports left out
        ("http://gateway.internal:80/v1/flow", None, "seekrflow://gateway.internal"),
        ("http://127.0.0.1:8899", None, "seekrflow://127.0.0.1:8899"),
        ("https://gateway.internal:8443/seekr/prefix", None, "seekrflow://gateway.internal:8443"),
        ("gateway.internal", 9000, "seekrflow://gateway.internal:9000"),  # the port field
        ("https://gateway.internal:8443", 9000, "seekrflow://gateway.internal:8443"),  # the URL's wins
        ("https://gateway.internal", 443, "seekrflow://gateway.internal"),
        ("http://[::1]:8899", None, "seekrflow://[::1]:8899"),  # IPv6 keeps its brackets
        ("https://[2001:DB8::5]/", None, "seekrflow://[2001:db8::5]"),
        ("[fe80::1]", 8080, "seekrflow://[fe80::1]:8080"),
        # never credentials, query or fragment
        ("https://user:secret@flow.seekr.com:8443/x?token=abc#frag", None, "seekrflow://flow.seekr.com:8443"),
        ("https://:key@flow.seekr.com", None, "seekrflow://flow.seekr.com"),
    ],
)
def test_namespace_is_scheme_host_and_port_of_the_connection(host, port, expected):
    namespace = seekrflow_namespace(host, port)
    assert namespace == expected
    assert "secret" not in namespace and "key" not in namespace and "token" not in namespace


@pytest.mark.parametrize("host", ["https://", "http://:8080", "https://flow.seekr.com:99999", "https://[::1"])
def test_namespace_refuses_a_host_that_names_none(host):
    with pytest.raises(ValueError):
        seekrflow_namespace(host)


@pytest.mark.parametrize(
    ("shown", "local", "expected"),
    [
        ("s3://my-bucket/docs/a.md", None, ("s3://my-bucket", "docs/a.md")),
        # the Airflow connection named in the URI is not where the object is
        ("s3://aws_reader@my-bucket/docs/a.md", None, ("s3://my-bucket", "docs/a.md")),
        ("s3a://my-bucket/a.md", None, ("s3://my-bucket", "a.md")),
        ("gcs://bucket/deep/path/b.pdf", None, ("gs://bucket", "deep/path/b.pdf")),
        ("gs://bucket/b.pdf", None, ("gs://bucket", "b.pdf")),
        (
            "abfss://container@account.dfs.core.windows.net/dir/c.md",
            None,
            ("abfss://container@account.dfs.core.windows.net", "dir/c.md"),
        ),
        ("/data/docs/a.md", "/data/docs/a.md", ("file", "/data/docs/a.md")),
        ("/data/docs/../docs/a.md", "/data/docs/../docs/a.md", ("file", "/data/docs/a.md")),
    ],
)
def test_upload_sources_follow_openlineage_naming(shown, local, expected):
    assert source_dataset(shown, local)[:2] == expected


def test_a_relative_local_source_is_named_by_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert source_dataset("docs/a.md", "docs/a.md")[:2] == ("file", str(tmp_path / "docs" / "a.md"))


def test_upload_reports_each_source_once_and_each_stored_file():
    uploads = [
        ("/d/a.md", "/d/a.md", "file-1"),
        ("s3://conn@b/k.md", None, "file-2"),
        ("/d/a.md", "/d/a.md", "file-3"),  # the same file listed twice is read twice, one dataset
    ]
    inputs, outputs = upload_datasets(NS, uploads)
    assert [ref[:2] for ref in inputs] == [("file", "/d/a.md"), ("s3://b", "k.md")]
    assert [ref[:2] for ref in outputs] == [(NS, "files/file-1"), (NS, "files/file-2"), (NS, "files/file-3")]
    assert outputs[1].description == "uploaded from k.md"
    # without a readable connection the sources are still known
    assert upload_datasets(None, uploads) == (inputs, [])


def test_training_data_reports_files_vector_database_and_outputs():
    result = {
        "job_id": "dj-1",
        "status": "completed",
        "output_files": [
            {"id": "out-1", "filename": "summary.md", "purpose": "alignment"},
            {"id": "out-2", "filename": "pairs.parquet", "purpose": "fine-tune"},
        ],
    }
    inputs, outputs = training_data_datasets(NS, ["f-1", "f-2"], "vdb-7", result)
    assert inputs == [
        DatasetRef(NS, "files/f-1"),
        DatasetRef(NS, "files/f-2"),
        DatasetRef(NS, "vector-databases/vdb-7"),
    ]
    assert outputs == [
        DatasetRef(NS, "files/out-1", "summary.md (purpose alignment)"),
        DatasetRef(NS, "files/out-2", "pairs.parquet (purpose fine-tune)"),
    ]
    # one id as a string; no result (the task failed, or returned before the job ended): inputs only
    assert training_data_datasets(NS, "f-1", None, None) == ([DatasetRef(NS, "files/f-1")], [])
    running = {"job_id": "dj-1", "status": "running", "output_files": []}
    assert training_data_datasets(NS, ("f-1",), None, running)[1] == []


def test_fine_tune_reports_training_and_validation_files_and_the_model():
    result = {"job_id": "ft-1", "status": "completed", "model_id": "ft-1-model", "model": "base/llama"}
    inputs, outputs = fine_tune_datasets(NS, ["t-1"], "v-1", result)
    assert inputs == [DatasetRef(NS, "files/t-1"), DatasetRef(NS, "files/v-1")]
    assert outputs == [DatasetRef(NS, "models/ft-1-model", "fine-tuned from base/llama")]
    # not completed: no model yet
    assert fine_tune_datasets(NS, ["t-1"], None, {**result, "model_id": None})[1] == []
    assert fine_tune_datasets(NS, ["t-1"], None, None)[1] == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("f-1", ["f-1"]),
        (["f-1", "f-2"], ["f-1", "f-2"]),
        (None, []),
        ([], []),
        (["f-1", 3, " "], ["f-1"]),
        (5, []),
    ],
)
def test_ids_in_tolerates_whatever_the_field_held(value, expected):
    assert ids_in(value) == expected


# ---------------------------------------------------------------------- with the provider's classes


def _operator(**attributes):
    """An operator as far as lineage reads it: its hook's base URL and the fields it ran with."""
    hook = SimpleNamespace(config=SimpleNamespace(base_url="http://127.0.0.1:8899"))
    return SimpleNamespace(**{"hook": hook, "inlets": [], "outlets": [], **attributes})


def test_operator_lineage_builds_the_providers_datasets():
    pytest.importorskip("airflow.providers.openlineage")
    operator = _operator(training_files=["t-1"], validation_files=None, last_result={"model_id": "m-1"})
    lineage = fine_tune_lineage(operator)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("seekrflow://127.0.0.1:8899", "files/t-1")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("seekrflow://127.0.0.1:8899", "models/m-1")]
    assert lineage.outputs[0].facets["documentation"].description == "fine-tuned from None"
    assert lineage.inputs[0].facets == {}


def test_declared_inlets_and_outlets_are_reported_too():
    pytest.importorskip("airflow.providers.openlineage")
    from airflow.providers.common.compat.assets import Asset
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    inlet, outlet = Asset("s3://bucket/raw/policies.csv"), Asset("s3://bucket/curated/pairs.parquet")
    operator = _operator(
        files=["f-1"], vector_database_id=None, last_result=None, inlets=[inlet], outlets=[outlet]
    )
    lineage = training_data_lineage(operator)

    def as_openlineage_converts(asset):
        # Older OpenLineage providers (2.3) convert no asset; newer ones name it as in the test below.
        dataset = ExtractorManager.convert_to_ol_dataset(asset)
        return [] if dataset is None else [(dataset.namespace, dataset.name)]

    assert as_openlineage_converts(inlet) in ([], [("s3://bucket", "raw/policies.csv")])
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("seekrflow://127.0.0.1:8899", "files/f-1"),
        *as_openlineage_converts(inlet),
    ]
    assert [(d.namespace, d.name) for d in lineage.outputs] == as_openlineage_converts(outlet)


def test_a_connection_that_cannot_be_read_reports_what_is_known():
    pytest.importorskip("airflow.providers.openlineage")

    class Unreadable:
        @property
        def hook(self):
            raise RuntimeError("no such connection")

    broken = Unreadable()
    broken.uploaded = [("/d/a.md", "/d/a.md", "file-1")]  # type: ignore[attr-defined]
    lineage = upload_lineage(broken)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", "/d/a.md")]
    assert lineage.outputs == []
    assert training_data_lineage(broken) is None


def test_without_the_openlineage_provider_there_is_no_lineage(monkeypatch):
    # What an import of a module that is not installed does: None in sys.modules raises ImportError.
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)
    assert operator_lineage([DatasetRef(NS, "files/f-1")], []) is None
    assert upload_lineage(_operator(uploaded=[("/d/a.md", "/d/a.md", "file-1")])) is None


# ------------------------------------------------------------------------------- usage facet

FINE_TUNE_USAGE = {
    "accelerator_type": "H100",
    "accelerator_count": 4,
    "wall_seconds": 720.0,
    "accelerator_seconds": 2880.0,
}


def test_the_usage_facet_is_built_from_a_result():
    pytest.importorskip("airflow.providers.openlineage")
    from openlineage.client.serde import Serde

    from airflow_provider_seekrflow.lineage_facets import SCHEMA_URL, SeekrFlowUsageRunFacet

    facets = usage_run_facets("fine_tune", {"job_id": "ft-1", "usage": FINE_TUNE_USAGE})
    facet = facets["seekrflow_usage"]
    assert isinstance(facet, SeekrFlowUsageRunFacet)
    # As a lineage backend receives it: the usage keys, the kind, and what OpenLineage adds to every facet.
    sent = json.loads(Serde.to_json(facet))
    assert sent == {
        "kind": "fine_tune",
        **FINE_TUNE_USAGE,
        "_producer": sent["_producer"],
        "_schemaURL": SCHEMA_URL,
    }
    # A figure the service did not report is left out of the event; keys the facet does not know too.
    tokens = usage_run_facets(
        "deployment", {"usage": {"input_tokens": 12, "output_tokens": None, "cost": "n/a"}}
    )["seekrflow_usage"]
    assert {k: v for k, v in json.loads(Serde.to_json(tokens)).items() if not k.startswith("_")} == {
        "kind": "deployment",
        "input_tokens": 12,
    }
    # No result, or one without usage: no facet.
    assert usage_run_facets("fine_tune", None) == {} == usage_run_facets("fine_tune", {"usage": "odd"})


def test_fine_tune_deployment_and_evaluation_lineage_carry_the_usage_facet(tmp_path):
    pytest.importorskip("airflow.providers.openlineage")
    fine_tune = fine_tune_lineage(
        _operator(
            training_files=["t-1"],
            validation_files=None,
            last_result={"model_id": "m-1", "usage": FINE_TUNE_USAGE},
        )
    )
    assert fine_tune.run_facets["seekrflow_usage"].accelerator_seconds == 2880.0

    deployed = {
        "job_id": "dep-1",
        "model_id": "m-1",
        "model_type": "Fine-tuned Run",
        "n_instances": 1,
        "usage": {"input_tokens": 30, "output_tokens": 7},
    }
    deployment = deployment_lineage(_operator(model_id="m-1", last_result=deployed))
    assert [(d.namespace, d.name) for d in deployment.inputs] == [
        ("seekrflow://127.0.0.1:8899", "models/m-1")
    ]
    assert [(d.namespace, d.name) for d in deployment.outputs] == [
        ("seekrflow://127.0.0.1:8899", "deployments/dep-1")
    ]
    facet = deployment.run_facets["seekrflow_usage"]
    assert (facet.kind, facet.input_tokens, facet.output_tokens) == ("deployment", 30, 7)

    prompts, answers = str(tmp_path / "prompts.jsonl"), str(tmp_path / "answers.jsonl")
    evaluation = evaluation_lineage(
        _operator(
            evaluated_files=((prompts, prompts), (answers, answers)),
            last_manifest={"pass_rate": 1.0, "usage": {"input_tokens": 5, "output_tokens": 9}},
        )
    )
    facet = evaluation.run_facets["seekrflow_usage"]
    assert (facet.kind, facet.input_tokens, facet.output_tokens) == ("evaluation", 5, 9)
    # Data jobs report no usage: no facet.
    assert (
        training_data_lineage(_operator(files=["f-1"], vector_database_id=None, last_result={})).run_facets
        == {}
    )
