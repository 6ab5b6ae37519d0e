"""SeekrFlow inference: the chat-completions endpoint."""

from __future__ import annotations

from airflow_provider_seekrflow.client.endpoints import Endpoint

# Inference lives beside /v1/flow on the same host; an answer adds to a deployment's token counters.
CHAT_COMPLETION = Endpoint("chat_completion", "POST", "/v1/inference/chat/completions", repeatable=False)
ENDPOINTS = (CHAT_COMPLETION,)
