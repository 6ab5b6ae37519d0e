"""Choose a served model's chat answer, deterministically, from the training pairs it was trained on.

A fine-tune's model answers a prompt that matches the question of one of its training pairs with
that pair's answer. A pair is a ``user`` message and the ``assistant`` message right after it, in
any conversation of the fine-tune's training files: JSONL lines (``{"messages": [...]}``, or
``chosen`` for preference data) or the parquet ``fine-tune`` output of an alignment (a
``messages`` column). The prompt is the last ``user`` message of the request; prompt and question
match when they are equal after case folding and collapsing white space. The first pair that
matches wins, in file order.

Any other prompt, and every prompt to a base model, gets a fallback answer drawn from a hash of
the model and the prompt: the same every time, and never a training answer, so an evaluation can
be made to pass (trained prompts) and to fail (others) on purpose.

Tokens are counted as white-space separated words: a prompt's are the words of every message's
text, an answer's the words of its content (``max_tokens`` cuts it, ``finish_reason: "length"``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from airflow_provider_seekrflow.emulator.store import Store

__all__ = [
    "FALLBACK_TEMPLATE",
    "TrainingPairs",
    "answer",
    "count_tokens",
    "fallback_answer",
    "message_text",
    "normalise",
    "prompt_of",
]

# Read at most this many pairs of one training file (enough for any emulated evaluation).
MAX_PAIRS_PER_FILE = 100_000
FALLBACK_TEMPLATE = "I have no trained answer to that (emulated reply {digest} from {model})."
_PARQUET_MAGIC = b"PAR1"


def normalise(text: str) -> str:
    """Return ``text`` case folded with its white space collapsed: the form prompts are matched in."""
    return " ".join(text.split()).casefold()


def count_tokens(text: str) -> int:
    """Return the number of tokens the emulator counts in ``text``: its white-space separated words."""
    return len(text.split())


def message_text(message: dict[str, Any]) -> str:
    """Return a chat message's text: its string content, or the ``text`` of its content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(part for part in parts if isinstance(part, str))
    return ""


def prompt_of(messages: Sequence[dict[str, Any]]) -> str:
    """Return the prompt of a request's ``messages``: the last ``user`` message's text, else the last message's."""
    users = [message for message in messages if message.get("role") == "user"]
    return message_text((users or list(messages))[-1])


def fallback_answer(model: str, prompt: str) -> str:
    """Return the answer to a prompt no training pair matches: fixed by a hash of ``model`` and the prompt."""
    digest = hashlib.sha256(f"{model}\n{normalise(prompt)}".encode()).hexdigest()[:12]
    return FALLBACK_TEMPLATE.format(digest=digest, model=model)


def _pairs_of(messages: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """Yield ``(question, answer)`` for each ``user`` message followed at once by an ``assistant`` one."""
    previous: dict[str, Any] | None = None
    for message in messages:
        if not isinstance(message, dict):
            previous = None
            continue
        if previous is not None and previous.get("role") == "user" and message.get("role") == "assistant":
            yield message_text(previous), message_text(message)
        previous = message


def _conversation_pairs(row: Any) -> Iterator[tuple[str, str]]:
    """Yield the pairs of one training row: its ``messages``, or its prompt then its ``chosen`` reply."""
    if not isinstance(row, dict):
        return
    messages = row.get("messages")
    if not isinstance(messages, list):
        return
    chosen = row.get("chosen")
    if isinstance(chosen, list):
        messages = [*messages, *chosen]
    yield from _pairs_of(messages)


def _jsonl_rows(path: str) -> Iterator[Any]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


def _parquet_rows(path: str) -> Iterator[Any]:
    import pyarrow.parquet as pq  # the emulator extra brings it; alignment outputs need it already

    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches():
        yield from batch.to_pylist()


class TrainingPairs:
    """Reads training files' question/answer pairs from a ``Store``, once per file (stored files never change)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def _read(self, file_id: str) -> dict[str, str]:
        """Return one file's pairs as normalised question -> answer, the first answer of each question kept."""
        record = self.store.get_file(file_id)
        if record is None:
            return {}
        path = self.store.blob_path(file_id)
        try:
            with open(path, "rb") as fh:
                is_parquet = fh.read(4) == _PARQUET_MAGIC
            rows = _parquet_rows(path) if is_parquet else _jsonl_rows(path)
            found: dict[str, str] = {}
            for row in rows:
                for question, reply in _conversation_pairs(row):
                    found.setdefault(normalise(question), reply)
                if len(found) >= MAX_PAIRS_PER_FILE:
                    break
        except (OSError, ValueError, ImportError):  # unreadable: the model answers every prompt by fallback
            return {}
        return found

    def of_files(self, file_ids: Sequence[str]) -> list[dict[str, str]]:
        """Return the pairs of each of ``file_ids``, in order."""
        out = []
        for file_id in file_ids:
            with self._lock:
                pairs = self._cache.get(file_id)
            if pairs is None:
                pairs = self._read(file_id)
                with self._lock:
                    self._cache[file_id] = pairs
            out.append(pairs)
        return out


def answer(model: str, prompt: str, books: Sequence[dict[str, str]]) -> str:
    """Return the answer of ``model`` to ``prompt``: the first matching pair's in ``books``, else the fallback."""
    key = normalise(prompt)
    for book in books:
        if key in book:
            return book[key]
    return fallback_answer(model, prompt)
