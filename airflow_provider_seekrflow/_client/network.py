"""How both transports reach SeekrFlow: TLS verification from the connection and the environment, alike."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

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
