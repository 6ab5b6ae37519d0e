"""Steer new waits away from a triggerer by freezing it: the suite's answer to waits that clump.

Airflow's HA triggerers share nothing but the ``trigger`` table: each one, when it polls, takes every
unassigned trigger up to its ``--capacity``. A triggerer busy with triggers loops faster and polls
first, so a burst of waits lands on one of them (CI runs put a whole failover batch and three whole
kill/timeout rounds on one triggerer). Capacity would split a burst, but it also caps what a survivor
can take over from a dead triggerer, so the tests freeze instead: a stopped triggerer (SIGSTOP of its
process group, as a hung machine) polls nothing, and the other takes the new waits.

A frozen triggerer's heartbeat goes stale; once it is older than ``[triggerer]
triggerer_health_check_threshold`` (15 s in the harness) the other triggerer takes its triggers too.
``frozen`` is for a triggerer that holds nothing the test needs; ``PulsedFreeze`` keeps what a
triggerer holds by letting it run and heartbeat between freezes shorter than the threshold.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

# Stopped for less than the health-check threshold (15 s) minus a heartbeat (2 s) and a margin for a
# loaded machine; running long enough to heartbeat ([triggerer] job_heartbeat_sec 2 s).
FROZEN_S, RUNNING_S = 8.0, 2.5


@contextlib.contextmanager
def frozen(component) -> Iterator[None]:
    """SIGSTOP the component's process group for the block, SIGCONT after."""
    os.killpg(component.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(component.pid, signal.SIGCONT)


class PulsedFreeze:
    """
    Freeze a component in pulses (``FROZEN_S`` stopped, ``RUNNING_S`` running) until ``stop()``.

    Most new waits go to the other triggerer (any that come while this one runs may still be its),
    and this one keeps its own: it heartbeats between freezes, so it is never taken for dead.

    :param component: The harness ``Process`` to freeze.
    """

    def __init__(self, component) -> None:
        self.component = component
        self.frozen_s = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._pulse, name=f"freeze-{component.name}", daemon=True)
        self._thread.start()

    def _pulse(self) -> None:
        while not self._done.is_set():
            started = time.monotonic()
            os.killpg(self.component.pid, signal.SIGSTOP)
            try:
                self._done.wait(FROZEN_S)
            finally:
                os.killpg(self.component.pid, signal.SIGCONT)
                self.frozen_s += time.monotonic() - started
            self._done.wait(RUNNING_S)

    def stop(self) -> None:
        """End the pulses; the component is running when this returns."""
        self._done.set()
        self._thread.join()
