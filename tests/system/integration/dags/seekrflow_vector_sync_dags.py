"""A vector database kept in step with a folder, for the integration harness: create-or-find, then sync.

``it_vector_database_create`` is the first step alone: the soak runs it beside the sync, on other
names, so that each lost answer it is certain to inject on the create route meets a create of its own
(a create whose answer is lost is found, and the database is then never created again).

``it_vector_sync_soak`` (tests/system/integration/test_02_vector_sync_soak.py) is what a team would
schedule to keep retrieval current: find the database by name (creating it once), then make it hold
exactly the folder's current documents. Run-scoped inputs come from ``dag_run.conf``:

- ``database``: the database's name (the test runs the DAG three times on one name, so the later runs
  find the database the first made);
- ``docs_dir``: the folder synced, under the harness's work directory (every component reads it).

Every task retries as in production: a try that a fault ends (a create whose answer is lost and
cannot yet be told apart, a request out of retries) is tried again, and the retry picks up what the
earlier try did (the database by name, the uploads from the task state store, the ingestion from
the sync's record).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.operators.vector_database import SeekrFlowCreateVectorDatabaseOperator
from airflow_provider_seekrflow.operators.vector_database_sync import SeekrFlowVectorDatabaseSyncOperator

EMBEDDING_MODEL = "BAAI/bge-large-en-v1.5"
# The most uploads in flight at once: the provider's default would do; said here so the soak's
# figures do not move if the default does.
SYNC_CONCURRENCY = 16

# Four tries: the once-only routes are each certain to meet several faults (tests/system/integration/
# test_02_vector_sync_soak.py) and the 20 % mix besides; a try that runs out of them is retried.
DEFAULT_ARGS = {"retries": 3, "retry_delay": timedelta(seconds=3)}


def _create_database() -> SeekrFlowCreateVectorDatabaseOperator:
    return SeekrFlowCreateVectorDatabaseOperator(
        task_id="create_database",
        name="{{ dag_run.conf['database'] }}",
        model=EMBEDDING_MODEL,
        description="The integration harness's vector sync soak",
    )


with DAG(
    dag_id="it_vector_sync_soak",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["seekrflow", "integration", "vector-database"],
) as it_vector_sync_soak:
    database = _create_database()
    SeekrFlowVectorDatabaseSyncOperator(
        task_id="sync",
        source="{{ dag_run.conf['docs_dir'] }}",
        vector_database_id=database.output,
        max_concurrency=SYNC_CONCURRENCY,
        deferrable=True,
        poll_interval=3,
        min_poll_interval=1,
    )

with DAG(
    dag_id="it_vector_database_create",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=8,
    default_args=DEFAULT_ARGS,
    tags=["seekrflow", "integration", "vector-database"],
) as it_vector_database_create:
    _create_database()
