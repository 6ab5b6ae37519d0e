"""The emulator's ASGI application: every path of openapi.yaml plus the ``/_emulator`` admin API.

``create_app`` returns the app to hand to uvicorn: the fault/journal layer outermost, then the
deprecation headers of the generate route, then an API-key check for ``/v1/...``, then FastAPI
routes named by the openapi operationIds.

Two config switches (``PUT /_emulator/config``) imitate other servers than today's:
``legacy_job_shape`` shows job ``progress``/``step_progress`` as strings (``"40%"``) and an
unknown status (``preparing``) during the queued phase; ``deprecation_headers`` adds
``Deprecation``, ``Sunset`` and ``Link`` to every answer of ``POST /v1/flow/alignment/generate``.
"""

from __future__ import annotations

import os
import threading
from enum import Enum
from typing import Any, Literal

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from airflow_provider_seekrflow import validation
from airflow_provider_seekrflow.emulator.faults import EmulatorLayer, FaultRule, FaultSet
from airflow_provider_seekrflow.emulator.jobs import TERMINAL_STATUSES, JobService, legacy_shape
from airflow_provider_seekrflow.emulator.journal import Journal
from airflow_provider_seekrflow.emulator.routes import resolve_route
from airflow_provider_seekrflow.emulator.store import Store, public
from airflow_provider_seekrflow.emulator.uploads import UploadError, receive_upload

__all__ = [
    "DEFAULT_CONFIG",
    "GENERATE_DEPRECATION",
    "GENERATE_LINK",
    "GENERATE_SUNSET",
    "EmulatorState",
    "create_app",
]

DEFAULT_CONFIG: dict[str, Any] = {
    "job_duration": 20.0,
    "job_outcome": "completed",
    "status_message": None,
    "eta": True,
    "max_file_bytes": validation.MAX_FILE_BYTES,
    # Whether job objects repeat their request (instructions, files...); the public reference does
    # not say the real service does, so clients must cope with both.
    "echo_request": True,
    # Older servers' job shape: string percentages and a status the provider does not know.
    "legacy_job_shape": False,
    # Deprecation/Sunset/Link headers on the generate route, which the reference marks deprecated.
    "deprecation_headers": False,
}
BOOL_KEYS = ("eta", "echo_request", "legacy_job_shape", "deprecation_headers")

# The generate route's deprecation, as HTTP headers. RFC 9745: a structured-field date,
# ``@`` + epoch seconds (1767225600 is 2026-01-01T00:00:00Z). RFC 8594: an HTTP-date.
GENERATE_DEPRECATION = "@1767225600"
GENERATE_SUNSET = "Wed, 30 Jun 2027 23:59:59 GMT"
GENERATE_LINK = (
    '<https://docs.seekr.com/seekrflow/data-jobs>; rel="successor-version", '
    '<https://docs.seekr.com/seekrflow/deprecations>; rel="deprecation"'
)
GENERATE_ROUTE = "alignment_generate"
REQUEST_FIELDS = ("instructions", "files", "type", "system_prompt", "vector_database_id")
JOB_OUTCOMES = ("completed", "failed", "cancelled", "stopped")


