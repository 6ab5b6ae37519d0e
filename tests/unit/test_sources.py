"""The upload sources' pure logic: line splitting, connection rules, URI masking, list shapes, scheme checks.

No emulator, no Airflow metadata database, no S3 server.
"""

from __future__ import annotations

import io

import pytest

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.sources.remote import _require_filesystem, own_connection, shown_uri
from airflow_provider_seekrflow.sources.source import Source, as_list, iter_lines
from tests.local_servers import first_module_with

# ---------------------------------------------------------------------------------------- iter_lines


class ShortReads(io.RawIOBase):
    """A stream that gives at most ``most`` bytes per read, however many are asked for (like a socket)."""

    def __init__(self, data: bytes, most: int) -> None:
        self._data = data
        self._most = most
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        size = self._most if size is None or size < 0 else min(size, self._most)
        piece, self._data = self._data[:size], self._data[size:]
        return piece


def test_lines_split_across_chunk_boundaries_come_back_whole():
    data = b"alpha\nbeta\ngamma-delta\n"
    assert list(iter_lines(io.BytesIO(data), 4)) == [b"alpha\n", b"beta\n", b"gamma-delta\n"]


def test_last_line_without_newline_is_kept():
    assert list(iter_lines(io.BytesIO(b"one\ntwo"), 3)) == [b"one\n", b"two"]


def test_empty_stream_yields_no_line():
    assert list(iter_lines(io.BytesIO(b""), 8)) == []


def test_chunk_size_one():
    data = b'{"a": 1}\n\n{"b": 2}\r\nend'
    assert list(iter_lines(io.BytesIO(data), 1)) == [b'{"a": 1}\n', b"\n", b'{"b": 2}\r\n', b"end"]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 1 << 20])
def test_lines_rejoin_to_the_stream_for_any_chunk_size(chunk):
    data = b"".join(b"line %d %s\n" % (n, b"x" * (n % 11)) for n in range(200)) + b"\n\ntail"
    lines = list(iter_lines(io.BytesIO(data), chunk))
    assert b"".join(lines) == data
    assert lines == data.splitlines(keepends=True)


def test_short_reads_do_not_lose_or_split_lines():
    data = b"first line\nsecond line\nthird"
    stream = ShortReads(data, most=3)
    assert list(iter_lines(stream, 1024)) == [b"first line\n", b"second line\n", b"third"]
    assert stream.reads > 3  # it kept reading until the stream ended, not after one short read


def test_reads_in_chunks_not_line_by_line():
    data = b"x\n" * 1000
    stream = ShortReads(data, most=1 << 20)
    assert len(list(iter_lines(stream, 1 << 20))) == 1000
    assert stream.reads == 2  # the whole stream, then the end


def test_source_lines_opens_a_fresh_stream_each_time_and_closes_it():
    opened: list[io.BytesIO] = []

    def open_stream() -> io.BytesIO:
        opened.append(io.BytesIO(b"a\nb\n"))
        return opened[-1]

    source = Source(
        name="x.jsonl", shown="s3://b/x.jsonl", where="file_path", size=4, open=open_stream, chunk_bytes=1
    )
    assert list(source.lines()) == [b"a\n", b"b\n"]
    assert list(source.lines()) == [b"a\n", b"b\n"]
    assert len(opened) == 2 and all(stream.closed for stream in opened)


# --------------------------------------------------------------------------- connections and masking


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://my_aws@bucket/key.md", "my_aws"),
        ("s3://aws_default@bucket/folder/*.md", "aws_default"),
        ("s3://bucket/key.md", None),
        ("s3://bucket/folder/*.md", None),
        ("gs://gcp_conn@bucket/key.md", "gcp_conn"),
    ],
)
def test_own_connection_of_a_uri(uri, expected):
    assert own_connection(uri) == expected


