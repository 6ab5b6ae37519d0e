"""
The SeekrFlow API client the hooks wrap: the API as data, connection settings, and two transports.

- The API as data: ``endpoints`` (an endpoint, and a ``Call`` to it that either transport runs), and
  one module per resource (``files``, ``alignment``, ``data_jobs``, ``fine_tunes``, ``projects``)
  with its endpoints, models, calls, local request checks and lost-answer search.
- ``config`` and ``connection_extras``: an Airflow connection's fields turned into checked settings,
  parsed from the connection form's one definition.
- Two transports that run a call: ``sync_transport`` (requests, blocking) and ``async_transport``
  (aiohttp, for the triggerer). They share ``retry``, ``errors``/``transport_errors``, ``network``
  and ``deadline``.
- Requests the service may act on more than once, reconciled over a sync transport: ``reconcile``
  (send once, look up when the answer is lost), ``creates`` (data jobs, projects, fine-tunes,
  generate) and ``transfers`` (uploads and downloads); ``waiting`` and ``polling`` pace the waits.

Public: DAG authors may build calls (``hook.call(data_jobs.get(job_id))``) and read its models,
which ``airflow_provider_seekrflow.models`` also names. The declarations and connection settings
load without Airflow (``tests/unit/test_light_imports.py``); the transports raise the provider's
exceptions, which derive from ``AirflowException`` and so import Airflow.
"""
