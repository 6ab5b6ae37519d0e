"""What a finished data job or fine-tune means for a task, its result or its error: one definition for operator and sensor."""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow._client.alignment import describe_outputs, training_output_id
from airflow_provider_seekrflow._client.data_jobs import DataJobDetail
from airflow_provider_seekrflow._client.fine_tunes import FineTune
from airflow_provider_seekrflow._client.log_text import for_log
from airflow_provider_seekrflow._client.multipart import human_bytes
from airflow_provider_seekrflow.exceptions import SeekrFlowJobError
from airflow_provider_seekrflow.jobs.kinds import FINE_TUNE

# Service fields that may name the trained model; the fine-tune's own id stands in when none is sent.
MODEL_ID_FIELDS = ("output_name", "fine_tuned_model", "model_id")


def completed_line(label: str, outputs: list[dict[str, Any]], training_file_id: str | None) -> str:
    """
    Return the task log's line for a job that completed: every output file, and which one to train on.

    Control characters in the service's file names and purposes are escaped (``for_log``).

    :param label: The job, e.g. ``Data job dj-1``.
    :param outputs: Its output files as :func:`describe_outputs` gives them.
    :param training_file_id: The id of the training file (the ``fine-tune`` output), if any.
    """
    if not outputs:
        return f"{label} completed without output files"
    described = []
    for output in outputs:
        text = f"{output.get('filename') or '(unnamed)'} ({output['id']}"
        if output.get("bytes") is not None:
            text += f", {human_bytes(output['bytes'])}"
        if output["id"] == training_file_id:
            text += "; the training file, in XCom fine_tune_file_id"
        elif output.get("purpose"):
            text += f"; purpose {output['purpose']}"
        described.append(text + ")")
    line = f"{label} completed with {len(outputs)} output file(s): {', '.join(described)}"
    if training_file_id is None:
        line += "; none of them is a fine-tune training file"
    return for_log(line)  # file names and purposes are the service's text


def data_job_result(hook: Any, detail: DataJobDetail) -> tuple[dict[str, Any], str | None]:
    """
    Return a data job's result ``{"job_id", "status", "alignment_job_id", "output_files"}`` and its training file id.

    The outputs are read only for a completed job; the training file (the ``fine-tune`` output,
    which a fine-tune trains on) is None otherwise.

    :param hook: The sync SeekrFlow hook.
    :param detail: The data job as just read.
    """
    result: dict[str, Any] = {
        "job_id": detail.id,
        "status": detail.status,
        "alignment_job_id": detail.alignment_job_id,
        "output_files": [],
    }
    training_file_id = None
    if detail.succeeded and detail.alignment_job_id:
        outputs = hook.get_alignment_outputs(detail.alignment_job_id)
        result["output_files"] = describe_outputs(outputs)
        training_file_id = training_output_id(outputs)
    return result, training_file_id


def fine_tune_model_id(job: FineTune) -> str | None:
    """Return the trained model's id (the fine-tune's own id where the service names none); None unless completed."""
    if not job.succeeded:
        return None
    extra = job.model_extra or {}
    return next((str(extra[name]) for name in MODEL_ID_FIELDS if extra.get(name)), job.id)


def fine_tune_result(job: FineTune) -> dict[str, Any]:
    """
    Return a fine-tune's result ``{"job_id", "status", "model_id", "project_id", "model", "inference_available"}``.

    :param job: The fine-tune as just read.
    """
    return {
        "job_id": job.id,
        "status": job.status,
        "model_id": fine_tune_model_id(job),
        "project_id": job.project_id,
        "model": job.model,
        "inference_available": job.inference_available,
    }


def fine_tune_failure(job: FineTune) -> SeekrFlowJobError:
    """
    Return the error of a fine-tune that ended without a model, its message carrying the service's ``error_analysis``.

    :param job: The fine-tune as just read, in a terminal status other than ``completed``.
    """
    status_message = (job.model_extra or {}).get("status_message")
    reasons = [str(reason) for reason in (status_message, job.error_analysis) if reason]
    return FINE_TUNE.unsuccessful_error(
        job.id or "?", job.status, "; ".join(reasons) or None, error_analysis=job.error_analysis
    )
