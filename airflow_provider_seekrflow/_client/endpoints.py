"""The one definition of every SeekrFlow endpoint the provider calls."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Endpoint:
    """
    One SeekrFlow operation.

    :param name: The operation id in ``openapi.yaml``.
    :param method: The HTTP method.
    :param path: The path template, with ``{name}`` placeholders for ids.
    :param repeatable: Whether sending the request twice is harmless, so it may be retried even
        after the service may already have received it.
    """

    name: str
    method: str
    path: str
    repeatable: bool

    def render(self, **ids: str) -> str:
        """Return the path with each id percent-encoded into its placeholder."""
        for key, value in ids.items():
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{key} must be a non-empty string, got {value!r}")
        return self.path.format(**{key: quote(value, safe="") for key, value in ids.items()})


UPLOAD_FILE = Endpoint("upload_file", "PUT", "/v1/flow/files", repeatable=False)
LIST_FILES = Endpoint("list_files", "GET", "/v1/flow/files", repeatable=True)
VALIDATE_FILE_METADATA = Endpoint(
    "validate_file_metadata", "POST", "/v1/flow/files/validate_metadata", repeatable=True
)
GET_FILE = Endpoint("get_file", "GET", "/v1/flow/files/{file_id}", repeatable=True)
DELETE_FILE = Endpoint("delete_file", "DELETE", "/v1/flow/files/{file_id}", repeatable=True)
GET_FILE_CONTENT = Endpoint("get_file_content", "GET", "/v1/flow/files/{file_id}/content", repeatable=True)
GENERATE_ALIGNMENT = Endpoint("alignment_generate", "POST", "/v1/flow/alignment/generate", repeatable=False)
LIST_ALIGNMENT_JOBS = Endpoint("list_alignment_jobs", "GET", "/v1/flow/alignment", repeatable=True)
GET_ALIGNMENT_JOB = Endpoint("get_alignment_job", "GET", "/v1/flow/alignment/{job_id}", repeatable=True)
DELETE_ALIGNMENT_JOB = Endpoint(
    "delete_alignment_job", "DELETE", "/v1/flow/alignment/{job_id}", repeatable=True
)
GET_ALIGNMENT_OUTPUTS = Endpoint(
    "get_alignment_outputs", "GET", "/v1/flow/alignment/{job_id}/outputs", repeatable=True
)
# Cancelling twice leaves the job cancelled, so a repeat is harmless.
CANCEL_ALIGNMENT_JOB = Endpoint(
    "cancel_alignment_job", "POST", "/v1/flow/alignment/{job_id}/cancel", repeatable=True
)
