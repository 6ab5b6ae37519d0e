"""Issue 20, item 1: the emulator's faults for lost answers, slow bodies and redirects, over real HTTP.

- ``<status>_after`` (500/502/503/504): the service acts exactly once, and the client gets only
  the status, with the body the plain (did-nothing) kind sends.
- ``trickle``: the headers at once, the body a byte at a time; other requests are served
  meanwhile, and a client that leaves does not hold the emulator.
- ``redirect``: the 3xx and its ``Location``, the handler not run.
- every kind: ``rate`` and ``count``, the journal, readable refusals of bad rules.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from airflow_provider_seekrflow.emulator.faults import STATUS_DETAIL, FaultRule, parse_fault_spec
from tests.conftest import own_emulator, reset_around

TRAINING_JSONL = (
    b'{"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}\n'
)


# An emulator of this module's own, so counting objects sees only what these tests made.
private_emulator = own_emulator("private_emulator")


@pytest.fixture
def emu(private_emulator: SeekrFlowEmulator) -> Iterator[SeekrFlowEmulator]:
    yield from reset_around(private_emulator, wipe=True)


def call(emu: SeekrFlowEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method,
        f"{emu.base_url}{path}",
        headers={"Authorization": emu.api_key},
        timeout=30,
        allow_redirects=False,
        **kwargs,
    )


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def listed(emu: SeekrFlowEmulator, path: str) -> list[dict[str, Any]]:
    answer = call(emu, "GET", path)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def upload(
    emu: SeekrFlowEmulator, name: str, content: bytes, purpose: str = "alignment"
) -> requests.Response:
    return call(emu, "PUT", "/v1/flow/files", files={"files": (name, content)}, data={"purpose": purpose})


def file_id(emu: SeekrFlowEmulator, name: str, content: bytes = b"# Doc\n\nText.\n", **kw: Any) -> str:
    answer = upload(emu, name, content, **kw)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def data_job(emu: SeekrFlowEmulator) -> str:
    answer = call(
        emu, "POST", "/v1/flow/data-jobs", json={"name": unique("dj"), "job_type": "principle_files"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


# Per route: (send the request with a fresh unique mark, count the objects carrying that mark).
Scenario = tuple[
    Callable[[SeekrFlowEmulator, str], requests.Response], Callable[[SeekrFlowEmulator, str], int]
]


def _upload(emu: SeekrFlowEmulator, mark: str) -> requests.Response:
    return upload(emu, f"{mark}.md", b"# Lost\n\nanswer\n")


def _files(emu: SeekrFlowEmulator, mark: str) -> int:
    return sum(f["filename"] == f"{mark}.md" for f in listed(emu, "/v1/flow/files"))


def _project(emu: SeekrFlowEmulator, mark: str) -> requests.Response:
    return call(emu, "POST", "/v1/flow/projects", json={"name": mark, "description": "lost answer"})


def _projects(emu: SeekrFlowEmulator, mark: str) -> int:
    return sum(p["name"] == mark for p in listed(emu, "/v1/flow/projects"))


def _submit(emu: SeekrFlowEmulator, mark: str) -> requests.Response:
    return call(emu, "POST", "/v1/flow/data-jobs", json={"name": mark, "job_type": "principle_files"})


def _data_jobs(emu: SeekrFlowEmulator, mark: str) -> int:
    return sum(j["name"] == mark for j in listed(emu, "/v1/flow/data-jobs?limit=100"))


def _generate(emu: SeekrFlowEmulator, mark: str) -> requests.Response:
    return call(
        emu,
        "POST",
        "/v1/flow/alignment/generate",
        json={"instructions": mark, "files": [file_id(emu, "g.md")]},
    )


def _alignment_jobs(emu: SeekrFlowEmulator, mark: str) -> int:
    return sum(j.get("instructions") == mark for j in listed(emu, "/v1/flow/alignment"))


def _fine_tune(emu: SeekrFlowEmulator, mark: str) -> requests.Response:
    project = call(emu, "POST", "/v1/flow/projects", json={"name": mark, "description": "fine-tune"}).json()[
        "id"
    ]
    training = file_id(emu, f"{mark}.jsonl", TRAINING_JSONL, purpose="fine-tune")
    body = {
        "project_id": project,
        "training_config": {"training_files": [training], "model": "meta-llama/Llama-3.1-8B", "n_epochs": 1},
        "infrastructure_config": {"accel_type": "H100", "n_accel": 1},
    }
    return call(emu, "POST", "/v1/flow/fine-tune", json=body)


def _fine_tunes(emu: SeekrFlowEmulator, mark: str) -> int:
    projects = [p["id"] for p in listed(emu, "/v1/flow/projects") if p["name"] == mark]
    return sum(f.get("project_id") in projects for f in listed(emu, "/v1/flow/fine-tunes"))


def _add_files(emu: SeekrFlowEmulator, mark: str) -> requests.Response:
    job = _submit(emu, mark).json()["id"]
    return call(
        emu, "POST", f"/v1/flow/data-jobs/{job}/add-files", json={"file_ids": [file_id(emu, f"{mark}.md")]}
    )


def _attached(emu: SeekrFlowEmulator, mark: str) -> int:
    (job,) = [j["id"] for j in listed(emu, "/v1/flow/data-jobs?limit=100") if j["name"] == mark]
    detail = call(emu, "GET", f"/v1/flow/data-jobs/{job}").json()
    return sum(f["name"] == f"{mark}.md" for f in detail["files"])


SCENARIOS: dict[str, Scenario] = {
    "upload_file": (_upload, _files),
    "create_project": (_project, _projects),
    "submit_data_job": (_submit, _data_jobs),
    "alignment_generate": (_generate, _alignment_jobs),
    "create_fine_tune": (_fine_tune, _fine_tunes),
    "add_files_to_data_job": (_add_files, _attached),
}


# --------------------------------------------------------------------------------- <status>_after


@pytest.mark.parametrize("route", list(SCENARIOS))
@pytest.mark.parametrize("status", [502, 504])
def test_after_fault_acts_once_then_answers_the_status(emu, route, status):
    send, count = SCENARIOS[route]
    mark = unique(route)
    emu.set_faults([{"route": route, "kind": f"{status}_after", "count": 1}])
    answer = send(emu, mark)
    assert answer.status_code == status, answer.text
    assert answer.json() == {"detail": STATUS_DETAIL[status]}
    assert count(emu, mark) == 1  # the service acted, once
    hits = emu.journal(route=route)
    assert [(e["fault"], e["status"]) for e in hits] == [(f"{status}_after", status)]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_every_after_status_stores_the_file_while_the_plain_status_stores_nothing(emu, status):
    plain, after = unique("plain"), unique("after")
    emu.set_faults([f"upload_file:{status}:count=1"])
    refused = _upload(emu, plain)
    emu.set_faults([f"upload_file:{status}_after:count=1"])
    lost = _upload(emu, after)
    assert (refused.status_code, lost.status_code) == (status, status)
    assert refused.json() == lost.json() == {"detail": STATUS_DETAIL[status]}  # one body shape
    assert (_files(emu, plain), _files(emu, after)) == (0, 1)


def test_plain_504_is_a_kind_of_its_own(emu):
    emu.set_faults(["get_alignment_job:504:count=1"])
    answer = call(emu, "GET", "/v1/flow/alignment/al-nothing")
    assert answer.status_code == 504 and answer.json()["detail"] == STATUS_DETAIL[504]


# ----------------------------------------------------------------------------------------- trickle


def _read_response(sock: socket.socket) -> tuple[float, list[tuple[float, bytes]]]:
    """Read one HTTP response; return when its headers ended and each later chunk's arrival time."""
    start = time.monotonic()
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    headers_at = time.monotonic() - start
    head, rest = buffer.split(b"\r\n\r\n", 1)
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    chunks = [(headers_at, rest)] if rest else []
    received = len(rest)
    while received < length:
        data = sock.recv(65536)
        assert data, "the emulator closed the connection before the whole body"
        chunks.append((time.monotonic() - start, data))
        received += len(data)
    return headers_at, chunks


