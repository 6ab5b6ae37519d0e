"""Map an HTTP method and path to the openapi.yaml operationId (the emulator's route names)."""

from __future__ import annotations

import re

__all__ = ["OPERATION_IDS", "resolve_route"]

_ID = r"[^/]+"
_TABLE: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(f"^/v1/flow/{pattern}/?$"), op)
    for method, pattern, op in (
        ("PUT", "files", "upload_file"),
        ("GET", "files", "list_files"),
        ("POST", "files/validate_metadata", "validate_file_metadata"),
        ("GET", f"files/{_ID}/content", "get_file_content"),
        ("GET", f"files/{_ID}", "get_file"),
        ("DELETE", f"files/{_ID}", "delete_file"),
        ("POST", "alignment/generate", "alignment_generate"),
        ("GET", "alignment", "list_alignment_jobs"),
        ("GET", f"alignment/{_ID}/outputs", "get_alignment_outputs"),
        ("POST", f"alignment/{_ID}/cancel", "cancel_alignment_job"),
        ("GET", f"alignment/{_ID}", "get_alignment_job"),
        ("DELETE", f"alignment/{_ID}", "delete_alignment_job"),
    )
)

OPERATION_IDS: frozenset[str] = frozenset(op for _, _, op in _TABLE)


def resolve_route(method: str, path: str) -> str | None:
    """The operationId serving ``method path``, or None for a path outside the API."""
    for m, pattern, op in _TABLE:
        if m == method and pattern.match(path):
            return op
    return None
