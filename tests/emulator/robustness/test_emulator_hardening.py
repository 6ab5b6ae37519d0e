"""Issue 4, item 6, and issue 20, item 8: the emulator holds up against hostile clients and is safe to run.

It refuses bodies over its limit, file names with path traversal and requests without (or with a
wrong) API key, changing no state; and it survives a burst of 200 concurrent uploads and polls.
Its admin API needs the key too, compared in constant time; there is no default key, a child
emulator's key is not on its command line, a non-loopback address needs consent, and a stray
record in the data directory is skipped rather than stopping the start.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator, gateway
from airflow_provider_seekrflow.emulator.__main__ import build_parser
from airflow_provider_seekrflow.emulator.routes import _TABLE
from airflow_provider_seekrflow.emulator.server import API_KEY_ENV, check_host, is_loopback
from tests.emulator.robustness.conftest import CANARY_KEY

AUTH = {"Authorization": CANARY_KEY}


def multipart(
    content: bytes,
    *,
    filename: str | bytes | None = "doc.txt",
    purpose: str = "alignment",
    filename_field: str | bytes | None = None,
) -> tuple[bytes, str]:
    """A hand-built multipart body (so file names reach the server exactly as given)."""
    boundary = "sfboundary" + uuid.uuid4().hex
    enc = lambda v: v if isinstance(v, bytes) else v.encode("utf-8")  # noqa: E731
    parts = [
        b"--"
        + boundary.encode()
        + b'\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
        + purpose.encode()
        + b"\r\n"
    ]
    if filename_field is not None:
        parts.append(
            b"--"
            + boundary.encode()
            + b'\r\nContent-Disposition: form-data; name="filename"\r\n\r\n'
            + enc(filename_field)
            + b"\r\n"
        )
    disposition = b'form-data; name="files"' + (
        b'; filename="' + enc(filename) + b'"' if filename is not None else b""
    )
    parts.append(
        b"--"
        + boundary.encode()
        + b"\r\nContent-Disposition: "
        + disposition
        + b"\r\nContent-Type: application/octet-stream\r\n\r\n"
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
    return body, f"multipart/form-data; boundary={boundary}"


def put_file(emu, body: bytes, ctype: str, headers: dict | None = None, **kw) -> requests.Response:
    return requests.put(
        f"{emu.base_url}/v1/flow/files",
        data=body,
        headers={**AUTH, "Content-Type": ctype, **(headers or {})},
        timeout=30,
        **kw,
    )


def file_and_job(emu, content: bytes, filename: str) -> tuple[str, str]:
    """Upload ``content`` as ``filename`` and start an alignment job on it: (file id, job id)."""
    body, ctype = multipart(content, filename=filename)
    file_id = put_file(emu, body, ctype).json()["id"]
    job_id = requests.post(
        f"{emu.base_url}/v1/flow/alignment/generate",
        json={"instructions": "Teach.", "files": [file_id]},
        headers=AUTH,
        timeout=10,
    ).json()["id"]
    return file_id, job_id


def snapshot(emu) -> dict:
    """Everything a request could change: stored files, jobs (with status) and the data directory."""
    files = requests.get(f"{emu.base_url}/v1/flow/files", headers=AUTH, timeout=10).json()["data"]
    jobs = requests.get(f"{emu.base_url}/v1/flow/alignment", headers=AUTH, timeout=10).json()["data"]
    tree = sorted(str(p.relative_to(emu.data_dir)) for p in Path(emu.data_dir).rglob("*"))
    return {
        "files": sorted((f["id"], f["filename"], f.get("deleted")) for f in files),
        "jobs": sorted((j["id"], j["status"]) for j in jobs),
        "tree": tree,
    }


@pytest.fixture
def emu(clean_emulator):
    # Jobs stay in one status through a test, so a snapshot sees only what requests changed: they are
    # `pending` for the first 5 % of this (30 s), longer than a loaded CI machine takes for the route
    # loops below (a 30 s duration's 1.5 s was not enough with 5 pytest runs on 2 cores).
    clean_emulator.configure(job_duration=600.0)
    return clean_emulator


# ------------------------------------------------------------------------------------- size limit


@pytest.mark.parametrize(
    "size, chunked",
    [(4096, False), (3 * 1024 * 1024, False), (4096, True), (3 * 1024 * 1024, True)],
    ids=["over-limit", "over-limit-and-slack", "chunked-over-limit", "chunked-far-over-limit"],
)
def test_body_over_the_limit_is_refused_with_413_and_nothing_stored(emu, size, chunked):
    emu.configure(max_file_bytes=1024)
    before = snapshot(emu)
    body, ctype = multipart(b"x" * size)
    data = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    try:
        response = put_file(emu, data, ctype)
    except requests.ConnectionError:
        response = None  # a server may cut an unbounded chunked body short; nothing may be stored either way
    if response is not None:
        assert response.status_code == 413, response.text
        assert "1024 bytes" in response.json()["detail"]
    assert snapshot(emu) == before
    assert not list(Path(emu.data_dir, "blobs").glob("*.part"))
    ok_body, ok_ctype = multipart(b"y" * 1024)
    assert put_file(emu, ok_body, ok_ctype).status_code == 200  # at the limit: accepted, still serving


def test_metadata_check_reports_the_configured_limit(emu):
    emu.configure(max_file_bytes=1024)
    answer = requests.post(
        f"{emu.base_url}/v1/flow/files/validate_metadata",
        json={"purpose": "alignment", "suffix": "txt", "size": 1025},
        headers=AUTH,
        timeout=10,
    ).json()
    assert answer["is_valid"] is False and "1024" in answer["errors"]


# ---------------------------------------------------------------------------------- path traversal

TRAVERSAL = [
    "../x.txt",
    "a/b.txt",
    "/etc/evil.txt",
    "x\x00.txt",
    "..\\x.txt",
    "..",
    "../../../../tmp/evil.txt",
    "a\r\nX-Evil: 1.txt",
]


@pytest.mark.parametrize("name", TRAVERSAL, ids=repr)
@pytest.mark.parametrize("where", ["disposition", "filename_field"])
def test_traversal_file_names_are_refused(emu, name, where, tmp_path):
    before = snapshot(emu)
    if where == "disposition":
        body, ctype = multipart(b"hello\n", filename=name)
    else:
        body, ctype = multipart(b"hello\n", filename="ok.txt", filename_field=name)
    response = put_file(emu, body, ctype)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "files"]
    assert snapshot(emu) == before
    parent = Path(emu.data_dir).parent
    assert (
        not (parent / "x.txt").exists()
        and not Path("/etc/evil.txt").exists()
        and not Path("/tmp/evil.txt").exists()
    )


# ------------------------------------------------------------------------------------- no API key

PATH_PARAMS = {"[^/]+": "zzz"}


def _routes() -> list[tuple[str, str, str]]:
    out = []
    for method, pattern, op in _TABLE:
        path = pattern.pattern.removeprefix("^").removesuffix("/?$").replace("[^/]+", "{id}")
        out.append((method, path, op))
    return out


# (a trailing space is not a wrong key: HTTP strips whitespace around a header value)
@pytest.mark.parametrize(
    "auth",
    [None, "", "wrong-key", f"Bearer {CANARY_KEY}", CANARY_KEY[:-1], CANARY_KEY.upper()],
    ids=["none", "empty", "wrong", "bearer", "prefix", "upper"],
)
def test_every_api_route_without_the_key_is_401_and_changes_nothing(emu, auth):
    # a real file and a running job, so the routes that take an id have something to change
    file_id, job_id = file_and_job(emu, b"keep me\n", "keep.txt")
    before = snapshot(emu)
    journal_before = len(emu.journal())
    headers = {} if auth is None else {"Authorization": auth}
    seen = []
    for method, path, op in _routes():
        ident = job_id if "alignment" in path else file_id
        url = emu.base_url + path.replace("{id}", ident)
        kwargs: dict = {}
        if op == "upload_file":
            up, up_ctype = multipart(b"sneaky\n", filename="sneaky.txt")
            kwargs = {"data": up, "headers": {**headers, "Content-Type": up_ctype}}
        elif op == "alignment_generate":
            kwargs = {"json": {"instructions": "x", "files": [file_id]}, "headers": headers}
        elif op == "validate_file_metadata":
            kwargs = {"json": {"purpose": "alignment", "suffix": "txt", "size": 1}, "headers": headers}
        else:
            kwargs = {"headers": headers}
        response = requests.request(method, url, timeout=10, **kwargs)
        seen.append(op)
        assert response.status_code == 401, (
            f"{method} {path} without a valid key answered {response.status_code}"
        )
        assert "API key" in response.json()["detail"]
        assert CANARY_KEY not in response.text
    assert sorted(seen) == sorted(op for _, _, op in _TABLE)  # every /v1/flow route was tried
    entries = emu.journal()[journal_before:]
    assert len(entries) == len(seen) and all(e["status"] == 401 for e in entries)
    assert snapshot(emu) == before


def test_unknown_paths_under_v1_need_the_key_too(emu):
    for path in ("/v1/flow/nope", "/v1/", "/v1/flow/files/../alignment"):
        assert requests.get(emu.base_url + path, timeout=10).status_code in (401, 404)
        assert requests.get(emu.base_url + path, timeout=10).status_code != 200


# ------------------------------------------------------------------------------- malformed bodies


def test_malformed_requests_are_refused_without_state_change(emu):
    before = snapshot(emu)
    url = f"{emu.base_url}/v1/flow/files"
    body, ctype = multipart(b"data\n")
    cases = [
        ("truncated multipart", body[: len(body) // 2], ctype),
        ("no boundary", body, "multipart/form-data"),
        ("not multipart", b'{"purpose": "alignment"}', "application/json"),
        ("huge form field", multipart(b"d\n", filename_field="a" * 70_000 + ".txt")[0], None),
        ("two files", None, None),
    ]
    for label, data, content_type in cases:
        if label == "huge form field":
            data, content_type = multipart(b"d\n", filename="ok.txt", filename_field="a" * 70_000 + ".txt")
        if label == "two files":
            one, content_type = multipart(b"a\n", filename="a.txt")
            boundary = content_type.split("boundary=")[1].encode()
            extra = (
                b"--"
                + boundary
                + b'\r\nContent-Disposition: form-data; name="files"; filename="b.txt"\r\n\r\nb\n\r\n'
            )
            data = one.replace(b"--" + boundary + b"--\r\n", extra + b"--" + boundary + b"--\r\n")
        response = requests.put(url, data=data, headers={**AUTH, "Content-Type": content_type}, timeout=10)
        assert 400 <= response.status_code < 500, f"{label}: {response.status_code} {response.text[:200]}"
    for bad in ("{", "[]", '{"instructions": 5, "files": "x"}', '{"instructions": "x", "files": []}'):
        response = requests.post(
            f"{emu.base_url}/v1/flow/alignment/generate",
            data=bad,
            headers={**AUTH, "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 422, f"{bad}: {response.status_code}"
    assert snapshot(emu) == before
    assert requests.get(f"{emu.base_url}/_emulator/health", headers=AUTH, timeout=10).json()["status"] == "ok"


def test_client_vanishing_mid_upload_leaves_nothing(emu):
    before = snapshot(emu)
    body, ctype = multipart(b"z" * 200_000, filename="cut.txt")
    host, port = emu.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = (
            f"PUT /v1/flow/files HTTP/1.1\r\nHost: {host}\r\nAuthorization: {CANARY_KEY}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head + body[: len(body) // 3])
    # Wait for the emulator to have finished with the request (it journals it when it gives up on
    # the body), not merely for the partial file to vanish: it may not have been created yet.
    deadline = time.monotonic() + 10
    while not any(entry["route"] == "upload_file" for entry in emu.journal()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(entry["route"] == "upload_file" for entry in emu.journal()), (
        "the emulator never finished the request"
    )
    assert not list(Path(emu.data_dir, "blobs").glob("*.part"))
    assert snapshot(emu) == before


# ------------------------------------------------------------------------------------------- burst


def test_burst_of_200_concurrent_uploads_and_polls(emu):
    seed, job = file_and_job(emu, b"seed\n", "seed.txt")
    files_before = len(snapshot(emu)["files"])
    journal_before = len(emu.journal())

    def one(i: int) -> tuple[str, int, str | None]:
        with requests.Session() as s:
            if i % 2 == 0:
                body, ctype = multipart(f"document {i}\n".encode() * 50, filename=f"burst-{i}.txt")
                r = s.put(
                    f"{emu.base_url}/v1/flow/files",
                    data=body,
                    headers={**AUTH, "Content-Type": ctype},
                    timeout=60,
                )
                return "upload", r.status_code, r.json().get("id") if r.ok else r.text
            target = (f"alignment/{job}", "files", f"files/{seed}", f"alignment/{job}/outputs")[(i // 2) % 4]
            r = s.get(f"{emu.base_url}/v1/flow/{target}", headers=AUTH, timeout=60)
            return "poll", r.status_code, None

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(one, range(200)))
    statuses = [status for _, status, _ in results]
    uploads = [ident for kind, status, ident in results if kind == "upload"]
    assert all(s == 200 for s in statuses), sorted(set(statuses))
    assert len(uploads) == 100 and len(set(uploads)) == 100
    assert len(emu.journal()) - journal_before == 200
    after = snapshot(emu)
    assert len(after["files"]) == files_before + 100
    stored = {f[1] for f in after["files"]}
    assert {f"burst-{i}.txt" for i in range(0, 200, 2)} <= stored
    assert not list(Path(emu.data_dir, "blobs").glob("*.part"))
    # and it keeps serving
    assert (
        requests.get(f"{emu.base_url}/v1/flow/alignment/{job}", headers=AUTH, timeout=10).status_code == 200
    )
    content = requests.get(f"{emu.base_url}/v1/flow/files/{uploads[7]}/content", headers=AUTH, timeout=10)
    assert content.status_code == 200 and content.content.startswith(b"document ")


# ------------------------------------------------------------- issue 20, item 8: safe to run


ADMIN_CALLS = [
    ("GET", "health"),
    ("GET", "journal"),
    ("GET", "faults"),
    ("PUT", "faults"),
    ("DELETE", "faults"),
    ("GET", "config"),
    ("PUT", "config"),
    ("DELETE", "config"),
    ("DELETE", "journal"),
    ("DELETE", "state"),
    ("POST", "reset?wipe=true"),
    ("POST", "alignment/al-x/fail"),
    ("GET", "docs"),
    ("GET", "openapi.json"),
]


@pytest.mark.parametrize("method, path", ADMIN_CALLS, ids=[f"{m} {p}" for m, p in ADMIN_CALLS])
@pytest.mark.parametrize("given", [None, "wrong-key", f"Bearer {CANARY_KEY}", CANARY_KEY + "x"])
def test_the_admin_api_refuses_a_request_without_the_key(emu, method, path, given):
    seed_body, seed_ctype = multipart(b"kept\n", filename="kept.txt")
    assert put_file(emu, seed_body, seed_ctype).status_code == 200
    emu.set_faults(["list_files:503:rate=0.0"])
    before = (snapshot(emu), emu.faults_active(), emu.config())
    journal_before = len(emu.journal())
    body = (
        [{"route": "*", "kind": "503"}]
        if path == "faults"
        else {"job_duration": 1.0}
        if path == "config"
        else None
    )
    headers = {} if given is None else {"Authorization": given}
    answer = requests.request(
        method, f"{emu.base_url}/_emulator/{path}", json=body, headers=headers, timeout=10
    )
    assert answer.status_code == 401, answer.text
    assert len(emu.journal()) == journal_before  # not cleared (and admin calls are never journaled)
    assert str(os.getpid()) not in answer.text and emu.data_dir not in answer.text
    after = (snapshot(emu), emu.faults_active(), emu.config())
    assert after == before


def test_the_admin_api_and_health_answer_the_key(emu):
    answer = requests.get(f"{emu.base_url}/_emulator/health", headers=AUTH, timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_the_key_is_compared_in_constant_time(emu, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = gateway.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(gateway.hmac, "compare_digest", spy)
    assert (
        requests.get(
            f"{emu.base_url}/v1/flow/files", headers={"Authorization": "guess"}, timeout=10
        ).status_code
        == 401
    )
    assert requests.get(f"{emu.base_url}/_emulator/config", headers=AUTH, timeout=10).status_code == 200
    assert (b"guess", CANARY_KEY.encode()) in compared
    assert (CANARY_KEY.encode(), CANARY_KEY.encode()) in compared


def test_the_python_emulator_has_no_default_key():
    with pytest.raises(TypeError):
        SeekrFlowEmulator()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="needs an api_key"):
        SeekrFlowEmulator(api_key="")


def _cli(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
    if key is not None:
        env[API_KEY_ENV] = key
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "airflow_provider_seekrflow.emulator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_has_no_default_key_and_refuses_a_non_loopback_host():
    missing = _cli("--port", "0")
    assert missing.returncode == 2 and missing.stdout == ""
    assert f"no API key: set ${API_KEY_ENV}" in missing.stderr
    remote = _cli("--host", "0.0.0.0", "--port", "0", key="k" * 20)
    assert remote.returncode == 2 and remote.stdout == ""
    assert "not a loopback address" in remote.stderr and "--allow-remote" in remote.stderr


def test_a_host_beyond_loopback_needs_consent_and_then_warns(capsys):
    with pytest.raises(ValueError, match="must never be exposed to a network"):
        SeekrFlowEmulator(api_key="k", host="0.0.0.0")
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_host(host, allow_remote=False)
    assert capsys.readouterr().err == ""
    check_host("0.0.0.0", allow_remote=True)
    assert "WARNING" in capsys.readouterr().err
    assert not is_loopback("") and not is_loopback("0.0.0.0") and not is_loopback("::")


def test_help_says_it_is_for_tests_only():
    help_text = " ".join(build_parser().format_help().split())
    assert "FOR TESTS AND LOCAL DEVELOPMENT ONLY: never expose it to a network" in help_text
    assert "--allow-remote" in help_text and API_KEY_ENV in help_text


def test_a_child_emulator_gets_its_key_by_environment_not_argv(tmp_path):
    key = "sfk-argv-canary-" + uuid.uuid4().hex
    with SeekrFlowEmulator(
        api_key=key, data_dir=str(tmp_path), subprocess=True, faults=["create_project:504_after:count=1"]
    ) as emu:
        cmdline = Path(f"/proc/{emu.pid}/cmdline").read_bytes()
        assert b"airflow_provider_seekrflow.emulator" in cmdline
        assert key.encode() not in cmdline
        assert emu.health()["pid"] == emu.pid  # its admin client sends the key
        project = {"name": "argv project", "description": "lost answer"}
        headers = {"Authorization": key}
        answer = requests.post(f"{emu.base_url}/v1/flow/projects", json=project, headers=headers, timeout=10)
        assert answer.status_code == 504  # the --fault of the new kind reached the child
        listed = requests.get(f"{emu.base_url}/v1/flow/projects", headers=headers, timeout=10).json()["data"]
        assert [p["name"] for p in listed] == ["argv project"]


def test_a_record_without_an_id_is_skipped_with_a_warning(tmp_path, caplog):
    files = tmp_path / "files"
    files.mkdir()
    (files / "stray.json").write_text('{"filename": "stray.txt", "bytes": 3}')
    (files / "list.json").write_text("[1, 2]")
    with caplog.at_level(logging.WARNING, logger="seekrflow.emulator"):
        with SeekrFlowEmulator(api_key=CANARY_KEY, data_dir=str(tmp_path)) as emu:
            listed = requests.get(f"{emu.base_url}/v1/flow/files", headers=AUTH, timeout=10)
            assert listed.status_code == 200 and listed.json()["data"] == []
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 2 and any("stray.json" in m for m in skipped)
