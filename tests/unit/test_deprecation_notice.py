"""Deprecation and Sunset headers become one warning per endpoint and process."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_seekrflow.client import alignment, deprecation, files
from airflow_provider_seekrflow.client.deprecation import deprecation_notice, warn_if_deprecated

HEADERS = {
    "deprecation": "@1767225600",
    "sunset": "Wed, 30 Jun 2027 23:59:59 GMT",
    "link": '<https://docs.example/data-jobs>; rel="successor-version", '
    '<https://docs.example/deprecations>; rel="deprecation"',
}


@pytest.fixture(autouse=True)
def fresh_process_memory(monkeypatch):
    monkeypatch.setattr(deprecation, "_warned", set())


def test_notice_names_endpoint_dates_and_replacement():
    notice = deprecation_notice(alignment.GENERATE_ALIGNMENT, HEADERS)
    assert notice == (
        "SeekrFlow marks POST /v1/flow/alignment/generate as deprecated since 2026-01-01; it stops "
        "working on 2027-06-30 (Sunset); the service names https://docs.example/data-jobs as its "
        "replacement; details: https://docs.example/deprecations"
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"deprecation": "true"}, "SeekrFlow marks POST /v1/flow/alignment/generate as deprecated"),
        (
            {"deprecation": "Thu, 01 Jan 2026 00:00:00 GMT"},
            "SeekrFlow marks POST /v1/flow/alignment/generate as deprecated since 2026-01-01",
        ),
        (
            {"sunset": "Wed, 30 Jun 2027 23:59:59 GMT"},
            "SeekrFlow marks POST /v1/flow/alignment/generate as deprecated; it stops working on 2027-06-30 (Sunset)",
        ),
        ({"deprecation": "@not-a-number", "link": "<https://x>; rel=alternate"}, None),
    ],
)
def test_notice_copes_with_partial_or_older_headers(headers, expected):
    notice = deprecation_notice(alignment.GENERATE_ALIGNMENT, headers)
    if expected is None:
        assert notice == (
            "SeekrFlow marks POST /v1/flow/alignment/generate as deprecated; the service names https://x as its replacement"
        )
    else:
        assert notice == expected


def test_no_headers_no_notice():
    assert deprecation_notice(alignment.GENERATE_ALIGNMENT, {"content-type": "application/json"}) is None


def test_one_warning_per_endpoint(caplog):
    log = logging.getLogger("test.deprecation")
    with caplog.at_level(logging.WARNING, logger="test.deprecation"):
        for _ in range(3):
            warn_if_deprecated(alignment.GENERATE_ALIGNMENT, HEADERS, log)
            warn_if_deprecated(alignment.GET_ALIGNMENT_JOB, HEADERS, log)
            warn_if_deprecated(files.LIST_FILES, {}, log)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("SeekrFlow marks POST /v1/flow/alignment/generate")
    assert messages[1].startswith("SeekrFlow marks GET /v1/flow/alignment/{job_id}")