def test_own_connection_of_an_object_storage_path():
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    assert own_connection(ObjectStoragePath("s3://bucket/key.md", conn_id="my_aws")) == "my_aws"
    assert own_connection(ObjectStoragePath("s3://my_aws@bucket/key.md")) == "my_aws"
    assert own_connection(ObjectStoragePath("s3://bucket/key.md")) is None


def test_shown_uri_masks_a_password():
    shown = shown_uri("s3://my_aws:pa55-w0rd@bucket/key.md")
    assert "pa55-w0rd" not in shown
    assert shown == "s3://my_aws:***@bucket/key.md"


def test_shown_uri_masks_a_password_that_also_occurs_in_the_path():
    assert shown_uri("s3://conn:key@bucket/key/key.md") == "s3://conn:***@bucket/key/key.md"


@pytest.mark.parametrize(
    "uri", ["s3://my_aws@bucket/key.md", "s3://bucket/a:b/key.md", "gs://bucket/*.jsonl"]
)
def test_shown_uri_leaves_a_uri_without_password_alone(uri):
    assert shown_uri(uri) == uri


# --------------------------------------------------------------------------------------------- as_list


def test_as_list_of_one_path_or_glob():
    assert as_list("/data/a.md") == (["/data/a.md"], True)
    assert as_list("s3://bucket/a.md") == (["s3://bucket/a.md"], True)
    assert as_list("s3://bucket/docs/*.md") == (["s3://bucket/docs/*.md"], False)
    assert as_list(["/data/a.md"]) == (["/data/a.md"], False)


@pytest.mark.parametrize(
    ("file_path", "fragment"),
    [
        (None, "file_path: is required"),
        ([], "file_path: the list of files is empty"),
        ((), "file_path: the list of files is empty"),
        (42, "got int"),
        ({"a": "/data/a.md"}, "got dict"),
    ],
)
def test_as_list_errors(file_path, fragment):
    with pytest.raises(SeekrFlowConfigError) as caught:
        as_list(file_path)
    assert fragment in str(caught.value)


# ----------------------------------------------------------------------------------- scheme readiness


def _has_fs_module() -> object:
    """The module ``_require_filesystem`` imports ``has_fs`` from: Airflow 3's, else Airflow 2's."""
    module = first_module_with(("airflow.sdk.io.fs", "airflow.io"), "has_fs")
    assert module is not None, "no Airflow module has has_fs"
    return module


@pytest.fixture
def no_filesystems(monkeypatch):
    """Airflow knows no filesystem for any scheme, as on a worker without the providers installed."""
    monkeypatch.setattr(_has_fs_module(), "has_fs", lambda scheme: False)


@pytest.mark.parametrize("scheme", ["s3", "s3a"])
def test_missing_s3_filesystem_names_the_package_to_install(no_filesystems, scheme):
    with pytest.raises(SeekrFlowConfigError) as caught:
        _require_filesystem(scheme, f"{scheme}://bucket/key.md", "file_path[2]")
    message = str(caught.value)
    assert "pip install 'apache-airflow-providers-amazon[s3fs]'" in message
    assert message.startswith("file_path[2]: ")
    assert f"{scheme}://bucket/key.md" in message


def test_missing_gcs_filesystem_names_the_google_provider(no_filesystems):
    with pytest.raises(SeekrFlowConfigError) as caught:
        _require_filesystem("gs", "gs://bucket/key.md", "file_path")
    assert "apache-airflow-providers-google" in str(caught.value)


def test_unknown_scheme_gets_the_generic_message(no_filesystems):
    with pytest.raises(SeekrFlowConfigError) as caught:
        _require_filesystem("foo", "foo://bucket/x.md", "file_path")
    message = str(caught.value)
    assert "no installed Airflow provider reads foo://" in message
    assert "foo://bucket/x.md" in message
    assert "pip install" not in message


def test_installed_filesystem_passes():
    # The amazon provider with s3fs is installed in every test environment.
    _require_filesystem("s3", "s3://bucket/key.md", "file_path")
