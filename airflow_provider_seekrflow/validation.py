"""Local checks on files bound for SeekrFlow, shared by the operators and the emulator.

Pure Python (no Airflow, no web framework) so it imports fast anywhere. The rules mirror the
public SeekrFlow reference: five file purposes, accepted file types per purpose, the API's
4 GB per-file limit and the JSONL line schema of each training purpose.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "ALIGNMENT_DOCUMENT_TYPES",
    "JSONL_PURPOSES",
    "MAX_FILE_BYTES",
    "MESSAGE_ROLES",
    "PURPOSES",
    "TRAINING_FILE_TYPES",
    "FileCheckError",
    "accepted_types",
    "check_file",
    "check_jsonl_stream",
    "file_type_of",
]

PURPOSES: tuple[str, ...] = (
    "fine-tune",
    "alignment",
    "preference-fine-tune",
    "pre-train",
    "reinforcement-fine-tune",
)
ALIGNMENT_DOCUMENT_TYPES: tuple[str, ...] = (
    "html",
    "md",
    "rst",
    "rtf",
    "txt",
    "xml",
    "json",
    "jsonl",
    "csv",
    "doc",
    "docx",
    "pdf",
    "ppt",
    "pptx",
)
TRAINING_FILE_TYPES: tuple[str, ...] = ("jsonl", "parquet", "pt")
MAX_FILE_BYTES = 4_000_000_000
MESSAGE_ROLES: tuple[str, ...] = ("system", "user", "assistant")

# Purpose -> JSONL line schema kind. ``reinforcement-fine-tune`` has no line check.
JSONL_PURPOSES: Mapping[str, str] = {
    "fine-tune": "messages",
    "alignment": "messages",
    "preference-fine-tune": "preference",
    "pre-train": "text",
}

_ROLES = frozenset(MESSAGE_ROLES)
_ROLE_LIST = ", ".join(MESSAGE_ROLES)


class FileCheckError(ValueError):
    """A file fails a local check. ``str(err)`` names the file (and line) and the fault."""

    def __init__(self, file: str, reason: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        name = os.path.basename(file) or file
        where = f"{name} line {line}" if line is not None else name
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # keep picklable (custom __init__ signature)
        return (type(self), (self.file, self.reason, self.line))


def file_type_of(filename: str) -> str:
    """The file type SeekrFlow derives from a name: its extension, lower-case, no dot ('' if none)."""
    base = os.path.basename(filename)
    _, dot, ext = base.rpartition(".")
    if not dot or not _:
        return ""
    return ext.lower()


def accepted_types(purpose: str) -> tuple[str, ...]:
    """File types accepted for ``purpose`` (raises ``ValueError`` for an unknown purpose)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    return ALIGNMENT_DOCUMENT_TYPES if purpose == "alignment" else TRAINING_FILE_TYPES


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e9:.2f} GB ({n} bytes)"


