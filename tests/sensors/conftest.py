"""Fixtures of the job-kind contract suites (the kinds themselves are described in ``tests/operators/job_kinds.py``)."""

from tests.operators.job_kinds import inputs  # noqa: F401
