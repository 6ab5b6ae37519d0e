"""How long to wait before the next status check of a job, toward the service's completion estimate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from airflow_provider_seekrflow._client.alignment import AlignmentJob

if TYPE_CHECKING:
    from airflow_provider_seekrflow._client.data_jobs import DataJobDetail

# Without an estimate there is nothing to aim at, so check at a steady, modest pace.
BLIND_INTERVAL_SECONDS = 60.0
# Once the estimate has passed the job should end any moment; check often enough to see it in time.
OVERDUE_MAX_INTERVAL_SECONDS = 30.0
# Wake slightly after the estimate so the first check after it usually sees the job done.
ETA_SLACK_SECONDS = 2.0
# Without an estimate, sleep this fraction of the time the job has been running (never more than the
# blind interval): a job seconds old is checked again within seconds, one hours old once a minute.
# Stateless, so it holds across deferrals, reschedules and retries.
AGE_FRACTION = 0.25


def estimated_completion(job: AlignmentJob, now: datetime) -> datetime | None:
    """Return when the service expects the job to end, from ``estimated_completion_at`` or ``eta_minutes``."""
    if job.estimated_completion_at is not None:
        moment = job.estimated_completion_at
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if job.eta_minutes is not None:
        return now + timedelta(minutes=job.eta_minutes)
    return None


def next_poll_delay(
    job: AlignmentJob,
    *,
    poll_interval: float,
    min_interval: float,
    now: datetime | None = None,
) -> float:
    """
    Return the seconds to sleep before checking ``job`` again.

    With an estimate, sleep until just after it; past it, check every few seconds; without one,
    check at a steady pace. The result is never above ``poll_interval`` nor below ``min_interval``.

    :param job: The job as last seen.
    :param poll_interval: The longest sleep allowed.
    :param min_interval: The shortest sleep allowed.
    :param now: The current time (UTC), for tests.
    """
    now = now or datetime.now(timezone.utc)
    ceiling = max(poll_interval, min_interval)
    eta = estimated_completion(job, now)
    if eta is None:
        wanted = BLIND_INTERVAL_SECONDS
    else:
        remaining = (eta - now).total_seconds()
        if remaining > 0:
            wanted = remaining + ETA_SLACK_SECONDS
        else:
            wanted = min(OVERDUE_MAX_INTERVAL_SECONDS, -remaining / 2)
    return max(min_interval, min(ceiling, wanted))


def steady_delay(
    *,
    poll_interval: float,
    min_interval: float,
    running_since: datetime | None = None,
    now: datetime | None = None,
) -> float:
    """
    Return the sleep between checks of a job that gives no estimate, within the bounds.

    A quarter of the time the job has been running, up to the blind interval of a minute; the
    blind interval when its start is unknown. Never above ``poll_interval`` nor below ``min_interval``.

    :param poll_interval: The longest sleep allowed.
    :param min_interval: The shortest sleep allowed.
    :param running_since: When the job started or last changed, as the service says.
    :param now: The current time (UTC), for tests.
    """
    wanted = BLIND_INTERVAL_SECONDS
    if running_since is not None:
        moment = running_since if running_since.tzinfo else running_since.replace(tzinfo=timezone.utc)
        age = ((now or datetime.now(timezone.utc)) - moment).total_seconds()
        wanted = min(BLIND_INTERVAL_SECONDS, max(0.0, age) * AGE_FRACTION)
    return max(min_interval, min(max(poll_interval, min_interval), wanted))


def next_data_job_delay(
    detail: DataJobDetail,
    *,
    poll_interval: float,
    min_interval: float,
    now: datetime | None = None,
) -> float:
    """
    Return the seconds to sleep before checking a data job again.

    Its alignment, once started, carries the estimate; ingestion has none, so it is checked at
    the steady pace from the job's last change (never above ``poll_interval`` nor below ``min_interval``).

    :param detail: The data job as last seen.
    :param poll_interval: The longest sleep allowed.
    :param min_interval: The shortest sleep allowed.
    :param now: The current time (UTC), for tests.
    """
    if detail.alignment_job is not None:
        return next_poll_delay(
            detail.alignment_job, poll_interval=poll_interval, min_interval=min_interval, now=now
        )
    return steady_delay(
        poll_interval=poll_interval,
        min_interval=min_interval,
        running_since=detail.updated_at or detail.created_at,
        now=now,
    )
