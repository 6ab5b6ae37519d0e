"""
The SeekrFlow API models, for import in DAGs and callbacks: one name for every model a hook returns.

Each is defined once, beside its endpoints, in the client's resource modules (``client/files.py``,
``client/alignment.py``, ``client/chat.py``, ``client/data_jobs.py``, ``client/fine_tunes.py``, ``client/projects.py``,
``client/deployments.py``, ``client/vector_databases.py``);
the vocabulary (purposes, types, statuses) lives in ``vocabulary.py``. Every model reads liberally:
unknown fields are kept, numbers given as strings are read as numbers
(``tests/unit/test_models_surface.py`` checks that this list is complete).
"""

from __future__ import annotations

from airflow_provider_seekrflow.client.alignment import AlignmentJob, AlignmentJobList, AlignmentOutput
from airflow_provider_seekrflow.client.chat import ChatChoice, ChatCompletion, ChatMessage, ChatUsage
from airflow_provider_seekrflow.client.data_jobs import (
    DataJob,
    DataJobDetail,
    DataJobFile,
    DataJobList,
    IngestionJob,
    IngestionRecord,
    SystemPrompt,
)
from airflow_provider_seekrflow.client.deployments import Deployment, DeploymentList
from airflow_provider_seekrflow.client.files import (
    FileMetadataValidation,
    SeekrFlowFile,
    SeekrFlowFileDeleted,
    SeekrFlowFileList,
)
from airflow_provider_seekrflow.client.fine_tunes import FineTune, FineTuneEvent, FineTuneEvents, FineTuneList
from airflow_provider_seekrflow.client.projects import Project, ProjectList
from airflow_provider_seekrflow.client.service_model import ServiceModel, percent
from airflow_provider_seekrflow.client.vector_databases import (
    VectorDatabase,
    VectorDatabaseFile,
    VectorDatabaseFileList,
    VectorDatabaseIngestion,
    VectorDatabaseIngestionList,
    VectorDatabaseList,
)
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus, AlignmentType, FilePurpose

__all__ = [
    "AlignmentJob",
    "AlignmentJobList",
    "AlignmentJobStatus",
    "AlignmentOutput",
    "AlignmentType",
    "ChatChoice",
    "ChatCompletion",
    "ChatMessage",
    "ChatUsage",
    "DataJob",
    "DataJobDetail",
    "DataJobFile",
    "DataJobList",
    "Deployment",
    "DeploymentList",
    "FileMetadataValidation",
    "FilePurpose",
    "FineTune",
    "FineTuneEvent",
    "FineTuneEvents",
    "FineTuneList",
    "IngestionJob",
    "IngestionRecord",
    "Project",
    "ProjectList",
    "SeekrFlowFile",
    "SeekrFlowFileDeleted",
    "SeekrFlowFileList",
    "ServiceModel",
    "SystemPrompt",
    "VectorDatabase",
    "VectorDatabaseFile",
    "VectorDatabaseFileList",
    "VectorDatabaseIngestion",
    "VectorDatabaseIngestionList",
    "VectorDatabaseList",
    "percent",
]
