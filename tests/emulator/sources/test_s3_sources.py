"""
SeekrFlowUploadFileOperator reading ``s3://`` sources, end to end.

Each DAG runs through Airflow's ``dag.test()``; the operator reads a moto S3 server (a subprocess)
over HTTP through Airflow AWS connections set as ``AIRFLOW_CONN_*``, and uploads to the SeekrFlow
emulator over HTTP. Nothing of the provider is mocked. No test can reach beyond loopback (see
``conftest.py``), and the moto server's own record of requests shows what was read.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowInvalidFileError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from tests.conftest import run_python_child
from tests.emulator.operators import seekrflow_dag_support as support
from tests.emulator.sources.moto_s3 import SECRET_KEY, MotoS3, aws_connection, object_gets, s3_requests

HERE = Path(__file__).resolve().parent

BOT_LINE = '{"messages": [{"role": "user", "content": "Hi?"}, {"role": "bot", "content": "Hello."}]}\n'


# ------------------------------------------------------------------------------------------ helpers


def _upload_dag(request: pytest.FixtureRequest, file_path: Any, **kwargs: Any) -> Any:
    with DAG(
        support.dag_id_for(request),
        schedule=None,
        start_date=support.START_DATE,
        params=kwargs.pop("params", None),
    ) as dag:
        SeekrFlowUploadFileOperator(task_id="upload", file_path=file_path, **kwargs)
    return dag


def _run_failing(request: pytest.FixtureRequest, file_path: Any, **kwargs: Any) -> BaseException:
    """Run an upload task that must fail; return its error."""
    recorder = support.FailureRecorder()
    dr = support.run_dag(_upload_dag(request, file_path, on_failure_callback=recorder, **kwargs))
    assert support.states(dr) == {"upload": "failed"}
    return recorder.last


def _stored(file_id: str, tmp_path: Path) -> tuple[str, int, bytes]:
    """A stored file's name, size and bytes, as the service gives them back."""
    hook = SeekrFlowHook()
    meta = hook.get_file(file_id)
    body = hook.download_file(file_id, tmp_path / f"downloaded-{file_id}").read_bytes()
    return meta.filename, meta.bytes, body


def _uploads(emu: Any) -> list[dict[str, Any]]:
    return emu.journal(route="upload_file")


# ---------------------------------------------------------------------------------------- successes


def test_glob_with_only_aws_default_uploads_every_match_in_sorted_order(
    s3, emu, request, tmp_path, monkeypatch
):
    for other in ("AIRFLOW_CONN_AWS_READER", "AIRFLOW_CONN_AWS_NOCREDS"):
        monkeypatch.delenv(other)  # aws_default is the one AWS connection there is
    bodies = {
        "handbook/returns.md": b"# Returns\n\nWithin 30 days of delivery.\n",
        "handbook/cooling.md": b"# Cooling\n\nThe loop is inspected each morning.\n" * 50,
        "handbook/safety.md": b"# Safety\n\nGloves at all times.\n",
    }
    for key, body in bodies.items():
        s3.put(key, body)
    s3.put("handbook/notes.txt", "not a markdown file")  # the glob does not match it
    s3.put("handbook/archive/old.md", "# Old\n")  # nor what is under a deeper prefix

    # The README's way: no connection in the URI, no source_conn_id, only aws_default configured.
    with s3.moto.recording() as seen:
        dr = support.run_dag(_upload_dag(request, f"s3://{s3.bucket}/handbook/*.md"))

    assert support.states(dr) == {"upload": "success"}
    ids = support.xcom(dr, "upload")
    assert isinstance(ids, list) and len(ids) == 3
    expected = sorted(bodies)  # sorted by key: cooling, returns, safety
    for file_id, key in zip(ids, expected, strict=True):
        assert _stored(file_id, tmp_path) == (key.rsplit("/", 1)[1], len(bodies[key]), bodies[key])
    assert len(_uploads(emu)) == 3
    # The bytes came from the moto server, each object read (and nothing else downloaded).
    assert sorted(set(object_gets(seen, s3.bucket))) == expected


