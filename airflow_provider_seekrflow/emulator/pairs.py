"""Turn source documents into question/answer training pairs (the emulator's 'alignment').

Deterministic and cheap: each source's text is split into sentences, and each substantial
sentence becomes one conversation ``system -> user question -> assistant answer``. Every line
produced passes ``validation.check_jsonl_stream`` for purpose ``fine-tune``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

__all__ = ["build_conversations", "extract_text", "to_jsonl"]

MAX_SOURCE_BYTES = 2 << 20  # read at most this much of each source document
MAX_PAIRS = 500

_TAG = re.compile(r"<[^>]{0,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")


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
    if system_prompt and system_prompt.strip() and alignment_type == "principle":
        system = system_prompt.strip()
    else:
        system = f"You are a helpful assistant. Follow these instructions: {instructions.strip()}"
    conversations: list[dict] = []
    for filename, text in sources:
        for sentence in _sentences(text):
            question = f"What does {filename} say about {_topic(sentence)}?"
            conversations.append(
                {
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": sentence},
                    ]
                }
            )
            if len(conversations) >= MAX_PAIRS:
                return conversations
    if not conversations:
        names = ", ".join(name for name, _ in sources) or "the documents"
        conversations.append(
            {
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": f"What do {names} cover?"},
                    {
                        "role": "assistant",
                        "content": f"The documents contain no readable sentences to answer from ({names}).",
                    },
                ]
            }
        )
    return conversations


def to_jsonl(conversations: list[dict]) -> bytes:
    return "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in conversations).encode("utf-8")
