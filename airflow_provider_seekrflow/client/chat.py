"""
SeekrFlow inference: the chat-completions endpoint, its request checked locally, and its answer read liberally.

A chat completion creates nothing the service keeps, but it is billed: each answer adds its
``usage`` to the serving deployment's token counters. The endpoint is therefore not repeatable:
the transports resend it only after a 429 or 503 (the service did nothing), never after an answer
that may have been lost (a dropped connection after sending, a 500/502/504), which the caller
decides about (the evaluation counts such a prompt as errored, see ``evaluation.runner``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field, PlainValidator, WrapValidator

from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.service_model import ServiceModel, config_error, finite_number

# Inference lives beside /v1/flow on the same host; an answer adds to a deployment's token counters.
CHAT_COMPLETION = Endpoint("chat_completion", "POST", "/v1/inference/chat/completions", repeatable=False)
ENDPOINTS = (CHAT_COMPLETION,)

#: The roles a chat message may have (``openapi.yaml``, ``ChatMessage``).
CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")
# Fields the request builder sets itself; ``options`` may not set them again.
_OWN_FIELDS = frozenset({"model", "messages", "max_tokens", "temperature", "stop"})


def token_count(value: Any) -> int | None:
    """
    Return a token count as a whole number of at least 0, or None when ``value`` holds none.

    Read liberally: ``12``, ``12.0`` and ``"12"`` are 12; NaN, infinities, negatives, booleans
    and text that is no number are None (the count is unknown, not zero).

    :param value: What the service sent.
    """
    number = finite_number(value)
    return None if number is None or number < 0 else int(number)


def _none_if_unreadable(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValueError:  # pydantic's ValidationError is a ValueError
        return None


TokenCount = Annotated[int | None, PlainValidator(token_count)]


class ChatMessage(ServiceModel):
    """One message of a conversation: a role and its content (text, or a list of content parts)."""

    role: str | None = None
    content: Any = None

    @property
    def text(self) -> str:
        """Return the message's text: its string content, or the ``text`` of its content parts joined by spaces."""
        return content_text(self.content)


class ChatChoice(ServiceModel):
    """One answer of a completion."""

    index: Annotated[int | None, WrapValidator(_none_if_unreadable)] = None
    finish_reason: Annotated[str | None, WrapValidator(_none_if_unreadable)] = None
    message: Annotated[ChatMessage | None, WrapValidator(_none_if_unreadable)] = None


class ChatUsage(ServiceModel):
    """The tokens a completion read (``prompt_tokens``) and wrote (``completion_tokens``); None when unknown."""

    prompt_tokens: TokenCount = None
    completion_tokens: TokenCount = None
    total_tokens: TokenCount = None


class ChatCompletion(ServiceModel):
    """A chat completion (``stream`` false): its answers and token usage, every field optional."""

    id: Annotated[str | None, WrapValidator(_none_if_unreadable)] = None
    object: Annotated[str | None, WrapValidator(_none_if_unreadable)] = None
    created: Annotated[int | None, WrapValidator(_none_if_unreadable)] = None
    model: Annotated[str | None, WrapValidator(_none_if_unreadable)] = None
    choices: Annotated[list[ChatChoice] | None, WrapValidator(_none_if_unreadable)] = Field(
        default_factory=list
    )
    usage: Annotated[ChatUsage | None, WrapValidator(_none_if_unreadable)] = None

    @property
    def text(self) -> str:
        """Return the first answer's text; ``""`` when the completion holds none."""
        for choice in self.choices or ():
            if choice.message is not None:
                return choice.message.text
        return ""

    @property
    def finish_reason(self) -> str | None:
        """Return the first answer's finish reason (``stop``, ``length``...), if given."""
        return self.choices[0].finish_reason if self.choices else None

    @property
    def prompt_tokens(self) -> int | None:
        """Return the tokens the prompt counted, or None when the service did not say."""
        return self.usage.prompt_tokens if self.usage is not None else None

    @property
    def completion_tokens(self) -> int | None:
        """Return the tokens the answer counted, or None when the service did not say."""
        return self.usage.completion_tokens if self.usage is not None else None


def content_text(content: Any) -> str:
    """
    Return a message content's text: a string as is, the ``text`` of each content part joined by spaces.

    :param content: A string, a list of content parts (``{"type": "text", "text": ...}``), or anything else (``""``).
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def check_messages(messages: Any, field: str = "messages") -> list[dict[str, Any]]:
    """
    Return ``messages`` as a list of dicts if it is a usable conversation; else raise ``SeekrFlowConfigError`` naming the field.

    A conversation is a non-empty list of ``{"role", "content"}`` objects: ``role`` one of
    :data:`CHAT_ROLES`, ``content`` a string, a list of content parts or null; other keys are kept.

    :param messages: The conversation as given.
    :param field: The name errors give it (``messages``, or ``line 3: messages``).
    """
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)) or not messages:
        raise config_error(f"{field}: must be a non-empty list of messages, got {_shown(messages)}")
    checked = []
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(message, Mapping):
            raise config_error(f"{where}: must be an object with role and content, got {_shown(message)}")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise config_error(f"{where}.role: {role!r} is not one of {', '.join(CHAT_ROLES)}")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise config_error(
                f"{where}.content: must be text, a list of content parts or null, got {type(content).__name__}"
            )
        checked.append(dict(message))
    return checked


def completion_request(
    *,
    model: str,
    messages: Any,
    max_tokens: int | None = None,
    temperature: float | None = None,
    stop: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Return a checked ``ChatCompletionRequest`` body, refusing locally what the service would refuse.

    Unset optional fields are left out (the service's defaults apply); ``stream`` is always false.

    :param model: The served model: a base model, or the model id of an Active deployment.
    :param messages: The conversation (see :func:`check_messages`).
    :param max_tokens: The longest answer, in tokens: at least 1.
    :param temperature: Sampling temperature, a number of at least 0 (0 for repeatable grading).
    :param stop: Strings at which the answer stops.
    :param options: Further fields of the contract, sent as given (``top_p``, ``top_k``,
        ``repetition_penalty``, ``max_completion_tokens``, ``response_format``...); ``stream`` may only be false.
    """
    if not isinstance(model, str) or not model.strip():
        raise config_error(f"model: must name a served model, got {_shown(model)}")
    body: dict[str, Any] = {"model": model, "messages": check_messages(messages)}
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise config_error(f"max_tokens: must be a whole number of at least 1, got {max_tokens!r}")
        body["max_tokens"] = max_tokens
    if temperature is not None:
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not math.isfinite(temperature)
            or temperature < 0
        ):
            raise config_error(f"temperature: must be a number of at least 0, got {temperature!r}")
        body["temperature"] = temperature
    if stop is not None:
        if isinstance(stop, str) or not all(isinstance(item, str) for item in stop):
            raise config_error(f"stop: must be a list of strings, got {_shown(stop)}")
        body["stop"] = list(stop)
    for key, value in (options or {}).items():
        if key in _OWN_FIELDS:
            raise config_error(f"options: {key!r} has a parameter of its own; set it there")
        if key == "stream" and value:
            raise config_error("options: stream must be false: the answer is read as one JSON body")
        body[key] = value
    return body


def complete(body: dict[str, Any]) -> Call[ChatCompletion]:
    """
    Return the call asking for a chat completion.

    :param body: A :func:`completion_request` body.
    """
    return Call(CHAT_COMPLETION, ChatCompletion, json=body)


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:80] + "…"