class EmulatorState:
    """Everything one running emulator holds: key, store, jobs, faults, journal and config."""

    def __init__(
        self,
        api_key: str,
        data_dir: str,
        *,
        job_duration: float = 20.0,
        legacy_job_shape: bool = False,
        deprecation_headers: bool = False,
    ) -> None:
        self.api_key = api_key
        self.store = Store(data_dir)
        self.jobs = JobService(self.store)
        self.faults = FaultSet()
        self.journal = Journal()
        # The start-up options are part of the initial config, so a reset returns to them.
        self.initial_config = {
            **DEFAULT_CONFIG,
            "job_duration": float(job_duration),
            "legacy_job_shape": bool(legacy_job_shape),
            "deprecation_headers": bool(deprecation_headers),
        }
        self.config = dict(self.initial_config)
        self._config_lock = threading.Lock()

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate and apply config changes (``ValueError`` on a bad key or value)."""
        unknown = set(changes) - set(DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(sorted(unknown))}")
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "job_duration":
                value = float(value)
                if value < 0:
                    raise ValueError("job_duration must not be negative")
            elif key == "job_outcome":
                if value not in JOB_OUTCOMES:
                    raise ValueError(f"job_outcome must be one of {', '.join(JOB_OUTCOMES)}")
            elif key == "status_message":
                value = None if value is None else str(value)
            elif key in BOOL_KEYS:
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif key == "max_file_bytes":
                if isinstance(value, bool) or int(value) < 1:
                    raise ValueError("max_file_bytes must be a positive integer")
                value = int(value)
            clean[key] = value
        with self._config_lock:
            if "job_outcome" in clean and "status_message" not in clean:
                clean["status_message"] = None
            self.config.update(clean)
            return dict(self.config)

    def reset_config(self) -> dict[str, Any]:
        """Restore the start-up config; return it."""
        with self._config_lock:
            self.config = dict(self.initial_config)
            return dict(self.config)


class AlignmentType(str, Enum):
    principle = "principle"
    context_data = "context_data"


class AlignmentRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    instructions: str
    files: list[str]
    type: AlignmentType = AlignmentType.principle
    system_prompt: str | None = None
    vector_database_id: str | None = None


class MetadataRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    purpose: str
    suffix: str
    size: int


class FailRequest(BaseModel):
    status: Literal["failed", "cancelled", "stopped", "completed"] = "failed"
    status_message: str | None = None


Purpose = Enum("Purpose", {p.replace("-", "_"): p for p in validation.PURPOSES}, type=str)  # type: ignore[misc]


def _invalid(loc: list[Any], msg: str, value: Any = None) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": tuple(loc), "msg": f"Value error, {msg}", "input": value}]
    )


class _AuthLayer:
    """Checks ``Authorization: <key>`` (the bare key) on every ``/v1/...`` request."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app = app
        self.api_key = api_key.encode("latin-1")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            given = None
            for key, value in scope["headers"]:
                if key == b"authorization":
                    given = value
                    break
            if given != self.api_key:
                if given is None:
                    detail = "Missing API key: send it in the Authorization header"
                elif given.startswith(b"Bearer ") and given[7:] == self.api_key:
                    detail = "Invalid API key: send the bare key in Authorization, without 'Bearer '"
                else:
                    detail = "Invalid API key"
                await JSONResponse({"detail": detail}, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _DeprecationLayer:
    """Adds the deprecation headers to every answer of the generate route while the switch is on.

    An ASGI layer rather than code in the route, so that answers the route never makes (a 422
    from body parsing, a 401 from the key check) carry them too, as they would behind a gateway.
    """

    HEADERS = (
        (b"deprecation", GENERATE_DEPRECATION.encode("latin-1")),
        (b"sunset", GENERATE_SUNSET.encode("latin-1")),
        (b"link", GENERATE_LINK.encode("latin-1")),
    )

    def __init__(self, app: Any, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or not self.state.config["deprecation_headers"]
            or resolve_route(scope["method"], scope["path"]) != GENERATE_ROUTE
        ):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *self.HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(state: EmulatorState) -> Any:
    """The full ASGI app for ``state`` (fault/journal layer outermost)."""
    api = FastAPI(
        title="SeekrFlow emulator",
        docs_url="/_emulator/docs",
        redoc_url=None,
        openapi_url="/_emulator/openapi.json",
    )
    store, jobs = state.store, state.jobs

    def not_found(kind: str, ident: str) -> HTTPException:
        return HTTPException(status_code=404, detail=f"{kind} {ident} not found")

    # ------------------------------------------------------------------ files
    @api.put("/v1/flow/files", operation_id="upload_file")
    async def upload_file(request: Request) -> Response:
        try:
            record = await receive_upload(
                request.headers.get("content-type"),
                request.headers.get("content-length"),
                request.stream(),
                store,
                max_bytes=state.config["max_file_bytes"],
                created_by="seekrflow-emulator",
            )
        except UploadError as exc:
            if exc.errors is not None:
                return JSONResponse({"detail": exc.errors}, status_code=exc.status)
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        return JSONResponse(public(record))

    @api.get("/v1/flow/files", operation_id="list_files")
    async def list_files(
        limit: int | None = Query(None, ge=1, le=1000),
        offset: int = Query(0, ge=0),
        sort_by: Literal["created_at", "filename", "type", "size"] = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
        purpose: Purpose | None = None,  # type: ignore[valid-type]
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

    @api.post("/v1/flow/files/validate_metadata", operation_id="validate_file_metadata")
    async def validate_file_metadata(body: MetadataRequest) -> Response:
        errors: list[str] = []
        suffix = body.suffix.strip().lstrip(".").lower()
        if body.purpose not in validation.PURPOSES:
            errors.append(
                f"Unknown purpose '{body.purpose}'; expected one of {', '.join(validation.PURPOSES)}"
            )
        else:
            allowed = validation.accepted_types(body.purpose)
            if suffix not in allowed:
                errors.append(
                    f"File type '{suffix}' is not supported for purpose '{body.purpose}'; "
                    f"supported types: {', '.join(allowed)}"
                )
        limit = state.config["max_file_bytes"]
        if body.size <= 0:
            errors.append("File is empty")
        elif body.size > limit:
            errors.append(
                f"File size {body.size} bytes exceeds the limit of {limit} bytes ({limit / 1e9:g} GB)"
            )
        return JSONResponse({"is_valid": not errors, "errors": "; ".join(errors) if errors else None})

    @api.get("/v1/flow/files/{file_id}", operation_id="get_file")
    async def get_file(file_id: str) -> Response:
        record = store.get_file(file_id)
        if record is None:
            raise not_found("File", file_id)
        return JSONResponse(public(record))

    @api.delete("/v1/flow/files/{file_id}", operation_id="delete_file")
    async def delete_file(file_id: str) -> Response:
        if not store.delete_file(file_id):
            raise not_found("File", file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    @api.get("/v1/flow/files/{file_id}/content", operation_id="get_file_content")
    async def get_file_content(file_id: str) -> Response:
        record = store.get_file(file_id)
        path = store.blob_path(file_id)
        if record is None or not os.path.exists(path):
            raise not_found("File", file_id)
        return FileResponse(path, media_type="application/octet-stream", filename=record["filename"])

    # -------------------------------------------------------------- alignment
    @api.post("/v1/flow/alignment/generate", operation_id="alignment_generate")
    async def alignment_generate(request: Request, body: AlignmentRequest) -> Response:
        errors: list[dict[str, Any]] = []
        if not body.instructions.strip():
            errors.append(
                {
                    "type": "value_error",
                    "loc": ("body", "instructions"),
                    "msg": "Value error, instructions must not be blank",
                    "input": body.instructions,
                }
            )
        if not body.files:
            errors.append(
                {
                    "type": "value_error",
                    "loc": ("body", "files"),
                    "msg": "Value error, files must list at least one file id",
                    "input": body.files,
                }
            )
        for i, file_id in enumerate(body.files):
            record = store.get_file(file_id)
            if record is None:
                msg = f"file {file_id} not found"
            elif record["purpose"] != "alignment":
                msg = f"file {file_id} has purpose '{record['purpose']}'; alignment needs purpose 'alignment'"
            else:
                continue
            errors.append(
                {
                    "type": "value_error",
                    "loc": ("body", "files", i),
                    "msg": f"Value error, {msg}",
                    "input": file_id,
                }
            )
        if errors:
            raise RequestValidationError(errors)
        config = state.config
        job = jobs.create(
            {**body.model_dump(exclude_none=False), "type": body.type.value},
            duration=config["job_duration"],
            outcome=config["job_outcome"],
            status_message=config["status_message"],
            eta=config["eta"],
            team_id=request.headers.get("x-team-id"),
        )
        return JSONResponse(shown(job))

    def shown(job: dict[str, Any]) -> dict[str, Any]:
        """The job as this server version shows it (request echo and legacy shape per config)."""
        config = state.config
        if config["legacy_job_shape"]:
            job = legacy_shape(job)
        if config["echo_request"]:
            return job
        return {key: value for key, value in job.items() if key not in REQUEST_FIELDS}

    @api.get("/v1/flow/alignment", operation_id="list_alignment_jobs")
    async def list_alignment_jobs() -> Response:
        return JSONResponse({"object": "list", "data": [shown(job) for job in jobs.list_jobs()]})

    @api.get("/v1/flow/alignment/{job_id}", operation_id="get_alignment_job")
    async def get_alignment_job(job_id: str) -> Response:
        job = jobs.get(job_id)
        if job is None:
            raise not_found("Alignment job", job_id)
        return JSONResponse(shown(job))

    @api.delete("/v1/flow/alignment/{job_id}", operation_id="delete_alignment_job")
    async def delete_alignment_job(job_id: str) -> Response:
        if not jobs.delete(job_id):
            raise not_found("Alignment job", job_id)
        return Response(status_code=204)

    @api.get("/v1/flow/alignment/{job_id}/outputs", operation_id="get_alignment_outputs")
    async def get_alignment_outputs(job_id: str) -> Response:
        outputs = jobs.outputs(job_id)
        if outputs is None:
            raise not_found("Alignment job", job_id)
        return JSONResponse(outputs)

    @api.post("/v1/flow/alignment/{job_id}/cancel", operation_id="cancel_alignment_job")
    async def cancel_alignment_job(job_id: str) -> Response:
        job = jobs.cancel(job_id)
        if job is None:
            raise not_found("Alignment job", job_id)
        return JSONResponse(shown(job))

    # ------------------------------------------------------------------ admin
    @api.get("/_emulator/health", include_in_schema=False)
    async def health() -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid(), "data_dir": store.data_dir})

    @api.get("/_emulator/journal", include_in_schema=False)
    async def get_journal(route: str | None = None) -> Response:
        return JSONResponse(state.journal.entries(route))

    @api.delete("/_emulator/journal", include_in_schema=False)
    async def clear_journal() -> Response:
        state.journal.clear()
        return Response(status_code=204)

    @api.get("/_emulator/faults", include_in_schema=False)
    async def get_faults() -> Response:
        return JSONResponse(state.faults.rules())

    @api.put("/_emulator/faults", include_in_schema=False)
    async def put_faults(rules: list[dict[str, Any]] = Body(...)) -> Response:
        try:
            parsed = [FaultRule.from_dict(r) for r in rules]
        except (ValueError, TypeError) as exc:
            raise _invalid(["body"], str(exc), rules) from None
        state.faults.set(parsed)
        return JSONResponse(state.faults.rules())

    @api.delete("/_emulator/faults", include_in_schema=False)
    async def clear_faults() -> Response:
        state.faults.clear()
        return Response(status_code=204)

    @api.get("/_emulator/config", include_in_schema=False)
    async def get_config() -> Response:
        return JSONResponse(state.config)

    @api.put("/_emulator/config", include_in_schema=False)
    async def put_config(changes: dict[str, Any] = Body(...)) -> Response:
        try:
            return JSONResponse(state.configure(changes))
        except (ValueError, TypeError) as exc:
            raise _invalid(["body"], str(exc), changes) from None

    @api.delete("/_emulator/config", include_in_schema=False)
    async def reset_config() -> Response:
        return JSONResponse(state.reset_config())

    @api.post("/_emulator/reset", include_in_schema=False)
    async def reset(wipe: bool = False) -> Response:
        state.journal.clear()
        state.faults.clear()
        if wipe:
            store.wipe()
        return JSONResponse(state.reset_config())

    @api.delete("/_emulator/state", include_in_schema=False)
    async def wipe_state() -> Response:
        store.wipe()
        return Response(status_code=204)

    @api.post("/_emulator/alignment/{job_id}/fail", include_in_schema=False)
    async def fail_job(job_id: str, body: FailRequest | None = None) -> Response:
        body = body or FailRequest()
        assert body.status in TERMINAL_STATUSES
        job = jobs.force(job_id, body.status, body.status_message)
        if job is None:
            raise not_found("Alignment job", job_id)
        return JSONResponse(job)

    inner = _DeprecationLayer(_AuthLayer(api, state.api_key), state)
    return EmulatorLayer(inner, state.faults, state.journal)
