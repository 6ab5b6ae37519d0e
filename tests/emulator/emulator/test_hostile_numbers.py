"""Issue 20, item 1: the ``hostile_numbers`` config writes NaN, Infinity and huge numbers into answers.

The raw JSON text must hold the bare literals (``NaN``, not ``"NaN"``), as a non-conforming server
writes them, in every answer carrying the field: alignment jobs, a data job's ``alignment_job``,
file metadata and job outputs. Bad values are refused; a reset turns it off.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from airflow_provider_seekrflow.emulator.hostile_numbers import rewrite_numbers
from tests.conftest import own_emulator, reset_around

HUGE = 10**400


private_emulator = own_emulator("private_emulator")


@pytest.fixture
def emu(private_emulator: SeekrFlowEmulator) -> Iterator[SeekrFlowEmulator]:
    for emu in reset_around(private_emulator):
        emu.configure(job_duration=1.0)
        yield emu


def call(emu: SeekrFlowEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    answer = requests.request(
        method, f"{emu.base_url}{path}", headers={"Authorization": emu.api_key}, timeout=30, **kwargs
    )
    assert answer.status_code == 200, answer.text
    return answer


def upload(emu: SeekrFlowEmulator) -> str:
    answer = call(
        emu,
        "PUT",
        "/v1/flow/files",
        files={"files": ("doc.md", b"# Doc\n\nA sentence.\n")},
        data={"purpose": "alignment"},
    )
    return json.loads(answer.text)["id"]


def generate(emu: SeekrFlowEmulator, fid: str) -> str:
    return json.loads(
        call(emu, "POST", "/v1/flow/alignment/generate", json={"instructions": "Teach.", "files": [fid]}).text
    )["id"]


def field(text: str, name: str) -> list[str]:
    """Return the raw JSON text of every value of ``name`` in ``text`` (numbers and literals)."""
    return re.findall(rf'"{name}":(-?[0-9A-Za-z.+-]+)', text)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e12", "1e400"])
def test_eta_minutes_of_an_alignment_job_is_the_raw_literal(emu, literal):
    job = generate(emu, upload(emu))
    emu.configure(hostile_numbers={"eta_minutes": literal})
    text = call(emu, "GET", f"/v1/flow/alignment/{job}").text
    assert field(text, "eta_minutes") == [literal]
    assert f'"{literal}"' not in text  # a bare literal, not a string
    listed = call(emu, "GET", "/v1/flow/alignment").text
    assert literal in field(listed, "eta_minutes")
    value = json.loads(text)["eta_minutes"]  # what a lenient parser (Python's, pydantic's) reads
    assert math.isnan(value) if literal == "NaN" else value == float(literal)


def test_bytes_of_files_and_outputs_and_the_eta_of_a_data_jobs_alignment_job(emu):
    fid = upload(emu)
    job = generate(emu, fid)
    emu.configure(hostile_numbers={"bytes": HUGE, "eta_minutes": float("inf")})
    assert field(call(emu, "GET", f"/v1/flow/files/{fid}").text, "bytes") == [str(HUGE)]
    assert str(HUGE) in field(call(emu, "GET", "/v1/flow/files").text, "bytes")
    assert json.loads(call(emu, "GET", f"/v1/flow/files/{fid}").text)["bytes"] == HUGE
    deadline = time.monotonic() + 15
    while json.loads(call(emu, "GET", f"/v1/flow/alignment/{job}").text)["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    outputs = call(emu, "GET", f"/v1/flow/alignment/{job}/outputs").text
    assert field(outputs, "bytes") and set(field(outputs, "bytes")) == {str(HUGE)}
    emu.configure(hostile_numbers={})
    assert field(call(emu, "GET", f"/v1/flow/files/{fid}").text, "bytes") != [str(HUGE)]


def test_eta_minutes_of_a_data_jobs_alignment_job(emu):
    body = {
        "name": "hostile dj",
        "job_type": "principle_files",
        "system_prompt": "You answer.",
        "instructions": "Teach.",
    }
    job = json.loads(call(emu, "POST", "/v1/flow/data-jobs", json=body).text)["id"]
    call(emu, "POST", f"/v1/flow/data-jobs/{job}/add-files", json={"file_ids": [upload(emu)]})
    deadline = time.monotonic() + 15
    while json.loads(call(emu, "GET", f"/v1/flow/data-jobs/{job}").text)["status"] != "ready_to_start":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    emu.configure(job_duration=600.0)  # the alignment stays running, with an ETA
    call(emu, "POST", f"/v1/flow/data-jobs/{job}/start")
    emu.configure(hostile_numbers={"eta_minutes": "NaN"})
    text = call(emu, "GET", f"/v1/flow/data-jobs/{job}").text
    assert json.loads(text)["alignment_job"] is not None
    assert field(text, "eta_minutes") == ["NaN"]


def test_the_rewrite_reaches_every_depth_and_leaves_other_fields_alone():
    body = {
        "eta_minutes": 3,
        "name": "eta_minutes",
        "alignment_job": {"eta_minutes": None, "bytes": "not a number"},
        "data": [{"bytes": 12}, {"bytes": True}],
    }
    text = rewrite_numbers(json.dumps(body).encode(), {"eta_minutes": "NaN", "bytes": "-Infinity"}).decode()
    assert field(text, "eta_minutes") == ["NaN", "NaN"]
    assert '"name":"eta_minutes"' in text and '"bytes":"not a number"' in text and '"bytes":true' in text
    assert '{"bytes":-Infinity}' in text
    assert rewrite_numbers(b"not json", {"bytes": "NaN"}) == b"not json"


def test_the_content_length_matches_the_rewritten_body(emu):
    fid = upload(emu)
    emu.configure(hostile_numbers={"bytes": HUGE})
    answer = call(emu, "GET", f"/v1/flow/files/{fid}")
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert str(HUGE).encode() in answer.content


@pytest.mark.parametrize(
    "value, message",
    [
        ({"eta_minutes": "soon"}, "NaN, Infinity, -Infinity or a JSON number"),
        ({"eta_minutes": True}, "must be a number"),
        ({"eta_minutes": "1" * 3000}, "at most 2000"),
        (["eta_minutes"], "must be an object"),
    ],
)
def test_bad_hostile_numbers_are_refused_and_change_nothing(emu, value, message):
    with pytest.raises(RuntimeError, match="422") as caught:
        emu.configure(hostile_numbers=value)
    assert message in str(caught.value)
    assert emu.config()["hostile_numbers"] == {}


def test_a_reset_turns_hostile_numbers_off(emu):
    fid = upload(emu)
    emu.configure(hostile_numbers={"bytes": "NaN"})
    assert field(call(emu, "GET", f"/v1/flow/files/{fid}").text, "bytes") == ["NaN"]
    emu.reset()
    assert emu.config()["hostile_numbers"] == {}
    assert field(call(emu, "GET", f"/v1/flow/files/{fid}").text, "bytes")[0].isdigit()
