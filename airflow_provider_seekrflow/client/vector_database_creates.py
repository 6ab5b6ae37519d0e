"""
Create a vector database, or find it, and start an ingestion job, each once even when an answer is lost.

Functions over a :class:`~airflow_provider_seekrflow.client.sync_transport.SyncTransport`, beside
:mod:`.creates` (which holds the other kinds' creates; this one is apart to keep each small). A
lost answer is matched only against what is new since a snapshot taken before the request was
sent (:mod:`.lost_answers`); see :mod:`.reconcile` for the rule.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.client import vector_databases as vdb
from airflow_provider_seekrflow.client.log_text import for_log
from airflow_provider_seekrflow.client.lost_answers import Snapshot
from airflow_provider_seekrflow.client.reconcile import once
from airflow_provider_seekrflow.client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import SeekrFlowError


def list_vector_databases(transport: SyncTransport) -> list[vdb.VectorDatabase]:
    """Return every vector database (the contract lists them all at once)."""
    return transport.call(vdb.list_vector_databases()).data or []


def snapshot_vector_databases(transport: SyncTransport) -> Snapshot:
    """Return the ids of the databases listed now, to tell a new one from them later."""
    return Snapshot.of(list_vector_databases(transport))


def create_vector_database(
    transport: SyncTransport, body: dict[str, Any], snapshot: Snapshot
) -> vdb.VectorDatabase:
    """
    Create a vector database from a checked body, never twice: a lost answer adopts the one new database of that name and model.

    :param body: A body from :func:`vdb.create_request`.
    :param snapshot: The databases listed before it is sent; one listed then is never adopted.
    """

    def lookup() -> vdb.VectorDatabase | None:
        return vdb.find_lost_database(list_vector_databases(transport), body, snapshot)

    created = once(transport, vdb.create(body), lookup)
    if not created.id:
        raise SeekrFlowError(f"SeekrFlow created a vector database but its answer names no id: {created!r}")
    return created


def create_or_find_vector_database(
    transport: SyncTransport, body: dict[str, Any]
) -> tuple[vdb.VectorDatabase, bool]:
    """
    Return the oldest database of the body's name and model, creating it once when there is none; and whether it was created.

    Names are not keys on the service, so name and model together say which database is meant; a
    retry (or another run) finds the one its earlier try made instead of making a second.

    :param body: A body from :func:`vdb.create_request`.
    """
    listed = list_vector_databases(transport)
    existing = vdb.find_existing(listed, body["name"], body["model"])
    if existing:
        if len(existing) > 1:
            transport.log.warning(
                "SeekrFlow has %d vector databases named %s with model %s; using the oldest, %s; not used: %s",
                len(existing),
                for_log(repr(body["name"])),
                for_log(body["model"]),
                existing[0].id,
                ", ".join(str(db.id) for db in existing[1:]),
            )
        return existing[0], False
    return create_vector_database(transport, body, Snapshot.of(listed)), True


def snapshot_ingestions(transport: SyncTransport, vector_database_id: str) -> Snapshot:
    """Return the ids of the database's ingestion jobs listed now, to tell a new one from them later."""
    return Snapshot.of(list_ingestions(transport, vector_database_id))


def list_ingestions(transport: SyncTransport, vector_database_id: str) -> list[vdb.VectorDatabaseIngestion]:
    """Return the database's ingestion jobs."""
    return transport.call(vdb.list_ingestions(vector_database_id)).data or []


def start_ingestion(
    transport: SyncTransport, vector_database_id: str, body: dict[str, Any], snapshot: Snapshot | None = None
) -> vdb.VectorDatabaseIngestion:
    """
    Start an ingestion job from a checked body, never twice: a lost answer adopts the one new job of exactly these ``file_ids``.

    :param vector_database_id: The database to ingest into.
    :param body: A body from :func:`vdb.ingestion_request`.
    :param snapshot: The database's jobs listed before it is sent (taken now when not given).
    """
    before = snapshot or snapshot_ingestions(transport, vector_database_id)

    def lookup() -> vdb.VectorDatabaseIngestion | None:
        return vdb.find_lost_ingestion(list_ingestions(transport, vector_database_id), body, before)

    started = once(transport, vdb.start_ingestion(vector_database_id, body), lookup)
    if not started.id:
        raise SeekrFlowError(f"SeekrFlow started an ingestion but its answer names no id: {started!r}")
    if not started.vector_database_id:
        started.vector_database_id = vector_database_id
    return started
