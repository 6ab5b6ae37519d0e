"""A deployment's life in a test session: where it works, start, stop, and its figures written out.

Shared by the session fixtures of the integration, browser and distributed suites.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.system.integration.harness import Deployment


def work_dir(prefix: str) -> Path:
    """``IT_WORK_DIR``, or a new temporary directory named ``<prefix>...`` (kept, so its logs can be read)."""
    work = Path(os.environ.get("IT_WORK_DIR") or tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    return work


@contextlib.contextmanager
def running(dep: Deployment, figures: dict[str, Any], echo: str = "") -> Iterator[Deployment]:
    """
    Start the deployment for the block and stop it after, whatever happened.

    ``figures`` gets ``work_dir``, ``startup`` (the harness's timings) and ``harness_wall_s``, and is
    written to ``<work>/results.json`` at the end, with whatever the tests added.

    :param dep: The configured, not yet started, deployment.
    :param figures: The session's figures.
    :param echo: When set, the figures are also printed at the end under this title.
    """
    started = time.monotonic()
    figures["work_dir"] = str(dep.work)
    try:
        dep.start()
        figures["startup"] = dict(dep.timings)
        yield dep
    finally:
        dep.stop()
        figures["harness_wall_s"] = round(time.monotonic() - started, 1)
        results = dep.work / "results.json"
        results.write_text(json.dumps(figures, indent=2, sort_keys=True, default=str))
        if echo:
            print(f"\n{echo}: {results}\n{json.dumps(figures, indent=2, default=str)}")


def reset_emulator_around(dep: Deployment) -> Iterator[Any]:
    """Yield the deployment's emulator with an empty journal, no faults and the start-up config.

    Reset again after, unless the test left its process dead.
    """
    dep.emulator.reset()
    yield dep.emulator
    if dep.emulator.process.alive:
        dep.emulator.reset()
