"""How both transports reach SeekrFlow: TLS verification from the connection and the environment, alike."""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

# Where a CA bundle may be named, in the order requests and curl users expect; SSL_CERT_FILE is
# OpenSSL's own, which requests alone would ignore.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def tls_verify(verify: bool | str, environ: Mapping[str, str] | None = None) -> bool | str:
    """
    Return how to verify the service's certificate: False, a CA bundle path, or True for the default bundle.

    The connection's ``verify`` extra wins; otherwise a CA bundle named in the environment is used
    (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE``), so workers and the triggerer
    trust the same authorities.

    :param verify: The connection's setting: False, a CA bundle path, or True.
    :param environ: The environment to read; the process's by default.
    """
    if verify is False or isinstance(verify, str):
        return verify
    environ = os.environ if environ is None else environ
    for name in CA_BUNDLE_VARIABLES:
        value = (environ.get(name) or "").strip()
        if value:
            return value
    return True


def ssl_context(verify: bool | str, environ: Mapping[str, str] | None = None) -> ssl.SSLContext | bool:
    """
    Return the TLS setting for an asyncio client: False (no verification) or a verifying context.

    The context trusts exactly what :func:`tls_verify` names, and certifi's bundle by default,
    as requests does.

    :param verify: The connection's setting: False, a CA bundle path, or True.
    :param environ: The environment to read; the process's by default.
    """
    resolved = tls_verify(verify, environ)
    if resolved is False:
        return False
    if resolved is True:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    if os.path.isdir(resolved):
        return ssl.create_default_context(capath=resolved)
    return ssl.create_default_context(cafile=resolved)


def api_key_session(api_key: str, verify: bool | str) -> requests.Session:
    """
    Return a requests session that sends ``api_key`` and verifies TLS with ``verify``, whatever the environment says.

    requests, left to itself, lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace the session's
    ``verify`` on every request, and a ``~/.netrc`` (or ``$NETRC``) entry for the host, or its
    ``default`` entry, replace the ``Authorization`` header with Basic credentials. This session
    keeps both as given, as the aiohttp transport does. It still reads ``HTTPS_PROXY``/``NO_PROXY``
    from the environment on each request, exactly as a plain session does.

    :param api_key: The API key, sent bare in the ``Authorization`` header.
    :param verify: False, a CA bundle path, or True for requests' default bundle (see :func:`tls_verify`).
    """
    session_class, auth_class = _requests_classes()
    session = session_class()
    session.verify = verify
    # A session-wide auth is what stops requests from looking in ~/.netrc (Session.prepare_request).
    session.auth = auth_class(api_key)
    return session


@functools.cache
def _requests_classes() -> tuple[type[requests.Session], type[Any]]:
    # Built on first use: the triggerer imports this module without needing a requests session.
    import requests
    from requests.auth import AuthBase

    class ApiKeyAuth(AuthBase):
        """Write the API key into ``Authorization`` as the service wants it: bare, no scheme."""

        def __init__(self, api_key: str) -> None:
            self._api_key = api_key

        def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
            request.headers["Authorization"] = self._api_key
            return request

        def __repr__(self) -> str:
            return "ApiKeyAuth()"  # never the key

    class PinnedVerifySession(requests.Session):
        """A session whose ``verify`` the CA bundle variables cannot replace."""

        def merge_environment_settings(
            self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
        ) -> Any:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None:
                # requests put $REQUESTS_CA_BUNDLE here, ahead of the session's verify; tls_verify
                # already chose between the connection's setting and those variables.
                settings["verify"] = self.verify
            return settings

    return PinnedVerifySession, ApiKeyAuth
