"""The Airflow 3 public REST API as the suites use it: trigger and watch DAG runs, read tasks and XComs."""

from __future__ import annotations

import collections
import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

import requests

from tests.system.integration.processes import wait_for

TERMINAL_RUN_STATES = ("success", "failed")


class AirflowAPI:
    """The Airflow 3 public REST API (``/api/v2``), authenticated with a simple-auth-manager token."""

    def __init__(self, base_url: str, credentials: tuple[str, str] | None = None) -> None:
        self.base_url = base_url
        self.credentials = credentials
        self.session = requests.Session()

    def login(self) -> None:
        if self.credentials is None:  # simple_auth_manager_all_admins: a token for the asking
            response = requests.get(f"{self.base_url}/auth/token", timeout=30)
        else:
            username, password = self.credentials
            response = requests.post(
                f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
            )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, ok: Iterable[int] = (200,), **kwargs: Any) -> Any:
        url = f"{self.base_url}/api/v2/{path}"
        for attempt in range(3):
            response = self.session.request(method, url, timeout=60, **kwargs)
            if response.status_code == 401 and attempt < 2:
                self.login()  # tokens expire
                continue
            break
        if response.status_code not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    @staticmethod
    def q(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    # -- DAG runs ----------------------------------------------------------------------------------
    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        return self.request(
            "POST", f"dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf}
        )

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of the DAG, page by page (the API returns at most ``[api] maximum_page_limit``, 100)."""
        runs: list[dict[str, Any]] = []
        while True:
            page = self.get(f"dags/{dag_id}/dagRuns", limit=100, offset=len(runs), order_by="id")
            runs += page["dag_runs"]
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"dags/{dag_id}/dagRuns/{self.q(run_id)}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        return wait_for(
            f"DAG run {dag_id}/{run_id} to end",
            lambda: (s := self.run_state(dag_id, run_id)) in TERMINAL_RUN_STATES and s,
            timeout,
            2,
            lambda: json.dumps(self.task_instances(dag_id, run_id), default=str)[:3000],
        )

    def wait_runs(
        self, dag_id: str, run_ids: Iterable[str], timeout: float, interval: float, what: str = "runs"
    ) -> dict[str, dict[str, Any]]:
        """Wait until every run of ``run_ids`` has ended; return each one as last listed, by run id."""
        wanted = set(run_ids)
        runs: dict[str, dict[str, Any]] = {}

        def all_done() -> bool:
            runs.update({r["dag_run_id"]: r for r in self.dag_runs(dag_id) if r["dag_run_id"] in wanted})
            return sum(r["state"] in TERMINAL_RUN_STATES for r in runs.values()) == len(wanted)

        wait_for(f"{len(wanted)} {what} to end", all_done, timeout, interval,
                 lambda: str(collections.Counter(r["state"] for r in runs.values())))  # fmt: skip
        return runs

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self.get(f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances")
        return {ti["task_id"]: ti for ti in data["task_instances"]}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.get(f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances/{task_id}")

    def wait_ti_state(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout: float = 180
    ) -> str:
        wanted = set(states)
        return wait_for(
            f"{dag_id}/{run_id}/{task_id} to be {sorted(wanted)}",
            lambda: (s := self.task_instance(dag_id, run_id, task_id)["state"]) in wanted and s,
            timeout,
            1,
            lambda: json.dumps(self.task_instances(dag_id, run_id), default=str)[:3000],
        )

    def set_ti_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> Any:
        return self.request(
            "PATCH",
            f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances/{task_id}",
            json={"new_state": state},
        )

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], include_downstream: bool = True) -> Any:
        return self.request(
            "POST",
            f"dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "only_failed": False,
                "reset_dag_runs": True,
                "include_downstream": include_downstream,
            },
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        entry = self.get(
            f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances/{task_id}/xcomEntries/{key}",
            deserialize=True,
        )
        value = entry["value"]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def state_store(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        data = self.get(f"dags/{dag_id}/dagRuns/{self.q(run_id)}/taskInstances/{task_id}/state-store")
        return {item["key"]: item["value"] for item in data.get("task_state_store", [])}
