"""The blocking wait of every job kind: read, decide, sleep, with one deadline that holds mid-request too."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from airflow_provider_seekrflow.client import deadline
from airflow_provider_seekrflow.exceptions import SeekrFlowDeadlineError

T = TypeVar("T")

log = logging.getLogger(__name__)

# A delay that is not a usable number of seconds (NaN, infinite, negative) becomes this many.
FALLBACK_DELAY_SECONDS = 5.0


def wait_until(
    fetch: Callable[[], T],
    *,
    done: Callable[[T], bool],
    delay: Callable[[T], float],
    timeout: float | None,
    timed_out: Callable[[T | None], Exception],
    on_poll: Callable[[T], None] | None = None,
) -> T:
    """
    Read a job until ``done`` holds and return it, sleeping as ``delay`` says; the blocking wait of every job kind.

    The wait's time limit is the sooner of ``timeout`` and any bound the caller set with
    :func:`~airflow_provider_seekrflow.client.deadline.bounded_by` (a task's ``execution_timeout``).
    Each read is bounded by the time left, so a request still in flight when time runs out ends
    the wait exactly as running out between reads does: ``timed_out`` gives the exception raised.

    :param fetch: Reads the job.
    :param done: Whether the wait is over.
    :param delay: Seconds to sleep before the next read.
    :param timeout: Give up after this many seconds (monotonic clock); None waits for ever.
    :param timed_out: Returns the exception to raise when time runs out, given the job as last read,
        or None when time ran out before any read finished.
    :param on_poll: Called with the job after every read.
    """
    limit = None if timeout is None else time.monotonic() + timeout
    enclosing = deadline.deadline()
    if enclosing is not None:
        limit = enclosing if limit is None else min(limit, enclosing)
    job: T | None = None
    while True:
        try:
            with deadline.bounded_by(None if limit is None else limit - time.monotonic()):
                job = fetch()
        except SeekrFlowDeadlineError as err:
            log.warning("The wait ran out of time during a status check: %s", err)
            raise _timed_out(timed_out, job) from None
        if on_poll:
            on_poll(job)
        if done(job):
            return job
        try:
            pause = _usable(delay(job))
        except (ArithmeticError, ValueError) as err:  # the plan is made of the service's numbers
            log.warning("Could not plan the next status check (%s); checking again soon", err)
            pause = FALLBACK_DELAY_SECONDS
        if limit is not None:
            left = limit - time.monotonic()
            if left <= 0:
                raise _timed_out(timed_out, job)
            pause = min(pause, left)
        time.sleep(pause)


def _timed_out(timed_out: Callable[[T | None], Exception], job: T | None) -> Exception:
    # Built outside any bound: the callback may cancel the job, in the margin kept for that.
    with deadline.lifted():
        return timed_out(job)


def limit_text(timeout: float | None) -> str:
    """
    Return how a timeout message names the limit that ran out: ``within 20 s``, or the task's own limit.

    :param timeout: The wait's own timeout; None when only an enclosing bound (the task's
        ``execution_timeout`` less its margin) limited it.
    """
    if timeout is None:
        return "in the time the task's execution_timeout left it"
    return f"within {timeout:g} s"


def _usable(seconds: float) -> float:
    # A plan computed from the service's numbers must never stop the wait; a bad one polls soon.
    try:
        seconds = float(seconds)
    except (TypeError, ValueError, OverflowError):
        return FALLBACK_DELAY_SECONDS
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return FALLBACK_DELAY_SECONDS
    return seconds


__all__ = ["limit_text", "wait_until"]
