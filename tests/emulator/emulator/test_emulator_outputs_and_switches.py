"""The emulator's parquet training pairs and its two server-version switches, over real HTTP.

- A completed alignment job's ``fine-tune`` output is a parquet file (one row per conversation,
  a ``messages`` column of role/content structs), as the service writes it.
- ``legacy_job_shape`` shows job percentages as strings and an unknown status while queued.
- ``deprecation_headers`` adds ``Deprecation``/``Sunset``/``Link`` to every generate answer.
- The CLI flags and the ``SeekrFlowEmulator`` keywords set both switches at start-up.
"""

from __future__ import annotations

import calendar
import io
import re
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator, pairs
from airflow_provider_seekrflow.emulator.__main__ import parse_args
from airflow_provider_seekrflow.emulator.app import GENERATE_DEPRECATION, GENERATE_LINK, GENERATE_SUNSET
from airflow_provider_seekrflow.emulator.jobs import (
    ACTIVE_STATUSES,
    LEGACY_EXTRA_STATUS,
    QUEUED_END,
    TERMINAL_STATUSES,
)

SYSTEM_PROMPT = "You answer questions about the store's returns policy."
RETURNS_DOC = (
    "# Returns\n\n"
    "Customers may return unworn shoes within thirty days of purchase.\n\n"
    "Refunds are paid to the original card within five business days.\n"
)
RETURNS_SENTENCES = [
    "Customers may return unworn shoes within thirty days of purchase.",
    "Refunds are paid to the original card within five business days.",
]
DEPRECATION_HEADERS = ("Deprecation", "Sunset", "Link")
PERCENT = re.compile(r"^\d+(\.\d+)?%$")


@pytest.fixture
def emu(fresh_emulator_state):
    fresh_emulator_state.configure(job_duration=1.0)
    return fresh_emulator_state


def auth(emu) -> dict[str, str]:
    return {"Authorization": emu.api_key}


def upload(emu, filename: str, content: bytes, purpose: str = "alignment") -> requests.Response:
    return requests.put(
        f"{emu.base_url}/v1/flow/files",
        files={"files": (filename, content)},
        data={"purpose": purpose},
        headers=auth(emu),
        timeout=30,
    )


def uploaded(emu, filename: str, content: bytes) -> str:
    response = upload(emu, filename, content)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def generate(emu, files: list[str], **body) -> requests.Response:
    return requests.post(
        f"{emu.base_url}/v1/flow/alignment/generate",
        json={"instructions": "Teach the returns policy.", "files": files, **body},
        headers=auth(emu),
        timeout=30,
    )


def get_job(emu, job_id: str) -> dict:
    response = requests.get(f"{emu.base_url}/v1/flow/alignment/{job_id}", headers=auth(emu), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_until_done(emu, job_id: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(emu, job_id)
        if job["status"] in TERMINAL_STATUSES or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def completed_job(emu, content: bytes = RETURNS_DOC.encode(), filename: str = "returns.md") -> dict:
    file_id = uploaded(emu, filename, content)
    response = generate(emu, [file_id], system_prompt=SYSTEM_PROMPT)
    assert response.status_code == 200, response.text
    job = wait_until_done(emu, response.json()["id"])
    assert job["status"] == "completed", job
    return job


def fine_tune_output(emu, job_id: str) -> dict:
    response = requests.get(
        f"{emu.base_url}/v1/flow/alignment/{job_id}/outputs", headers=auth(emu), timeout=30
    )
    assert response.status_code == 200, response.text
    fine_tune = [o for o in response.json() if o["purpose"] == "fine-tune"]
    assert len(fine_tune) == 1, response.json()
    return fine_tune[0]


def download(emu, file_id: str) -> bytes:
    response = requests.get(f"{emu.base_url}/v1/flow/files/{file_id}/content", headers=auth(emu), timeout=30)
    assert response.status_code == 200, response.text
    return response.content


# ------------------------------------------------------------------------------ parquet outputs


def test_fine_tune_output_is_a_parquet_file_of_conversations(emu):
    job = completed_job(emu)
    output = fine_tune_output(emu, job["id"])

    assert output["file_type"] == "parquet"
    assert output["filename"] == f"{job['id']}-training-pairs.parquet"
    assert {o["purpose"]: o["file_type"] for o in job["output_files"]} == {
        "fine-tune": "parquet",
        "alignment": "md",
    }
    data = download(emu, output["id"])
    assert len(data) == output["bytes"]
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == ["messages"]
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    assert table.schema.field("messages").type.equals(pa.list_(message))

    rows = table.to_pylist()
    assert len(rows) == len(RETURNS_SENTENCES)
    for row, sentence in zip(rows, RETURNS_SENTENCES, strict=True):
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["system", "user", "assistant"]
        system, question, answer = (m["content"] for m in row["messages"])
        assert system == SYSTEM_PROMPT
        assert question.startswith("What does returns.md say about")
        assert answer == sentence


def test_parquet_output_metadata_says_parquet_and_it_can_be_uploaded_again_for_fine_tune(emu):
    output = fine_tune_output(emu, completed_job(emu)["id"])
    meta = requests.get(f"{emu.base_url}/v1/flow/files/{output['id']}", headers=auth(emu), timeout=30).json()
    assert (meta["type"], meta["purpose"], meta["filename"]) == ("parquet", "fine-tune", output["filename"])

    again = upload(emu, "pairs.parquet", download(emu, output["id"]), purpose="fine-tune")
    assert again.status_code == 200, again.text
    assert (again.json()["type"], again.json()["purpose"]) == ("parquet", "fine-tune")


def test_large_output_spans_several_row_groups(emu):
    count = 2 * pairs.ROW_GROUP_SIZE + 50
    document = "".join(f"Parcel number {i} ships from the northern warehouse.\n\n" for i in range(count))
    output = fine_tune_output(emu, completed_job(emu, document.encode(), "parcels.txt")["id"])
    parquet = pq.ParquetFile(io.BytesIO(download(emu, output["id"])))

    assert parquet.metadata.num_rows == count
    assert parquet.num_row_groups == 3
    answers = [
        conversation["messages"][2]["content"]
        for batch in parquet.iter_batches(batch_size=64)
        for conversation in batch.to_pylist()
    ]
    assert answers == [f"Parcel number {i} ships from the northern warehouse." for i in range(count)]


def test_to_parquet_without_pyarrow_names_the_emulator_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    conversation = {"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hi."}]}
    with pytest.raises(RuntimeError, match=r"pyarrow.*airflow-provider-seekrflow\[emulator\]"):
        pairs.to_parquet([conversation])


