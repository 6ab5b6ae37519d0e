"""
What building an operator or sensor needs, defined once: defaults, what a wait waits for, argument checks.

DAG parsing builds every task, so this module imports no hook, no client module and no Airflow: the
operator and sensor modules read it at import, and load the rest when a task runs
(``tests/unit/test_parse_imports.py``). The client, the hooks and the emulator read the same
definitions from here.
"""

from __future__ import annotations

from airflow_provider_seekrflow.vocabulary import AlignmentType

#: The connection the hooks, operators and sensors use when given none.
DEFAULT_CONN_ID = "seekrflow_default"
#: The public service, used when the connection's host is empty.
DEFAULT_BASE_URL = "https://flow.seekr.com"
#: How a data job converts non-Markdown files (the service's ``method``) when not told.
DEFAULT_INGESTION_METHOD = "best"

#: Files a batch upload has in flight at once by default. Measured (benchmarks/README.md, "Upload
#: concurrency"): at 50 ms per request, 16 is over 10x a sequential loop while the uploading
#: process stays a few MiB; beyond it the service side, not the round trips, sets the time, and each
#: file in flight holds a socket and a chunk.
DEFAULT_UPLOAD_CONCURRENCY = 16
#: The most files a batch upload may have in flight: the connection's session keeps this many sockets.
MAX_UPLOAD_CONCURRENCY = 32

# What a wait waits for: the job's end, or (data jobs) the end of its files' ingestion, or the job's
# end or its review, whichever comes first (a data job sensor that fails on review).
UNTIL_END = "end"
UNTIL_INGESTED = "ingestion"
UNTIL_END_OR_REVIEW = "end_or_review"


def check_poll_intervals(poll_interval: float, min_poll_interval: float) -> None:
    """
    Refuse a poll interval that is not a number of seconds above 0 and at most a day, naming the field.

    A wait sleeps up to ``poll_interval`` between checks: a day is already far beyond any job, and a
    value past ~9e9 s would make ``time.sleep`` itself fail mid-wait. The bounds are the connection's
    ``timeout`` extra's (``client/config.py``, free of Airflow and pydantic), read only when called.

    :param poll_interval: The longest sleep between two status checks, in seconds.
    :param min_poll_interval: The shortest sleep between two status checks, in seconds.
    """
    from airflow_provider_seekrflow.client.config import ConnectionSettingsError, seconds_setting
    from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

    for name, value in (("poll_interval", poll_interval), ("min_poll_interval", min_poll_interval)):
        try:
            seconds_setting(value, name)
        except ConnectionSettingsError as err:
            raise SeekrFlowConfigError(str(err)) from None


def check_concurrency(value: object, field: str = "max_concurrency") -> int:
    """
    Return ``value`` as a number of files in flight at once, or raise naming ``field``.

    :param value: What the caller gave: a whole number from 1 to ``MAX_UPLOAD_CONCURRENCY``.
    :param field: The parameter's name, for the error.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_UPLOAD_CONCURRENCY:
        from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

        raise SeekrFlowConfigError(
            f"{field}: must be a whole number from 1 to {MAX_UPLOAD_CONCURRENCY}, got {value!r}"
        )
    return value


def check_alignment_type(alignment_type: str) -> None:
    """
    Refuse an alignment type the service does not know, naming the ones it does (``SeekrFlowConfigError``).

    :param alignment_type: ``principle`` or ``context_data``.
    """
    allowed = [member.value for member in AlignmentType]
    if alignment_type not in allowed:
        # Imported here: the exceptions derive from Airflow's, and the client (read by the emulator,
        # which starts without Airflow) checks its requests with this too.
        from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

        raise SeekrFlowConfigError(f"alignment_type: {alignment_type!r} is not one of {', '.join(allowed)}")
