"""
Object-storage sources (``s3://``, ``gs://``, ``ObjectStoragePath``...) read through Airflow connections.

Which connection reads an object, first match wins:

1. the one the source names itself: ``s3://my_conn@bucket/key`` or ``ObjectStoragePath(..., conn_id=...)``;
2. the task's ``source_conn_id``;
3. the Airflow default connection of the scheme's provider (``aws_default`` for ``s3://``,
   ``google_cloud_default`` for ``gs://``), as that provider's own operators default to it.

Listing reads no byte of any object; the upload then streams each object with a bounded read-ahead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
    SeekrFlowError,
    SeekrFlowInvalidFileError,
)
from airflow_provider_seekrflow.sources.read_ahead import ReadAhead
from airflow_provider_seekrflow.sources.source import Source, etag_of, has_magic, no_match

#: Each ranged read of an object asks for this much. Memory holds about five pieces (the one read,
#: the HTTP client's copy of it, the one waiting, the one sent and the one before it), so 4 MiB stays
#: well under 32 MiB; smaller pieces cost a request each (1 MiB: four times slower).
REMOTE_CHUNK_BYTES = 4 * 1024 * 1024
#: Each read of a streamed GET takes this much of what has arrived: as fast as larger pieces
#: (benchmarks/README.md, "S3 stream"), at a few MiB of memory.
STREAMED_CHUNK_BYTES = 1024 * 1024

#: The connection a provider's own operators use when none is given, by URI scheme.
DEFAULT_CONN_IDS: dict[str, str] = {
    "s3": "aws_default",
    "s3a": "aws_default",
    "gs": "google_cloud_default",
    "gcs": "google_cloud_default",
}

#: What to install so that Airflow reads a scheme, for the error that says so.
PROVIDER_PACKAGES: dict[str, str] = {
    "s3": "apache-airflow-providers-amazon[s3fs]",
    "s3a": "apache-airflow-providers-amazon[s3fs]",
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "abfs": "apache-airflow-providers-microsoft-azure",
    "abfss": "apache-airflow-providers-microsoft-azure",
    "adl": "apache-airflow-providers-microsoft-azure",
    "az": "apache-airflow-providers-microsoft-azure",
    "sftp": "apache-airflow-providers-sftp",
    "ftp": "apache-airflow-providers-ftp",
}

# Exception class names (botocore, google-auth) that mean no credentials were found: matched by
# name, so that neither library is imported to recognise its errors.
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError")


def list_remote(spec: Any, where: str, *, source_conn_id: str | None) -> list[Source]:
    """
    Return the object ``spec`` names, or every object its glob matches (sorted), each with its size.

    Nothing is read but the listing. Every failure raises an error naming the path, the connection
    and what to fix.

    :param spec: An object-storage URI or ``ObjectStoragePath``.
    :param where: The ``file_path`` item it came from, for errors.
    :param source_conn_id: The connection for a URI that names none of its own.
    """
    scheme = _scheme(spec)
    shown = shown_uri(spec)
    if urlsplit(str(spec)).password is not None:
        # Airflow would take "conn:secret" as a connection id, miss it, and read without one.
        raise SeekrFlowConfigError(
            f"{where}: {shown}: put credentials in an Airflow connection, not in the URI, and name it "
            f"there ({scheme}://<conn_id>@bucket/key) or in source_conn_id"
        )
    _require_filesystem(scheme, shown, where)
    root, connection = with_connection(spec, source_conn_id)
    as_written = own_connection(spec) is not None
    name = shown.rstrip("/").rsplit("/", 1)[-1]
    with explained(where, shown, connection):
        forget_listing(root)
        if has_magic(name):
            matches = sorted((path for path in root.parent.glob(name) if path.is_file()), key=str)
            if not matches:
                raise no_match(where, shown)
        else:
            matches = [root]
        return [_listed(path, where, connection, with_conn_shown=as_written) for path in matches]


def forget_listing(path: Any) -> None:
    """
    Drop what the filesystem cached of the folder ``path`` is listed from, so the listing is current.

    Airflow keeps one filesystem per (scheme, connection) for the life of the process, and s3fs and
    gcsfs keep every listing they made (no expiry): a later task run in the same process
    (``dag.test()`` runs a DAG's tasks, and test suites their DAGs, in one process) would otherwise
    see the objects as the first listed them, and a sync would miss every change since. Listings of
    other folders stay cached.

    :param path: The ``ObjectStoragePath`` about to be listed (a glob's parent) or looked up.
    """
    fs = getattr(path, "fs", None)
    folder = getattr(getattr(path, "parent", None), "path", None)
    if fs is not None and folder:
        # Best effort: a filesystem that cannot drop it still lists, and a failing listing is reported there.
        with contextlib.suppress(Exception):
            fs.invalidate_cache(folder)


def _listed(path: Any, where: str, connection: str | None, *, with_conn_shown: bool) -> Source:
    # Named as the user wrote it: a connection this module added is not shown in the URI.
    shown = shown_uri(path) if with_conn_shown else _without_connection(shown_uri(path))
    if not path.is_file():
        if path.exists():
            raise SeekrFlowInvalidFileError(f"{where}: {shown} is not a file (a folder or prefix?)")
        raise SeekrFlowInvalidFileError(f"{where}: {shown} does not exist ({_read_with(connection)})")
    info = path.stat()
    size = int(info.st_size)

    def open_stream() -> ReadAhead:
        # One streamed GET where the filesystem can (s3fs, gcsfs): memory holds only what arrived.
        # Otherwise ranged reads without the filesystem's own cache, each asking for exactly one
        # piece, where its default would buffer blocks of its own size (s3fs: 50 MiB). ReadAhead
        # keeps one piece in hand either way, so the next download overlaps the upload of the last.
        with explained(where, shown, connection):
            streamed = open_streamed(path)
            if streamed is not None:
                return ReadAhead(streamed, STREAMED_CHUNK_BYTES)
            ranged = path.open("rb", block_size=REMOTE_CHUNK_BYTES, cache_type="none")
        return ReadAhead(ranged, REMOTE_CHUNK_BYTES)

    return Source(
        name=shown.rstrip("/").rsplit("/", 1)[-1],
        shown=shown,
        where=where,
        size=size,
        open=open_stream,
        chunk_bytes=REMOTE_CHUNK_BYTES,
        connection=connection,
        # What a sync tells change by without reading the object (Airflow's stat result is the listing's dict).
        etag=etag_of(info),
    )


class StreamedObject:
    """
    An object read as one streamed GET, on its filesystem's event loop, from a plain thread.

    ``read`` returns what has arrived, up to ``size`` bytes; ``b""`` at the end.

    :param fs: The (async) filesystem.
    :param handle: Its streamed file, from ``open_async``.
    """

    def __init__(self, fs: Any, handle: Any) -> None:
        self._fs = fs
        self._handle = handle

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` bytes of what has arrived (all that is left when ``size`` < 0)."""
        from fsspec.asyn import sync

        return bytes(sync(self._fs.loop, self._handle.read, size))

    def close(self) -> None:
        """End the GET."""
        from fsspec.asyn import sync

        sync(self._fs.loop, self._handle.close)

    def __enter__(self) -> StreamedObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_streamed(path: Any) -> StreamedObject | None:
    """Open an object as one streamed GET when its filesystem can (``open_async``); else None."""
    fs = getattr(path, "fs", None)
    if fs is None or not getattr(fs, "async_impl", False) or not hasattr(fs, "open_async"):
        return None
    from fsspec.asyn import sync

    try:
        handle = sync(fs.loop, fs.open_async, path.path, "rb")
    except NotImplementedError:
        return None
    return StreamedObject(fs, handle)


def with_connection(spec: Any, source_conn_id: str | None) -> tuple[Any, str | None]:
    """
    Return the ``ObjectStoragePath`` to read ``spec`` with, and the connection id it reads with.

    :param spec: An object-storage URI or ``ObjectStoragePath``.
    :param source_conn_id: The connection for a source that names none of its own.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    own = own_connection(spec)
    if own:
        return (spec if not isinstance(spec, str) else ObjectStoragePath(spec)), own
    connection = source_conn_id or DEFAULT_CONN_IDS.get(_scheme(spec))
    if connection is None:
        return (spec if not isinstance(spec, str) else ObjectStoragePath(spec)), None
    return ObjectStoragePath(str(spec), conn_id=connection), connection


def own_connection(spec: Any) -> str | None:
    """Return the connection a source names itself (``s3://conn@bucket/...`` or ``conn_id=``), if any."""
    if isinstance(spec, str):
        return urlsplit(spec).username or None
    # Airflow 3.3 keeps it as an attribute; 2.11 to 3.2 among the storage options.
    found = getattr(spec, "conn_id", None) or (getattr(spec, "storage_options", None) or {}).get("conn_id")
    return str(found) if found else None


def shown_uri(spec: Any) -> str:
    """Return a source's URI as logs and errors show it: a password in it is masked."""
    text = str(spec)
    parts = urlsplit(text)
    if parts.password:
        return text.replace(f":{parts.password}@", ":***@", 1)
    return text


def _without_connection(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.username is None:
        return uri
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _scheme(spec: Any) -> str:
    if isinstance(spec, str):
        return urlsplit(spec).scheme.lower()
    return str(getattr(spec, "protocol", "") or urlsplit(str(spec)).scheme).lower()


def _require_filesystem(scheme: str, shown: str, where: str) -> None:
    """Refuse a scheme no installed Airflow provider reads (fsspec alone would ignore connections)."""
    try:
        from airflow.sdk.io.fs import has_fs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Airflow 2
        from airflow.io import has_fs  # type: ignore[attr-defined,no-redef,unused-ignore]
    if has_fs(scheme):
        return
    package = PROVIDER_PACKAGES.get(scheme)
    if package:
        raise SeekrFlowConfigError(
            f"{where}: reading {shown} needs the Airflow provider for {scheme}://, which is not "
            f"installed on this worker: pip install '{package}'"
        )
    raise SeekrFlowConfigError(
        f"{where}: no installed Airflow provider reads {scheme}:// ({shown}); use a local path or a "
        f"scheme of an installed provider ({', '.join(sorted(DEFAULT_CONN_IDS))}, ...)"
    )


def _read_with(connection: str | None) -> str:
    if connection is None:
        return "read without an Airflow connection, with the filesystem's own credentials"
    return f"read with connection {connection!r}"


@contextlib.contextmanager
def explained(where: str, shown: str, connection: str | None) -> Iterator[None]:
    """Turn a storage failure into an error naming the path, the connection and what to fix."""
    try:
        yield
    except SeekrFlowError:
        raise
    except FileNotFoundError:
        raise SeekrFlowInvalidFileError(
            f"{where}: {shown} does not exist ({_read_with(connection)})"
        ) from None
    except PermissionError as err:
        raise SeekrFlowInvalidFileError(
            f"{where}: access to {shown} was denied ({_read_with(connection)}; a connection without "
            "credentials reads anonymously): give that connection credentials allowed to read it, "
            f"or pass source_conn_id naming one ({err})"
        ) from None
    except Exception as err:
        if type(err).__name__ in _NO_CREDENTIALS:
            fix = (
                f"give connection {connection!r} credentials (login and password, or a role), "
                "or pass source_conn_id naming one that has them"
                if connection
                else "pass source_conn_id naming an Airflow connection that has them"
            )
            raise SeekrFlowInvalidFileError(
                f"{where}: no credentials to read {shown} ({_read_with(connection)}): {fix}"
            ) from None
        raise SeekrFlowInvalidFileError(
            f"{where}: cannot read {shown} ({_read_with(connection)}): {type(err).__name__}: {err}"
        ) from None
