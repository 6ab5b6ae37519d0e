"""
Find what a request whose answer was lost made: only a new object that matches the whole request, and only one.

A create that got no answer (a dropped connection, or a 500/502/504 after the service acted) may
or may not have made its object. Before such a request is sent, the ids the service lists are
kept in a :class:`Snapshot`; after a lost answer, the listing is read again and only an object
that is not in the snapshot and matches every field of the request it echoes is a candidate.
Exactly one candidate is adopted; none means the request made nothing and may be sent again;
more than one, or a new object that does not say what it was asked, is ambiguous and raises.

Comparing listings of the service with each other, never with this machine's clock, is what
makes a worker whose clock runs ahead or behind find the same objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from airflow_provider_seekrflow.client.service_model import as_utc

__all__ = ["Snapshot", "adopt", "echoed_value_matches", "known_before", "matches_echoed_fields"]

R = TypeVar("R")

# How many ids of a snapshot a candidate list names in an ambiguity error.
_NAMED_CANDIDATES = 5
# An upgrade from a release that noted only when a request was sent: how far back its search looks.
_LEGACY_CLOCK_ALLOWANCE = timedelta(minutes=2)


@dataclass(frozen=True)
class Snapshot:
    """
    The ids the service listed before a request was sent; an object not among them is new.

    :param ids: The listed ids.
    :param complete: Whether the listing held every object of its kind (it was shorter than its
        page), so any id missing from it is new whatever its creation time says.
    :param oldest: The service's creation time of the oldest listed object, when the listing was
        cut at its page size: a new object of a cut listing must be at least this recent (the
        service's clock against itself).
    """

    ids: frozenset[str] = field(default_factory=frozenset)
    complete: bool = True
    oldest: datetime | None = None

    @classmethod
    def of(cls, listed: Sequence[Any], *, page_size: int | None = None) -> Snapshot:
        """
        Return the snapshot of a listing, newest first.

        :param listed: The objects the service listed (each with ``id`` and ``created_at``).
        :param page_size: The most the listing returns, or None when it is never cut.
        """
        ids = frozenset(str(item.id) for item in listed if getattr(item, "id", None))
        complete = page_size is None or len(listed) < page_size
        times = [as_utc(item.created_at) for item in listed if getattr(item, "created_at", None) is not None]
        return cls(ids=ids, complete=complete, oldest=None if complete or not times else min(times))

    @classmethod
    def sent_at(cls, moment: datetime) -> Snapshot:
        """
        Return the stand-in for a note that says only when a request was sent (kept by earlier releases).

        Only an object that carries a creation time, within a little clock skew of ``moment``,
        counts as new: one without a time never does.

        :param moment: When the request was sent, by this machine's clock.
        """
        return cls(ids=frozenset(), complete=False, oldest=as_utc(moment) - _LEGACY_CLOCK_ALLOWANCE)

    def is_new(self, item: Any) -> bool:
        """Return whether ``item`` was made after the snapshot was taken."""
        item_id = getattr(item, "id", None)
        if not item_id or str(item_id) in self.ids:
            return False
        if self.complete:
            return True
        created = getattr(item, "created_at", None)
        # Without a creation time, an object of a cut listing may be one that slid into view.
        return created is not None and self.oldest is not None and as_utc(created) >= self.oldest

    def to_state(self) -> dict[str, Any]:
        """Return the snapshot as JSON-ready data for the task state store."""
        return {
            "ids": sorted(self.ids),
            "complete": self.complete,
            "oldest": self.oldest.isoformat() if self.oldest else None,
        }

    @classmethod
    def from_state(cls, value: Any) -> Snapshot | None:
        """Return a snapshot from :meth:`to_state` data, or None when ``value`` is not one."""
        if not isinstance(value, dict) or not isinstance(value.get("ids"), list):
            return None
        oldest = value.get("oldest")
        try:
            moment = datetime.fromisoformat(oldest) if isinstance(oldest, str) else None
        except ValueError:
            return None
        return cls(ids=frozenset(map(str, value["ids"])), complete=bool(value.get("complete")), oldest=moment)


def known_before(snapshot: Snapshot | None, since: datetime | None) -> Snapshot | None:
    """
    Return what a lost-answer search compares with: the snapshot, else one standing for ``since``, else None.

    :param snapshot: The listing taken before the request was sent.
    :param since: When it was sent, by this machine's clock (what callers of earlier releases give).
    """
    if snapshot is not None:
        return snapshot
    return Snapshot.sent_at(since) if since is not None else None


@dataclass
class Verdict(Generic[R]):
    """
    What a search for a lost answer's object found.

    :param found: The one new object that matches the request, if there is exactly one.
    :param absent: True when the service provably made nothing for the request (safe to send again).
    """

    found: R | None = None
    absent: bool = False


def adopt(
    listed: Iterable[R],
    snapshot: Snapshot,
    matches: Callable[[R], bool | None],
    *,
    what: str,
    exclude: Iterable[str] = (),
) -> Verdict[R]:
    """
    Decide what a request whose answer was lost made, from what the service lists now.

    :param listed: The service's objects of the request's kind, read after the answer was lost.
    :param snapshot: The ids listed before the request was sent.
    :param matches: Whether an object matches the whole request: True, False, or None when it
        does not echo what it was asked (then it might be the request's own).
    :param what: The request, in words, for the ambiguity error (``"data job create"``).
    :param exclude: Ids this task already owns (e.g. files stored earlier in the same batch).
    :raises SeekrFlowAmbiguousResultError: More than one new object may be the request's.
    """
    owned = set(exclude)
    fits: list[R] = []
    unknown: list[R] = []
    for item in listed:
        if str(getattr(item, "id", "")) in owned or not snapshot.is_new(item):
            continue
        verdict = matches(item)
        if verdict is None:
            unknown.append(item)
        elif verdict:
            fits.append(item)
    if len(fits) == 1 and not unknown:
        return Verdict(found=fits[0])
    if not fits and not unknown:
        return Verdict(absent=True)
    from airflow_provider_seekrflow.exceptions import SeekrFlowAmbiguousResultError

    named = [str(getattr(item, "id", "?")) for item in (fits + unknown)[:_NAMED_CANDIDATES]]
    more = len(fits) + len(unknown) - len(named)
    raise SeekrFlowAmbiguousResultError(
        f"The answer to the {what} was lost, and the service lists {len(fits) + len(unknown)} new "
        f"object(s) it may have made ({', '.join(named)}{f' and {more} more' if more > 0 else ''}): "
        "none is adopted and nothing is sent again; check them and retry the task"
    )


def echoed_value_matches(echoed: Any, sent: Any) -> bool:
    """Return whether a value the service echoes is the one sent (numbers compare by value, ``1e-5 == 0.00001``)."""
    if isinstance(sent, bool) or isinstance(echoed, bool):
        return echoed == sent
    if isinstance(sent, (int, float)) and isinstance(echoed, (int, float, str)):
        try:
            return math.isclose(float(echoed), float(sent), rel_tol=1e-9, abs_tol=0.0)
        except ValueError:
            return False
    if isinstance(sent, (list, tuple)) and isinstance(echoed, (list, tuple)):
        return len(sent) == len(echoed) and all(map(echoed_value_matches, echoed, sent))
    if isinstance(sent, dict) and isinstance(echoed, dict):
        return all(key in echoed and echoed_value_matches(echoed[key], value) for key, value in sent.items())
    return bool(echoed == sent)


def matches_echoed_fields(
    record: dict[str, Any], sent: dict[str, Any], *, required: Iterable[str]
) -> bool | None:
    """
    Return whether an object matches the fields of a request it echoes.

    :param record: The object's fields as the service lists them.
    :param sent: The request's fields that the object may echo (each compared when echoed).
    :param required: Fields the object must echo; None when one is missing (it cannot be told apart).
    """
    if any(record.get(name) is None for name in required):
        return None
    return all(
        record.get(name) is None or echoed_value_matches(record[name], value)
        for name, value in sent.items()
        if value is not None
    )
