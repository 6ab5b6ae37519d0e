"""
Open an evaluation's files: the prompt set to read and the answers file to write, local or in object storage.

Both are read or written as the upload operator reads its sources (``sources``): a local path
(``~`` expanded, ``file://`` accepted), or an object-storage URI or ``ObjectStoragePath`` through
an Airflow connection, first match wins: the one the URI names (``s3://my_aws@bucket/key``), the
task's ``prompts_conn_id`` / ``answers_conn_id``, the scheme's default connection (``aws_default``
for ``s3://``, ``google_cloud_default`` for ``gs://``). Nothing is held whole: prompts are read as
a stream of lines, answers written as a stream (object storage uploads them in parts and
completes the object when the file is closed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowInvalidFileError
from airflow_provider_seekrflow.sources.source import Source, is_object_storage, iter_lines

__all__ = ["PROMPT_CHUNK_BYTES", "open_answers", "prompt_lines", "prompt_source", "shown"]

#: Prompt files are split into lines 64 KiB at a time: memory holds one such piece and its lines,
#: however large the file (the upload's 1 MiB pieces would hold a whole file of up to 1 MiB).
PROMPT_CHUNK_BYTES = 64 * 1024


def shown(spec: Any) -> str:
    """
    Return a path or URI as logs, errors and the manifest show it (a password in it masked).

    :param spec: A path, URI or ``ObjectStoragePath``.
    """
    from airflow_provider_seekrflow.sources.remote import shown_uri

    return shown_uri(
        os.fspath(spec) if isinstance(spec, os.PathLike) and not is_object_storage(spec) else spec
    )


def prompt_source(spec: Any, *, conn_id: str | None) -> Source:
    """
    Return the one prompt file ``spec`` names, listed (nothing read yet); a missing file or a glob of several raises.

    :param spec: A local path, a glob matching one file, an object-storage URI or ``ObjectStoragePath``.
    :param conn_id: The connection for a URI that names none of its own.
    """
    from airflow_provider_seekrflow.sources.local import list_local
    from airflow_provider_seekrflow.sources.remote import list_remote

    if spec is None or (isinstance(spec, str) and not spec.strip()):
        raise SeekrFlowConfigError("prompts: is required (a JSONL file of prompts)")
    if is_object_storage(spec):
        sources = list_remote(spec, "prompts", source_conn_id=conn_id)
    elif isinstance(spec, (str, os.PathLike)):
        sources = list(list_local(os.fspath(spec), "prompts"))
    else:
        raise SeekrFlowConfigError(f"prompts: expected a path or URI, got {type(spec).__name__}")
    if len(sources) != 1:
        names = ", ".join(source.shown for source in sources[:3])
        raise SeekrFlowConfigError(f"prompts: names {len(sources)} files ({names}...); name one JSONL file")
    if sources[0].size == 0:
        raise SeekrFlowInvalidFileError(f"prompts: {sources[0].shown} is empty; no prompt was sent")
    return sources[0]


def prompt_lines(source: Source) -> Generator[bytes, None, None]:
    """
    Yield the prompt file's lines (with their line ends), reading :data:`PROMPT_CHUNK_BYTES` at a time.

    :param source: The prompt file, as :func:`prompt_source` listed it.
    """
    with source.open() as handle:
        yield from iter_lines(handle, PROMPT_CHUNK_BYTES)


@contextlib.contextmanager
def open_answers(spec: Any, *, conn_id: str | None) -> Iterator[IO[bytes]]:
    """
    Open the answers file for writing (binary, replacing what is there); complete it only when the block ends well.

    :param spec: A local path, an object-storage URI or ``ObjectStoragePath``.
    :param conn_id: The connection for a URI that names none of its own.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        raise SeekrFlowConfigError("answers: is required (where the answers JSONL is written)")
    if is_object_storage(spec):
        from airflow_provider_seekrflow.sources.remote import _require_filesystem, _scheme, with_connection

        where = shown(spec)
        _require_filesystem(_scheme(spec), where, "answers")
        path, connection = with_connection(spec, conn_id)
        try:
            handle = path.open("wb")
        except Exception as err:
            with_conn = f"connection {connection!r}" if connection else "no Airflow connection"
            raise SeekrFlowInvalidFileError(
                f"answers: cannot write {where} ({with_conn}): {type(err).__name__}: {err}; "
                "give that connection rights to write it, or name another in answers_conn_id"
            ) from None
        try:
            yield handle
        except BaseException:
            # A run that failed or was killed leaves no object that looks complete.
            discard = getattr(handle, "discard", None)
            if callable(discard):
                discard()
            else:
                handle.close()
            raise
        handle.close()
        return
    if not isinstance(spec, (str, os.PathLike)):
        raise SeekrFlowConfigError(f"answers: expected a path or URI, got {type(spec).__name__}")
    text = os.fspath(spec)
    local = Path(os.path.expanduser(text.removeprefix("file://")))
    # Written beside the target and renamed when complete: a failed or killed run leaves no half file.
    partial = local.with_name(f".{local.name}.partial")
    try:
        local.parent.mkdir(parents=True, exist_ok=True)
        handle = open(partial, "wb")  # noqa: SIM115 - closed below
    except OSError as err:
        raise SeekrFlowInvalidFileError(f"answers: cannot write {text}: {err.strerror or err}") from None
    try:
        with handle:
            yield handle
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, local)
