"""
Keep a vector database in step with a set of documents: what to move (:mod:`.plan`), what is known (:mod:`.record`), how change is told (:mod:`.fingerprint`).

Pure logic, no request and no Airflow: ``SeekrFlowVectorDatabaseSyncOperator`` lists the sources,
reads the record and the database's files, asks :func:`.plan.plan_sync` what to do and then does it.
"""
