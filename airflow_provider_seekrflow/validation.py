"""Local checks on files bound for SeekrFlow, shared by the operators and the emulator.

No Airflow and no web framework (only pydantic, which the client uses too). The vocabulary
(purposes, the file types each accepts, the 4 GB per-file limit, message roles) comes from
``vocabulary``; the JSONL line schema of each training purpose is defined once, below, as
``TypedDict``s that pydantic validates: a whole batch of lines at once (fast), and a line that fails
again on its own from ``json.loads`` output, to word the fault.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, GetCoreSchemaHandler, Json, TypeAdapter, ValidationError, with_config
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from airflow_provider_seekrflow import jsonl_lines
from airflow_provider_seekrflow.jsonl_lines import MAX_LINE_BYTES, LineTooLongError
from airflow_provider_seekrflow.vocabulary import (
    ALIGNMENT_DOCUMENT_TYPES,
    MAX_FILE_BYTES,
    MESSAGE_ROLES,
    PURPOSES,
    TRAINING_FILE_TYPES,
    accepted_types,
)

__all__ = [
    "ALIGNMENT_DOCUMENT_TYPES",
    "JSONL_PURPOSES",
    "LINE_SCHEMAS",
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "MESSAGE_ROLES",
    "PURPOSES",
    "TRAINING_FILE_TYPES",
    "FileCheckError",
    "LineTooLongError",
    "accepted_types",
    "check_file",
    "check_jsonl_stream",
    "check_listed",
    "file_type_of",
    "local_size",
    "needs_content_check",
]

# ------------------------------------------------------------------ the JSONL line schemas (the one definition)

if TYPE_CHECKING:
    Role = str
else:
    Role = Literal[MESSAGE_ROLES]  # one of vocabulary.MESSAGE_ROLES


class _JsonString:
    """Marks a ``str`` field. Validating JSON, a JSON string is kept as its UTF-8 bytes, not decoded.

    Nothing reads the values, and decoding a ``str`` costs more than the check (a quarter of the
    time on non-ASCII text). From Python objects (the line-by-line check) it is a plain strict ``str``.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # pydantic's JSON parser has checked the string (UTF-8, escapes) before the bytes are made.
        return core_schema.json_or_python_schema(
            json_schema=core_schema.bytes_schema(strict=True), python_schema=handler(source)
        )


Text = Annotated[str, _JsonString]
# Strict: a JSON value of another type is never coerced. Keys beyond the schema's are ignored.
_STRICT = ConfigDict(strict=True)


@with_config(_STRICT)
class Message(TypedDict):
    """One turn of a conversation."""

    role: Role
    content: Text


Conversation = Annotated[list[Message], Field(min_length=1)]


@with_config(_STRICT)
class MessagesLine(TypedDict):
    """A line of fine-tune and alignment data."""

    messages: Conversation


@with_config(_STRICT)
class PreferenceLine(TypedDict):
    """A line of preference-fine-tune data: a conversation and a chosen and a rejected answer."""

    messages: Conversation
    chosen: Conversation
    rejected: Conversation


@with_config(_STRICT)
class TextLine(TypedDict):
    """A line of pre-train data."""

    text: Text


# Line schema kind -> the schema of one line.
LINE_SCHEMAS: Mapping[str, type] = {"messages": MessagesLine, "preference": PreferenceLine, "text": TextLine}
# Purpose -> JSONL line schema kind. ``reinforcement-fine-tune`` has no line check.
JSONL_PURPOSES: Mapping[str, str] = {
    "fine-tune": "messages",
    "alignment": "messages",
    "preference-fine-tune": "preference",
    "pre-train": "text",
}


@functools.cache
def _line_validator(kind: str) -> Callable[[Any], Any]:
    """Validate one parsed line (a ``json.loads`` result) against ``kind``'s schema."""
    return TypeAdapter(LINE_SCHEMAS[kind]).validate_python


class FileCheckError(ValueError):
    """A file fails a local check. ``str(err)`` names the file as given (and the line) and the fault."""

    def __init__(self, file: str, reason: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        # The path as the caller gave it: a bare name cannot tell /data/docs/a.md from /data/old/a.md.
        where = f"{file} line {line}" if line is not None else file
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


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e9:.2f} GB ({n} bytes)"


def check_file(path: str | os.PathLike[str], purpose: str, *, check_content: bool = True) -> None:
    """Check a local file before uploading it for ``purpose``; raise ``FileCheckError`` on a fault.

    Order: purpose known, file exists, is a regular file, then :func:`check_listed` (non-empty,
    within the 4 GB limit, an extension accepted for the purpose), then (``check_content``) every
    JSONL line against the purpose's schema, streaming the file.
    """
    file = os.fspath(path)
    _check_purpose(file, purpose)
    check_listed(file, local_size(file), purpose)
    if check_content and needs_content_check(file, purpose):
        try:
            fh = open(file, "rb", buffering=1 << 20)  # noqa: SIM115
        except OSError as exc:
            raise FileCheckError(file, f"cannot read file ({exc.strerror or exc})") from None
        with fh:
            check_jsonl_stream(fh, purpose, file)


def local_size(path: str | os.PathLike[str]) -> int:
    """Return a local file's size; raise ``FileCheckError`` when it is missing or not a regular file."""
    file = os.fspath(path)
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
    return st.st_size


