"""The emulator's file routes: upload, list, metadata check, read, delete and download."""

from __future__ import annotations

import os
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from airflow_provider_seekrflow.client import files
from airflow_provider_seekrflow.emulator.refusals import FILE, found, not_found
from airflow_provider_seekrflow.emulator.routes import route
from airflow_provider_seekrflow.emulator.state import EmulatorState
from airflow_provider_seekrflow.emulator.store import public
from airflow_provider_seekrflow.emulator.uploads import UploadError, byte_limit, receive_upload
from airflow_provider_seekrflow.vocabulary import PURPOSES, FilePurpose, accepted_types

__all__ = ["add_file_routes"]


class MetadataRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    purpose: str
    suffix: str
    size: int


def metadata_errors(body: MetadataRequest, limit: int) -> list[str]:
    """Return why the service would refuse a file of this purpose, type and size (none: it accepts it)."""
    errors: list[str] = []
    suffix = body.suffix.strip().lstrip(".").lower()
    if body.purpose not in PURPOSES:
        errors.append(f"Unknown purpose '{body.purpose}'; expected one of {', '.join(PURPOSES)}")
    else:
        allowed = accepted_types(body.purpose)
        if suffix not in allowed:
            errors.append(
                f"File type '{suffix}' is not supported for purpose '{body.purpose}'; "
                f"supported types: {', '.join(allowed)}"
            )
    if body.size <= 0:
        errors.append("File is empty")
    elif body.size > limit:
        errors.append(f"File size {body.size} bytes exceeds the limit of {byte_limit(limit)}")
    return errors


def add_file_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register the ``/v1/flow/files`` routes on ``api``, serving ``state``'s store."""
    store, jobs = state.store, state.jobs

    @route(api, files.UPLOAD_FILE)
    async def upload_file(request: Request) -> Response:
        try:
            record = await receive_upload(
                request.headers.get("content-type"),
                request.headers.get("content-length"),
                request.stream(),
                store,
                max_bytes=state.config["max_file_bytes"],
            )
        except UploadError as exc:
            if exc.errors is not None:
                return JSONResponse({"detail": exc.errors}, status_code=exc.status)
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        return JSONResponse(public(record))

    @route(api, files.LIST_FILES)
    async def list_files(
        limit: int | None = Query(None, ge=1, le=1000),
        offset: int = Query(0, ge=0),
        sort_by: Literal["created_at", "filename", "type", "size"] = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
        purpose: FilePurpose | None = None,
    ) -> Response:
        jobs.end_due_jobs()
        records = store.list_files()
        if purpose is not None:
            records = [r for r in records if r["purpose"] == purpose.value]
        field = {"size": "bytes"}.get(sort_by, sort_by)
        if field == "created_at":
            records.sort(key=lambda r: r["_created_ts"], reverse=sort_order == "desc")
        elif field == "bytes":
            records.sort(key=lambda r: r.get("bytes") or 0, reverse=sort_order == "desc")
        else:
            records.sort(key=lambda r: r.get(field) or "", reverse=sort_order == "desc")
        records = records[offset:]
        if limit is not None:
            records = records[:limit]
        return JSONResponse({"object": "list", "data": [public(r) for r in records]})

    @route(api, files.VALIDATE_FILE_METADATA)
    async def validate_file_metadata(body: MetadataRequest) -> Response:
        errors = metadata_errors(body, state.config["max_file_bytes"])
        return JSONResponse({"is_valid": not errors, "errors": "; ".join(errors) if errors else None})

    @route(api, files.GET_FILE)
    async def get_file(file_id: str) -> Response:
        return JSONResponse(public(found(store.get_file(file_id), FILE, file_id)))

    @route(api, files.DELETE_FILE)
    async def delete_file(file_id: str) -> Response:
        if not store.delete_file(file_id):
            raise not_found(FILE, file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    @route(api, files.GET_FILE_CONTENT)
    async def get_file_content(file_id: str) -> Response:
        record = store.get_file(file_id)
        path = store.blob_path(file_id)
        if record is None or not os.path.exists(path):
            raise not_found(FILE, file_id)
        return FileResponse(path, media_type="application/octet-stream", filename=record["filename"])
