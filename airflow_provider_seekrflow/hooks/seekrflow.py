"""The SeekrFlow hook: connection, authentication and every HTTP call the provider makes."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_seekrflow._client import endpoints
from airflow_provider_seekrflow._client.config import (
    ClientConfig,
    ConnectionSettingsError,
    build_client_config,
)
from airflow_provider_seekrflow._client.deprecation import warn_if_deprecated
from airflow_provider_seekrflow._client.endpoints import Endpoint
from airflow_provider_seekrflow._client.errors import (
    MAX_JSON_BODY_BYTES,
    error_for_status,
    read_answer,
)
from airflow_provider_seekrflow._client.multipart import MultipartFileBody, UploadProgress
from airflow_provider_seekrflow._client.polling import next_poll_delay
from airflow_provider_seekrflow._client.retry import RetryPolicy
from airflow_provider_seekrflow._client.transport import from_requests_error
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowConfigError,
    SeekrFlowConnectionError,
    SeekrFlowError,
    SeekrFlowInvalidFileError,
    SeekrFlowNotFoundError,
    SeekrFlowUnexpectedResponseError,
    SeekrFlowValidationError,
)
from airflow_provider_seekrflow.models import (
    AlignmentJob,
    AlignmentJobList,
    AlignmentOutput,
    AlignmentType,
    FileMetadataValidation,
    FilePurpose,
    SeekrFlowFile,
    SeekrFlowFileDeleted,
    SeekrFlowFileList,
)
from airflow_provider_seekrflow.training_data import DEFAULT_BATCH_ROWS

if TYPE_CHECKING:
    import requests

T = TypeVar("T")

# Uploads end with the service checking the whole file; give it longer than an ordinary call.
UPLOAD_MIN_READ_TIMEOUT = 600.0
# A server clock may run a little behind ours; look this far back for a file an ambiguous upload stored.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=2)
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# Seconds to wait before each look for a file whose upload timed out, before sending it again.
LOST_UPLOAD_LOOKUP_PAUSES = (0.0, 5.0, 15.0, 30.0)


def connection_config(
    conn_id: str,
    *,
    host: str | None,
    port: int | None,
    password: str | None,
    extras: dict[str, Any],
    timeout: float | None,
    max_retries: int | None,
    schema: str | None = None,
) -> ClientConfig:
    """Build client settings from connection fields, naming the connection and field when one is wrong."""
    try:
        return build_client_config(
            host=host,
            port=port,
            password=password,
            extras=extras,
            schema=schema,
            timeout=timeout,
            max_retries=max_retries,
        )
    except ConnectionSettingsError as err:
        raise SeekrFlowConfigError(f"SeekrFlow connection {conn_id!r}: {err}") from None


class SeekrFlowBaseHook(BaseHook):
    """
    Hold what the sync and async SeekrFlow hooks share: the connection type and the overrides.

    :param seekrflow_conn_id: The Airflow connection to use.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param max_retries: Retries of a failed request, overriding the connection's ``max_retries`` extra.
    """

    conn_name_attr = "seekrflow_conn_id"
    default_conn_name = "seekrflow_default"
    conn_type = "seekrflow"
    hook_name = "SeekrFlow"

    def __init__(
        self,
        seekrflow_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__()
        self.seekrflow_conn_id = seekrflow_conn_id
        self._timeout = timeout
        self._max_retries = max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seekrflow_conn_id={self.seekrflow_conn_id!r})"


class SeekrFlowHook(SeekrFlowBaseHook):
    """
    Talk to the SeekrFlow API: upload files, generate alignment training pairs and follow jobs.

    The connection's password is the API key, its host the API base URL (``https://flow.seekr.com``
    when empty), and its extras may set ``team_id``, ``timeout`` (seconds) and ``max_retries``.

    :param seekrflow_conn_id: The Airflow connection to use.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param max_retries: Retries of a failed request, overriding the connection's ``max_retries`` extra.
    """

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return how the connection form shows the standard fields."""
        return {
            "hidden_fields": ["schema", "port", "login"],
            "relabeling": {"host": "API base URL", "password": "API key"},
            "placeholders": {"host": "https://flow.seekr.com"},
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Return the extra fields of the connection form (Airflow 2; Airflow 3 reads ``conn-fields``)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import NumberRange, Optional

        return {
            "team_id": StringField(lazy_gettext("Team ID"), widget=BS3TextFieldWidget()),
            "timeout": IntegerField(
                lazy_gettext("Timeout (seconds)"),
                validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
            ),
            "max_retries": IntegerField(
                lazy_gettext("Max retries"),
                validators=[Optional(), NumberRange(min=0)],
                widget=BS3TextFieldWidget(),
            ),
        }

    @cached_property
    def config(self) -> ClientConfig:
        """Return the validated client settings of the connection."""
        conn = self.get_connection(self.seekrflow_conn_id)
        return connection_config(
            self.seekrflow_conn_id,
            host=conn.host,
            port=conn.port,
            schema=conn.schema,
            password=conn.password,
            extras=conn.extra_dejson,
            timeout=self._timeout,
            max_retries=self._max_retries,
        )

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Return the retry policy built from the connection's ``max_retries``."""
        return RetryPolicy(max_retries=self.config.max_retries)

    @cached_property
    def session(self) -> requests.Session:
        """Return the hook's one HTTP session, carrying the authentication headers."""
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        session.headers.update(self.config.headers())
        session.verify = self.config.verify
        # Retries are ours (tenacity), so urllib3 must not add its own underneath.
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def get_conn(self) -> requests.Session:
        """Return the authenticated ``requests.Session``."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    # -- plumbing -------------------------------------------------------------------------------

    def _send_once(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        body: MultipartFileBody | None = None,
        read_timeout: float | None = None,
        stream: bool = False,
    ) -> requests.Response:
        import requests

        headers = {"Content-Type": body.content_type} if body is not None else None
        try:
            response = self.session.request(
                endpoint.method,
                self.config.url(path),
                params={k: v for k, v in (params or {}).items() if v is not None} or None,
                json=json,
                data=body,
                headers=headers,
                timeout=(self.config.connect_timeout, read_timeout or self.config.timeout),
                stream=True,
            )
        except requests.exceptions.InvalidURL as err:
            raise SeekrFlowConfigError(f"SeekrFlow connection {self.seekrflow_conn_id!r}: {err}") from None
        except requests.exceptions.RequestException as err:
            raise from_requests_error(
                err, method=endpoint.method, path=path, base_url=self.config.base_url
            ) from None
        warn_if_deprecated(endpoint, response.headers, self.log)
        if response.status_code >= 400:
            content = self._read_capped(response, endpoint, path)
            response.close()
            raise error_for_status(
                method=endpoint.method,
                path=path,
                status=response.status_code,
                headers=response.headers,
                body=content,
            )
        if not stream:
            response._content = self._read_capped(response, endpoint, path)
            response.close()
        return response

    def _read_capped(self, response: requests.Response, endpoint: Endpoint, path: str) -> bytes:
        try:
            content = response.raw.read(MAX_JSON_BODY_BYTES + 1, decode_content=True)
        except Exception as err:  # urllib3 raises its own errors when the body is cut short
            raise from_requests_error(
                err, method=endpoint.method, path=path, base_url=self.config.base_url
            ) from None
        return content or b""

    def _retrying(self, endpoint: Endpoint, attempt: Callable[[], T]) -> T:
        import tenacity

        return tenacity.Retrying(**self.retry_policy.tenacity_arguments(endpoint, self.log))(attempt)

    def _delete(self, attempt: Callable[[], T], endpoint: Endpoint, *, gone: Callable[[], T]) -> T:
        tries = 0

        def once() -> T:
            nonlocal tries
            tries += 1
            try:
                return attempt()
            except SeekrFlowNotFoundError:
                # A retry finding nothing means an earlier try deleted it and its answer was lost.
                if tries > 1:
                    return gone()
                raise

        return self._retrying(endpoint, once)

    def _call_json_once(
        self,
        endpoint: Endpoint,
        model: Any,
        *,
        ids: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        path = endpoint.render(**(ids or {}))
        response = self._send_once(endpoint, path, params=params, json=json)
        return read_answer(
            model,
            method=endpoint.method,
            path=path,
            status=response.status_code,
            headers=response.headers,
            body=response.content,
        )

    def _call_json(self, endpoint: Endpoint, model: Any, **request: Any) -> Any:
        return self._retrying(endpoint, lambda: self._call_json_once(endpoint, model, **request))

    # -- files ----------------------------------------------------------------------------------

    def check_file(self, path: str | os.PathLike[str], purpose: str, *, check_content: bool = True) -> int:
        """
        Check a file locally the way the service will, and return its size; nothing is sent.

        :param path: The file.
        :param purpose: The purpose it will be uploaded for.
        :param check_content: Whether to check every JSONL line against the purpose's schema.
        """
        from airflow_provider_seekrflow.validation import FileCheckError, check_file

        try:
            check_file(path, purpose, check_content=check_content)
        except FileCheckError as err:
            raise SeekrFlowInvalidFileError(str(err)) from None
        return os.stat(path).st_size

    def upload_file(
        self,
        path: str | os.PathLike[str],
        purpose: str = FilePurpose.ALIGNMENT.value,
        *,
        vector_database_id: str | None = None,
        filename: str | None = None,
        check: bool = True,
        check_content: bool = True,
        check_with_service: bool = True,
        since: datetime | None = None,
    ) -> SeekrFlowFile:
        """
        Upload a file, streaming it from disk, and return the stored file.

        When the connection drops after the body was sent, the service may have stored the file;
        before sending it again, the hook looks for a file of the same name, size and purpose
        created since ``since`` and returns it instead, so a retry never stores a duplicate.

        :param path: The local file.
        :param purpose: What the file is for: ``alignment`` (a source document), ``fine-tune``, ...
        :param vector_database_id: Optional vector database to add an alignment document to.
        :param filename: The name to store it under; the file's own name by default.
        :param check: Whether to check the file locally before sending anything.
        :param check_content: Whether the local check reads every JSONL line.
        :param check_with_service: Whether to ask the service if it accepts an alignment document's
            type and size before sending it, as the official client does.
        :param since: The earliest creation time of a file that an earlier ambiguous try may have
            stored; the start of this call by default.
        """
        started = since or datetime.now(timezone.utc)
        source = Path(path)
        name = filename or source.name
        if check:
            size = self.check_file(source, purpose, check_content=check_content)
        else:
            size = source.stat().st_size
        if check_with_service:
            self.check_file_with_service(source, purpose, size=size, filename=name)

        fields = {"purpose": purpose, "filename": name}
        if vector_database_id:
            fields["vector_database_id"] = vector_database_id
        endpoint = endpoints.UPLOAD_FILE
        path_ = endpoint.render()

        def progress() -> UploadProgress:
            return UploadProgress(size, lambda message: self.log.info("%s: %s", name, message))

        def attempt() -> SeekrFlowFile:
            body = MultipartFileBody(
                fields, file_field="files", path=source, filename=name, progress=progress
            )
            try:
                response = self._send_once(
                    endpoint, path_, body=body, read_timeout=max(self.config.timeout, UPLOAD_MIN_READ_TIMEOUT)
                )
            except SeekrFlowConnectionError as err:
                if not err.may_have_reached_service:
                    raise
                stored = self._look_for_lost_upload(
                    name, size, purpose, since=started, keep_looking=err.timed_out
                )
                if stored is not None:
                    self.log.warning(
                        "%s: the upload's answer was lost, but the service stored it as %s; using that file",
                        name,
                        stored.id,
                    )
                    return stored
                # Verified absent, so sending it again cannot make a duplicate.
                raise SeekrFlowConnectionError(
                    str(err), may_have_reached_service=False, method=err.method, path=err.path
                ) from None
            return read_answer(
                SeekrFlowFile,
                method=endpoint.method,
                path=path_,
                status=response.status_code,
                headers=response.headers,
                body=response.content,
            )

        stored = self._retrying(endpoint, attempt)
        self.log.info(
            "%s: stored as %s (%s bytes, purpose %s)", name, stored.id, stored.bytes, stored.purpose
        )
        return stored

    def check_file_with_service(
        self,
        path: str | os.PathLike[str],
        purpose: str,
        *,
        size: int | None = None,
        filename: str | None = None,
    ) -> None:
        """
        Ask the service whether it accepts an alignment document's type and size; raise if not.

        Only ``alignment`` documents have a metadata check; other purposes pass untouched.

        :param path: The local file.
        :param purpose: The purpose it will be uploaded for.
        :param size: Its size, when already known.
        :param filename: The name it will be stored under.
        """
        if purpose != FilePurpose.ALIGNMENT.value:
            return
        source = Path(path)
        name = filename or source.name
        suffix = Path(name).suffix.lstrip(".").lower()
        verdict = self.validate_file_metadata(
            purpose, suffix, size if size is not None else source.stat().st_size
        )
        if not verdict.is_valid:
            raise SeekrFlowValidationError(f"{name}: SeekrFlow refuses this document: {verdict.errors}")

    def _look_for_lost_upload(
        self, filename: str, size: int, purpose: str, *, since: datetime, keep_looking: bool
    ) -> SeekrFlowFile | None:
        # After a timeout the service may still be storing the file; give it a little while to appear.
        pauses = LOST_UPLOAD_LOOKUP_PAUSES if keep_looking else (0.0,)
        for pause in pauses:
            time.sleep(pause)
            stored = self.find_uploaded_file(filename, size, purpose, since=since)
            if stored is not None:
                return stored
        return None

    def find_uploaded_file(
        self, filename: str, size: int, purpose: str, *, since: datetime
    ) -> SeekrFlowFile | None:
        """
        Return the newest file of this name, size and purpose created since ``since``, if any.

        :param filename: The stored file name.
        :param size: The size in bytes.
        :param purpose: The purpose it was uploaded for.
        :param since: The earliest creation time to consider.
        """
        earliest = since - CLOCK_SKEW_ALLOWANCE
        if earliest.tzinfo is None:
            earliest = earliest.replace(tzinfo=timezone.utc)
        for stored in self.list_files(purpose=purpose, sort_by="created_at", sort_order="desc", limit=100):
            created = stored.created_at
            if created is not None and created.tzinfo is None:
                created = created.replace(tzinfo=timezone.utc)
            if created is not None and created < earliest:
                break
            if stored.filename == filename and stored.bytes == size and not stored.deleted:
                return stored
        return None

    def list_files(
        self,
        *,
        purpose: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> list[SeekrFlowFile]:
        """
        List stored files.

        :param purpose: Only files of this purpose.
        :param limit: At most this many (1 to 1000).
        :param offset: Skip this many.
        :param sort_by: ``created_at``, ``filename``, ``type`` or ``size``.
        :param sort_order: ``asc`` or ``desc``.
        """
        params = {
            "purpose": purpose,
            "limit": limit,
            "offset": offset,
            "sort_by": sort_by,
            "sort_order": sort_order,
        }
        return self._call_json(endpoints.LIST_FILES, SeekrFlowFileList, params=params).data

    def get_file(self, file_id: str) -> SeekrFlowFile:
        """
        Return a stored file's metadata.

        :param file_id: The file's id.
        """
        return self._call_json(endpoints.GET_FILE, SeekrFlowFile, ids={"file_id": file_id})

    def delete_file(self, file_id: str) -> SeekrFlowFileDeleted:
        """
        Delete a stored file.

        :param file_id: The file's id.
        """
        return self._delete(
            lambda: self._call_json_once(
                endpoints.DELETE_FILE, SeekrFlowFileDeleted, ids={"file_id": file_id}
            ),
            endpoints.DELETE_FILE,
            gone=lambda: SeekrFlowFileDeleted(id=file_id, deleted=True),
        )

    def validate_file_metadata(self, purpose: str, suffix: str, size: int) -> FileMetadataValidation:
        """
        Ask the service whether it accepts a file of this type and size for this purpose.

        :param purpose: The purpose the file will be uploaded for.
        :param suffix: The file name's extension, without the dot.
        :param size: The size in bytes.
        """
        return self._call_json(
            endpoints.VALIDATE_FILE_METADATA,
            FileMetadataValidation,
            json={"purpose": purpose, "suffix": suffix, "size": size},
        )

    def download_file(self, file_id: str, destination: str | os.PathLike[str]) -> Path:
        """
        Stream a stored file's bytes to a local path and return the path written.

        The bytes go to a temporary file beside the destination, renamed into place only when
        complete, so an interrupted download never leaves a truncated file under the final name.

        :param file_id: The file's id.
        :param destination: A file path, or an existing directory to write the file's own name into.
        """
        target = Path(destination)
        if target.is_dir():
            target = target / _safe_filename(self.get_file(file_id).filename, file_id)
        endpoint = endpoints.GET_FILE_CONTENT
        path = endpoint.render(file_id=file_id)

        def attempt() -> Path:
            import requests

            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            response = self._send_once(endpoint, path, stream=True)
            try:
                with open(partial, "wb") as handle:
                    for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                        handle.write(chunk)
                expected = response.headers.get("content-length")
                if expected is not None and partial.stat().st_size != int(expected):
                    raise SeekrFlowConnectionError(
                        f"{endpoint.method} {path}: got {partial.stat().st_size} of {expected} bytes",
                        may_have_reached_service=True,
                        method=endpoint.method,
                        path=path,
                    )
                os.replace(partial, target)
            except requests.exceptions.RequestException as err:
                raise from_requests_error(
                    err, method=endpoint.method, path=path, base_url=self.config.base_url
                ) from None
            finally:
                response.close()
                partial.unlink(missing_ok=True)
            return target

        written = self._retrying(endpoint, attempt)
        self.log.info("Downloaded %s to %s (%d bytes)", file_id, written, written.stat().st_size)
        return written

    def iter_conversations(
        self, file_id: str, *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[dict[str, Any]]:
        """
        Download a training-data file and yield its rows, one conversation each.

        Reads the parquet the service writes for an alignment job's ``fine-tune`` output (needs
        the ``parquet`` extra) and JSONL training files alike. The file is streamed to a
        temporary folder, read a batch of rows at a time and deleted when the iteration ends, so
        memory stays flat however large it is. Each row is a dict such as
        ``{"messages": [{"role": "system", "content": ...}, ...]}``, with every column the file has.

        :param file_id: The stored file's id, e.g. the ``fine_tune_file_id`` XCom of the generate operator.
        :param batch_rows: Parquet rows read per step.
        """
        from airflow_provider_seekrflow.training_data import detect_format, iter_rows

        stored = self.get_file(file_id)
        with tempfile.TemporaryDirectory(prefix="seekrflow-training-data-") as folder:
            local = self.download_file(file_id, Path(folder) / _safe_filename(stored.filename, file_id))
            yield from iter_rows(local, detect_format(local, stored.type), batch_rows=batch_rows)

    # -- alignment ------------------------------------------------------------------------------

    def generate_alignment(
        self,
        instructions: str,
        files: Sequence[str],
        *,
        alignment_type: str = AlignmentType.PRINCIPLE.value,
        system_prompt: str | None = None,
        vector_database_id: str | None = None,
    ) -> AlignmentJob:
        """
        Start an alignment job that generates training pairs from uploaded documents.

        :param instructions: What the training pairs should teach; must not be blank.
        :param files: Ids of files uploaded with purpose ``alignment``.
        :param alignment_type: ``principle`` or ``context_data``.
        :param system_prompt: System prompt for the generated conversations (``principle`` only).
        :param vector_database_id: Vector database for ``context_data`` retrieval.
        """
        body = alignment_request(
            instructions,
            files,
            alignment_type=alignment_type,
            system_prompt=system_prompt,
            vector_database_id=vector_database_id,
        )
        started = datetime.now(timezone.utc)
        endpoint = endpoints.GENERATE_ALIGNMENT

        def attempt() -> AlignmentJob:
            try:
                return self._call_json_once(endpoint, AlignmentJob, json=body)
            except SeekrFlowConnectionError as err:
                if not err.may_have_reached_service:
                    raise
                found, verdict = self._look_for_lost_job(body, since=started)
                if found is not None:
                    self.log.warning(
                        "The answer to generate was lost, but job %s was created; using it", found.id
                    )
                    return found
                if verdict == "absent":
                    # The service lists each job's request, and none matches: sending again is safe.
                    raise SeekrFlowConnectionError(
                        str(err), may_have_reached_service=False, method=err.method, path=err.path
                    ) from None
                raise

        job = self._retrying(endpoint, attempt)
        self.log.info("Started alignment job %s (%s)", job.id, job.describe())
        return job

    def _look_for_lost_job(self, body: dict[str, Any], *, since: datetime) -> tuple[AlignmentJob | None, str]:
        """
        Find the job a generate request with a lost answer may have created.

        Return the job and ``"found"``; or None and ``"absent"`` when the service echoes each job's
        request and none matches; or None and ``"unknown"`` when its jobs do not say what they were
        asked, so a second submission could duplicate the first.
        """
        earliest = since - CLOCK_SKEW_ALLOWANCE
        echoes_request = False
        for job in self.list_alignment_jobs():
            extra = job.model_extra or {}
            if "instructions" not in extra or "files" not in extra:
                continue
            echoes_request = True
            created = job.created_at
            if created is not None and created.tzinfo is None:
                created = created.replace(tzinfo=timezone.utc)
            if (
                (created is None or created >= earliest)
                and extra["instructions"] == body["instructions"]
                and list(extra["files"]) == body["files"]
                and extra.get("type", body["type"]) == body["type"]
            ):
                return job, "found"
        return None, "absent" if echoes_request else "unknown"

    def get_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Return an alignment job.

        :param job_id: The job's id.
        """
        return self._call_json(endpoints.GET_ALIGNMENT_JOB, AlignmentJob, ids={"job_id": job_id})

    def list_alignment_jobs(self) -> list[AlignmentJob]:
        """List alignment jobs."""
        return self._call_json(endpoints.LIST_ALIGNMENT_JOBS, AlignmentJobList).data

    def cancel_alignment_job(self, job_id: str) -> AlignmentJob:
        """
        Cancel an alignment job; a job that already ended is returned unchanged.

        :param job_id: The job's id.
        """
        return self._call_json(endpoints.CANCEL_ALIGNMENT_JOB, AlignmentJob, ids={"job_id": job_id})

    def delete_alignment_job(self, job_id: str) -> None:
        """
        Delete an alignment job.

        :param job_id: The job's id.
        """
        endpoint = endpoints.DELETE_ALIGNMENT_JOB
        path = endpoint.render(job_id=job_id)
        self._delete(lambda: self._send_once(endpoint, path), endpoint, gone=lambda: None)

    def get_alignment_outputs(self, job_id: str) -> list[AlignmentOutput]:
        """
        Return an alignment job's output files.

        :param job_id: The job's id.
        """
        return self._call_json(endpoints.GET_ALIGNMENT_OUTPUTS, list[AlignmentOutput], ids={"job_id": job_id})

    def wait_for_alignment_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        timeout: float | None = None,
        on_poll: Callable[[AlignmentJob], None] | None = None,
    ) -> AlignmentJob:
        """
        Block until the job ends and return it, whatever its final status.

        Sleeps toward the service's completion estimate rather than at a fixed pace.

        :param job_id: The job's id.
        :param poll_interval: The longest sleep between two status checks, in seconds.
        :param min_poll_interval: The shortest sleep between two status checks, in seconds.
        :param timeout: Give up after this many seconds (monotonic clock), raising
            ``SeekrFlowAlignmentJobTimeoutError``; wait for ever when None.
        :param on_poll: Called with the job after every status check.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_alignment_job(job_id)
            if on_poll:
                on_poll(job)
            if job.is_terminal:
                return job
            delay = next_poll_delay(job, poll_interval=poll_interval, min_interval=min_poll_interval)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SeekrFlowAlignmentJobTimeoutError(
                        f"Alignment job {job_id} did not finish within {timeout:g} s ({job.describe()})",
                        job_id=job_id,
                        status=job.status,
                    )
                delay = min(delay, left)
            time.sleep(delay)

    # -- connection test ------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with one cheap authenticated call; never raises."""
        try:
            config = self.config
            self.retry_policy = RetryPolicy(max_retries=min(config.max_retries, 1), max_retry_after=5.0)
            self.list_files(limit=1)
        except SeekrFlowUnexpectedResponseError as err:
            return False, f"{config.base_url} does not answer like the SeekrFlow API: {err}"
        except SeekrFlowError as err:
            return False, str(err)
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        finally:
            self.__dict__.pop("retry_policy", None)
        return True, f"Connected to SeekrFlow at {config.base_url}; the API key was accepted."


