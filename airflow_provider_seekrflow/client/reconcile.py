"""
Send what must not happen twice, and reconcile a lost answer against what the service lists.

A lost answer is a dropped connection after sending, or a 500/502/504 (a gateway may answer one
after the service acted). Then the request is not sent again blindly: a lookup asks the service
what it made or changed. Found, that is the answer; provably absent, the request is resent;
unknown (the lookup failed, or more than one candidate), the call fails without resending.
Functions over a :class:`~airflow_provider_seekrflow.client.sync_transport.SyncTransport`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.retry import answer_may_be_lost, resendable, short_reason
from airflow_provider_seekrflow.client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import SeekrFlowAmbiguousResultError, SeekrFlowError

T = TypeVar("T")


def once(transport: SyncTransport, call: Call[T], lookup: Callable[[], T | None]) -> T:
    """
    Send a call that must not happen twice; when its answer is lost, ``lookup`` tells what it did.

    :param transport: The transport to send it through.
    :param call: The call.
    :param lookup: Returns what the call made or changed when the service shows it, else None
        (the service provably does not have it, so the call is sent again); raises
        ``SeekrFlowAmbiguousResultError`` when it cannot tell.
    """
    return once_sending(
        transport, call.endpoint, call.path, lambda: transport.call_once(call), lambda _err: lookup()
    )


def once_sending(
    transport: SyncTransport,
    endpoint: Endpoint,
    path: str,
    send: Callable[[], T],
    lookup: Callable[[SeekrFlowError], T | None],
) -> T:
    """
    Run ``send`` (one request of ``endpoint``) under the endpoint's retries, reconciling each lost answer.

    :param transport: The transport whose retry policy applies.
    :param endpoint: The operation sent.
    :param path: Its path, for the log and the errors.
    :param send: Sends the request once and returns its answer.
    :param lookup: Given the error that hid the answer, returns what the request made, or None.
    """

    def attempt() -> T:
        try:
            return send()
        except SeekrFlowError as err:
            if not answer_may_be_lost(err):
                raise
            hidden_by = err  # the name ``err`` is unbound once the except clause ends
            found = look_up(transport, endpoint.method, path, err, lambda: lookup(hidden_by))
            if found is not None:
                return found
            raise resendable(err) from None

    return transport.retrying(endpoint, attempt)


def look_up(
    transport: SyncTransport, method: str, path: str, err: SeekrFlowError, lookup: Callable[[], T | None]
) -> T | None:
    """
    Return what a request whose answer was lost made, or None when it provably made nothing; never resend on doubt.

    :param transport: The transport (its log).
    :param method: The request's method.
    :param path: The request's path.
    :param err: The error that hid the answer; it stands when the lookup fails.
    :param lookup: Asks the service.
    """
    try:
        found = lookup()
    except SeekrFlowAmbiguousResultError as ambiguous:
        ambiguous.method, ambiguous.path = method, path
        raise
    except SeekrFlowError as lookup_err:
        # Still unknown whether the service did it: the ambiguous error stands, never resent.
        transport.log.warning("Could not check whether %s %s was done: %s", method, path, lookup_err)
        raise err from lookup_err
    if found is not None:
        transport.log.warning(
            "The answer to %s %s was lost (%s), but the service did it; using %s",
            method,
            path,
            short_reason(err),
            getattr(found, "id", None) or "what it made",
        )
    return found
