"""
Run a prompt set through chat completions: at most ``max_concurrency`` requests at once, memory bounded.

One event loop holds a reader, ``max_concurrency`` workers and a writer:

- the reader takes prompts from the (blocking) prompt iterator in batches, in a worker thread,
  and hands them to the workers through a queue of ``max_concurrency`` places;
- each worker sends one prompt at a time through the async hook (its shared session; 429 and 503
  retried as the connection's retry policy says, honouring ``Retry-After``) and scores the answer;
- the writer writes each result to the answers sink **in input order** (each line also carries its
  prompt's ``line`` number), in a worker thread, and tallies it.

Memory is bounded by a window of ``WINDOW_FACTOR * max_concurrency`` prompts: a prompt is handed
to the workers only when fewer than that many are handed over but not yet written (plus the one
batch of ``READ_BATCH`` prompts the reader holds). A slow prompt at the head of the window
holds later ones (already answered) in memory until it is written, never more than the window.

A lost answer (a dropped connection after the prompt was sent, a 500/502/504, a read timeout) is
**not** sent again: a chat completion is billed (it adds to the deployment's token counters), and
the transport resends only what the service provably did not act on (429, 503). Such a prompt is
recorded as errored, with the error in the answers file, and counts against the pass rate, so a
flaky service can fail an evaluation but never let a model pass it. A 404 (the model is not served),
401/403 (the key) or a local configuration error stops the whole run at once: every other prompt
would fail the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from airflow_provider_seekrflow.client import chat
from airflow_provider_seekrflow.client.retry import short_reason
from airflow_provider_seekrflow.evaluation.judge import JudgeScorer, JudgeVerdictError
from airflow_provider_seekrflow.evaluation.manifest import Result, Tally
from airflow_provider_seekrflow.evaluation.prompts import PromptRecord
from airflow_provider_seekrflow.evaluation.scoring import Scorer
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAuthenticationError,
    SeekrFlowConfigError,
    SeekrFlowError,
    SeekrFlowNotFoundError,
)

__all__ = ["READ_BATCH", "WINDOW_FACTOR", "run_prompts"]

#: How many prompts may be read but not yet written, per unit of concurrency.
WINDOW_FACTOR = 4
#: Prompts taken from the prompt iterator per hop to its thread.
READ_BATCH = 64
# The errors that stop the run: every remaining prompt would meet them too.
_FATAL = (SeekrFlowNotFoundError, SeekrFlowAuthenticationError, SeekrFlowConfigError)

Send = Callable[[Any], Awaitable[chat.ChatCompletion]]


def _take(records: Iterator[PromptRecord], count: int) -> list[PromptRecord]:
    return list(itertools.islice(records, count))


async def answer_prompt(
    record: PromptRecord,
    *,
    model: str,
    scorer: Scorer | JudgeScorer,
    send: Send,
    request: dict[str, Any],
) -> Result:
    """
    Send one prompt, score its answer and return the result; a fatal error (404, 401/403) is raised.

    :param record: The prompt.
    :param model: The model evaluated.
    :param scorer: The scorer.
    :param send: Sends a call and returns its answer (the async hook's ``call``).
    :param request: Further request fields (``max_tokens``, ``temperature``, ``options``).
    """
    extra: dict[str, Any] = {}
    if record.expected is not None:
        extra["expected"] = record.expected
    body = chat.completion_request(model=model, messages=record.messages, **request)
    started = time.perf_counter()
    try:
        completion = await send(chat.complete(body))
    except _FATAL:
        raise
    except SeekrFlowError as err:
        return Result(record.line, error=f"{short_reason(err)}: {err}", extra=extra)
    latency_ms = (time.perf_counter() - started) * 1000.0
    answer = completion.text
    extra["finish_reason"] = completion.finish_reason
    result = Result(
        record.line,
        answer=answer,
        latency_ms=latency_ms,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        extra=extra,
    )
    try:
        if isinstance(scorer, JudgeScorer):
            verdict = await scorer.grade(record, answer, send)
            result.passed = verdict.passed
            result.judge_prompt_tokens = verdict.prompt_tokens
            result.judge_completion_tokens = verdict.completion_tokens
            extra["judge"] = verdict.reply
        else:
            result.passed = scorer.score(record, answer)
    except _FATAL:
        raise
    except JudgeVerdictError as err:
        result.error = str(err)
        extra["judge"] = err.reply
    except SeekrFlowError as err:
        result.error = f"judge: {short_reason(err)}: {err}"
    except Exception as err:  # a user callable's failure is that prompt's error, not the run's
        result.error = f"scorer raised {type(err).__name__}: {err}"
    return result


async def _read_batch(records: Iterator[PromptRecord]) -> list[PromptRecord]:
    """
    Take the next batch of ``records`` in a worker thread; when cancelled, let that thread finish first.

    A thread cannot be stopped: left running, it would still be inside the prompt reader when the
    caller closes it, and that close would fail and hide why the run ended.

    :param records: The prompts, read lazily.
    """
    pending = asyncio.ensure_future(asyncio.to_thread(_take, records, READ_BATCH))
    try:
        return await asyncio.shield(pending)
    except asyncio.CancelledError:
        await asyncio.wait([pending])
        raise


async def run_prompts(
    records: Iterator[PromptRecord],
    *,
    model: str,
    scorer: Scorer | JudgeScorer,
    send: Send,
    write: Callable[[bytes], Any],
    max_concurrency: int = 16,
    request: dict[str, Any] | None = None,
) -> Tally:
    """
    Answer and score every prompt of ``records``, writing each result as a JSON line in input order; return the tally.

    :param records: The prompts, read lazily (blocking reads run in a worker thread).
    :param model: The model evaluated.
    :param scorer: The scorer.
    :param send: Sends a call and returns its answer (the async hook's ``call``).
    :param write: Writes bytes to the answers sink (blocking; run in a worker thread).
    :param max_concurrency: The most prompts in flight at once.
    :param request: Further request fields (``max_tokens``, ``temperature``, ``options``).
    """
    request = dict(request or {})
    tally = Tally()
    window = asyncio.Semaphore(WINDOW_FACTOR * max_concurrency)
    todo: asyncio.Queue[tuple[int, PromptRecord] | None] = asyncio.Queue(maxsize=max_concurrency)
    ready: dict[int, Result] = {}
    wake = asyncio.Event()
    finished = False

    async def read() -> None:
        index = 0
        while batch := await _read_batch(records):
            for record in batch:
                await window.acquire()
                await todo.put((index, record))
                index += 1
        for _ in range(max_concurrency):
            await todo.put(None)

    async def work() -> None:
        while (item := await todo.get()) is not None:
            index, record = item
            ready[index] = await answer_prompt(record, model=model, scorer=scorer, send=send, request=request)
            wake.set()

    async def write_in_order() -> None:
        next_index = 0
        while True:
            await wake.wait()
            wake.clear()
            lines = []
            while next_index in ready:
                result = ready.pop(next_index)
                tally.add(result)
                lines.append(json.dumps(result.to_json(), ensure_ascii=False).encode() + b"\n")
                next_index += 1
            if lines:
                await asyncio.to_thread(write, b"".join(lines))
                for _ in lines:
                    window.release()
            if finished and not ready:
                return

    async def produce() -> None:
        nonlocal finished
        tasks = [
            asyncio.ensure_future(read()),
            *(asyncio.ensure_future(work()) for _ in range(max_concurrency)),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            # A fatal error in one worker stops the reader and the other workers too.
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            finished = True
            wake.set()

    producing = asyncio.ensure_future(produce())
    writing = asyncio.ensure_future(write_in_order())
    try:
        # Whichever fails first ends the run: a writer that failed releases no window slot, so
        # the reader would wait for one for ever.
        done, _ = await asyncio.wait({producing, writing}, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
        await producing
        await writing
    finally:
        for task in (producing, writing):
            if not task.done():
                task.cancel()
        await asyncio.gather(producing, writing, return_exceptions=True)
    return tally
