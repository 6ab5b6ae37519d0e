"""Read the conversations of a training-data file (parquet or JSONL) in constant memory."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_provider_seekrflow.exceptions import SeekrFlowDependencyError, SeekrFlowInvalidFileError

PARQUET = "parquet"
JSONL = "jsonl"
# Every parquet file starts (and ends) with these four bytes.
_PARQUET_MAGIC = b"PAR1"
# Rows converted to Python per step: big enough to be quick, small enough that memory stays flat.
DEFAULT_BATCH_ROWS = 256


def detect_format(path: str | os.PathLike[str], declared_type: str | None = None) -> str:
    """
    Return ``parquet`` or ``jsonl`` for a downloaded training-data file.

    The service's declared type wins; without one, the file's first bytes decide, since a
    service-given file name may carry no extension.

    :param path: The local file.
    :param declared_type: The type the service stored the file as (``parquet``, ``jsonl``), if any.
    """
    declared = (declared_type or "").strip().lower().lstrip(".")
    if declared in (PARQUET, JSONL):
        return declared
    with open(path, "rb") as handle:
        return PARQUET if handle.read(len(_PARQUET_MAGIC)) == _PARQUET_MAGIC else JSONL


def iter_rows(
    path: str | os.PathLike[str], file_format: str, *, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[dict[str, Any]]:
    """
    Yield each row of a training-data file as a dict, e.g. ``{"messages": [{"role", "content"}, ...]}``.

    Parquet is read one batch of ``batch_rows`` rows at a time, JSONL one line at a time, so a
    large file never sits in memory whole. Every column is kept: the service does not document
    its output's columns, so nothing here assumes more than what each row holds.

    :param path: The local file.
    :param file_format: ``parquet`` or ``jsonl`` (see :func:`detect_format`).
    :param batch_rows: Parquet rows converted per step.
    """
    if file_format == PARQUET:
        yield from _iter_parquet(Path(path), batch_rows)
    elif file_format == JSONL:
        yield from _iter_jsonl(Path(path))
    else:
        raise ValueError(f"file_format must be {PARQUET!r} or {JSONL!r}, got {file_format!r}")


def _iter_parquet(path: Path, batch_rows: int) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SeekrFlowDependencyError(
            f"{path.name} is a parquet file and reading it needs pyarrow: "
            "pip install 'airflow-provider-seekrflow[parquet]'"
        ) from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises ArrowInvalid and OSError variants for a broken file
        raise SeekrFlowInvalidFileError(f"{path.name} is not a readable parquet file: {err}") from None
    with parquet:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield from batch.to_pylist()


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    from airflow_provider_seekrflow.jsonl_lines import MAX_LINE_BYTES, line_cap_text

    # Bytes, read with a limit: a text-mode line of any length would be read whole, and a byte
    # that is not UTF-8 would escape as a bare UnicodeDecodeError from the loop itself.
    with open(path, "rb") as handle:
        number = 0
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            where = f"{path.name} line {number}"
            if len(raw) > MAX_LINE_BYTES:
                raise SeekrFlowInvalidFileError(
                    f"{where}: longer than {line_cap_text()}; a JSONL line is read whole, "
                    "so lines are capped at that"
                )
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise SeekrFlowInvalidFileError(f"{where}: not valid UTF-8") from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            try:
                row = json.loads(text)
            except RecursionError:
                raise SeekrFlowInvalidFileError(f"{where}: not JSON (nested too deeply)") from None
            except ValueError as err:
                raise SeekrFlowInvalidFileError(f"{where}: not JSON ({err})") from None
            if not isinstance(row, dict):
                raise SeekrFlowInvalidFileError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield row