def test_emulator_imports_without_pyarrow():
    code = (
        "import sys; sys.modules['pyarrow'] = None; "
        "import airflow_provider_seekrflow.emulator.app, airflow_provider_seekrflow.emulator.jobs"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_to_parquet_refuses_a_conversation_with_an_unknown_role():
    bad = {"messages": [{"role": "bot", "content": "Hello."}]}
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        pairs.to_parquet([bad])


# ------------------------------------------------------------------------------ legacy job shape


def views_through_queued_phase(emu, duration: float) -> tuple[str, list[dict]]:
    """Start a job: its id, and every view of it from the answer until just past its queued phase."""
    file_id = uploaded(emu, "returns.md", RETURNS_DOC.encode())
    started = time.monotonic()
    answer = generate(emu, [file_id])
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["id"]
    seen = [answer.json()]
    while time.monotonic() - started < QUEUED_END * duration + 0.2:  # polled fast
        seen.append(get_job(emu, job_id))
        time.sleep(0.02)
    return job_id, seen


def test_legacy_shape_shows_string_percentages_and_an_unknown_status_while_queued(emu):
    duration = 10.0
    emu.configure(job_duration=duration, legacy_job_shape=True)
    job_id, seen = views_through_queued_phase(emu, duration)
    listed = requests.get(f"{emu.base_url}/v1/flow/alignment", headers=auth(emu), timeout=30).json()["data"]
    seen += [job for job in listed if job["id"] == job_id]
    cancelled = requests.post(
        f"{emu.base_url}/v1/flow/alignment/{job_id}/cancel", headers=auth(emu), timeout=30
    ).json()

    statuses = {job["status"] for job in seen}
    assert LEGACY_EXTRA_STATUS in statuses
    assert LEGACY_EXTRA_STATUS not in ACTIVE_STATUSES + TERMINAL_STATUSES
    assert "queued" not in statuses
    assert cancelled["status"] == "cancelled"  # terminal statuses stay as they are
    for job in [*seen, cancelled]:
        for key in ("progress", "step_progress"):
            assert isinstance(job[key], str) and PERCENT.match(job[key]), (key, job[key])
            assert 0.0 <= float(job[key][:-1]) <= 100.0


def test_legacy_shape_is_applied_when_shown_so_switching_it_takes_effect_at_once(emu):
    emu.configure(legacy_job_shape=True)
    job = completed_job(emu)
    assert (job["status"], job["progress"], job["step_progress"]) == ("completed", "100%", "100%")

    emu.configure(legacy_job_shape=False)
    again = get_job(emu, job["id"])
    assert (again["status"], again["progress"], again["step_progress"]) == ("completed", 100.0, 100.0)


def test_default_shape_has_numeric_percentages_and_a_queued_status(emu):
    duration = 10.0
    emu.configure(job_duration=duration)
    assert emu.config()["legacy_job_shape"] is False
    job_id, seen = views_through_queued_phase(emu, duration)
    requests.post(f"{emu.base_url}/v1/flow/alignment/{job_id}/cancel", headers=auth(emu), timeout=30)

    assert "queued" in {job["status"] for job in seen}
    assert {job["status"] for job in seen} <= set(ACTIVE_STATUSES)
    for job in seen:
        for key in ("progress", "step_progress"):
            assert isinstance(job[key], (int, float)) and not isinstance(job[key], bool), (key, job[key])


def test_switches_refuse_values_that_are_not_booleans(emu):
    for key in ("legacy_job_shape", "deprecation_headers"):
        with pytest.raises(RuntimeError, match="must be true or false"):
            emu.configure(**{key: "yes"})
    assert emu.config()["legacy_job_shape"] is False and emu.config()["deprecation_headers"] is False


# --------------------------------------------------------------------------- deprecation headers


def test_deprecation_header_values_are_the_documented_dates():
    assert f"@{calendar.timegm((2026, 1, 1, 0, 0, 0))}" == GENERATE_DEPRECATION
    sunset = parsedate_to_datetime(GENERATE_SUNSET)
    assert (sunset.year, sunset.month, sunset.day, sunset.hour, sunset.minute) == (2027, 6, 30, 23, 59)
    assert sunset.timestamp() > int(GENERATE_DEPRECATION[1:])
    assert 'rel="successor-version"' in GENERATE_LINK and 'rel="deprecation"' in GENERATE_LINK


def test_generate_answers_carry_deprecation_headers_when_switched_on(emu):
    emu.configure(deprecation_headers=True)
    file_id = uploaded(emu, "returns.md", RETURNS_DOC.encode())
    answers = {
        "success": generate(emu, [file_id]),
        "blank instructions": generate(emu, [file_id], instructions="  "),
        "unknown file": generate(emu, ["file-missing"]),
        "no body": requests.post(f"{emu.base_url}/v1/flow/alignment/generate", headers=auth(emu), timeout=30),
        "wrong key": requests.post(
            f"{emu.base_url}/v1/flow/alignment/generate",
            json={"instructions": "x", "files": [file_id]},
            headers={"Authorization": "not-the-key"},
            timeout=30,
        ),
    }
    assert {name: r.status_code for name, r in answers.items()} == {
        "success": 200,
        "blank instructions": 422,
        "unknown file": 422,
        "no body": 422,
        "wrong key": 401,
    }
    expected = {"Deprecation": GENERATE_DEPRECATION, "Sunset": GENERATE_SUNSET, "Link": GENERATE_LINK}
    for name, response in answers.items():
        assert {h: response.headers.get(h) for h in DEPRECATION_HEADERS} == expected, name

    other = requests.get(f"{emu.base_url}/v1/flow/alignment", headers=auth(emu), timeout=30)
    assert other.status_code == 200
    assert not set(DEPRECATION_HEADERS) & set(other.headers)


def test_generate_answers_carry_no_deprecation_headers_by_default(emu):
    assert emu.config()["deprecation_headers"] is False
    file_id = uploaded(emu, "returns.md", RETURNS_DOC.encode())
    for response in (generate(emu, [file_id]), generate(emu, [file_id], instructions="")):
        assert response.status_code in (200, 422)
        assert not set(DEPRECATION_HEADERS) & set(response.headers), response.headers


# ----------------------------------------------------------------------------- start-up options


def test_cli_flags_parse():
    defaults = parse_args([])
    assert (defaults.legacy_job_shape, defaults.deprecation_headers) == (False, False)
    both = parse_args(["--legacy-job-shape", "--deprecation-headers", "--job-duration", "2"])
    assert (both.legacy_job_shape, both.deprecation_headers, both.job_duration) == (True, True, 2.0)


def test_start_up_keywords_set_the_switches_and_a_reset_keeps_them(tmp_path, in_subprocess):
    with SeekrFlowEmulator(
        api_key="start-up-key",
        data_dir=str(tmp_path),
        job_duration=1.0,
        subprocess=in_subprocess,
        legacy_job_shape=True,
        deprecation_headers=True,
    ) as emu:
        assert emu.config()["legacy_job_shape"] is True
        emu.configure(legacy_job_shape=False, deprecation_headers=False)
        emu.reset()
        config = emu.config()
        assert (config["legacy_job_shape"], config["deprecation_headers"]) == (True, True)
        file_id = uploaded(emu, "returns.md", RETURNS_DOC.encode())
        answer = generate(emu, [file_id])
        assert answer.headers.get("Deprecation") == GENERATE_DEPRECATION
        assert isinstance(answer.json()["progress"], str)
