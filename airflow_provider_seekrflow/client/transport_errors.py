"""Translate transport failures of requests and aiohttp (the async client) into the provider's connection errors."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConnectionError,
    SeekrFlowTLSError,
    SeekrFlowUnexpectedResponseError,
)

# OpenSSL's words for a handshake answered by something that is not TLS (a plain-HTTP server).
_NOT_TLS_MARKERS = (
    "wrong_version_number",
    "wrong version number",
    "record layer failure",
    "packet length too long",
)
_UNTRUSTED_MARKERS = ("certificate_verify_failed", "certificate verify failed")
# A host name or address as a Location may name it; anything else is not shown.
_SHOWABLE_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]{1,255}")


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


def _tls_error(error: BaseException, method: str, path: str, base_url: str) -> SeekrFlowTLSError | None:
    """Return the error of a failed TLS handshake, saying what to change; None for any other failure."""
    reason = _describe(error)
    lowered = reason.lower()
    parts = urlsplit(base_url)
    if any(marker in lowered for marker in _NOT_TLS_MARKERS):
        plain = parts._replace(scheme="http").geturl()
        return SeekrFlowTLSError(
            f"{method} {path} to {base_url} failed: the server does not speak TLS ({reason}). "
            "SeekrFlow speaks https: check the host and port. Only for a local emulator or test "
            f"server of your own, write the connection's host with http://, e.g. {plain} "
            "(plain HTTP carries the API key in cleartext)",
            method=method,
            path=path,
        )
    if any(marker in lowered for marker in _UNTRUSTED_MARKERS):
        return SeekrFlowTLSError(
            f"{method} {path} to {base_url} failed: its TLS certificate is not trusted ({reason}). "
            "Set the connection's 'verify' extra to the CA bundle that signed it",
            method=method,
            path=path,
        )
    return None


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

    if isinstance(error, requests.exceptions.SSLError) and (tls := _tls_error(error, method, path, base_url)):
        return tls
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
        # TLS refused, or the proxy refused to open the tunnel (407, 403, 502...): the service never saw it.
        if isinstance(error, (requests.exceptions.SSLError, requests.exceptions.ProxyError)):
            reached = False
    timed_out = isinstance(error, requests.exceptions.Timeout) or "timed out" in _describe(error).lower()
    return _connection_error(error, method, path, base_url, reached=reached, timed_out=timed_out)


def from_aiohttp_error(
    error: BaseException, *, method: str, path: str, base_url: str
) -> SeekrFlowConnectionError:
    """
    Return the connection error for an exception raised by ``aiohttp`` (or a timeout it let through).

    As for requests: a request that never got a connection to the service (refused, unresolvable,
    TLS refused, the proxy refusing to tunnel, a connect timeout) did not reach it; anything after
    the connection was made may have.

    :param error: The exception.
    :param method: The request's method.
    :param path: The request's path.
    :param base_url: The service's base URL, named in the message.
    """
    import asyncio

    import aiohttp

    if isinstance(error, (aiohttp.ClientSSLError, aiohttp.ClientConnectorError)) and (
        tls := _tls_error(error, method, path, base_url)
    ):
        return tls
    never_connected: tuple[type[BaseException], ...] = (
        aiohttp.ClientConnectorError,  # refused, DNS, TLS verification, the proxy unreachable
        aiohttp.ClientHttpProxyError,  # the proxy refused to open the tunnel
        # aiohttp >= 3.10 names a connect timeout; 3.9 says "Connection timeout" in a ServerTimeoutError.
        getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ClientConnectorError),
    )
    reached = not (
        isinstance(error, never_connected)
        or (isinstance(error, aiohttp.ServerTimeoutError) and str(error).startswith("Connection timeout"))
    )
    timed_out = (
        isinstance(error, (TimeoutError, asyncio.TimeoutError)) or "timed out" in _describe(error).lower()
    )
    return _connection_error(error, method, path, base_url, reached=reached, timed_out=timed_out)


def _redirect_target(location: str | None, base_url: str) -> str:
    """Return where a redirect points, as ``scheme://host[:port]`` only (never a path, query or credentials), or ""."""
    if not location:
        return ""
    try:
        parts = urlsplit(urljoin(base_url + "/", location.strip()))
        host = parts.hostname
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not host or not _SHOWABLE_HOST.fullmatch(host):
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def redirect_error(
    *, method: str, path: str, status: int, location: str | None, base_url: str
) -> SeekrFlowUnexpectedResponseError:
    """
    Return the error for a 3xx answer: neither transport follows redirects.

    Following one would send the request (a file's bytes, the ``x-team-id`` header) to another
    host, or turn a POST into a GET whose answer passes for the POST's; so it is an error that
    says where the redirect pointed (scheme, host and port only).

    :param method: The request's method.
    :param path: The request's path.
    :param status: The 3xx status.
    :param location: The answer's ``Location`` header, if any.
    :param base_url: The service's base URL, against which a relative Location is read.
    """
    target = _redirect_target(location, base_url)
    where = f" to {target}" if target else ""
    return SeekrFlowUnexpectedResponseError(
        f"{method} {path} to {base_url} returned {status}, a redirect{where}; redirects are not "
        "followed, so nothing was sent there. Set the connection's host to the address that "
        "answers the SeekrFlow API itself",
        status_code=status,
        method=method,
        path=path,
    )
