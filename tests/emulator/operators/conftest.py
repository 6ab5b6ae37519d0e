"""Fixtures of the job-kind contract suites (the kinds themselves are described in ``tests/emulator/operators/job_kinds.py``)."""

from tests.emulator.operators.job_kinds import inputs  # noqa: F401
