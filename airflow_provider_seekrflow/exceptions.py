"""
Exceptions shared by the whole provider, all derived from ``AirflowException``.

Each job kind's own exceptions (``SeekrFlowFineTuneFailedError``...) live with the kind, in
``airflow_provider_seekrflow.jobs.<kind>``; they derive from ``SeekrFlowJobError`` here.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException


class SeekrFlowError(AirflowException):
    """
    Base class of every error the provider raises.

    :param message: What went wrong, in words a user can act on.
    :param status_code: The HTTP status the service answered, when there was one.
    :param method: The HTTP method of the failed request.
    :param path: The request path (never the full URL with credentials).
    :param service_message: The service's own explanation, as it sent it.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str | None = None,
        path: str | None = None,
        service_message: str | None = None,
    ) -> None:
        super().__init__(message)
        # AirflowException declares status_code as an HTTPStatus; an int status is what it holds too.
        self.status_code = status_code  # type: ignore[assignment]
        self.method = method
        self.path = path
        self.service_message = service_message


class SeekrFlowConfigError(SeekrFlowError):
    """The Airflow connection or an argument is unusable; raised before any request is sent."""


class SeekrFlowInvalidFileError(SeekrFlowError):
    """A file to upload failed a local check; raised before any request is sent."""


class SeekrFlowDependencyError(SeekrFlowError):
    """An optional package the call needs is not installed; the message names the extra to install."""


class SeekrFlowAPIError(SeekrFlowError):
    """The service answered with an error status."""


class SeekrFlowAuthenticationError(SeekrFlowAPIError):
    """The service refused the API key (401 or 403)."""


class SeekrFlowNotFoundError(SeekrFlowAPIError):
    """The file or job does not exist for this API key (404)."""


class SeekrFlowValidationError(SeekrFlowAPIError):
    """The service rejected the request's content (400, 409, 413, 415 or 422)."""


class SeekrFlowRateLimitError(SeekrFlowAPIError):
    """
    The service asked the client to slow down (429).

    :param retry_after: Seconds the service asked to wait, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class SeekrFlowServerError(SeekrFlowAPIError):
    """
    The service failed or was unavailable (5xx).

    :param retry_after: Seconds the service asked to wait, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class SeekrFlowUnexpectedResponseError(SeekrFlowAPIError):
    """The server answered in a way SeekrFlow does not: not JSON, the wrong shape, or too large."""


class SeekrFlowConnectionError(SeekrFlowError):
    """
    The request did not get an answer: the host was unreachable, the connection dropped, or it timed out.

    :param may_have_reached_service: True when the request may have been received and acted on
        (for example a read timeout after the body was sent), so repeating it might do the work twice.
    :param timed_out: True when no answer came in time, so the service may still be working on it.
    """

    def __init__(
        self, message: str, *, may_have_reached_service: bool, timed_out: bool = False, **kwargs
    ) -> None:
        super().__init__(message, **kwargs)
        self.may_have_reached_service = may_have_reached_service
        self.timed_out = timed_out


class SeekrFlowDeadlineError(SeekrFlowConnectionError):
    """
    The wait's time ran out while a request was in flight.

    The time left is the wait's ``timeout``, or the task's ``execution_timeout`` less its margin.
    Never retried: no time is left for another try.
    """

    def __init__(self, message: str, **kwargs) -> None:
        kwargs.setdefault("may_have_reached_service", True)
        super().__init__(message, timed_out=True, **kwargs)


class SeekrFlowAmbiguousResultError(SeekrFlowConnectionError):
    """
    An answer was lost and the service lists more than one object that this request could have made.

    Never retried and never adopted: resending could do the work twice, and adopting one could
    attach the task to another run's work. The message names the candidates so a person can decide.
    """

    def __init__(self, message: str, **kwargs) -> None:
        super().__init__(message, may_have_reached_service=True, **kwargs)


class SeekrFlowTLSError(SeekrFlowConnectionError):
    """
    The TLS handshake with the host failed: it does not speak TLS, or its certificate is not trusted.

    Never retried: the next try would fail the same way. The message says what to change in the
    connection (an ``http://`` host, or the ``verify`` extra).
    """

    def __init__(self, message: str, **kwargs) -> None:
        super().__init__(message, may_have_reached_service=False, **kwargs)


class SeekrFlowJobError(SeekrFlowError):
    """
    A SeekrFlow job of any kind (``jobs.kinds.KINDS``) ended without success, or a wait for it ran out.

    :param job_id: The job's id.
    :param status: The job's final (or last seen) status.
    :param status_message: The service's explanation, when it gave one.
    """

    def __init__(self, message: str, *, job_id: str, status: str, status_message: str | None = None) -> None:
        super().__init__(message, service_message=status_message)
        self.job_id = job_id
        self.status = status
        self.status_message = status_message


class SeekrFlowEvaluationFailedError(SeekrFlowError):
    """
    A model's evaluation passed fewer prompts than its threshold asks; raised after the answers and manifest are written.

    :param message: What the evaluation found: the pass rate and the threshold.
    :param pass_rate: Passed prompts over all prompts (errored ones count as not passed).
    :param threshold: The pass rate the task asked for.
    :param manifest: The evaluation's manifest (counts, latencies, tokens, where the answers are).
    """

    def __init__(
        self, message: str, *, pass_rate: float, threshold: float, manifest: dict | None = None
    ) -> None:
        super().__init__(message)
        self.pass_rate = pass_rate
        self.threshold = threshold
        self.manifest = manifest

    def __reduce__(self):  # keep picklable (keyword-only arguments)
        return (_evaluation_failed, (str(self), self.pass_rate, self.threshold, self.manifest))


def _evaluation_failed(
    message: str, pass_rate: float, threshold: float, manifest: dict | None
) -> SeekrFlowEvaluationFailedError:
    return SeekrFlowEvaluationFailedError(
        message, pass_rate=pass_rate, threshold=threshold, manifest=manifest
    )
