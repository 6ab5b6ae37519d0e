"""
What every job operator and job sensor shares: its kind, named by key, and its hook, both loaded when a task runs.

Light on purpose: DAG parsing imports it through every operator and sensor module, so the job kinds
(the client's pydantic models) and the hook load only on first use (``tests/unit/test_parse_imports.py``).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
    from airflow_provider_seekrflow.jobs.base import JobKind


class JobKindTask:
    """A task about one kind of SeekrFlow job (a mixin of the job operator and sensor bases)."""

    #: The key of the kind (``airflow_provider_seekrflow.jobs.kinds.KINDS``); set by each subclass.
    kind_key: str
    seekrflow_conn_id: str
    hook_params: dict[str, Any]

    @property
    def kind(self) -> JobKind:
        """Return the kind of job: its statuses, errors, keys, reads and result (loaded when a task runs)."""
        from airflow_provider_seekrflow.jobs.kinds import KINDS

        return KINDS[self.kind_key]

    @cached_property
    def hook(self) -> SeekrFlowHook:
        """Return the SeekrFlow hook of this task's connection."""
        from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

        return SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id, **self.hook_params)