def _check_purpose(file: str, purpose: str) -> None:
    if purpose not in PURPOSES:
        raise FileCheckError(file, f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")


def check_listed(file: str, size: int, purpose: str) -> None:
    """Check what a listing tells of a file (its name and size) before any byte of it is read.

    Raises ``FileCheckError`` when the purpose is unknown, the file is empty, over the 4 GB limit,
    or has an extension the purpose does not accept.

    :param file: The file's path or URI; its last part is the name whose extension counts.
    :param size: Its size in bytes.
    :param purpose: The purpose it will be uploaded for.
    """
    _check_purpose(file, purpose)
    if size == 0:
        raise FileCheckError(file, "file is empty")
    if size > MAX_FILE_BYTES:
        raise FileCheckError(
            file,
            f"file is {_fmt_bytes(size)}, over the API's 4 GB ({MAX_FILE_BYTES} bytes) limit",
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


def needs_content_check(file: str, purpose: str) -> bool:
    """Return whether a file's lines are checked against a schema: a ``.jsonl`` file of a training purpose."""
    return file_type_of(file) == "jsonl" and purpose in JSONL_PURPOSES


def _reason(error: ValidationError) -> str:
    """Word the first schema fault of a line, e.g. ``messages[2].role 'bot' is not one of ...``.

    Fields are checked in schema order, items in list order and a message's role before its
    content, so the first fault pydantic reports is the first one reading the line.
    """
    first = error.errors(include_url=False)[0]
    loc, kind, value = first["loc"], first["type"], first["input"]
    if kind == "missing":
        owner, field = loc[:-1], loc[-1]
        return f"{_path(owner)} is missing field '{field}'" if owner else f"missing field '{field}'"
    if not loc:
        return f"expected a JSON object, got {_json_type(value)}"
    where = _path(loc)
    if kind in ("list_type", "too_short"):
        return f"{where} must be a non-empty list"
    if kind == "dict_type":
        return f"{where} must be an object"
    if kind == "literal_error" and type(value) is str:  # the role is the schema's one literal
        return f"{where} {value!r} is not one of {', '.join(MESSAGE_ROLES)}"
    return f"{where} must be a string"  # string_type, or a literal given another type


def _path(loc: tuple[int | str, ...]) -> str:
    """``('messages', 2, 'role')`` -> ``messages[2].role``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


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
        self.validate = _line_validator(self.kind) if self.kind is not None else None
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
        if self.validate is None:
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
        except ValueError:  # an integer over Python's digit limit (sys.get_int_max_str_digits)
            raise FileCheckError(
                self.name, "not valid JSON (an integer with too many digits)", self.lineno
            ) from None
        try:
            self.validate(obj)
        except ValidationError as exc:
            raise FileCheckError(self.name, _reason(exc), self.lineno) from None

    def finish(self) -> None:
        if self.records == 0:
            raise FileCheckError(self.name, "file is empty" if self.lineno == 0 else "file has no JSON lines")


# Line schema kind -> a validator of a batch of lines (bytes, one JSON document each), built on first
# use; None turns the batch check off (every line then goes through ``_LineChecker``).
_fast_decoders: dict[str, Callable[[list[bytes]], Any] | None] = {}


def _fast_decoder(kind: str) -> Callable[[list[bytes]], Any] | None:
    """The batch check of ``kind``: pydantic parses each line and validates it against the same schema.

    Only an accelerator: a batch it accepts is valid; anything else is re-checked line by line by
    ``_LineChecker``, which alone decides and words errors. Each line is parsed on its own, so a
    line can never borrow from its neighbours.
    """
    if kind not in _fast_decoders:
        schema = LINE_SCHEMAS[kind]
        _fast_decoders[kind] = TypeAdapter(list[Json[schema]]).validate_python  # type: ignore[valid-type]
    return _fast_decoders[kind]


def _named(batches: Iterator[list[bytes]], name: str) -> Iterator[list[bytes]]:
    """Pass ``batches`` on, turning a line too long into the file's line-numbered check error."""
    try:
        yield from batches
    except LineTooLongError as err:
        raise FileCheckError(name, err.reason, err.line) from None


def check_jsonl_stream(lines: Iterable[bytes], purpose: str, name: str) -> None:
    """Validate JSONL ``lines`` (bytes, e.g. a file opened ``rb``) against ``purpose``'s line schema.

    Streams in bounded memory: batches of lines of 32 KiB, or one line if longer; a line over
    ``MAX_LINE_BYTES`` (64 MiB) is an error, as is one that ``lines`` raises ``LineTooLongError`` for. Raises
    ``FileCheckError`` such as
    ``train.jsonl line 17: messages[2].role 'bot' is not one of system, user, assistant``.
    A blank line followed by more data is an error; blank lines at the very end are tolerated,
    as is a last line without a trailing newline. A file with no records is an error.
    Purposes without a line schema (``reinforcement-fine-tune``) only need to be non-empty.
    A valid batch of lines passes in one pydantic call; errors always come from the line-by-line check.
    """
    if purpose not in PURPOSES:
        raise FileCheckError(name, f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    checker = _LineChecker(purpose, name)
    fast = _fast_decoder(checker.kind) if checker.kind is not None else None
    for batch in _named(jsonl_lines.batches(lines), name):
        if fast is not None and checker.blank_at is None:
            try:
                fast(batch)
            except ValidationError:  # let the line-by-line check decide and word the fault
                pass
            else:
                checker.lineno += len(batch)
                checker.records += len(batch)
                continue
        for raw in batch:
            checker.feed(raw)
    checker.finish()
