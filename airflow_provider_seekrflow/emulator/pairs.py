"""Turn source documents into question/answer training pairs (the emulator's 'alignment').

Deterministic and cheap: each source's text is split into sentences, and each substantial
sentence becomes one conversation ``system -> user question -> assistant answer``.
``to_parquet`` encodes them as the service ships its ``fine-tune`` output: a parquet file with
one row per conversation and one column, ``messages`` (list<struct<role, content>>).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from airflow_provider_seekrflow.vocabulary import MESSAGE_ROLES, AlignmentType

__all__ = ["ROW_GROUP_SIZE", "build_conversations", "extract_text", "to_parquet"]

MAX_SOURCE_BYTES = 2 << 20  # read at most this much of each source document
MAX_PAIRS = 500
# Small row groups: a large output then spans several, so readers that stream a row group at a
# time are exercised rather than getting everything in one piece.
ROW_GROUP_SIZE = 100

_TAG = re.compile(r"<[^>]{0,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")
# A conversation is one message of each role, in the order the vocabulary lists them.
_SYSTEM, _USER, _ASSISTANT = MESSAGE_ROLES


def extract_text(data: bytes, file_type: str | None) -> str:
    """Best-effort plain text from a document's bytes (markup tags and binary noise removed)."""
    text = data.decode("utf-8", errors="replace")
    if file_type in ("html", "xml"):
        text = _TAG.sub(" ", text)
    return _CONTROL.sub(" ", text)


def _sentences(text: str) -> Iterable[str]:
    for chunk in _SENTENCE_END.split(text):
        sentence = _SPACE.sub(" ", chunk).strip(" -*#>|\t")
        words = _WORD.findall(sentence)
        # Headings and list labels carry no statement to answer with: keep whole sentences only.
        if not sentence.endswith((".", "!", "?")):
            continue
        if len(words) >= 4 and sum(len(w) for w in words) * 2 >= len(sentence):
            yield sentence[:1000]


_STOPWORDS = frozenset(
    {
        *("a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with"),
        *("within", "from", "is", "are", "was", "were", "be", "been", "can", "may", "must", "will"),
        *("would", "should", "not", "no", "every", "each", "any", "all", "our", "your", "their"),
        *("its", "it", "this", "that", "these", "those", "as"),
    }
)


def _topic(sentence: str) -> str:
    words = [word for word in _WORD.findall(sentence) if word.lower() not in _STOPWORDS]
    return " ".join(words[:4]).lower()


def build_conversations(
    sources: list[tuple[str, str]],
    instructions: str,
    system_prompt: str | None,
    alignment_type: str,
) -> list[dict]:
    """Conversations (``{"messages": [...]}``) from ``(filename, text)`` sources."""
    if system_prompt and system_prompt.strip() and alignment_type == AlignmentType.PRINCIPLE.value:
        system = system_prompt.strip()
    else:
        system = f"You are a helpful assistant. Follow these instructions: {instructions.strip()}"
    conversations: list[dict] = []
    for filename, text in sources:
        for sentence in _sentences(text):
            question = f"What does {filename} say about {_topic(sentence)}?"
            conversations.append(_conversation(system, question, sentence))
            if len(conversations) >= MAX_PAIRS:
                return conversations
    if not conversations:
        names = ", ".join(name for name, _ in sources) or "the documents"
        answer = f"The documents contain no readable sentences to answer from ({names})."
        conversations.append(_conversation(system, f"What do {names} cover?", answer))
    return conversations


def _conversation(system: str, question: str, answer: str) -> dict:
    """Return one training conversation: the system prompt, a user question and the assistant's answer."""
    return {
        "messages": [
            {"role": _SYSTEM, "content": system},
            {"role": _USER, "content": question},
            {"role": _ASSISTANT, "content": answer},
        ]
    }


def _check_conversations(conversations: list[dict]) -> None:
    """Raise ``ValueError`` unless every conversation is a non-empty list of known role/content items.

    The parquet schema fixes the column types; this adds what it cannot: the role vocabulary of
    ``fine-tune`` data and no empty conversations (the same rules as the JSONL line check).
    """
    roles = frozenset(MESSAGE_ROLES)
    for row, conversation in enumerate(conversations):
        messages = conversation.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError(f"conversation {row}: messages must be a non-empty list")
        for i, message in enumerate(messages):
            if (
                not isinstance(message, dict)
                or message.get("role") not in roles
                or not isinstance(message.get("content"), str)
            ):
                raise ValueError(f"conversation {row}: messages[{i}] is not a role/content item")


def _pyarrow() -> tuple[Any, Any]:
    """Import pyarrow on first use, so the emulator itself imports without it."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise RuntimeError(
            'writing alignment outputs needs pyarrow: pip install "airflow-provider-seekrflow[emulator]"'
        ) from None
    return pyarrow, pyarrow.parquet


def to_parquet(conversations: list[dict], *, row_group_size: int = ROW_GROUP_SIZE) -> bytes:
    """Encode conversations as the ``fine-tune`` parquet file: one row each, a ``messages`` column."""
    _check_conversations(conversations)
    pa, pq = _pyarrow()
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    schema = pa.schema([("messages", pa.list_(message))])
    table = pa.Table.from_pylist([{"messages": c["messages"]} for c in conversations], schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue().to_pybytes()
