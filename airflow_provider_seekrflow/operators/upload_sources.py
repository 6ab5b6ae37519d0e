"""
What every task that uploads listed sources does: check them all, then send them in one bounded batch.

Shared by ``SeekrFlowUploadFileOperator`` and ``SeekrFlowVectorDatabaseSyncOperator``. Imported when
a task runs, never at DAG parsing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.defaults import check_concurrency
from airflow_provider_seekrflow.exceptions import SeekrFlowInvalidFileError
from airflow_provider_seekrflow.operators.job_submission import task_state_store

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
    from airflow_provider_seekrflow.operators.upload_record import RecordJournal
    from airflow_provider_seekrflow.sources import Source


def concurrency_of(value: Any, field: str = "max_concurrency") -> int:
    """
    Return a rendered ``max_concurrency`` as a number (a template renders it as text), or raise naming the field.

    :param value: What the task holds once rendered.
    :param field: The parameter's name, for the error.
    """
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return check_concurrency(value, field)


def check_sources(sources: list[Source], purpose: str, *, check_content: bool, log: Any) -> None:
    """
    Check what the listing tells of every file, then (``check_content``) read the JSONL ones; raise at the first bad one.

    Every file's listing is checked first, so a refused file is found before any object is read.

    :param sources: The files, as listed.
    :param purpose: What they are for.
    :param check_content: Whether JSONL files are read and checked line by line.
    :param log: The task's logger.
    """
    from airflow_provider_seekrflow.validation import (
        FileCheckError,
        check_file,
        check_jsonl_stream,
        check_listed,
        needs_content_check,
    )

    try:
        for source in sources:
            check_listed(source.shown, source.size, purpose)
        for source in sources:
            if not check_content or not needs_content_check(source.name, purpose):
                continue
            if source.local is not None:
                check_file(source.local, purpose)  # buffered line batches: the fast path
            else:
                log.info("%s: checking its lines as it streams", source.shown)
                # Closed at once on a bad line: the object's stream and its read-ahead end there.
                with contextlib.closing(source.lines()) as lines:
                    check_jsonl_stream(lines, purpose, source.shown)
    except FileCheckError as err:
        raise SeekrFlowInvalidFileError(str(err)) from None


def upload_sources(
    hook: SeekrFlowHook,
    context: Context,
    sources: list[Source],
    purpose: str,
    *,
    max_concurrency: int,
    log: Any,
    send: Callable[[RecordJournal], list[str]],
    vector_database_id: str | None = None,
) -> list[str]:
    """
    Ask the service to check the files, then have ``send`` upload them with the task's journal; return the ids.

    On Airflow 3.3+ the journal is the task state store: each file is noted there before it is sent
    and recorded once stored, so a retry uploads only what is missing and reuses what a killed try
    stored.

    :param hook: The hook of the task's connection.
    :param context: The task context (its task state store).
    :param sources: The files, checked (:func:`check_sources`).
    :param purpose: What they are for.
    :param max_concurrency: The most files in flight at once.
    :param log: The task's logger.
    :param send: Uploads the files with the journal given (``hook.upload_batch``), returning ids in input order.
    :param vector_database_id: The vector database the files are added to, if any (part of each file's facts).
    """
    from airflow_provider_seekrflow.operators.upload_record import RecordJournal, UploadRecord

    hook.check_files_with_service(sources, purpose, max_concurrency=max_concurrency)
    log.info(
        "Checked %d file(s) for purpose %s; uploading, at most %d at once",
        len(sources),
        purpose,
        max_concurrency,
    )
    store = task_state_store(context)
    record = UploadRecord.from_store(store)
    facts = [
        {
            "source": source.shown,
            "bytes": source.size,
            "purpose": purpose,
            "vector_database_id": vector_database_id,
        }
        for source in sources
    ]
    return send(RecordJournal(record, store, facts))
