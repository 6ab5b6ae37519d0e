"""
The deadline of the wait a request belongs to, which both transports honour while the request is in flight.

A wait (a sync ``wait_until``, a trigger's poll, a task's ``execution_timeout``) says how long it may
still take with :func:`bounded_by`; every request made inside, however deep in the client, then
ends by that moment: its connect and read timeouts are cut to the time left, its body is read only
while time is left, a retry never sleeps past it, and once it has passed the transport raises
:class:`~airflow_provider_seekrflow.exceptions.SeekrFlowDeadlineError`, which is never retried.

A context variable carries it, so no client method needs a parameter for it, and it follows the
code that set it: a thread's requests, or one asyncio task's (a trigger's own, not its neighbours').
The moment is on the monotonic clock: a wall-clock step cannot move it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

# Below this the time left counts as none: a socket timeout of a few milliseconds only fails later.
EXHAUSTED_SECONDS = 0.01

_DEADLINE: ContextVar[float | None] = ContextVar("seekrflow_request_deadline", default=None)


@contextlib.contextmanager
def bounded_by(seconds_left: float | None) -> Iterator[None]:
    """
    Make every request inside the block end within ``seconds_left`` seconds from now.

    An enclosing bound that ends sooner still holds: bounds only ever tighten.

    :param seconds_left: The time the block's requests may take in all; None adds no bound.
    """
    if seconds_left is None:
        yield
        return
    moment = time.monotonic() + max(0.0, seconds_left)
    outer = _DEADLINE.get()
    token = _DEADLINE.set(moment if outer is None else min(outer, moment))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


@contextlib.contextmanager
def lifted() -> Iterator[None]:
    """
    Make the requests inside the block unbounded again: the clean-up a wait's end calls for (cancelling its job).

    The margin a task keeps before its ``execution_timeout`` is there for exactly this.
    """
    token = _DEADLINE.set(None)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def deadline() -> float | None:
    """Return the monotonic moment the current requests must end by, or None when unbounded."""
    return _DEADLINE.get()


def time_left() -> float | None:
    """Return the seconds left to the current bound (never negative), or None when unbounded."""
    moment = _DEADLINE.get()
    return None if moment is None else max(0.0, moment - time.monotonic())


def exhausted() -> bool:
    """Return whether a bound is set and no usable time is left of it."""
    left = time_left()
    return left is not None and left <= EXHAUSTED_SECONDS


def cap(seconds: float | None) -> float | None:
    """
    Return ``seconds`` cut to the time left, for a timeout or a sleep (None stays None when unbounded).

    :param seconds: The configured timeout or the wanted sleep; None for none.
    """
    left = time_left()
    if left is None:
        return seconds
    left = max(left, EXHAUSTED_SECONDS)
    return left if seconds is None else min(seconds, left)


def deadline_error(method: str, path: str, doing: str = "in flight") -> Exception:
    """
    Return the error of a request whose wait ran out of time.

    :param method: The request's method.
    :param path: The request's path.
    :param doing: Where the request was when time ran out: ``in flight``, ``not sent``, ``reading the answer``.
    """
    from airflow_provider_seekrflow.exceptions import SeekrFlowDeadlineError

    return SeekrFlowDeadlineError(
        f"{method} {path}: the wait's time ran out with the request {doing}",
        # A request never sent cannot have been acted on.
        may_have_reached_service=doing != "not sent",
        method=method,
        path=path,
    )


def check_before_sending(method: str, path: str) -> None:
    """
    Raise the deadline error when no time is left to send a request.

    :param method: The request's method.
    :param path: The request's path.
    """
    if exhausted():
        raise deadline_error(method, path, "not sent")


__all__ = [
    "bounded_by",
    "cap",
    "check_before_sending",
    "deadline",
    "deadline_error",
    "exhausted",
    "lifted",
    "time_left",
]
