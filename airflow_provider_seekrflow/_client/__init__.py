"""
The SeekrFlow API client under the hooks: API declarations, connection settings, transports, sync client.

- The API as data: ``endpoints`` (an endpoint and a call to it), and one module per resource
  (``files``, ``alignment``, ``data_jobs``, ``fine_tunes``, ``projects``) with its endpoints, models,
  calls, local request checks and lost-answer search.
- ``config`` and ``connection_extras``: an Airflow connection's fields turned into checked settings.
- Two transports that run a call: ``sync_transport`` (requests, blocking) and ``async_transport``
  (aiohttp, for the triggerer). They share ``retry``, ``errors``/``transport_errors``, ``network``
  and ``deadline``.
- The blocking client (``sync_client``/``sync_pipeline``) and its wait (``waiting``); ``polling``
  plans the next status check for it and for the triggers alike.

Private by name, though operators, sensors, triggers and jobs import it and the hooks return its
models. The declarations and the connection settings load without Airflow
(``tests/unit/test_light_imports.py``); the transports raise the provider's exceptions, which import
Airflow.
"""
