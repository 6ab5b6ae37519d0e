"""How long to wait before the next status check of a job, toward the service's completion estimate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from airflow_provider_seekrflow.client.alignment import AlignmentJob
from airflow_provider_seekrflow.client.service_model import estimate_minutes

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
    """
    Return when the service expects the job to end, from ``estimated_completion_at`` or ``eta_minutes``.

    Never raises: an estimate that is not a finite number within ten years counts as none or is
    clamped (:func:`~airflow_provider_seekrflow.client.service_model.estimate_minutes`), and a
    moment past the calendar's end as none.

    :param job: The job as last seen.
    :param now: The current time (UTC).
    """
    if job.estimated_completion_at is not None:
        moment = job.estimated_completion_at
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    minutes = estimate_minutes(job.eta_minutes)
    if minutes is not None:
        try:
            return now + timedelta(minutes=minutes)
        except OverflowError:  # within ten years of year 9999
            return None
    return None


@dataclass(frozen=True)
class NextCheck:
    """
    When a wait checks a job again, and why, in words for the task log.

    :param seconds: The sleep before the next check.
    :param reason: Why that long: the service's estimate, the job's age, or a bound.
    """

    seconds: float
    reason: str

    def describe(self, now: datetime | None = None) -> str:
        """Return ``next check in 12 s (at 16:58:12 UTC): <reason>``."""
        at = (now or datetime.now(timezone.utc)) + timedelta(seconds=self.seconds)
        return f"next check in {_duration(self.seconds)} (at {at:%H:%M:%S} UTC): {self.reason}"


def _duration(seconds: float) -> str:
    """Return ``42 s`` under two minutes, ``7 min`` under two hours, else ``3.5 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _bounded(wanted: float, reason: str, *, poll_interval: float, min_interval: float) -> NextCheck:
    ceiling = max(poll_interval, min_interval)
    if wanted > ceiling:
        return NextCheck(ceiling, f"{reason}; poll_interval ({ceiling:g} s) caps the wait")
    if wanted < min_interval:
        return NextCheck(min_interval, f"{reason}; min_poll_interval ({min_interval:g} s) is the floor")
    return NextCheck(wanted, reason)


def plan_next_check(
    job: AlignmentJob,
    *,
    poll_interval: float,
    min_interval: float,
    now: datetime | None = None,
) -> NextCheck:
    """
    Return when to check a job that may give an estimate again, and why.

    With an estimate, sleep until just after it; past it, check every few seconds; without one,
    check at a steady pace. The sleep is never above ``poll_interval`` nor below ``min_interval``.
    ``estimated_completion_at`` gives the remaining time to the second; ``eta_minutes`` to the minute.

    :param job: The job as last seen.
    :param poll_interval: The longest sleep allowed.
    :param min_interval: The shortest sleep allowed.
    :param now: The current time (UTC), for tests.
    """
    now = now or datetime.now(timezone.utc)
    eta = estimated_completion(job, now)
    if eta is None:
        wanted, reason = BLIND_INTERVAL_SECONDS, "the service gives no estimate; checking once a minute"
    else:
        remaining = (eta - now).total_seconds()
        if remaining > 0:
            wanted = remaining + ETA_SLACK_SECONDS
            if job.estimated_completion_at is not None:
                reason = f"the service expects it done in {_duration(remaining)} (at {eta:%H:%M:%S} UTC)"
            else:
                reason = f"the service expects it done in about {_duration(remaining)}"
        else:
            wanted = min(OVERDUE_MAX_INTERVAL_SECONDS, -remaining / 2)
            reason = f"the service's estimate passed {_duration(-remaining)} ago; checking often"
    return _bounded(wanted, reason, poll_interval=poll_interval, min_interval=min_interval)


def plan_steady_check(
    *,
    poll_interval: float,
    min_interval: float,
    running_since: datetime | None = None,
    now: datetime | None = None,
) -> NextCheck:
    """
    Return when to check a job that gives no estimate again, and why.

    A quarter of the time the job has been running, up to the blind interval of a minute; the
    blind interval when its start is unknown. Never above ``poll_interval`` nor below ``min_interval``.

    :param poll_interval: The longest sleep allowed.
    :param min_interval: The shortest sleep allowed.
    :param running_since: When the job started or last changed, as the service says.
    :param now: The current time (UTC), for tests.
    """
    wanted, reason = BLIND_INTERVAL_SECONDS, "the service gives no estimate; checking once a minute"
    if running_since is not None:
        moment = running_since if running_since.tzinfo else running_since.replace(tzinfo=timezone.utc)
        age = max(0.0, ((now or datetime.now(timezone.utc)) - moment).total_seconds())
        wanted = min(BLIND_INTERVAL_SECONDS, age * AGE_FRACTION)
        reason = (
            f"the service gives no estimate; a quarter of the job's age ({_duration(age)}), at most a minute"
        )
    return _bounded(wanted, reason, poll_interval=poll_interval, min_interval=min_interval)
