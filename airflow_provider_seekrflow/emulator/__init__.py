"""A local SeekrFlow API emulator (FastAPI + uvicorn) for developing and testing DAGs offline.

For tests and local development only: never expose it to a network. Run it:
``SEEKRFLOW_EMULATOR_API_KEY=KEY python -m airflow_provider_seekrflow.emulator --port 0`` (prints
its base URL), or from Python with ``SeekrFlowEmulator(api_key=KEY)``; there is no default key. Needs fastapi, uvicorn and python-multipart,
and pyarrow for the parquet ``fine-tune`` outputs of alignment jobs (the ``emulator`` extra).
``--legacy-job-shape`` / ``legacy_job_shape`` and ``--deprecation-headers`` /
``deprecation_headers`` imitate older servers and the generate route's deprecation. Data jobs,
projects and fine-tunes are served too; ``--ingestion-seconds`` / ``ingestion_seconds`` and
``--fine-tune-duration`` / ``fine_tune_duration`` time their ingestion and training. Deployments
(``deployment_duration``, ``deployment_outcome``) serve fine-tunes and base models to
``POST /v1/inference/chat/completions``, which answers from the model's training pairs.
"""

from __future__ import annotations

from airflow_provider_seekrflow.emulator.server import SeekrFlowEmulator

__all__ = ["SeekrFlowEmulator"]
