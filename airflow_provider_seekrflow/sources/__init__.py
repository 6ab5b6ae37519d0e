"""
The files an upload task sends: local paths and globs, object-storage URIs and ``ObjectStoragePath``.

Resolving a task's ``file_path`` lists every match (name and size) without reading any byte, so
every check that needs only the listing runs on all files before anything is downloaded or sent.
This module is the package's face only: the code lives in its submodules, which never import it.
"""

from airflow_provider_seekrflow.sources.resolver import resolve
from airflow_provider_seekrflow.sources.source import Source

__all__ = ["Source", "resolve"]
