"""Upload local or object-storage files to SeekrFlow."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowProviderDeprecationWarning
from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
    SeekrFlowInvalidFileError,
    SeekrFlowNotFoundError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.job_base import task_state_store
from airflow_provider_seekrflow.vocabulary import MAX_FILE_BYTES, FilePurpose

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

_COPY_CHUNK_BYTES = 1024 * 1024
# Task state store key (Airflow 3.3+) of the ids this task's tries have uploaded, by source.
UPLOADED_STATE_KEY = "uploaded_files"


@dataclass(frozen=True)
class _Source:
    """One file to upload: where the user said it is, and the local copy the hook reads."""

    name: str
    shown: str
    local: Path


def _has_magic(text: str) -> bool:
    return glob.has_magic(text)


def _is_object_storage(spec: Any) -> bool:
    if isinstance(spec, str):
        return "://" in spec and not spec.startswith("file://")
    return type(spec).__name__ == "ObjectStoragePath"


def _as_list(file_path: Any) -> tuple[list[Any], bool]:
    """Return the sources as a list, and whether the user named exactly one file (not a glob, not a list)."""
    if file_path is None:
        raise SeekrFlowConfigError("file_path: is required")
    if isinstance(file_path, (str, os.PathLike)) or _is_object_storage(file_path):
        text = str(file_path)
        return [file_path], not _has_magic(text.rsplit("/", 1)[-1])
    if isinstance(file_path, (list, tuple)):
        items = list(file_path)
        if not items:
            raise SeekrFlowConfigError("file_path: the list of files is empty")
        return items, False
    raise SeekrFlowConfigError(
        f"file_path: expected a path, a glob, a URI or a list of them, got {type(file_path).__name__}"
    )


class SeekrFlowUploadFileOperator(BaseOperator):
    """
    Upload one or more files to SeekrFlow and return the file id, or the ids in input order.

    Every source is checked before anything is sent: it must exist and be a non-empty regular file
    of at most 4 GB with an extension the purpose accepts, and JSONL training data must match the
    purpose's line schema. One bad file fails the task before any upload, so a batch is never half
    uploaded. On Airflow 3.3 and later each stored id is kept in the task state store, so a retry
    after a partial batch uploads only the files still missing. Files in object storage (``s3://``, ``gs://``, an ``ObjectStoragePath``...) are
    copied to a temporary directory first, in constant memory.

    :param file_path: A path, a glob, an object-storage URI or ``ObjectStoragePath``, or a list of them. (templated)
    :param purpose: ``alignment`` (source documents, the default), ``fine-tune``, ``preference-fine-tune``,
        ``pre-train`` or ``reinforcement-fine-tune``. (templated)
    :param vector_database_id: Vector database to add alignment documents to. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``.
    :param check_content: Whether to check every JSONL line before uploading; the other checks always run.
    :param validate: Deprecated name of ``check_content``.
    """

    template_fields: Sequence[str] = ("file_path", "purpose", "vector_database_id", "seekrflow_conn_id")
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        file_path: Any,
        purpose: str = FilePurpose.ALIGNMENT.value,
        vector_database_id: str | None = None,
        seekrflow_conn_id: str = SeekrFlowHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        check_content: bool = True,
        validate: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if validate is not None:
            # One name per concept: the hook's, the operator's and the docs' is check_content.
            warnings.warn(
                "SeekrFlowUploadFileOperator(validate=...) is deprecated; use check_content=...",
                AirflowProviderDeprecationWarning,
                stacklevel=2,
            )
            check_content = validate
        self.file_path = file_path
        self.purpose = purpose
        self.vector_database_id = vector_database_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.hook_params = dict(hook_params or {})
        self.check_content = check_content

    @property
    def validate(self) -> bool:
        """Deprecated name of ``check_content``."""
        return self.check_content

    @cached_property
    def hook(self) -> SeekrFlowHook:
        """Return the SeekrFlow hook of this task's connection."""
        return SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id, **self.hook_params)

    def execute(self, context: Context) -> str | list[str]:
        """Check every source, then upload each and return the id or ids."""
        started = datetime.now(timezone.utc)
        purposes = [member.value for member in FilePurpose]
        if self.purpose not in purposes:
            raise SeekrFlowConfigError(f"purpose: {self.purpose!r} is not one of {', '.join(purposes)}")
        specs, single = _as_list(self.file_path)
        with tempfile.TemporaryDirectory(prefix="seekrflow-upload-") as staging:
            sources = list(self._resolve(specs, Path(staging)))
            if single and len(sources) != 1:
                single = False
            for source in sources:
                self.hook.check_file(source.local, self.purpose, check_content=self.check_content)
            for source in sources:
                self.hook.check_file_with_service(source.local, self.purpose, filename=source.name)
            self.log.info("Checked %d file(s) for purpose %s; uploading", len(sources), self.purpose)
            store = task_state_store(context)
            recorded = store.get(UPLOADED_STATE_KEY) if store is not None else None
            uploaded: dict[str, Any] = dict(recorded) if isinstance(recorded, dict) else {}
            ids = []
            for source in sources:
                key = self._state_key(source)
                stored_id = self._reuse(uploaded.get(key), source)
                if stored_id is None:
                    stored_id = self._upload(source, started)
                    uploaded[key] = stored_id
                    if store is not None:
                        # Recorded file by file, so a retry after a partial batch sends only the rest.
                        store.set(UPLOADED_STATE_KEY, uploaded)
                ids.append(stored_id)
        return ids[0] if single else ids

    def _state_key(self, source: _Source) -> str:
        return json.dumps(
            [self.purpose, self.vector_database_id, source.shown, source.local.stat().st_size],
            separators=(",", ":"),
        )

    def _reuse(self, file_id: str | None, source: _Source) -> str | None:
        """Return the id an earlier try stored for this source, if the service still has that file."""
        if not file_id:
            return None
        try:
            stored = self.hook.get_file(file_id)
        except SeekrFlowNotFoundError:
            return None
        if stored.deleted or stored.bytes != source.local.stat().st_size:
            return None
        self.log.info("%s: already uploaded by an earlier try as %s", source.name, file_id)
        return file_id

    def _upload(self, source: _Source, started: datetime) -> str:
        stored = self.hook.upload_file(
            source.local,
            self.purpose,
            vector_database_id=self.vector_database_id,
            filename=source.name,
            check=False,
            check_with_service=False,
            since=started,
        )
        return stored.id

    def _resolve(self, specs: list[Any], staging: Path) -> Iterator[_Source]:
        for index, spec in enumerate(specs):
            where = "file_path" if len(specs) == 1 else f"file_path[{index}]"
            if _is_object_storage(spec):
                yield from self._stage_remote(spec, staging, where)
            elif isinstance(spec, (str, os.PathLike)):
                yield from self._local(os.fspath(spec), where)
            else:
                raise SeekrFlowConfigError(f"{where}: expected a path or URI, got {type(spec).__name__}")

    def _local(self, text: str, where: str) -> Iterator[_Source]:
        if text.startswith("file://"):
            text = text[len("file://") :]
        if not text.strip():
            raise SeekrFlowConfigError(f"{where}: is empty")
        expanded = os.path.expanduser(text)
        if _has_magic(expanded):
            matches = sorted(glob.glob(expanded, recursive=True))
            matches = [match for match in matches if not os.path.isdir(match)]
            if not matches:
                raise SeekrFlowInvalidFileError(f"{where}: no file matches {text!r}")
            for match in matches:
                yield _Source(name=os.path.basename(match), shown=match, local=Path(match))
            return
        yield _Source(name=os.path.basename(expanded.rstrip("/")), shown=text, local=Path(expanded))

    def _stage_remote(self, spec: Any, staging: Path, where: str) -> Iterator[_Source]:
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        root = spec if not isinstance(spec, str) else ObjectStoragePath(spec)
        text = str(root)
        name = text.rstrip("/").rsplit("/", 1)[-1]
        if _has_magic(name):
            parent = ObjectStoragePath(text.rsplit("/", 1)[0])
            matches = sorted((path for path in parent.glob(name) if path.is_file()), key=str)
            if not matches:
                raise SeekrFlowInvalidFileError(f"{where}: no file matches {text!r}")
        else:
            matches = [root]
        for remote in matches:
            yield self._copy_remote(remote, staging, where)

    def _copy_remote(self, remote: Any, staging: Path, where: str) -> _Source:
        shown = str(remote)
        name = shown.rstrip("/").rsplit("/", 1)[-1]
        try:
            if not remote.exists():
                raise SeekrFlowInvalidFileError(f"{where}: {shown} does not exist")
            if not remote.is_file():
                raise SeekrFlowInvalidFileError(f"{where}: {shown} is not a regular file")
            size = remote.stat().st_size
        except OSError as err:
            raise SeekrFlowInvalidFileError(f"{where}: cannot read {shown}: {err}") from None
        # Refuse what the local check would refuse anyway, before copying gigabytes for nothing.
        if size == 0:
            raise SeekrFlowInvalidFileError(f"{where}: {shown} is empty")
        if size > MAX_FILE_BYTES:
            raise SeekrFlowInvalidFileError(
                f"{where}: {shown} is {size} bytes, over SeekrFlow's limit of {MAX_FILE_BYTES} bytes"
            )
        folder = staging / str(len(list(staging.iterdir())))
        folder.mkdir()
        local = folder / name
        with _open_remote(remote, shown, where) as source, open(local, "wb") as target:
            shutil.copyfileobj(source, target, _COPY_CHUNK_BYTES)
        self.log.info("Copied %s to a local staging file (%d bytes)", shown, local.stat().st_size)
        return _Source(name=name, shown=shown, local=local)


@contextmanager
def _open_remote(remote: Any, shown: str, where: str) -> Iterator[Any]:
    try:
        handle = remote.open("rb")
    except OSError as err:
        raise SeekrFlowInvalidFileError(f"{where}: cannot read {shown}: {err}") from None
    with handle:
        yield handle
