"""The training-data asset: its URI, the checks of its scheme, what a task announces and what a triggered run reads."""

from __future__ import annotations

import collections
from datetime import datetime, timezone
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from airflow.providers.common.compat.assets import Asset

from airflow_provider_seekrflow.assets import (
    TRAINING_FILE_ID,
    announce_training_data,
    check_outlets_can_be_announced,
    create_asset,
    sanitize_uri,
    training_data_asset,
    training_file_id_from_trigger,
)
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.get_provider_info import get_provider_info

ASSET = training_data_asset("support-bot")
OTHER = training_data_asset("other-bot")


def test_asset_uri_names_host_and_training_data():
    assert ASSET.uri == "seekrflow://flow.seekr.com/training-data/support-bot"
    assert training_data_asset("x", host="localhost:8899").uri == "seekrflow://localhost:8899/training-data/x"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"name": "support bot"}, "name 'support bot'"),
        ({"name": ""}, "name ''"),
        ({"name": "a/b"}, "found '/'"),
        ({"name": "ok", "host": "https://flow.seekr.com"}, "host 'https://flow.seekr.com'"),
        ({"name": "ok", "host": "user@flow.seekr.com"}, "host 'user@flow.seekr.com'"),
    ],
)
def test_bad_asset_names_are_refused_naming_the_field(kwargs, named):
    with pytest.raises(SeekrFlowConfigError, match="training_data_asset") as caught:
        create_asset(**kwargs)
    assert named in str(caught.value)


def test_sanitize_uri_needs_host_and_path_and_normalises_slashes():
    assert sanitize_uri(urlsplit("seekrflow://h/training-data/x/")).path == "/training-data/x"
    with pytest.raises(ValueError, match="needs the SeekrFlow host"):
        sanitize_uri(urlsplit("seekrflow:///training-data/x"))
    with pytest.raises(ValueError, match="needs a path"):
        sanitize_uri(urlsplit("seekrflow://h/"))


def test_provider_info_registers_the_scheme_for_assets_and_datasets():
    info = get_provider_info()
    for key in ("asset-uris", "dataset-uris"):
        (entry,) = info[key]
        assert entry["schemes"] == ["seekrflow"]
        for role in ("handler", "factory", "to_openlineage_converter"):
            module, _, name = entry[role].rpartition(".")
            assert callable(getattr(__import__(module, fromlist=[name]), name))


def test_outlets_on_a_task_that_does_not_wait_are_refused():
    check_outlets_can_be_announced("t", [ASSET], waits=True)
    check_outlets_can_be_announced("t", [], waits=False)
    with pytest.raises(SeekrFlowConfigError, match=r"outlets: task 't' announces seekrflow://.*support-bot"):
        check_outlets_can_be_announced("t", [ASSET], waits=False)


class _Accessors(collections.defaultdict):
    """Stands in for Airflow's outlet_events: one accessor with an ``extra`` dict per asset (by URI, as
    Airflow keys them: some versions' assets are not hashable)."""

    def __init__(self):
        super().__init__(lambda: SimpleNamespace(extra={}))

    def __getitem__(self, asset):
        return super().__getitem__(asset.uri)


class _Triggering:
    """Stands in for Airflow 3's triggering_asset_events: iterates assets, looks events up by asset."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter(asset for asset, _ in self.pairs)

    def __getitem__(self, asset):
        return next(events for known, events in self.pairs if known.uri == asset.uri)


def test_announce_fills_every_asset_outlet_and_skips_other_lineage_objects():
    events = _Accessors()
    announced = announce_training_data(
        {"outlet_events": events},
        [ASSET, OTHER, "not-an-asset"],
        training_file_id="file-9",
        job_id="dj-1",
        job_kind="data_job",
        output_file_ids=["file-8", "file-9"],
    )
    assert announced == [ASSET.uri, OTHER.uri]
    assert events[ASSET].extra == {
        TRAINING_FILE_ID: "file-9",
        "job_id": "dj-1",
        "job_kind": "data_job",
        "output_file_ids": ["file-8", "file-9"],
    }
    assert events[OTHER].extra[TRAINING_FILE_ID] == "file-9"
    assert (
        announce_training_data(
            {}, [ASSET], training_file_id="f", job_id="j", job_kind="k", output_file_ids=[]
        )
        == []
    )


def _event(file_id, minute, **extra):
    return SimpleNamespace(
        extra={TRAINING_FILE_ID: file_id, **extra} if file_id else extra,
        timestamp=datetime(2026, 1, 1, 0, minute, tzinfo=timezone.utc),
    )


def test_triggered_run_reads_the_newest_training_file_airflow_3_shape():
    events = _Triggering(
        [(ASSET, [_event("file-old", 1), _event("file-new", 5)]), (OTHER, [_event("file-other", 9)])]
    )
    assert training_file_id_from_trigger({"triggering_asset_events": events}, ASSET) == "file-new"
    # Without an asset, any event carrying a training file: the newest of them all.
    assert training_file_id_from_trigger({"triggering_asset_events": events}) == "file-other"


def test_triggered_run_reads_the_training_file_airflow_2_shape():
    events = {ASSET.uri: [_event("file-2", 2)], "s3://bucket/key": [_event(None, 3)]}
    assert training_file_id_from_trigger({"triggering_dataset_events": events}, ASSET) == "file-2"
    assert training_file_id_from_trigger({"triggering_dataset_events": events}) == "file-2"


def test_a_run_not_triggered_by_the_asset_says_why():
    run = SimpleNamespace(run_id="manual__1", run_type="manual")
    with pytest.raises(SeekrFlowConfigError) as caught:
        training_file_id_from_trigger(
            {"triggering_asset_events": _Triggering([(OTHER, [_event("f", 1)])]), "dag_run": run}, ASSET
        )
    message = str(caught.value)
    assert ASSET.uri in message and "'manual__1'" in message and "run type manual" in message
    with pytest.raises(SeekrFlowConfigError, match="training_file_id"):
        training_file_id_from_trigger({"triggering_asset_events": {}})


def test_only_events_of_the_named_producer_are_read():
    # An event made through the REST API carries no (or another) source task: never its file id.
    planted = _event(
        "file-planted",
        9,
    )
    planted.source_dag_id, planted.source_task_id = None, None
    mine = _event("file-mine", 1)
    mine.source_dag_id, mine.source_task_id = "pipeline", "make_training_pairs"
    events = _Triggering([(ASSET, [mine, planted])])
    context = {"triggering_asset_events": events}
    assert training_file_id_from_trigger(context, ASSET) == "file-planted"
    assert training_file_id_from_trigger(context, ASSET, source_dag_id="pipeline") == "file-mine"
    assert (
        training_file_id_from_trigger(
            context, ASSET, source_dag_id="pipeline", source_task_id="make_training_pairs"
        )
        == "file-mine"
    )
    with pytest.raises(SeekrFlowConfigError, match=r"announced by pipeline\.other"):
        training_file_id_from_trigger(context, ASSET, source_dag_id="pipeline", source_task_id="other")


def test_assets_are_compat_assets():
    assert isinstance(ASSET, Asset)


def test_openlineage_reads_the_asset_in_the_operators_namespace():
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_provider_seekrflow.assets import convert_asset_to_openlineage
    from airflow_provider_seekrflow.lineage import seekrflow_namespace

    dataset = convert_asset_to_openlineage(training_data_asset("bot", host="LocalHost:443"))
    assert (dataset.namespace, dataset.name) == (
        seekrflow_namespace("https://localhost"),
        "training-data/bot",
    )
    assert dataset.namespace == "seekrflow://localhost"
