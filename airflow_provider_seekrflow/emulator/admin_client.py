"""The ``SeekrFlowEmulator``'s client for the ``/_emulator`` admin API: journal, faults, config, reset.

It talks HTTP, so it works the same whether the emulator runs in a thread or a child process, and
it sends the API key, which the admin API needs like the API does.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus

__all__ = ["EmulatorAdminClient"]


class EmulatorAdminClient:
    """The admin API's calls, for a class that sets ``api_key``, ``base_url`` and ``_ssl_context``."""

    api_key: str
    base_url: str | None
    _ssl_context: ssl.SSLContext | None

    @property
    def running(self) -> bool:
        return self.base_url is not None

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        """Send one admin request with the API key; return its JSON answer (None if empty).

        :param method: the HTTP method.
        :param path: the path under ``/_emulator/``, with its query.
        :param body: a JSON-able request body, or None.
        """
        if not self.running:
            raise RuntimeError("the SeekrFlow emulator is not running")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": self.api_key}
        if data is not None:
            headers["content-type"] = "application/json"
        request = urllib.request.Request(
            f"{self.base_url}/_emulator/{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._ssl_context) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"emulator admin {method} {path}: {exc.code} {exc.read().decode()}") from None
        return json.loads(payload) if payload else None

    def health(self) -> dict[str, Any]:
        return self._admin("GET", "health")

    def journal(self, route: str | None = None) -> list[dict[str, Any]]:
        """Requests seen so far: ``{seq, ts, method, path, route, status, fault, team_id}``."""
        query = "" if route is None else "?" + urllib.parse.urlencode({"route": route})
        return self._admin("GET", f"journal{query}")

    def clear_journal(self) -> None:
        self._admin("DELETE", "journal")

    def set_faults(self, rules: Iterable[dict[str, Any] | str]) -> list[dict[str, Any]]:
        """Replace the fault rules; return them as the emulator holds them.

        :param rules: dicts (``{"route": "create_fine_tune", "kind": "504_after", "count": 1}``) or
            CLI-style strings (``"upload_file:503:count=1"``, ``"get_data_job:trickle:delay=2"``,
            ``"list_files:redirect:location=http://127.0.0.1:9/x"``); the kinds are in ``faults``.
        """
        from airflow_provider_seekrflow.emulator.faults import parse_fault_spec

        body = [parse_fault_spec(r).to_dict() if isinstance(r, str) else r for r in rules]
        return self._admin("PUT", "faults", body)

    def faults_active(self) -> list[dict[str, Any]]:
        return self._admin("GET", "faults")

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults")

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings; returns the whole config.

        ``job_duration``, ``job_outcome`` (completed/failed/cancelled/stopped), ``status_message``
        and ``eta`` apply to jobs created afterwards; ``max_file_bytes`` to uploads;
        ``ingestion_seconds`` and ``ingestion_fail`` (file names that fail) to files attached to data
        jobs afterwards; ``fine_tune_duration`` and ``fine_tune_outcome`` (completed/failed) to new fine-tunes;
        ``deployment_duration``, ``deployment_outcome`` (Active/Failed) and ``deployment_status_message``
        to deployments created or promoted afterwards; ``vector_ingestion_seconds`` (per file) and
        ``vector_ingestion_fail`` (file names that fail) to vector database ingestions started
        afterwards; ``chat_latency`` (seconds) to each chat completion.
        ``echo_request``, ``legacy_job_shape`` (string percentages, ``preparing`` for ``queued``),
        ``deprecation_headers`` (on the generate route) and ``hostile_numbers`` (field name to a raw
        ``NaN``/``Infinity``/huge literal in every JSON answer, e.g. ``{"eta_minutes": "NaN",
        "bytes": 10**400}``; see ``hostile_numbers``) apply to the next answer.
        """
        return self._admin("PUT", "config", changes)

    def config(self) -> dict[str, Any]:
        return self._admin("GET", "config")

    def reset_config(self) -> dict[str, Any]:
        return self._admin("DELETE", "config")

    def reset(self, wipe: bool = False) -> None:
        """Clear journal and faults and restore the start-up config, in one call.

        ``wipe=True`` also deletes every file and job (as ``wipe()``).
        """
        self._admin("POST", "reset?wipe=true" if wipe else "reset")

    def wipe(self) -> None:
        """Delete every file, job and project: an empty service."""
        self._admin("DELETE", "state")

    def fail_job(
        self,
        job_id: str,
        status: str = AlignmentJobStatus.FAILED.value,
        status_message: str | None = "Emulated failure",
    ) -> dict[str, Any]:
        """End an alignment job now in ``status`` (failed, cancelled, stopped or completed)."""
        return self._admin(
            "POST", f"alignment/{job_id}/fail", {"status": status, "status_message": status_message}
        )