def _raw_get(emu: SeekrFlowEmulator, path: str) -> socket.socket:
    host, port = emu.base_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {emu.api_key}\r\n\r\n".encode())
    return sock


def test_trickle_sends_the_headers_at_once_and_the_body_a_byte_at_a_time(emu):
    content = b"0123456789ABCDEF"  # 16 bytes: 15 pauses of 0.1 s
    fid = file_id(emu, "slow.txt", content)
    emu.set_faults(["get_file_content:trickle:delay=0.1:count=1"])
    others: list[float] = []

    def meanwhile() -> None:
        time.sleep(0.3)
        for _ in range(3):
            began = time.monotonic()
            assert call(emu, "GET", f"/v1/flow/files/{fid}").status_code == 200
            others.append(time.monotonic() - began)

    helper = threading.Thread(target=meanwhile)
    helper.start()
    with _raw_get(emu, f"/v1/flow/files/{fid}/content") as sock:
        headers_at, chunks = _read_response(sock)
    helper.join()
    body = b"".join(data for _, data in chunks)
    assert body == content
    assert headers_at < 0.5
    assert chunks[-1][0] - headers_at >= 15 * 0.1 * 0.9  # spread over the pauses, not sent at once
    assert len(chunks) >= 8  # arrived in many small pieces
    assert len(others) == 3 and max(others) < 1.0  # served while the trickle went on
    (entry,) = emu.journal(route="get_file_content")
    assert (entry["fault"], entry["status"]) == ("trickle", 200)


