"""Register the emulator's chat-completion route, ``POST /v1/inference/chat/completions`` (stream=false).

The body is the contract's ``ChatCompletionRequest`` (422 naming the field otherwise). The model
must be served: an ``Active`` deployment's ``model_id`` (for a fine-tune, the fine-tune's id);
any other model is a 404. The oldest ``Active`` deployment of the model answers, and its
``total_input_tokens`` / ``total_output_tokens`` grow by the answer's ``usage``. How the answer is
chosen is in ``chat``. ``chat_latency`` (config) seconds pass before each answer; 429s and other
faults come from the fault rules on ``chat_completion``. ``stream: true`` is refused (422): the
contract describes only the non-streamed answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_seekrflow.client import chat as endpoints
from airflow_provider_seekrflow.emulator.chat import (
    TrainingPairs,
    answer,
    count_tokens,
    message_text,
    prompt_of,
)
from airflow_provider_seekrflow.emulator.deployments import FINE_TUNED_RUN
from airflow_provider_seekrflow.emulator.refusals import invalid, value_error
from airflow_provider_seekrflow.emulator.routes import route
from airflow_provider_seekrflow.emulator.state import EmulatorState

__all__ = ["add_chat_routes", "limited"]

CHAT_ROLES = ("system", "user", "assistant", "tool")
if TYPE_CHECKING:
    ChatRole = str
else:
    ChatRole = Literal[CHAT_ROLES]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: ChatRole
    content: str | list[Any] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[ChatMessage] = Field(min_length=1)
    model: str
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: list[str] | None = None
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = -1
    repetition_penalty: float = 1.0
    stream: bool = False
    # The contract gives no bound; 128 (as OpenAI allows) keeps one request from building a huge answer.
    n: int = Field(1, ge=1, le=128)


def limited(text: str, max_tokens: int | None, stop: list[str] | None) -> tuple[str, str]:
    """Return ``text`` cut at its first ``stop`` string and to ``max_tokens`` words, and the finish reason."""
    for marker in stop or ():
        if marker and marker in text:
            text = text[: text.index(marker)]
    words = text.split()
    if max_tokens is not None and len(words) > max_tokens:
        return " ".join(words[:max_tokens]), "length"
    return text, "stop"


def add_chat_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register ``POST /v1/inference/chat/completions`` on ``api``, answering from ``state``'s deployments."""
    training_pairs = TrainingPairs(state.store)

    def books_of(deployment: dict[str, Any]) -> list[dict[str, str]]:
        """Return the training pairs of a deployment's model (none for a base model)."""
        if deployment["model_type"] != FINE_TUNED_RUN:
            return []
        fine_tune = state.fine_tunes.records.get(deployment["model_id"])
        return training_pairs.of_files(fine_tune["training_files"]) if fine_tune else []

    @route(api, endpoints.CHAT_COMPLETION)
    async def chat_completion(body: ChatCompletionRequest) -> Response:
        if body.stream:
            reason = "stream must be false: the emulator answers with one JSON body"
            raise invalid(value_error(("body", "stream"), reason, True))
        deployment = state.deployments.serving(body.model)
        if deployment is None:
            raise HTTPException(404, detail=f"Model {body.model} is not served: it has no Active deployment")
        messages = [message.model_dump() for message in body.messages]
        reply = answer(body.model, prompt_of(messages), books_of(deployment))
        reply, finish_reason = limited(reply, body.max_completion_tokens or body.max_tokens, body.stop)
        latency = state.config["chat_latency"]
        if latency:
            await asyncio.sleep(latency)
        prompt_tokens = sum(count_tokens(message_text(message)) for message in messages)
        completion_tokens = count_tokens(reply) * body.n
        state.deployments.add_usage(deployment["id"], prompt_tokens, completion_tokens)
        choices = [
            {
                "index": index,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": finish_reason,
            }
            for index in range(body.n)
        ]
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": choices,
            "usage": usage,
        }
        return JSONResponse(completion)
