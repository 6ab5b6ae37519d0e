"""Streaming multipart upload for ``PUT /v1/flow/files``.

The request body is parsed as it arrives (python-multipart's streaming ``MultipartParser``) and
the file part is written straight into its final place in the data directory
(``blobs/<id>.part``, renamed on success), so the file is never held in memory or copied twice.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from airflow_provider_seekrflow import validation
from airflow_provider_seekrflow.emulator.refusals import missing, value_error
from airflow_provider_seekrflow.emulator.store import Store
from airflow_provider_seekrflow.vocabulary import PURPOSES, accepted_types

__all__ = ["UploadError", "byte_limit", "receive_upload"]

MAX_FIELD_BYTES = 64 * 1024
# Multipart framing around a file is small; allow this much over the file limit in Content-Length.
FRAMING_SLACK = 1 << 20
# After a too-large file is detected, keep reading (and discarding) the rest of the body if it is
# at most this big, so an ordinary HTTP client can read our 413 instead of a reset connection.
DRAIN_LIMIT = 256 << 20
WRITE_BUFFER = 1 << 20


class UploadError(Exception):
    """A refused upload. ``errors`` is a FastAPI-style list (422) or ``detail`` a string (413...)."""

    def __init__(self, status: int, *, detail: str | None = None, errors: list[dict] | None = None) -> None:
        super().__init__(detail or errors)
        self.status = status
        self.detail = detail
        self.errors = errors


def _error(field: str, reason: str, value: Any = None) -> UploadError:
    """Return the 422 refusing the value of form field ``field``."""
    return UploadError(422, errors=[value_error(("body", field), reason, value)])


def _missing(*fields: str) -> UploadError:
    """Return the 422 for required form fields that are absent."""
    return UploadError(422, errors=[missing(("body", field)) for field in fields])


def byte_limit(limit: int) -> str:
    """Return a size limit as the service words it in its refusals: bytes, then GB."""
    return f"{limit} bytes ({limit / 1e9:g} GB)"


def _check_filename(name: str) -> None:
    if not name or name in (".", ".."):
        raise _error("files", "file name must not be empty", name)
    if "/" in name or "\\" in name or "\x00" in name or name.startswith(".."):
        raise _error("files", "file name must not contain path separators or '..'", name)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        # CR/LF and other control characters would end up in headers and logs verbatim.
        raise _error("files", "file name must not contain control characters", name)
    if len(name) > 255:
        raise _error("files", "file name is longer than 255 characters", name)


class _Parts:
    """Callbacks for MultipartParser: small fields into memory, the ``files`` part onto disk."""

    def __init__(self, store: Store, file_id: str, max_bytes: int) -> None:
        self.store = store
        self.file_id = file_id
        self.max_bytes = max_bytes
        self.fields: dict[str, bytearray] = {}
        self.file_name: str | None = None
        self.file_parts = 0
        self.file_bytes = 0
        self.too_large = False
        self.fh: Any = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._sink: bytearray | None = None
        self._field_name = ""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._sink = None
        self._field_name = ""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._field_name = name
        filename = options.get(b"filename")
        if name == "files":
            self.file_parts += 1
            if self.file_parts > 1:
                raise _error("files", "upload one file per request")
            self.file_name = filename.decode("utf-8", "replace") if filename is not None else None
            self.fh = open(self.store.part_path(self.file_id), "wb", buffering=WRITE_BUFFER)  # noqa: SIM115
            self._field_name = "files"
        elif filename is None:
            self._sink = self.fields.setdefault(name, bytearray())
        # else: a file under another name; the API ignores it, and so do we (sink stays None)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._field_name == "files":
            size = end - start
            self.file_bytes += size
            if self.file_bytes > self.max_bytes:
                self.too_large = True
                return
            self.fh.write(memoryview(data)[start:end])
        elif self._sink is not None:
            self._sink += data[start:end]
            if len(self._sink) > MAX_FIELD_BYTES:
                raise _error(self._field_name, "form field is too large")

    def on_part_end(self) -> None:
        if self._field_name == "files" and self.fh is not None:
            self.fh.close()

    def field(self, name: str) -> str | None:
        raw = self.fields.get(name)
        return None if raw is None else raw.decode("utf-8", "replace")


async def receive_upload(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    store: Store,
    *,
    max_bytes: int,
) -> dict[str, Any]:
    """Stream a multipart upload into the store; return its file record or raise ``UploadError``."""
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise _missing("purpose", "files")
    limit_detail = f"File too large: the limit is {byte_limit(max_bytes)} per file"
    total: int | None = None
    if content_length and content_length.isdigit():
        total = int(content_length)
        if total > max_bytes + FRAMING_SLACK:
            raise UploadError(413, detail=limit_detail)
    file_id = store.new_file_id()
    part_path = store.part_path(file_id)
    parts = _Parts(store, file_id, max_bytes)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    committed = False
    try:
        try:
            async for chunk in body:
                if chunk:
                    parser.write(chunk)
                if parts.too_large:
                    if total is None or total > DRAIN_LIMIT:
                        break
                    async for _ in body:  # discard the rest so the client reads our answer
                        pass
                    break
            else:
                parser.finalize()
        except UploadError:
            raise
        except Exception as exc:  # a malformed body
            raise UploadError(400, detail=f"Malformed multipart body: {exc}") from None
        finally:
            if parts.fh is not None and not parts.fh.closed:
                parts.fh.close()
        if parts.too_large:
            raise UploadError(413, detail=limit_detail)

        purpose = parts.field("purpose")
        if purpose is None:
            raise _missing("purpose")
        purpose = purpose.strip()
        if purpose not in PURPOSES:
            raise UploadError(
                422,
                errors=[
                    {
                        "type": "enum",
                        "loc": ["body", "purpose"],
                        "msg": "Input should be "
                        + ", ".join(f"'{p}'" for p in PURPOSES[:-1])
                        + f" or '{PURPOSES[-1]}'",
                        "input": purpose,
                        "ctx": {"expected": ", ".join(f"'{p}'" for p in PURPOSES)},
                    }
                ],
            )
        if parts.file_parts == 0:
            raise _missing("files")
        filename = parts.field("filename") or parts.file_name
        if parts.file_name is not None:
            _check_filename(parts.file_name)
        _check_filename(filename or "")
        assert filename is not None
        if parts.file_bytes == 0:
            raise _error("files", f"{filename}: file is empty", filename)
        file_type = validation.file_type_of(filename)
        allowed = accepted_types(purpose)
        if file_type not in allowed:
            shown = f"'{file_type}'" if file_type else "(none)"
            raise _error(
                "files",
                f"{filename}: file type {shown} is not accepted for purpose '{purpose}' "
                f"(accepted: {', '.join(allowed)})",
                filename,
            )
        if file_type == "jsonl" and purpose in validation.JSONL_PURPOSES:
            await run_in_threadpool(_check_jsonl_file, part_path, purpose, filename)
        vdb = parts.field("vector_database_id")
        record = store.commit_upload(
            file_id,
            part_path,
            filename=filename,
            purpose=purpose,
            file_type=file_type,
            nbytes=parts.file_bytes,
            created_ts=time.time(),
            vector_database_id=vdb or None,
        )
        committed = True
        return record
    finally:
        if not committed:
            with contextlib.suppress(FileNotFoundError):
                os.remove(part_path)


def _check_jsonl_file(path: str, purpose: str, filename: str) -> None:
    try:
        with open(path, "rb", buffering=1 << 20) as fh:
            validation.check_jsonl_stream(fh, purpose, filename)
    except validation.FileCheckError as exc:
        raise _error("files", str(exc), filename) from None
