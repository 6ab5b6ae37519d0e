"""The one retry policy of the sync and async clients, built on tenacity."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

import tenacity

from airflow_provider_seekrflow.client import deadline
from airflow_provider_seekrflow.client.config import ClientConfig
from airflow_provider_seekrflow.client.endpoints import Endpoint
from airflow_provider_seekrflow.client.errors import RETRYABLE_STATUSES
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAmbiguousResultError,
    SeekrFlowAPIError,
    SeekrFlowConnectionError,
    SeekrFlowDeadlineError,
    SeekrFlowError,
    SeekrFlowRateLimitError,
    SeekrFlowServerError,
    SeekrFlowTLSError,
)

# The answers that say the service did nothing (429: slow down; 503: overloaded, the reference's
# word), so any request may be sent again. Every other 5xx may come after the service acted.
NOT_ACTED_STATUSES = frozenset({429, 503})


def answer_may_be_lost(error: BaseException) -> bool:
    """
    Return whether ``error`` leaves it unknown if the service acted on the request.

    A dropped connection after the request was sent, or a 500/502/504 (a gateway may answer one
    after the service behind it acted): a request that must not be repeated is then looked for
    on the service instead of being sent again.

    :param error: What the request raised.
    """
    if isinstance(error, SeekrFlowConnectionError):
        return error.may_have_reached_service and not isinstance(
            error, (SeekrFlowDeadlineError, SeekrFlowAmbiguousResultError)
        )
    if isinstance(error, SeekrFlowAPIError):
        return error.status_code in RETRYABLE_STATUSES and error.status_code not in NOT_ACTED_STATUSES
    return False


def resendable(error: SeekrFlowError) -> SeekrFlowConnectionError:
    """
    Return the error of a request whose lost answer was checked: the service provably did nothing.

    The retry policy sends such a request again, even one that must not be repeated.

    :param error: The ambiguous failure (a dropped connection or a 500/502/504).
    """
    return SeekrFlowConnectionError(
        str(error), may_have_reached_service=False, method=error.method, path=error.path
    )


@dataclass(frozen=True)
class RetryPolicy:
    """
    When and how long to wait before repeating a failed request.

    Connection failures and 429/500/502/503/504 answers are retried with exponential backoff and
    full jitter; a ``Retry-After`` from the service is honoured up to ``max_retry_after``. A request
    the service may already have acted on (a dropped connection after sending, a 500/502/504) is
    repeated only when its endpoint is repeatable; the others are reconciled by the client first.

    :param max_retries: Retries after the first try; 0 disables retrying.
    :param initial_delay: Backoff ceiling of the first retry, in seconds.
    :param max_delay: Largest backoff, in seconds.
    :param max_retry_after: Largest ``Retry-After`` honoured, in seconds.
    """

    max_retries: int = 5
    initial_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def should_retry(self, error: BaseException, endpoint: Endpoint) -> bool:
        """Return whether ``error`` from ``endpoint`` is worth another try."""
        if isinstance(error, (SeekrFlowTLSError, SeekrFlowDeadlineError, SeekrFlowAmbiguousResultError)):
            # The handshake would fail the same way again; no time is left; resending could duplicate.
            return False
        if isinstance(error, SeekrFlowConnectionError):
            return endpoint.repeatable or not error.may_have_reached_service
        if isinstance(error, SeekrFlowAPIError):
            if error.status_code in NOT_ACTED_STATUSES:
                return True
            # A 500/502/504 may come after the service acted: only a request harmless to repeat goes again.
            return error.status_code in RETRYABLE_STATUSES and endpoint.repeatable
        return False

    def delay(self, retry_number: int, error: BaseException | None) -> float:
        """
        Return the seconds to sleep before retry number ``retry_number`` (1-based).

        :param retry_number: Which retry is about to happen.
        :param error: The failure that prompted it.
        """
        ceiling = min(self.max_delay, self.initial_delay * (2 ** (retry_number - 1)))
        backoff = random.uniform(ceiling / 2, ceiling)
        retry_after = getattr(error, "retry_after", None)
        if isinstance(error, (SeekrFlowRateLimitError, SeekrFlowServerError)) and retry_after is not None:
            return max(backoff, min(retry_after, self.max_retry_after))
        return backoff

    def tenacity_arguments(self, endpoint: Endpoint, log: logging.Logger | Any) -> dict[str, Any]:
        """Return the keyword arguments of a ``tenacity.Retrying`` or ``AsyncRetrying`` for ``endpoint``."""

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            # Never past the wait's deadline: the next try then finds no time left and raises
            # SeekrFlowDeadlineError (never retried), ending the wait as a timeout on time.
            return deadline.cap(self.delay(state.attempt_number, error)) or 0.0

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            sleep = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s %s failed (%s); retry %d of %d in %.1f s",
                endpoint.method,
                endpoint.path,
                short_reason(error),
                state.attempt_number,
                self.max_retries,
                sleep,
            )

        return {
            "retry": tenacity.retry_if_exception(lambda error: self.should_retry(error, endpoint)),
            "wait": wait,
            "stop": tenacity.stop_after_attempt(self.max_retries + 1),
            "before_sleep": before_sleep,
            "reraise": True,
        }


def short_reason(error: BaseException | None) -> str:
    """Return one short line saying why a try failed: its HTTP status, or its exception's class and first line."""
    if error is None:
        return "no error"
    status = getattr(error, "status_code", None)
    if status is not None:
        return f"HTTP {status}"
    return type(error).__name__ + (f": {str(error).splitlines()[0]}" if str(error) else "")


class TransportSettings:
    """
    What both transports are built from: the connection's settings, the logger, the retry policy.

    :param config: The connection's client settings.
    :param log: The logger for retries and deprecation notices (the hook's or the trigger's, so they
        reach the task's log).
    :param conn_id: The Airflow connection's id, named in configuration errors.
    :param retry_policy: When to retry; built from the connection's ``max_retries`` by default.
    """

    def __init__(
        self,
        config: ClientConfig,
        log: logging.Logger | Any,
        *,
        conn_id: str,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self.log = log
        self.conn_id = conn_id
        self.retry_policy = retry_policy or RetryPolicy(max_retries=config.max_retries)
