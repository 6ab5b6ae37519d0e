"""
Run a batch of uploads at most ``max_concurrency`` at once, on threads over the blocking transport.

Each file's request crosses a WAN: at thousands of files the round trips, not the bytes, set the
time, so several files are in flight at once. The rules that keep every upload guarantee:

- **Bounded**: at most ``max_concurrency`` files are being worked on (opened, streamed) at a
  time; the others are only indices waiting their turn, never open handles or bodies.
- **One file of a name and size at a time**: two files of the batch with the same stored name and
  size are never in flight together; the later one starts once the earlier one's id is held by the
  batch. A lost answer is reconciled by looking for the one new file of that name and size that the
  batch does not hold, so no sibling in flight can store a file that looks like this one's: a
  sibling's new file is never adopted as this file's, and two identical files get an id each.
- **Held ids are never adopted**: every id the batch holds (returned, adopted, reused or recorded
  by an earlier try) is excluded from each file's search, read at the moment of the search.
- **Input order**: results are placed by index, whatever order they finish in.
- **A failure stops the batch**: no new file starts; those in flight finish (and are recorded),
  then the first failure is raised, naming its file. A kill or timeout in the calling thread stops
  the batch the same way without waiting for the files in flight (their notes stand for a retry).
- **Deadlines follow**: each file runs in a copy of the caller's context, so a task's
  ``execution_timeout`` (:mod:`.deadline`) bounds every request in flight.

``max_concurrency=1`` runs every file in the calling thread, one after the other, in input order.
"""

from __future__ import annotations

import contextvars
import heapq
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from airflow_provider_seekrflow.defaults import check_concurrency
from airflow_provider_seekrflow.exceptions import SeekrFlowError

T = TypeVar("T")


class BatchIds:
    """
    The ids a batch holds, shared by its threads; iterating reads a copy taken under the lock.

    Passed as an upload's ``exclude``: the lost-answer search iterates it when it runs, so it sees
    every id the batch held at that moment, not at the moment the upload started.

    :param ids: Ids held from the start (e.g. recorded by an earlier try).
    """

    def __init__(self, ids: Sequence[str] | frozenset[str] = ()) -> None:
        self._lock = threading.Lock()
        self._ids = set(ids)

    def add(self, file_id: str) -> None:
        """Hold ``file_id``: no other file of the batch may adopt it."""
        with self._lock:
            self._ids.add(file_id)

    def __contains__(self, file_id: object) -> bool:
        with self._lock:
            return file_id in self._ids

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._ids))


class BatchStopped(SeekrFlowError):
    """The batch was stopped (``on_kill``) before every file was uploaded."""


def run_batch(
    count: int,
    work: Callable[[int], T],
    *,
    max_concurrency: int,
    keys: Sequence[Hashable] | None = None,
    stop: threading.Event | None = None,
    on_done: Callable[[int, T], None] | None = None,
    describe: Callable[[int], str] = str,
    log: Any = None,
) -> list[T]:
    """
    Run ``work(index)`` for every index below ``count``, at most ``max_concurrency`` at once, and return the results in index order.

    :param count: How many items.
    :param work: Does one item (in a worker thread, in a copy of the caller's context).
    :param max_concurrency: The most items worked on at once; 1 runs them in this thread, in order.
    :param keys: Items of equal key never run at the same time, and run in index order.
    :param stop: Once set, no further item starts (``on_kill``).
    :param on_done: Called in this thread with each item's index and result as it finishes.
    :param describe: Names an item in errors and the log.
    :param log: Where the failures after the first are logged.
    """
    check_concurrency(max_concurrency)
    stop = stop or threading.Event()
    results: list[Any] = [None] * count
    if max_concurrency == 1:
        for index in range(count):
            _check_not_stopped(stop, index, count)
            results[index] = _named(work, index, describe)
            if on_done is not None:
                on_done(index, results[index])
        return results
    lanes: dict[Hashable, deque[int]] = defaultdict(deque)
    for index in range(count):
        lanes[keys[index] if keys is not None else index].append(index)
    # The first waiting index of every key, smallest first: input order wherever keys allow.
    ready = [lane.popleft() for lane in lanes.values()]
    heapq.heapify(ready)
    failures: list[tuple[int, BaseException]] = []
    running: dict[Future[T], int] = {}
    pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="seekrflow-upload")
    interrupted = True
    try:
        while ready or running:
            while ready and len(running) < max_concurrency and not failures and not stop.is_set():
                index = heapq.heappop(ready)
                # A context each: the deadline of the caller's wait holds in the thread too.
                running[pool.submit(contextvars.copy_context().run, work, index)] = index
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=running.__getitem__):
                index = running.pop(future)
                error = future.exception()
                if error is not None:
                    failures.append((index, error))
                    continue
                results[index] = future.result()
                if on_done is not None:
                    on_done(index, results[index])
                lane = lanes[keys[index] if keys is not None else index]
                if lane:
                    heapq.heappush(ready, lane.popleft())
        interrupted = False
    finally:
        # Killed or timed out here: stop at once, leaving the files in flight to end on their own.
        if interrupted:
            stop.set()
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    if failures:
        for index, error in failures[1:]:
            if log is not None:
                log.error("%s: also failed: %s", describe(index), error)
        index, error = failures[0]
        raise _naming(error, describe(index))
    _check_not_stopped(stop, sum(1 for r in results if r is not None), count)
    return results


def _named(work: Callable[[int], T], index: int, describe: Callable[[int], str]) -> T:
    try:
        return work(index)
    except SeekrFlowError as err:
        _naming(err, describe(index))
        raise


def _naming(error: BaseException, name: str) -> BaseException:
    """Return ``error`` with its message starting with the file's name (a SeekrFlow error; others as they are)."""
    if isinstance(error, SeekrFlowError) and error.args and not str(error.args[0]).startswith(name):
        error.args = (f"{name}: {error.args[0]}", *error.args[1:])
    return error


def _check_not_stopped(stop: threading.Event, done: int, count: int) -> None:
    if stop.is_set() and done < count:
        raise BatchStopped(f"stopped after {done} of {count} file(s): the task was killed")
