"""SeekrFlow deployments (a model served on instances): endpoints."""

from __future__ import annotations

from airflow_provider_seekrflow.client.endpoints import Endpoint

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
ENDPOINTS = (LIST_DEPLOYMENTS, CREATE_DEPLOYMENT, GET_DEPLOYMENT, PROMOTE_DEPLOYMENT, DEMOTE_DEPLOYMENT)
