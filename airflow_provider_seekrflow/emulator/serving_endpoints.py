"""Declare the deployment and chat-completion endpoints the emulator serves, by their openapi operationIds.

The provider's client does not call these yet, so they are declared here rather than in a client
module; ``routes`` adds them to the route table, which makes them nameable by fault rules and the
journal (``create_deployment``, ``chat_completion``...) like every other route.
"""

from __future__ import annotations

from airflow_provider_seekrflow.client.endpoints import Endpoint

__all__ = [
    "CHAT_COMPLETION",
    "CREATE_DEPLOYMENT",
    "DEMOTE_DEPLOYMENT",
    "ENDPOINTS",
    "GET_DEPLOYMENT",
    "LIST_DEPLOYMENTS",
    "PROMOTE_DEPLOYMENT",
]

LIST_DEPLOYMENTS = Endpoint("list_deployments", "GET", "/v1/flow/deployments", repeatable=True)
CREATE_DEPLOYMENT = Endpoint("create_deployment", "POST", "/v1/flow/deployments", repeatable=False)
GET_DEPLOYMENT = Endpoint("get_deployment", "GET", "/v1/flow/deployments/{deployment_id}", repeatable=True)
# Promoting twice is refused (409), as is demoting twice: neither is harmless to repeat blindly.
PROMOTE_DEPLOYMENT = Endpoint(
    "promote_deployment", "PUT", "/v1/flow/deployments/{deployment_id}/promote", repeatable=False
)
DEMOTE_DEPLOYMENT = Endpoint(
    "demote_deployment", "PUT", "/v1/flow/deployments/{deployment_id}/demote", repeatable=False
)
# Inference lives beside /v1/flow on the same host; an answer adds to a deployment's token counters.
CHAT_COMPLETION = Endpoint("chat_completion", "POST", "/v1/inference/chat/completions", repeatable=False)
ENDPOINTS = (
    LIST_DEPLOYMENTS,
    CREATE_DEPLOYMENT,
    GET_DEPLOYMENT,
    PROMOTE_DEPLOYMENT,
    DEMOTE_DEPLOYMENT,
    CHAT_COMPLETION,
)
