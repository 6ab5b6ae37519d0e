"""Apache Airflow provider for SeekrFlow: upload documents, generate alignment training pairs, wait on jobs."""

from __future__ import annotations

__version__ = "0.2.0"

__all__ = ["__version__"]
