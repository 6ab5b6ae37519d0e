"""In-memory request journal: one entry per API request, readable over the admin endpoints."""

from __future__ import annotations

import collections
import itertools
import threading
import time
from typing import Any

__all__ = ["Journal"]


class Journal:
    """Bounded, thread-safe list of request records (never holds headers, so never the API key)."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(
        self, method: str, path: str, route: str | None, team_id: str | None, fault: str | None
    ) -> dict[str, Any]:
        """Append an entry (status filled in later by the caller) and return it."""
        with self._lock:
            entry = {
                "seq": next(self._seq),
                "ts": time.time(),
                "method": method,
                "path": path,
                "route": route,
                "status": None,
                "fault": fault,
                "team_id": team_id,
            }
            self._entries.append(entry)
        return entry

    def entries(self, route: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self._entries)
        if route is not None:
            items = [e for e in items if e["route"] == route]
        return [dict(e) for e in items]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
