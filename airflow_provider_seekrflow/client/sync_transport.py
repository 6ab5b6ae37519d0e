"""The blocking transport, on requests: one session, the shared retry policy, error mapping and TLS settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_seekrflow.client import deadline
from airflow_provider_seekrflow.client.deprecation import warn_if_deprecated
from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.errors import MAX_JSON_BODY_BYTES, error_for_status, read_answer
from airflow_provider_seekrflow.client.network import api_key_session, tls_verify
from airflow_provider_seekrflow.client.retry import TransportSettings
from airflow_provider_seekrflow.client.transport_errors import from_requests_error, redirect_error
from airflow_provider_seekrflow.defaults import MAX_UPLOAD_CONCURRENCY
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowNotFoundError

if TYPE_CHECKING:
    import requests

    from airflow_provider_seekrflow.client.multipart import MultipartFileBody

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """
    The service's answer to one request, its body read (and capped) in full.

    :param status_code: The HTTP status.
    :param headers: The response headers (case-insensitive, as requests gives them).
    :param content: The body, at most ``MAX_JSON_BODY_BYTES + 1`` bytes of it.
    """

    status_code: int
    headers: Any
    content: bytes


#: Sockets the session keeps to the service: as many as a batch upload may have in flight, so no
#: thread of the batch waits for, or throws away, a connection.
POOL_MAXSIZE = MAX_UPLOAD_CONCURRENCY

# Bytes asked of the socket at a time while a deadline holds: small enough to check the time often.
DEADLINE_READ_BYTES = 64 * 1024


def _read_by_deadline(response: requests.Response, limit: int, endpoint: Endpoint, path: str) -> bytes:
    """
    Return up to ``limit`` bytes of the body, raising the deadline error once the wait's time is up.

    A read timeout alone bounds each wait for a byte, not the whole body: a server sending one byte
    just inside it would hold the request for ever. So each socket read is given only the time left,
    and the time is checked between reads.
    """
    chunks: list[bytes] = []
    size = 0
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    while size < limit:
        left = deadline.time_left() or 0.0
        if left <= deadline.EXHAUSTED_SECONDS:
            raise deadline.deadline_error(endpoint.method, path, "reading the answer")
        if sock is not None:
            sock.settimeout(left)
        # read1: at most one read of the socket, so a trickle returns what came instead of waiting for more.
        chunk = response.raw.read1(min(DEADLINE_READ_BYTES, limit - size), decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class SyncTransport(TransportSettings):
    """
    Send SeekrFlow calls with requests, retrying what the policy allows.

    :param config: The connection's client settings.
    :param log: The logger for retries and deprecation notices (the hook's, so they reach the task log).
    :param conn_id: The Airflow connection's id, named in configuration errors.
    :param retry_policy: When to retry; built from the connection's ``max_retries`` by default.
    """

    @cached_property
    def session(self) -> requests.Session:
        """Return the one HTTP session, carrying the authentication headers."""
        from requests.adapters import HTTPAdapter

        # verify is resolved here rather than left to requests, so SSL_CERT_FILE counts as it does for
        # the triggerer; the session keeps it, and the API key, over REQUESTS_CA_BUNDLE and ~/.netrc.
        session = api_key_session(self.config.api_key, tls_verify(self.config.verify))
        session.headers.update(self.config.headers())
        # Retries are ours (tenacity), so urllib3 must not add its own underneath. The pool is
        # thread-safe and shared by a batch upload's threads (each request takes its own connection).
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=POOL_MAXSIZE)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        """Close the session's pooled connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def send(self, endpoint: Endpoint, path: str, **request: Any) -> Answer:
        """
        Send one request, once, and return the answer with its body read; an error status raises its mapped exception.

        :param endpoint: The operation.
        :param path: The request path, ids filled in.
        :param request: The rest of the request, as :meth:`open` takes it.
        """
        response = self.open(endpoint, path, **request)
        try:
            # Read here, capped, rather than through requests' .content, which would read any length.
            return Answer(response.status_code, response.headers, self._read_capped(response, endpoint, path))
        finally:
            response.close()

    def open(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        body: MultipartFileBody | None = None,
        read_timeout: float | None = None,
    ) -> requests.Response:
        """
        Send one request, once, and return the response with its body unread, for the caller to stream and close.

        An error status raises its mapped exception (its body read, capped, for the message).

        :param endpoint: The operation.
        :param path: The request path, ids filled in.
        :param params: Query parameters.
        :param json: A JSON body.
        :param body: A streamed multipart body instead.
        :param read_timeout: The read timeout, when not the connection's.
        """
        import requests

        headers = {"Content-Type": body.content_type} if body is not None else None
        deadline.check_before_sending(endpoint.method, path)
        try:
            response = self.session.request(
                endpoint.method,
                self.config.url(path),
                params=params,
                json=json,
                data=body,
                headers=headers,
                # Cut to the time left to the wait the request belongs to, if any (deadline.bounded_by).
                timeout=(
                    deadline.cap(self.config.connect_timeout),
                    deadline.cap(read_timeout or self.config.timeout),
                ),
                stream=True,
                # A redirect would carry the request (a file's bytes, x-team-id) to another host: an error instead.
                allow_redirects=False,
            )
        except requests.exceptions.InvalidURL as err:
            raise SeekrFlowConfigError(f"SeekrFlow connection {self.conn_id!r}: {err}") from None
        except requests.exceptions.RequestException as err:
            if deadline.exhausted():
                raise deadline.deadline_error(endpoint.method, path) from None
            raise self._connection_error(err, endpoint, path) from None
        warn_if_deprecated(endpoint, response.headers, self.log)
        if 300 <= response.status_code < 400:
            response.close()
            raise redirect_error(
                method=endpoint.method,
                path=path,
                status=response.status_code,
                location=response.headers.get("location"),
                base_url=self.config.base_url,
            )
        if response.status_code >= 400:
            content = self._read_capped(response, endpoint, path)
            response.close()
            raise error_for_status(
                method=endpoint.method,
                path=path,
                status=response.status_code,
                headers=response.headers,
                body=content,
                conn_id=self.conn_id,
            )
        return response

    def _read_capped(self, response: requests.Response, endpoint: Endpoint, path: str) -> bytes:
        # Through urllib3 with decode_content: from urllib3 2.6 on, a read of n bytes decompresses
        # only about n, so a compressed bomb is cut at the cap as a plain body is.
        try:
            if deadline.deadline() is not None:
                return _read_by_deadline(response, MAX_JSON_BODY_BYTES + 1, endpoint, path)
            content = response.raw.read(MAX_JSON_BODY_BYTES + 1, decode_content=True)
        except Exception as err:  # urllib3 raises its own errors when the body is cut short
            if deadline.exhausted():
                raise deadline.deadline_error(endpoint.method, path, "reading the answer") from None
            raise self._connection_error(err, endpoint, path) from None
        return content or b""

    def _connection_error(self, error: Exception, endpoint: Endpoint, path: str) -> Exception:
        return from_requests_error(error, method=endpoint.method, path=path, base_url=self.config.base_url)

    def retrying(self, endpoint: Endpoint, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds or the retry policy gives up on ``endpoint``."""
        import tenacity

        return tenacity.Retrying(**self.retry_policy.tenacity_arguments(endpoint, self.log))(attempt)

    def call_once(self, call: Call[T]) -> T:
        """Send ``call`` once and return its answer, read as the call's answer type."""
        path = call.path
        response = self.send(call.endpoint, path, params=call.query(), json=call.json)
        if call.answer is None:
            return None  # type: ignore[return-value]
        return read_answer(
            call.answer,
            method=call.endpoint.method,
            path=path,
            status=response.status_code,
            headers=response.headers,
            body=response.content,
        )

    def call(self, call: Call[T]) -> T:
        """Send ``call``, retrying what the policy allows, and return its answer."""
        return self.retrying(call.endpoint, lambda: self.call_once(call))

    def delete(self, call: Call[T], *, gone: Callable[[], T]) -> T:
        """
        Send a deletion; a retry that finds nothing means an earlier try deleted it and its answer was lost.

        :param call: The deletion.
        :param gone: Returns the answer to give when a retry finds the object already gone.
        """
        tries = 0

        def once() -> T:
            nonlocal tries
            tries += 1
            try:
                return self.call_once(call)
            except SeekrFlowNotFoundError:
                if tries > 1:
                    return gone()
                raise

        return self.retrying(call.endpoint, once)
