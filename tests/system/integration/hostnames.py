"""``[core] hostname_callable`` of a deployment with several workers or triggerers on one machine.

Airflow records a hostname for each task try (``task_instance.hostname``) and each job
(``job.hostname``: which triggerer holds a trigger). On one machine every process would report the
same name, so the harness gives each worker and triggerer its own, ``IT_HOSTNAME`` in its
environment (``worker-1``, ``triggerer-2``...), as separate hosts would have. Kept apart from
harness.py so every task process does not import the harness.
"""

from __future__ import annotations

import os
import socket


def component_hostname() -> str:
    """The component's name when the harness gave it one, else the machine's, as Airflow's default."""
    return os.environ.get("IT_HOSTNAME") or socket.getfqdn()
