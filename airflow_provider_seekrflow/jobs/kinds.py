"""The registry of job kinds: one line per kind, read by the trigger to rebuild its wait from a key."""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.jobs.base import JobKind
from airflow_provider_seekrflow.jobs.data_job import DATA_JOB
from airflow_provider_seekrflow.jobs.deployment import DEPLOYMENT
from airflow_provider_seekrflow.jobs.fine_tune import FINE_TUNE
from airflow_provider_seekrflow.jobs.ingestion import VECTOR_INGESTION

KINDS: Mapping[str, JobKind] = {
    kind.key: kind for kind in (ALIGNMENT, DATA_JOB, FINE_TUNE, DEPLOYMENT, VECTOR_INGESTION)
}