def test_single_uri_returns_one_id(s3, request, tmp_path):
    body = b"# Warranty\n\nTwo years on parts and labour.\n"
    uri = s3.put("policies/warranty.md", body)

    dr = support.run_dag(_upload_dag(request, uri))

    assert support.states(dr) == {"upload": "success"}
    file_id = support.xcom(dr, "upload")
    assert isinstance(file_id, str)
    assert _stored(file_id, tmp_path) == ("warranty.md", len(body), body)


def test_list_mixing_local_and_s3_returns_ids_in_input_order(s3, request, tmp_path):
    first = support.document(tmp_path, "zz-local-first.md")
    remote_body = b"# From the bucket\n\nShipped within two days.\n"
    remote = s3.put("mixed/aa-remote.md", remote_body)
    last = support.document(tmp_path, "mm-local-last.txt", "Plain text, last in the list.\n")

    dr = support.run_dag(_upload_dag(request, [str(first), remote, str(last)]))

    assert support.states(dr) == {"upload": "success"}
    ids = support.xcom(dr, "upload")
    assert isinstance(ids, list) and len(ids) == 3
    stored = [_stored(file_id, tmp_path) for file_id in ids]
    assert stored == [
        ("zz-local-first.md", first.stat().st_size, first.read_bytes()),
        ("aa-remote.md", len(remote_body), remote_body),
        ("mm-local-last.txt", last.stat().st_size, last.read_bytes()),
    ]


@pytest.mark.parametrize("form", ["object_storage_path", "conn_in_uri"])
def test_connection_named_by_the_source_wins_over_source_conn_id(s3, emu, request, tmp_path, task_logs, form):
    body = b"# Named connection\n\nRead with aws_default, not with source_conn_id.\n"
    s3.put("named/policy.md", body)
    source = (
        ObjectStoragePath(s3.uri("named/policy.md"), conn_id="aws_default")
        if form == "object_storage_path"
        else s3.uri("named/policy.md", conn_id="aws_default")
    )

    # source_conn_id names the connection without credentials: were it used, moto would refuse the read.
    dr = support.run_dag(_upload_dag(request, source, source_conn_id=s3.nocreds_conn))

    assert support.states(dr) == {"upload": "success"}
    file_id = support.xcom(dr, "upload")
    assert isinstance(file_id, str)
    assert _stored(file_id, tmp_path) == ("policy.md", len(body), body)
    assert len(_uploads(emu)) == 1
    logged = task_logs.text()
    assert "named/policy.md" in logged, "the capture saw none of the task's logs"
    assert s3.nocreds_conn not in logged, "the task reported reading with source_conn_id"


@pytest.mark.parametrize(
    ("source_conn_id", "params"),
    [("{{ params.aws_conn }}", {"aws_conn": "aws_reader"}), ("{{ 'aws_' ~ 'reader' }}", None)],
    ids=["params", "expression"],
)
def test_templated_source_conn_id_reads_a_bare_uri_instead_of_aws_default(
    s3, request, tmp_path, monkeypatch, source_conn_id, params
):
    # aws_default now holds no credentials: only the connection source_conn_id renders to can read.
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", aws_connection(s3.moto.endpoint_url, login=None, password=None)
    )
    body = b"# Templated\n\nThe connection comes from the template.\n"
    uri = s3.put("templated/guide.md", body)

    dr = support.run_dag(_upload_dag(request, uri, source_conn_id=source_conn_id, params=params))

    assert support.states(dr) == {"upload": "success"}
    assert _stored(support.xcom(dr, "upload"), tmp_path) == ("guide.md", len(body), body)


