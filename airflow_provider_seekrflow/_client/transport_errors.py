"""Translate transport failures of requests and the async client into the provider's connection errors."""

from __future__ import annotations

from airflow_provider_seekrflow.exceptions import SeekrFlowConnectionError


def _describe(error: BaseException) -> str:
    # Walk to the innermost cause: "Connection refused" says more than "Max retries exceeded".
    seen = error
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    reason = str(seen) or type(seen).__name__
    return reason.splitlines()[0][:300]


def _connection_error(
    error: BaseException, method: str, path: str, base_url: str, *, reached: bool, timed_out: bool
) -> SeekrFlowConnectionError:
    return SeekrFlowConnectionError(
        f"{method} {path} to {base_url} {'timed out' if timed_out else 'failed'}: {_describe(error)}",
        may_have_reached_service=reached,
        timed_out=timed_out,
        method=method,
        path=path,
    )


def from_requests_error(
    error: Exception, *, method: str, path: str, base_url: str
) -> SeekrFlowConnectionError:
    """
    Return the connection error for an exception raised by ``requests``.

    :param error: The exception.
    :param method: The request's method.
    :param path: The request's path.
    :param base_url: The service's base URL, named in the message.
    """
    import requests
    import urllib3.exceptions

    reached = True
    if isinstance(error, requests.exceptions.ConnectTimeout):
        reached = False
    elif isinstance(error, requests.exceptions.ConnectionError):
        inner = error.args[0] if error.args else None
        reason = getattr(inner, "reason", inner)
        if isinstance(
            reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
        ):
            reached = False
        if isinstance(error, requests.exceptions.SSLError):
            reached = False
    timed_out = isinstance(error, requests.exceptions.Timeout) or "timed out" in _describe(error).lower()
    return _connection_error(error, method, path, base_url, reached=reached, timed_out=timed_out)


def from_httpcore_error(
    error: Exception, *, method: str, path: str, base_url: str
) -> SeekrFlowConnectionError:
    """
    Return the connection error for an exception raised by ``httpcore`` (httpx's transport).

    :param error: The exception.
    :param method: The request's method.
    :param path: The request's path.
    :param base_url: The service's base URL, named in the message.
    """
    import httpcore

    reached = not isinstance(error, (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.PoolTimeout))
    timed_out = isinstance(error, httpcore.TimeoutException)
    return _connection_error(error, method, path, base_url, reached=reached, timed_out=timed_out)
