"""
### Keep a vector database in step with a folder, then make training data grounded in it

`example_seekrflow_rag_refresh` makes the vector database **northwind-support-docs** hold exactly
the documents of a folder, then runs a `context_grounded_vector_db` data job on it:

1. `vector_database` finds the database by name and embedding model, or creates it once.
2. `sync_documents` lists the folder, fingerprints every document (size plus a SHA-256 of its
   content; an object store's ETag for a bucket), and compares them with what earlier syncs put in
   the database. Only what is new or changed is uploaded (16 at a time) and ingested, in one job
   waited on in the triggerer; what is gone from the folder is removed from the database; the rest
   is left untouched. A run with nothing changed sends no upload. The result and the task log say
   how many documents were added, changed, removed and unchanged, and the asset
   `seekrflow://flow.seekr.com/vector-databases/northwind-support-docs` gets an event carrying those
   counts, so any DAG scheduled on it runs on each refresh.
3. `make_grounded_pairs` runs a data job that reads the refreshed database.

The folder is the `seekrflow_rag_folder` Variable (this repository's example documents when unset).
A bucket prefix works the same way, read through an Airflow connection, the database's documents
then being the objects directly under it::

    SeekrFlowVectorDatabaseSyncOperator(
        task_id="sync_documents",
        source="s3://aws_docs@northwind-support/policies/",  # or source_conn_id="aws_docs"
        vector_database_id=vector_database.output,
    )

Reading `s3://` needs `apache-airflow-providers-amazon[s3fs]`. Try a change before a run with
`plan_only=True`: the task logs what it would move and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.assets import vector_database_asset
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.vector_database import SeekrFlowCreateVectorDatabaseOperator
from airflow_provider_seekrflow.operators.vector_database_sync import SeekrFlowVectorDatabaseSyncOperator

DOCUMENTS = str(Path(__file__).parent / "data" / "documents")
SUPPORT_DOCS = vector_database_asset("northwind-support-docs")

with DAG(
    dag_id="example_seekrflow_rag_refresh",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["seekrflow", "example"],
) as dag:
    vector_database = SeekrFlowCreateVectorDatabaseOperator(
        task_id="vector_database",
        name="northwind-support-docs",
        model="BAAI/bge-large-en-v1.5",
        description="Northwind Outfitters' support policies",
    )
    sync_documents = SeekrFlowVectorDatabaseSyncOperator(
        task_id="sync_documents",
        source=f"{{{{ var.value.get('seekrflow_rag_folder', '{DOCUMENTS}') }}}}",
        vector_database_id=vector_database.output,
        metadata={"source": "northwind-support"},
        deferrable=True,
        timeout=60 * 60,
        retries=2,
        outlets=[SUPPORT_DOCS],
    )
    make_grounded_pairs = SeekrFlowDataJobOperator(
        task_id="make_grounded_pairs",
        job_type="context_grounded_vector_db",
        vector_database_id=vector_database.output,
        instructions="Teach a support assistant to answer from Northwind Outfitters' policies.",
        system_prompt="You are Northwind Outfitters' support assistant; answer from the policies.",
        deferrable=True,
        timeout=2 * 60 * 60,
        retries=2,
    )
    sync_documents >> make_grounded_pairs