def check_file(path: str | os.PathLike[str], purpose: str, *, check_content: bool = True) -> None:
    """Check a local file before uploading it for ``purpose``; raise ``FileCheckError`` on a fault.

    Order: purpose known, file exists, is a regular file, is non-empty, is within the 4 GB limit,
    has an extension accepted for the purpose, and (``check_content`` and a ``.jsonl`` file for a
    purpose with a line schema) every line matches the schema. The content check streams the file.
    """
    file = os.fspath(path)
    if purpose not in PURPOSES:
        raise FileCheckError(file, f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    try:
        st = os.stat(file)
    except FileNotFoundError:
        raise FileCheckError(file, "file not found") from None
    except OSError as exc:
        raise FileCheckError(file, f"cannot access file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise FileCheckError(file, "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise FileCheckError(file, "is not a regular file")
    if st.st_size == 0:
        raise FileCheckError(file, "file is empty")
    if st.st_size > MAX_FILE_BYTES:
        raise FileCheckError(
            file,
            f"file is {_fmt_bytes(st.st_size)}, over the API's 4 GB ({MAX_FILE_BYTES} bytes) limit",
        )
    ext = file_type_of(file)
    allowed = accepted_types(purpose)
    if not ext:
        raise FileCheckError(file, f"has no file extension; purpose {purpose!r} accepts {', '.join(allowed)}")
    if ext not in allowed:
        raise FileCheckError(
            file,
            f"file type '{ext}' is not accepted for purpose {purpose!r} (accepted: {', '.join(allowed)})",
        )
    if check_content and ext == "jsonl" and purpose in JSONL_PURPOSES:
        try:
            fh = open(file, "rb", buffering=1 << 20)  # noqa: SIM115
        except OSError as exc:
            raise FileCheckError(file, f"cannot read file ({exc.strerror or exc})") from None
        with fh:
            check_jsonl_stream(fh, purpose, file)


def _check_messages(value: object, field: str) -> str | None:
    """Reason the ``field`` value is not a valid non-empty list of messages, or None."""
    if type(value) is not list or not value:
        return f"{field} must be a non-empty list"
    for i, msg in enumerate(value):
        if type(msg) is not dict:
            return f"{field}[{i}] must be an object"
        try:
            role = msg["role"]
        except KeyError:
            return f"{field}[{i}] is missing field 'role'"
        if type(role) is not str:
            return f"{field}[{i}].role must be a string"
        if role not in _ROLES:
            return f"{field}[{i}].role {role!r} is not one of {_ROLE_LIST}"
        try:
            content = msg["content"]
        except KeyError:
            return f"{field}[{i}] is missing field 'content'"
        if type(content) is not str:
            return f"{field}[{i}].content must be a string"
    return None


def _check_record(obj: object, kind: str) -> str | None:
    if type(obj) is not dict:
        return f"expected a JSON object, got {_json_type(obj)}"
    if kind == "text":
        if "text" not in obj:
            return "missing field 'text'"
        if type(obj["text"]) is not str:
            return "text must be a string"
        return None
    fields = ("messages",) if kind == "messages" else ("messages", "chosen", "rejected")
    for field in fields:
        if field not in obj:
            return f"missing field '{field}'"
        reason = _check_messages(obj[field], field)
        if reason is not None:
            return reason
    return None


def _json_type(obj: object) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, (int, float)):
        return "a number"
    if isinstance(obj, str):
        return "a string"
    if isinstance(obj, list):
        return "an array"
    return type(obj).__name__


class _LineChecker:
    """Per-line reference check (exact error messages); keeps line count and blank-line state."""

    def __init__(self, purpose: str, name: str) -> None:
        self.kind = JSONL_PURPOSES.get(purpose)
        self.name = name
        self.lineno = 0
        self.records = 0
        self.blank_at: int | None = None

    def feed(self, raw: bytes) -> None:
        self.lineno += 1
        if not raw.strip():
            if self.blank_at is None:
                self.blank_at = self.lineno
            return
        if self.blank_at is not None:
            raise FileCheckError(
                self.name, "blank line (every line must hold one JSON object)", self.blank_at
            )
        self.records += 1
        if self.kind is None:
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FileCheckError(self.name, "not valid UTF-8", self.lineno) from None
        if self.lineno == 1 and text.startswith("\ufeff"):
            text = text[1:]
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileCheckError(
                self.name, f"not valid JSON ({exc.msg} at column {exc.colno})", self.lineno
            ) from None
        except RecursionError:
            raise FileCheckError(self.name, "not valid JSON (nested too deeply)", self.lineno) from None
        reason = _check_record(obj, self.kind)
        if reason is not None:
            raise FileCheckError(self.name, reason, self.lineno)

    def finish(self) -> None:
        if self.records == 0:
            raise FileCheckError(self.name, "file is empty" if self.lineno == 0 else "file has no JSON lines")


_BLOCK = 128 << 10  # small blocks stay in CPU cache: measured fastest
_fast_decoders: dict[str, Any] = {}


def _fast_decoder(kind: str) -> Any:
    """A msgspec ``decode_lines`` for ``kind`` (C speed), or None if msgspec is not installed.

    Only an accelerator: a block it accepts with exactly one record per line is valid; anything
    else is re-checked line by line by ``_LineChecker``, which alone decides and words errors.
    """
    if kind in _fast_decoders:
        return _fast_decoders[kind]
    try:
        import msgspec
    except ImportError:
        _fast_decoders[kind] = None
        return None
    from typing import Annotated, Literal

    # defstruct, not class bodies: this module's annotations are strings (PEP 563).
    message = msgspec.defstruct(
        "Message", [("role", Literal["system", "user", "assistant"]), ("content", str)], gc=False
    )
    conversation = Annotated[list[message], msgspec.Meta(min_length=1)]  # type: ignore[valid-type]
    messages = msgspec.defstruct("Messages", [("messages", conversation)], gc=False)
    preference = msgspec.defstruct(
        "Preference",
        [("messages", conversation), ("chosen", conversation), ("rejected", conversation)],
        gc=False,
    )
    text = msgspec.defstruct("Text", [("text", str)], gc=False)

    schema = {"messages": messages, "preference": preference, "text": text}[kind]
    decoder = msgspec.json.Decoder(schema).decode_lines
    _fast_decoders[kind] = decoder
    return decoder


def _blocks(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Whole lines grouped into blocks of about 128 KiB (read in blocks from a binary file)."""
    read = getattr(lines, "read", None)
    if read is not None:
        carry = b""
        while True:
            chunk = read(max(_BLOCK, len(carry)))  # grows geometrically on a very long line
            if not chunk:
                break
            buf = carry + chunk if carry else chunk
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                carry = buf
                continue
            yield buf[:cut] if cut < len(buf) else buf
            carry = buf[cut:]
        if carry:
            yield carry
        return
    batch: list[bytes] = []
    size = 0
    for raw in lines:
        if not raw.endswith(b"\n"):
            raw += b"\n"
        batch.append(raw)
        size += len(raw)
        if size >= _BLOCK:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def _split_lines(block: bytes) -> Iterator[bytes]:
    parts = block.split(b"\n")
    last = parts.pop()
    for part in parts:
        yield part + b"\n"
    if last:
        yield last


def check_jsonl_stream(lines: Iterable[bytes], purpose: str, name: str) -> None:
    """Validate JSONL ``lines`` (bytes, e.g. a file opened ``rb``) against ``purpose``'s line schema.

    Streams in constant memory (blocks of 128 KiB, or one line if longer). Raises ``FileCheckError`` such as
    ``train.jsonl line 17: messages[2].role 'bot' is not one of system, user, assistant``.
    A blank line followed by more data is an error; blank lines at the very end are tolerated,
    as is a last line without a trailing newline. A file with no records is an error.
    Purposes without a line schema (``reinforcement-fine-tune``) only need to be non-empty.
    Uses msgspec (when installed) to accept valid blocks fast; errors always come from the
    line-by-line reference check.
    """
    if purpose not in PURPOSES:
        raise FileCheckError(name, f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    checker = _LineChecker(purpose, name)
    fast = _fast_decoder(checker.kind) if checker.kind is not None else None
    if fast is None:
        for raw in lines:
            checker.feed(raw)
        checker.finish()
        return
    for block in _blocks(lines):
        if checker.blank_at is None:
            expected = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            try:
                accepted = len(fast(block)) == expected
            except Exception:  # noqa: BLE001 - any failure: let the reference check decide
                accepted = False
            if accepted:
                checker.lineno += expected
                checker.records += expected
                continue
        for raw in _split_lines(block):
            checker.feed(raw)
    checker.finish()