def _safe_filename(name: str | None, fallback: str) -> str:
    """Return a service-given file name fit to join to a local folder: no directories, no dot names."""
    base = Path((name or "").replace("\\", "/")).name
    return base if base not in ("", ".", "..") else fallback


def alignment_request(
    instructions: str,
    files: Sequence[str],
    *,
    alignment_type: str,
    system_prompt: str | None,
    vector_database_id: str | None,
) -> dict[str, Any]:
    """
    Return a checked ``alignment/generate`` body, refusing locally what the service would refuse.

    :param instructions: What the training pairs should teach.
    :param files: Ids of alignment source files.
    :param alignment_type: ``principle`` or ``context_data``.
    :param system_prompt: Optional system prompt.
    :param vector_database_id: Optional vector database id.
    """
    if not isinstance(instructions, str) or not instructions.strip():
        raise SeekrFlowConfigError("instructions: must not be blank")
    if isinstance(files, str):
        files = [files]
    files = list(files or [])
    if not files:
        raise SeekrFlowConfigError("files: at least one file id is required")
    for index, file_id in enumerate(files):
        if not isinstance(file_id, str) or not file_id.strip():
            raise SeekrFlowConfigError(f"files[{index}]: must be a non-empty file id, got {file_id!r}")
    allowed = [member.value for member in AlignmentType]
    if alignment_type not in allowed:
        raise SeekrFlowConfigError(f"alignment_type: {alignment_type!r} is not one of {', '.join(allowed)}")
    body: dict[str, Any] = {"instructions": instructions, "files": files, "type": alignment_type}
    if system_prompt:
        body["system_prompt"] = system_prompt
    if vector_database_id:
        body["vector_database_id"] = vector_database_id
    return body