def test_aws_default_without_credentials_fails_a_bare_uri(s3, emu, request, monkeypatch):
    """The counterpart of the test above: with no source_conn_id, a bare URI is read with aws_default."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", aws_connection(s3.moto.endpoint_url, login=None, password=None)
    )
    uri = s3.put("templated/guide.md", "# Templated\n")

    error = _run_failing(request, uri)

    assert isinstance(error, SeekrFlowInvalidFileError)
    assert "aws_default" in str(error)
    assert _uploads(emu) == []


# ------------------------------------------------------------------------------- refusals, failures


def test_refused_extension_fails_before_any_object_is_read(s3, emu, request):
    for key in ("bundle/a-intro.md", "bundle/m-setup.exe", "bundle/z-outro.md"):
        s3.put(key, f"content of {key}\n")

    with s3.moto.recording() as seen:
        error = _run_failing(request, f"s3://{s3.bucket}/bundle/*", purpose="alignment")

    assert isinstance(error, SeekrFlowInvalidFileError)
    assert "m-setup.exe" in str(error)
    assert "exe" in str(error) and "alignment" in str(error)
    requests = s3_requests(seen)
    assert requests, "moto saw no request: the listing did not come from it"
    assert all(method in ("GET", "HEAD") for method, _, _ in requests), requests
    assert object_gets(seen, s3.bucket) == [], f"an object was downloaded: {requests}"
    assert _uploads(emu) == []


def test_bad_jsonl_line_in_s3_fails_naming_file_and_line_and_uploads_nothing(s3, emu, request):
    good = s3.put("train/good.jsonl", support.CHAT_LINE * 3)
    bad = s3.put("train/bad.jsonl", support.CHAT_LINE * 2 + BOT_LINE + support.CHAT_LINE)

    with s3.moto.recording() as seen:
        error = _run_failing(request, [good, bad], purpose="fine-tune")

    assert isinstance(error, SeekrFlowInvalidFileError)
    message = str(error)
    assert "bad.jsonl" in message
    assert "line 3" in message
    assert "bot" in message and "role" in message
    # The lines were read from the bucket, streamed; the good file before it is not uploaded either.
    assert "train/bad.jsonl" in object_gets(seen, s3.bucket)
    assert _uploads(emu) == []


def test_connection_without_credentials_fails_naming_path_and_connection(s3, emu, request, tmp_path):
    local = support.document(tmp_path, "local-first.md")
    uri = s3.put("private/secret-plan.md", "# Plan\n")

    error = _run_failing(request, [str(local), uri], source_conn_id=s3.nocreds_conn)

    assert isinstance(error, SeekrFlowInvalidFileError)
    message = str(error)
    assert f"{s3.bucket}/private/secret-plan.md" in message
    assert "aws_nocreds" in message
    assert "file_path[1]" in message
    assert _uploads(emu) == [], "a file was uploaded although another source could not be read"


@pytest.mark.parametrize(
    ("conn_in_uri", "source_conn_id", "reads_with"),
    [
        (None, None, "aws_default"),
        (None, "aws_reader", "aws_reader"),
        ("aws_default", "aws_nocreds", "aws_default"),
    ],
    ids=["scheme_default", "source_conn_id", "named_in_uri"],
)
def test_missing_object_fails_naming_its_connection(
    s3, emu, request, conn_in_uri, source_conn_id, reads_with
):
    s3.put("present/here.md", "# Here\n")

    error = _run_failing(request, s3.uri("present/not-here.md", conn_in_uri), source_conn_id=source_conn_id)

    assert isinstance(error, SeekrFlowInvalidFileError)
    message = str(error)
    assert "does not exist" in message
    assert "present/not-here.md" in message
    # Named as the connection it was read with, not only as the user part of the URI shown.
    assert reads_with in message.replace(f"{reads_with}@", "")
    if source_conn_id != reads_with:
        assert str(source_conn_id) not in message
    assert _uploads(emu) == []


def test_unknown_scheme_fails_before_any_request(s3, emu, request):
    with s3.moto.recording() as seen:
        error = _run_failing(request, "foo://bucket/x.md")

    assert isinstance(error, SeekrFlowConfigError)
    assert "foo://" in str(error)
    assert s3_requests(seen) == []
    assert emu.journal() == []


def test_no_secret_in_errors_or_logs(s3, emu, request, tmp_path, task_logs):
    uri = s3.put("secrets/ok.md", "# Fine\n")
    dr = support.run_dag(_upload_dag(request, uri))
    assert support.states(dr) == {"upload": "success"}
    errors = [
        _run_failing(request, s3.uri("secrets/missing.md")),
        _run_failing(request, uri, source_conn_id=s3.nocreds_conn),
        _run_failing(request, s3.uri("secrets/*.exe")),
    ]

    logged = task_logs.text()
    assert "secrets/ok.md" in logged, "the capture saw none of the task's logs"
    for secret in (emu.api_key, SECRET_KEY):
        assert secret not in logged
        for error in errors:
            assert secret not in f"{error} {error!r} {error.args!r}"


def test_uri_with_a_password_is_refused_before_any_request(
    s3, emu, request, tmp_path, task_logs, monkeypatch
):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # were it read, fail fast rather than retry
    s3.put("userinfo/doc.md", "# Doc\n")
    uri = f"s3://aws_default:{SECRET_KEY}@{s3.bucket}/userinfo/doc.md"

    recorder = support.FailureRecorder()
    dr = support.run_dag(_upload_dag(request, uri, on_failure_callback=recorder))
    refused = list(s3.guard.refused)
    s3.guard.refused.clear()  # judged here, with its own message

    assert refused == [], f"tried to reach beyond loopback: {refused}"
    assert SECRET_KEY not in task_logs.text()
    # Refused before any request: credentials belong in a connection.
    assert support.states(dr) == {"upload": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError)
    assert "put credentials in an Airflow connection, not in the URI" in str(recorder.last)
    assert SECRET_KEY not in str(recorder.last)


# ------------------------------------------------------------------------------------- 1 GiB memory

BIG_BYTES = 1024 * 1024 * 1024
BIG_BUCKET = "sf-big-object"
BIG_KEY = "big/big.parquet"  # pre-train accepts .parquet, and no content check reads it
MAX_GROWTH_MIB = 32


@pytest.fixture(scope="module")
def big_object(moto: MotoS3) -> Iterator[str]:
    """A 1 GiB object in moto (and a small one to warm up with), made once per module."""
    moto.create_bucket(BIG_BUCKET)
    moto.put_large(BIG_BUCKET, BIG_KEY, BIG_BYTES)
    moto.put(BIG_BUCKET, "big/warm-up.parquet", b"warm-up bytes\n")
    yield f"s3://{BIG_BUCKET}/{BIG_KEY}"
    moto.client().delete_object(Bucket=BIG_BUCKET, Key=BIG_KEY)  # frees the server's 1 GiB


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.timeout(600)
def test_one_gib_object_streams_with_bounded_memory(s3, emu, big_object, tmp_path):
    env = dict(os.environ)  # the connections (AIRFLOW_CONN_*) the fixtures set, and nothing of AWS's own
    child = run_python_child([str(HERE / "rss_probe.py"), big_object, "pre-train"], env, timeout=540)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"1 GiB object streamed: {result}")  # shown with -s / -rP

    hook = SeekrFlowHook()
    stored = hook.get_file(result["file_id"])
    assert (stored.filename, stored.bytes) == ("big.parquet", BIG_BYTES)
    assert result["size"] == BIG_BYTES
    # Every byte arrived in order: the object is bytes 0..255 over and over (MotoS3.put_large).
    copy = hook.download_file(stored.id, tmp_path / "big.parquet")
    hook.delete_file(stored.id)  # frees the emulator's 1 GiB
    block = bytes(range(256)) * (16 * 1024)  # 4 MiB, a whole number of patterns
    with open(copy, "rb") as handle:
        offset = 0
        while piece := handle.read(len(block)):
            assert piece == block[: len(piece)], (
                f"the stored bytes differ from the object in [{offset}, +{len(piece)})"
            )
            offset += len(piece)
    copy.unlink()
    assert offset == BIG_BYTES
    assert result["rss_growth_mib"] <= MAX_GROWTH_MIB, result
