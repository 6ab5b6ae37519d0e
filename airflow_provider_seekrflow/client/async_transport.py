"""The asynchronous transport, on aiohttp: one session per event loop and connection, the sync path's rules."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_seekrflow.client import deadline
from airflow_provider_seekrflow.client.config import ClientConfig
from airflow_provider_seekrflow.client.deprecation import warn_if_deprecated
from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.errors import MAX_JSON_BODY_BYTES, error_for_status, read_answer
from airflow_provider_seekrflow.client.network import ssl_context
from airflow_provider_seekrflow.client.retry import TransportSettings
from airflow_provider_seekrflow.client.transport_errors import from_aiohttp_error, redirect_error
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import aiohttp

T = TypeVar("T")

# Sockets, and so requests in flight, of one session: a triggerer polling thousands of jobs keeps at
# most this many connections to SeekrFlow open, while each connection still serves tens of polls a
# second at a remote service's latency. Requests beyond it wait in aiohttp's connector queue.
MAX_CONNECTIONS = 32
# Seconds an idle connection is kept open (aiohttp's default).
KEEPALIVE_SECONDS = 15.0


class _Shared:
    # The session is referenced weakly: its holders keep it alive, and a session (which references
    # its loop) held here strongly would keep the loop, this registry's key, alive for ever.
    __slots__ = ("proxy", "ref", "users")

    def __init__(self, session: aiohttp.ClientSession, proxy: _Proxy) -> None:
        self.ref = weakref.ref(session)
        self.proxy = proxy
        self.users = 0


class _Proxy:
    """
    The proxy the environment names for the service, chosen exactly as the sync transport chooses it.

    requests' own functions decide: ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (either case) and
    ``NO_PROXY`` (host names, domain suffixes, IPv4 networks, ``host:port``, ``*``); credentials in
    the proxy URL become its ``Proxy-Authorization``. aiohttp's ``trust_env=True`` would instead
    read the environment, and look for a ``~/.netrc`` entry, in two thread hops on every request
    (half of a poll's CPU), know fewer ``NO_PROXY`` forms, and drop an ``https://`` proxy.
    """

    __slots__ = ("auth", "url")

    def __init__(self, base_url: str) -> None:
        import aiohttp
        from requests.utils import get_environ_proxies, prepend_scheme_if_needed, select_proxy
        from yarl import URL

        self.url: URL | None = None
        self.auth: aiohttp.BasicAuth | None = None
        chosen = select_proxy(base_url, get_environ_proxies(base_url))
        if chosen:
            url = URL(prepend_scheme_if_needed(chosen, "http"))
            self.auth = aiohttp.BasicAuth.from_url(url)
            self.url = url.with_user(None)


# The open sessions of each running event loop, by connection settings. A session closes when its
# last user releases it, so asyncio.run(...) ends with none open.
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ClientConfig, _Shared]] = (
    weakref.WeakKeyDictionary()
)
# Sessions being closed, referenced until done: a cancelled releaser must not drop the close.
_CLOSING: set[asyncio.Future[Any]] = set()


def _new_session(config: ClientConfig, conn_id: str) -> aiohttp.ClientSession:
    import aiohttp

    try:
        # The CA bundle is resolved as for the sync transport: the connection's verify extra, else
        # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / SSL_CERT_FILE, else certifi's bundle.
        tls = ssl_context(config.verify)
    except (OSError, ValueError) as err:
        raise SeekrFlowConfigError(
            f"SeekrFlow connection {conn_id!r}: cannot load the CA bundle to verify TLS with: {err}"
        ) from None
    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS, limit_per_host=0, ssl=tls, keepalive_timeout=KEEPALIVE_SECONDS
    )
    return aiohttp.ClientSession(
        connector=connector,
        # No default headers: aiohttp sends a session's default headers to an explicit proxy too, where
        # the API key's Authorization header would become a Proxy-Authorization. Each request carries them.
        # No total deadline: a request waiting for a free connection is not late. The connect and
        # read timeouts are the connection's, as for the sync transport.
        timeout=aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=config.connect_timeout, sock_read=config.timeout
        ),
        # The proxy is chosen once per session (_Proxy) and passed with each request. (trust_env=True
        # would also send ~/.netrc credentials, which clash with the API key's Authorization header.)
        trust_env=False,
        # The API authenticates with its key; no cookie jar to consult on every poll.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def _acquire(config: ClientConfig, conn_id: str) -> tuple[aiohttp.ClientSession, _Proxy]:
    loop = asyncio.get_running_loop()
    sessions = _SESSIONS.get(loop)
    if sessions is None:
        sessions = _SESSIONS[loop] = {}
    shared = sessions.get(config)
    session = shared.ref() if shared is not None else None
    if shared is None or session is None or session.closed:
        session = _new_session(config, conn_id)
        shared = sessions[config] = _Shared(session, _Proxy(config.base_url))
    shared.users += 1
    return session, shared.proxy


async def _release(config: ClientConfig, session: aiohttp.ClientSession) -> None:
    sessions = _SESSIONS.get(asyncio.get_running_loop(), {})
    shared = sessions.get(config)
    if shared is not None and shared.ref() is session:
        shared.users -= 1
        if shared.users > 0:
            return
        del sessions[config]
    if session.closed:
        return
    closing = asyncio.ensure_future(session.close())
    _CLOSING.add(closing)
    closing.add_done_callback(_CLOSING.discard)
    # A trigger is cancelled again and again while it stops: the close goes on regardless.
    await asyncio.shield(closing)


def open_sessions() -> int:
    """Return how many sessions are open on the running event loop (one per connection in use)."""
    return len(_SESSIONS.get(asyncio.get_running_loop(), {}))


class AsyncTransport(TransportSettings):
    """
    Send SeekrFlow calls with aiohttp, retrying what the policy allows, as ``SyncTransport`` does.

    Every transport of the same connection settings on one event loop shares one
    ``aiohttp.ClientSession`` (and so its pool of at most ``MAX_CONNECTIONS`` connections). A
    transport holds the session from its first request while it is entered (``async with
    transport:``) and releases it on exit; a call made outside ``async with`` holds it for that call
    only. The session closes when its last holder releases it.

    It takes the arguments of :class:`~airflow_provider_seekrflow.client.retry.TransportSettings`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session: aiohttp.ClientSession | None = None
        self._proxy: _Proxy | None = None
        self._headers: Any = None
        self._holders = 0
        # A trigger polls one path for hours: its URL is built once.
        self._urls: dict[str, Any] = {}

    async def __aenter__(self) -> AsyncTransport:
        self.hold()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()

    def hold(self) -> None:
        """Keep the shared session from the next request on, until as many :meth:`release` calls."""
        self._holders += 1

    async def release(self) -> None:
        """Undo one :meth:`hold`; the last one gives the session back, closing it if no one else uses it."""
        self._holders -= 1
        if self._holders <= 0:
            self._holders = 0
            session, self._session, self._proxy = self._session, None, None
            if session is not None:
                await _release(self.config, session)

    def session(self) -> aiohttp.ClientSession:
        """Return the shared session, which this transport must hold (``async with transport:``)."""
        return self._lease()[0]

    def _lease(self) -> tuple[aiohttp.ClientSession, _Proxy]:
        if not self._holders:
            raise RuntimeError("the session is only lent inside `async with` the transport or its hook")
        if self._session is None or self._proxy is None:
            from multidict import CIMultiDict

            self._session, self._proxy = _acquire(self.config, self.conn_id)
            self._headers = CIMultiDict(
                self.config.headers()
            )  # aiohttp's own type: not converted per request
        return self._session, self._proxy

    def _url(self, path: str) -> Any:
        url = self._urls.get(path)
        if url is None:
            from yarl import URL

            if len(self._urls) >= 64:
                self._urls.clear()
            # Endpoint.render percent-encodes the ids: the path is already encoded.
            url = self._urls[path] = URL(self.config.url(path), encoded=True)
        return url

    async def call_once(self, call: Call[T]) -> T:
        """Send ``call`` once and return its answer, read as the call's answer type."""
        import aiohttp

        endpoint = call.endpoint
        path = call.path
        session, proxy = self._lease()
        deadline.check_before_sending(endpoint.method, path)
        failure: Exception | None = None
        try:
            async with session.request(
                endpoint.method,
                self._url(path),
                params=call.query(),
                json=call.json,
                headers=self._headers,
                proxy=proxy.url,
                proxy_auth=proxy.auth,
                **self._deadline_timeout(),
                # A redirect would carry the request (x-team-id, a body) to another host: an error instead.
                allow_redirects=False,
            ) as response:
                warn_if_deprecated(endpoint, response.headers, self.log)
                body = await _read_capped(response)
        # The errors are raised below, outside the except clauses: raised inside, they would keep
        # aiohttp's error as __context__ (even "from None" only hides it), and its request_info
        # holds the request's headers, the API key among them.
        except aiohttp.InvalidURL as err:
            failure = SeekrFlowConfigError(f"SeekrFlow connection {self.conn_id!r}: {err}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            if deadline.exhausted():
                failure = deadline.deadline_error(endpoint.method, path)
            else:
                failure = from_aiohttp_error(
                    err, method=endpoint.method, path=path, base_url=self.config.base_url
                )
        if failure is not None:
            raise failure
        status = response.status
        if 300 <= status < 400:
            raise redirect_error(
                method=endpoint.method,
                path=path,
                status=status,
                location=response.headers.get("location"),
                base_url=self.config.base_url,
            )
        if status >= 400:
            raise error_for_status(
                method=endpoint.method,
                path=path,
                status=status,
                headers=response.headers,
                body=body,
                conn_id=self.conn_id,
            )
        if call.answer is None:
            return None  # type: ignore[return-value]
        return read_answer(
            call.answer,
            method=endpoint.method,
            path=path,
            status=status,
            headers=response.headers,
            body=body,
        )

    def _deadline_timeout(self) -> dict[str, Any]:
        # Within a wait's bound (deadline.bounded_by) the whole request, body included, ends in the
        # time left: a server trickling its answer cannot hold it longer. Otherwise the session's.
        left = deadline.time_left()
        if left is None:
            return {}
        import aiohttp

        left = max(left, deadline.EXHAUSTED_SECONDS)
        return {
            "timeout": aiohttp.ClientTimeout(
                total=left,
                sock_connect=min(self.config.connect_timeout, left),
                sock_read=min(self.config.timeout, left),
            )
        }

    async def call(self, call: Call[T]) -> T:
        """Send ``call``, retrying what the policy allows, and return its answer."""
        if not self._holders:
            async with self:
                return await self.call(call)
        try:
            # Most polls succeed on the first try: only a failure pays for the retry machinery.
            return await self.call_once(call)
        except Exception as err:
            if not self.retry_policy.max_retries or not self.retry_policy.should_retry(err, call.endpoint):
                raise
            first_failure = err
        return await self._retry(call.endpoint, lambda: self.call_once(call), first_failure)

    async def _retry(
        self, endpoint: Endpoint, attempt: Callable[[], Awaitable[T]], first_failure: BaseException
    ) -> T:
        import tenacity

        replayed = [first_failure]

        async def first_then_again() -> T:
            # Tenacity counts the failed first try as its attempt 1: the sync path's waits and log lines.
            if replayed:
                raise replayed.pop()
            return await attempt()

        retrying = tenacity.AsyncRetrying(**self.retry_policy.tenacity_arguments(endpoint, self.log))
        return await retrying(first_then_again)


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """Return the (decoded) body; one far larger than any SeekrFlow answer is cut short (``read_answer`` refuses it)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_JSON_BODY_BYTES:
        chunk = await response.content.read(MAX_JSON_BODY_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
