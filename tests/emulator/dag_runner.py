"""Run a DAG defined in a test with ``dag.test()`` on Airflow 2.11 and 3.x alike."""

from __future__ import annotations

from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

AIRFLOW_3 = Version(AIRFLOW_VERSION).major >= 3
AIRFLOW_3_3 = Version(Version(AIRFLOW_VERSION).base_version) >= Version("3.3.0")


def _register(dag: Any) -> None:
    # Airflow 3 only runs DAGs it has serialized; a DAG built inside a test lives in no bundle,
    # so write it to the metadata database the way the DAG processor would.
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.commit()
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


def run_dag(dag: Any, **kwargs: Any) -> Any:
    """Run every task of ``dag`` in this process and return the DagRun."""
    if AIRFLOW_3:
        _register(dag)
    return dag.test(**kwargs)


def task_states(dag_run: Any) -> dict[str, str | None]:
    """Return each task's final state, by task id (mapped tasks as ``task_id[index]``)."""
    states = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index in (-1, None) else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state) if ti.state else None
    return states
