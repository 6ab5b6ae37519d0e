"""Fixtures of the emulator's own tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[False, True], ids=["thread", "subprocess-cli-flags"])
def in_subprocess(request: pytest.FixtureRequest) -> bool:
    """Whether the test's own emulator runs in a child process (started with CLI flags), not a thread."""
    return request.param
