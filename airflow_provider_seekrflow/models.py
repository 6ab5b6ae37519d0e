"""
The SeekrFlow API models, for import in DAGs and callbacks.

Each is defined once, beside its endpoints, in the client's resource modules (``_client/files.py``,
``_client/alignment.py``); the vocabulary (purposes, types, statuses) lives in ``vocabulary.py``.
"""

from __future__ import annotations

from airflow_provider_seekrflow._client.alignment import AlignmentJob, AlignmentJobList, AlignmentOutput
from airflow_provider_seekrflow._client.files import (
    FileMetadataValidation,
    SeekrFlowFile,
    SeekrFlowFileDeleted,
    SeekrFlowFileList,
)
from airflow_provider_seekrflow._client.service_model import percent
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus, AlignmentType, FilePurpose

__all__ = [
    "AlignmentJob",
    "AlignmentJobList",
    "AlignmentJobStatus",
    "AlignmentOutput",
    "AlignmentType",
    "FileMetadataValidation",
    "FilePurpose",
    "SeekrFlowFile",
    "SeekrFlowFileDeleted",
    "SeekrFlowFileList",
    "percent",
]