def test_a_client_that_leaves_a_trickle_does_not_hold_the_emulator(emu):
    # A JSON answer, sent in one piece: unlike a streamed file, nothing in the web framework
    # watches for the client leaving, so only the fault itself can stop its pauses.
    fid = file_id(emu, "long.txt")
    emu.set_faults(["get_file:trickle:delay=1"])  # a few hundred bytes at 1 s each: minutes, if not cut
    with _raw_get(emu, f"/v1/flow/files/{fid}") as sock:
        assert b"200" in sock.recv(1024).split(b"\r\n")[0]
    tasks = emu._server.server_state.tasks  # the requests uvicorn is running
    deadline = time.monotonic() + 5
    while tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tasks, "the trickle kept running for a client that had left"
    emu.clear_faults()
    assert call(emu, "GET", f"/v1/flow/files/{fid}").json()["id"] == fid


@pytest.mark.parametrize("status", [None, 301, 302, 303, 307, 308])
def test_redirect_answers_the_3xx_with_its_location_and_does_not_run_the_handler(emu, status):
    target = "http://127.0.0.1:9/elsewhere/v1/flow/files?x=1"
    rule: dict[str, Any] = {"route": "upload_file", "kind": "redirect", "location": target, "count": 1}
    if status is not None:
        rule["status"] = status
    emu.set_faults([rule])
    mark = unique("moved")
    answer = _upload(emu, mark)
    assert answer.status_code == (status or 307)
    assert answer.headers["Location"] == target
    assert _files(emu, mark) == 0
    (entry,) = emu.journal(route="upload_file")
    assert (entry["fault"], entry["status"]) == ("redirect", status or 307)


def test_the_cli_form_of_redirect_keeps_the_colons_of_its_url():
    rule = parse_fault_spec("list_files:redirect:0.5:status=302:location=http://127.0.0.1:9/a?b=c")
    assert (rule.kind, rule.rate, rule.status, rule.location) == (
        "redirect",
        0.5,
        302,
        "http://127.0.0.1:9/a?b=c",
    )


# ------------------------------------------------------------------------------------ rate, count


@pytest.mark.parametrize(
    "rule",
    [{"kind": "502_after"}, {"kind": "trickle", "delay": 0}, {"kind": "redirect", "location": "http://x/"}],
    ids=["after", "trickle", "redirect"],
)
def test_new_kinds_honour_count_and_rate(emu, rule):
    emu.set_faults([{"route": "get_file", **rule, "count": 2}])
    fid = file_id(emu, "counted.md")
    statuses = [call(emu, "GET", f"/v1/flow/files/{fid}").status_code for _ in range(3)]
    faults = [e["fault"] for e in emu.journal(route="get_file")]
    assert faults == [rule["kind"], rule["kind"], None]
    assert statuses[2] == 200 and (rule["kind"] == "trickle") == (statuses[0] == 200)
    emu.clear_journal()
    emu.set_faults([{"route": "get_file", **rule, "rate": 0.0}])
    assert [call(emu, "GET", f"/v1/flow/files/{fid}").status_code for _ in range(3)] == [200] * 3
    assert [e["fault"] for e in emu.journal(route="get_file")] == [None] * 3


# ---------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"route": "list_files", "kind": "redirect"}, "needs a location"),
        (
            {"route": "list_files", "kind": "redirect", "location": "http://x/", "status": 304},
            "301, 302, 303, 307, 308",
        ),
        ({"route": "list_files", "kind": "redirect", "location": "http://x/\r\nX-Evil: 1"}, "line breaks"),
        ({"route": "list_files", "kind": "502_after", "location": "http://x/"}, "only to the redirect kind"),
        ({"route": "list_files", "kind": "501_after"}, "unknown fault kind"),
        ({"route": "list_files", "kind": "trickle", "delay": -1}, "not negative"),
    ],
)
def test_bad_rules_are_refused_with_a_readable_reason(emu, rule, message):
    with pytest.raises(ValueError, match=message):
        FaultRule.from_dict(rule)
    with pytest.raises(RuntimeError, match="422") as caught:
        emu.set_faults([rule])
    assert message in str(caught.value)
    assert emu.faults_active() == []


def test_rules_read_back_with_their_new_fields(emu):
    rules = emu.set_faults(
        ["*:504_after:0.1", "get_data_job:trickle:delay=2", "list_files:redirect:location=/x"]
    )
    assert [(r["kind"], r["rate"], r["delay"], r["status"], r["location"]) for r in rules] == [
        ("504_after", 0.1, None, None, None),
        ("trickle", 1.0, 2.0, None, None),
        ("redirect", 1.0, None, 307, "/x"),
    ]
