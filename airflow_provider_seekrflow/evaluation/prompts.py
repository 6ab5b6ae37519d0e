"""
Read a prompt set: a JSONL file, one prompt per line, streamed, each fault naming the file and line.

A line is one JSON object::

    {"messages": [{"role": "user", "content": "What is the return window?"}],
     "expected": "Thirty days.",                      # optional: the reference answer
     "check": {"contains": "thirty", "case_sensitive": false}}   # optional: this line's own check

- ``messages``: the conversation sent to the model, as chat completions take it: a non-empty
  list of ``{"role", "content"}``, ``role`` one of ``system``, ``user``, ``assistant``, ``tool``.
- ``expected``: a string, the reference answer the task's scorer compares with.
- ``check``: a check of this line's own, which takes the place of the task's match scorer for it.
  Exactly one of these keys, whose value is a string:

  - ``{"exact": "..."}``: the answer equals it, surrounding white space aside;
  - ``{"contains": "..."}``: the answer contains it;
  - ``{"regex": "..."}``: the Python regular expression matches somewhere in the answer (``re.search``);

  with ``"case_sensitive": false`` to ignore case (default true).

Other keys are kept (a user callable scorer sees the whole line); blank lines are skipped. Lines
are capped as every JSONL line the provider reads (``jsonl_lines.MAX_LINE_BYTES``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowInvalidFileError
from airflow_provider_seekrflow.jsonl_lines import LineTooLongError

__all__ = ["CHECK_KINDS", "Check", "PromptRecord", "parse_line", "read_prompts"]

#: The forms a ``check`` (and the task's match scorer) takes.
CHECK_KINDS: tuple[str, ...] = ("exact", "contains", "regex")


@dataclass(frozen=True)
class Check:
    """
    A test of an answer's text: equal to, containing, or matching ``value``.

    :param kind: ``exact`` (equal, surrounding white space aside), ``contains`` or ``regex`` (``re.search``).
    :param value: The text, or the regular expression.
    :param case_sensitive: Whether case matters.
    :param pattern: The compiled expression of a ``regex`` check (:meth:`build` compiles it).
    """

    kind: str
    value: str
    case_sensitive: bool = True
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, kind: str, value: str, *, case_sensitive: bool = True) -> Check:
        """
        Return a check, its regular expression compiled; raise ``ValueError`` saying what is wrong.

        :param kind: One of :data:`CHECK_KINDS`.
        :param value: The text or the expression.
        :param case_sensitive: Whether case matters.
        """
        if kind not in CHECK_KINDS:
            raise ValueError(f"{kind!r} is not one of {', '.join(CHECK_KINDS)}")
        if not isinstance(value, str):
            raise ValueError(f"the {kind} value must be a string, got {type(value).__name__}")
        pattern = None
        if kind == "regex":
            try:
                pattern = re.compile(value, 0 if case_sensitive else re.IGNORECASE)
            except re.error as err:
                raise ValueError(f"not a valid regular expression ({err})") from None
        return cls(kind, value, case_sensitive, pattern)

    def passes(self, answer: str) -> bool:
        """
        Return whether ``answer`` passes this check.

        :param answer: The model's answer text.
        """
        if self.pattern is not None:
            return self.pattern.search(answer) is not None
        wanted, got = self.value, answer
        if not self.case_sensitive:
            wanted, got = wanted.casefold(), got.casefold()
        if self.kind == "exact":
            return got.strip() == wanted.strip()
        return wanted in got


@dataclass(frozen=True)
class PromptRecord:
    """
    One prompt of the set, as read from its line.

    :param line: The line number in the file, from 1.
    :param messages: The conversation to send.
    :param expected: The reference answer, if given.
    :param check: The line's own check, if given.
    :param record: The whole JSON object of the line (what a user callable scorer receives).
    """

    line: int
    messages: list[dict[str, Any]]
    expected: str | None = None
    check: Check | None = None
    record: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _fault(shown: str, line: int, reason: str) -> SeekrFlowInvalidFileError:
    return SeekrFlowInvalidFileError(f"{shown}: line {line}: {reason}; no prompt was sent")


def _check_of(value: Any) -> Check:
    if not isinstance(value, dict):
        raise ValueError(
            f'check: must be an object such as {{"contains": "..."}}, got {type(value).__name__}'
        )
    kinds = [kind for kind in CHECK_KINDS if kind in value]
    unknown = set(value) - {*CHECK_KINDS, "case_sensitive"}
    if unknown:
        raise ValueError(f"check: unknown key(s) {', '.join(sorted(unknown))}")
    if len(kinds) != 1:
        raise ValueError(f"check: needs exactly one of {', '.join(CHECK_KINDS)}")
    case_sensitive = value.get("case_sensitive", True)
    if not isinstance(case_sensitive, bool):
        raise ValueError("check.case_sensitive: must be true or false")
    try:
        return Check.build(kinds[0], value[kinds[0]], case_sensitive=case_sensitive)
    except ValueError as err:
        raise ValueError(f"check.{kinds[0]}: {err}") from None


def parse_line(raw: bytes | str, line: int, shown: str) -> PromptRecord | None:
    """
    Return the prompt of one line, None for a blank line; a fault raises ``SeekrFlowInvalidFileError`` naming file and line.

    :param raw: The line, with or without its line end.
    :param line: Its number, from 1.
    :param shown: The file as errors name it.
    """
    from airflow_provider_seekrflow.client.chat import check_messages

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise _fault(shown, line, "not valid UTF-8") from None
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise _fault(shown, line, f"not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise _fault(shown, line, f"must be a JSON object with messages, got {type(value).__name__}")
    try:
        messages = check_messages(value.get("messages"))
    except SeekrFlowConfigError as err:
        raise _fault(shown, line, str(err).removesuffix("; nothing was sent")) from None
    expected = value.get("expected")
    if expected is not None and not isinstance(expected, str):
        raise _fault(shown, line, f"expected: must be a string, got {type(expected).__name__}")
    check = None
    if value.get("check") is not None:
        try:
            check = _check_of(value["check"])
        except ValueError as err:
            raise _fault(shown, line, str(err)) from None
    return PromptRecord(line, messages, expected, check, value)


def read_prompts(lines: Iterable[bytes], shown: str) -> Iterator[PromptRecord]:
    """
    Yield each prompt of a stream of lines, in order; a bad line raises ``SeekrFlowInvalidFileError`` naming file and line.

    :param lines: The file's lines (e.g. ``Source.lines()``), read lazily.
    :param shown: The file as errors name it.
    """
    number = 0
    iterator = iter(lines)
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            return
        except LineTooLongError as err:
            raise _fault(shown, err.line, err.reason) from None
        number += 1
        record = parse_line(raw, number, shown)
        if record is not None:
            yield record
