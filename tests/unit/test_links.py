"""The operator extra links: the URL from the ``console_url`` extra or its default, and what is persisted."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_seekrflow import links
from airflow_provider_seekrflow.client.config import ClientConfig, build_client_config
from airflow_provider_seekrflow.client.connection_extras import CONSOLE_PAGES
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.get_provider_info import get_provider_info
from airflow_provider_seekrflow.hooks.base import connection_config

API_KEY = "sk-secret-0123456789"


def _config(host: str | None = "https://flow.example.com", **extras: object) -> ClientConfig:
    return build_client_config(host=host, port=None, password=API_KEY, extras=extras)


class _TaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_the_default_is_the_api_base_url_followed_by_kind_and_id():
    assert _config(None).console_link("fine_tune", "ft-1") == "https://flow.seekr.com/fine-tunes/ft-1"
    # The base URL as the hook reads it: scheme added, /v1/flow dropped, a path prefix kept.
    config = _config("gateway.example.com/seekr/v1/flow")
    assert config.console_link("data_job", "dj-1") == "https://gateway.example.com/seekr/data-jobs/dj-1"
    assert (
        _config("http://127.0.0.1:8080").console_link("file", "file-9")
        == "http://127.0.0.1:8080/files/file-9"
    )


def test_a_template_gets_the_kinds_page_and_the_quoted_id():
    config = _config(console_url="https://app.example.com/flow/{kind}/{id}?tab=overview")
    urls = {kind: config.console_link(kind, "x-1") for kind in CONSOLE_PAGES}
    assert urls == {
        kind: f"https://app.example.com/flow/{page}/x-1?tab=overview" for kind, page in CONSOLE_PAGES.items()
    }
    # An id is one path segment, whatever it holds.
    assert config.console_link("file", "a/b?c#d").startswith(
        "https://app.example.com/flow/files/a%2Fb%3Fc%23d?"
    )
    # Only {id} is required; the old Airflow 2 form's key is read too.
    legacy = build_client_config(
        host=None,
        port=None,
        password=API_KEY,
        extras={"extra__seekrflow__console_url": "https://x.test/j/{id}"},
    )
    assert legacy.console_link("deployment", "dep-1") == "https://x.test/j/dep-1"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("https://app.example.com/{kind}", "must hold the placeholder {id}"),
        (
            "https://app.example.com/{id}/{password}",
            "may only hold the placeholders {kind}, {id}, not {password}",
        ),
        ("https://app.example.com/{id.__class__}", "not {id.__class__}"),
        ("https://app.example.com/{id!r}", "not {id!r}"),
        ("https://app.example.com/{0}", "not {0}"),
        ("https://app.example.com/{id", "is not a URL template"),
        ("https://user:pw@app.example.com/{id}", "must not carry credentials"),
        ("ftp://app.example.com/{id}", "must be an absolute http or https URL"),
        ("/relative/{id}", "must be an absolute http or https URL"),
        ("https://app.example.com/ {id}", "without white space"),
    ],
)
def test_a_bad_template_is_refused_naming_the_connection_and_the_extra(template, message):
    with pytest.raises(SeekrFlowConfigError) as raised:
        connection_config(
            "seekrflow_links",
            host=None,
            port=None,
            password=API_KEY,
            extras={"console_url": template},
            timeout=None,
            max_retries=None,
        )
    text = str(raised.value)
    assert text.startswith("SeekrFlow connection 'seekrflow_links': extra 'console_url' "), text
    assert message in text
    assert "pw@" not in text and API_KEY not in text


@pytest.mark.parametrize("link", links.ALL_LINKS)
def test_persist_stores_kind_id_and_url_only(link):
    ti = _TaskInstance()
    config = _config(console_url="https://app.example.com/{kind}/{id}", team_id="team-7")
    logged: list[str] = []
    task = SimpleNamespace(
        hook=SimpleNamespace(config=config),
        log=SimpleNamespace(info=lambda msg, *args: logged.append(msg % args)),
    )
    url = link.persist({"ti": ti}, task, "obj-1")
    link.persist({"ti": ti}, task, "obj-1")  # a sensor persists at every poke
    assert url == f"https://app.example.com/{CONSOLE_PAGES[link.kind]}/obj-1"
    assert ti.pushed == {link.xcom_key_of(): {"kind": link.kind, "id": "obj-1", "url": url}}
    stored = json.dumps(ti.pushed)
    assert API_KEY not in stored and "team-7" not in stored
    assert logged == [f"{link.name} obj-1 in SeekrFlow's web app: {url}"]


def test_get_link_reads_the_persisted_url(monkeypatch):
    stored: dict[tuple[str, str], Any] = {
        ("ti-1", links.SeekrFlowFineTuneLink.xcom_key_of()): {
            "kind": "fine_tune",
            "id": "ft-1",
            "url": "https://u/ft-1",
        },
        ("ti-2", links.SeekrFlowFineTuneLink.xcom_key_of()): "not a link",
    }

    def get_value(*, ti_key: Any, key: str) -> Any:
        return stored.get((ti_key, key))

    monkeypatch.setattr(links, "XCom", SimpleNamespace(get_value=get_value))
    link = links.SeekrFlowFineTuneLink()
    assert link.get_link(None, ti_key="ti-1") == "https://u/ft-1"
    assert link.get_link(None, ti_key="ti-2") == ""  # no button rather than a broken one
    assert link.get_link(None, ti_key="ti-3") == ""  # before the job exists


def test_every_link_is_registered_and_named_apart():
    registered = get_provider_info()["extra-links"]
    assert registered == [f"airflow_provider_seekrflow.links.{link.__name__}" for link in links.ALL_LINKS]
    assert {link.kind for link in links.ALL_LINKS} == set(CONSOLE_PAGES)
    names = [link.name for link in links.ALL_LINKS]
    assert len(set(names)) == len(names) and all(name.startswith("SeekrFlow ") for name in names)
    keys = {link.xcom_key_of() for link in links.ALL_LINKS}
    assert len(keys) == len(links.ALL_LINKS)


def test_every_operator_and_sensor_with_an_object_carries_its_link():
    from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
    from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
    from airflow_provider_seekrflow.operators.deployment import (
        SeekrFlowDemoteDeploymentOperator,
        SeekrFlowDeployModelOperator,
        SeekrFlowPromoteDeploymentOperator,
    )
    from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
    from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
    from airflow_provider_seekrflow.operators.vector_database import (
        SeekrFlowCreateVectorDatabaseOperator,
        SeekrFlowVectorDatabaseIngestionOperator,
    )
    from airflow_provider_seekrflow.sensors.alignment import SeekrFlowAlignmentJobSensor
    from airflow_provider_seekrflow.sensors.data_job import SeekrFlowDataJobSensor
    from airflow_provider_seekrflow.sensors.deployment import SeekrFlowDeploymentSensor
    from airflow_provider_seekrflow.sensors.fine_tune import SeekrFlowFineTuneSensor
    from airflow_provider_seekrflow.sensors.vector_database import SeekrFlowVectorDatabaseIngestionSensor

    expected = {
        SeekrFlowUploadFileOperator: links.SeekrFlowFileLink,
        SeekrFlowDataJobOperator: links.SeekrFlowDataJobLink,
        SeekrFlowDataJobSensor: links.SeekrFlowDataJobLink,
        SeekrFlowGenerateAlignmentOperator: links.SeekrFlowAlignmentJobLink,
        SeekrFlowAlignmentJobSensor: links.SeekrFlowAlignmentJobLink,
        SeekrFlowFineTuneOperator: links.SeekrFlowFineTuneLink,
        SeekrFlowFineTuneSensor: links.SeekrFlowFineTuneLink,
        SeekrFlowDeployModelOperator: links.SeekrFlowDeploymentLink,
        SeekrFlowPromoteDeploymentOperator: links.SeekrFlowDeploymentLink,
        SeekrFlowDemoteDeploymentOperator: links.SeekrFlowDeploymentLink,
        SeekrFlowDeploymentSensor: links.SeekrFlowDeploymentLink,
        SeekrFlowCreateVectorDatabaseOperator: links.SeekrFlowVectorDatabaseLink,
        SeekrFlowVectorDatabaseIngestionOperator: links.SeekrFlowVectorDatabaseLink,
        SeekrFlowVectorDatabaseIngestionSensor: links.SeekrFlowVectorDatabaseLink,
    }
    for task_class, link in expected.items():
        assert [type(each) for each in task_class.operator_extra_links] == [link], task_class.__name__
