"""Evaluate a served SeekrFlow model on a prompt set, and fail the task when too few answers pass."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_seekrflow.defaults import DEFAULT_CONN_ID
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
    SeekrFlowEvaluationFailedError,
    SeekrFlowInvalidFileError,
)
from airflow_provider_seekrflow.operators.job_deadlines import execution_deadline, seconds_to
from airflow_provider_seekrflow.sources.source import is_object_storage

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.evaluation.judge import JudgeScorer
    from airflow_provider_seekrflow.evaluation.manifest import Tally
    from airflow_provider_seekrflow.evaluation.scoring import Scorer
    from airflow_provider_seekrflow.sources.source import Source

#: The XCom key the manifest is pushed under, also when the threshold is missed.
MANIFEST_XCOM_KEY = "manifest"
#: The most prompts in flight: the async session's connection pool (``async_transport.MAX_CONNECTIONS``,
#: not imported here, so that parsing a DAG does not load the transport).
MAX_CONCURRENCY = 32


class SeekrFlowEvaluateModelOperator(BaseOperator):
    """
    Evaluate a served model on a prompt set through chat completions; fail when the pass rate is below a threshold.

    Every line of the prompt set (JSONL: ``{"messages": [...], "expected"?: str, "check"?: {...}}``,
    see ``airflow_provider_seekrflow.evaluation.prompts``) is checked first, streamed: a bad line
    fails the task before any prompt is sent, naming the file and the line (the file is read twice:
    once to check it, once to send it). The prompts are then sent, at most ``max_concurrency`` at once on one event loop; 429 and 503 answers are retried
    honouring ``Retry-After``. A prompt whose answer was lost (a dropped connection, a 500/502/504)
    is not sent again, since every answer is billed: it is counted as errored, and errored prompts
    count against the pass rate. A model that is not served (404) fails the task at once.

    Every answer is written to ``answers`` as a JSON line, in the prompt file's order, each with its
    prompt's ``line`` number, ``answer``, ``passed``, ``error``, ``latency_ms`` and token counts.
    ``answers`` is required: a default under a local temporary folder would be lost on a distributed
    worker. The task returns a small manifest (also pushed under the XCom key ``manifest``):
    ``total``, ``passed``, ``failed``, ``errored``, ``pass_rate``, ``latency_ms`` (``p50``,
    ``p95``), ``tokens`` (``in``, ``out``), ``usage`` (``input_tokens``, ``output_tokens``, as every
    kind's result names them), the scorer and where the answers are. When the pass
    rate is below ``pass_threshold``, the answers and the manifest are written first, then
    ``SeekrFlowEvaluationFailedError`` fails the task, so a downstream promote does not run.

    Files in object storage are read and written through Airflow connections, as the upload operator
    reads them: the connection the URI names (``s3://my_aws@bucket/key``), else ``prompts_conn_id``
    / ``answers_conn_id``, else the scheme's default connection (``aws_default`` for ``s3://``).

    :param model: The model to evaluate: a base model, or the model id of an Active deployment,
        e.g. ``"{{ ti.xcom_pull(task_ids='deploy')['model_id'] }}"``. (templated)
    :param prompts: The prompt set: a local path, an object-storage URI or ``ObjectStoragePath``. (templated)
    :param answers: Where the answers JSONL is written (replaced): a local path on storage every worker
        shares, an object-storage URI or ``ObjectStoragePath``. Required. (Not ``output``, which every
        operator already has: the ``XComArg`` of its return value.) (templated)
    :param pass_threshold: The lowest pass rate (passed over all prompts), from 0 to 1, that passes.
    :param scorer: ``"exact"``, ``"contains"``, ``"regex"``, a dict such as ``{"type": "contains",
        "case_sensitive": False}``, a callable ``(prompt_record, answer_text) -> bool``, or a judge:
        ``{"type": "judge", "model": "<served model>"}`` or a ``JudgeScorer``. A line's own
        ``check`` takes the place of a match scorer for that line.
    :param max_concurrency: The most prompts in flight at once, 1 to 32 (the connection's session
        holds at most 32 sockets).
    :param max_tokens: The longest answer, in tokens; the service's default when None.
    :param temperature: The sampling temperature; the service's default when None (0 makes answers repeatable).
    :param request_options: Further chat-completion fields sent with every prompt (``top_p``,
        ``stop``, ``repetition_penalty``...).
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the async hook, e.g. ``{"timeout": 60, "max_retries": 3}``.
    :param prompts_conn_id: The Airflow connection reading a prompts URI that names none of its own. (templated)
    :param answers_conn_id: The Airflow connection writing an answers URI that names none of its own. (templated)
    """

    template_fields: Sequence[str] = (
        "model",
        "prompts",
        "answers",
        "seekrflow_conn_id",
        "prompts_conn_id",
        "answers_conn_id",
    )
    ui_color = "#eef7e8"

    def __init__(
        self,
        *,
        model: str,
        prompts: Any,
        answers: Any,
        pass_threshold: float,
        scorer: Any = "exact",
        max_concurrency: int = 16,
        max_tokens: int | None = None,
        temperature: float | None = None,
        request_options: dict[str, Any] | None = None,
        seekrflow_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        prompts_conn_id: str | None = None,
        answers_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(pass_threshold, bool)
            or not isinstance(pass_threshold, (int, float))
            or not math.isfinite(pass_threshold)
            or not 0 <= pass_threshold <= 1
        ):
            raise SeekrFlowConfigError(
                f"pass_threshold: must be a number from 0 to 1, got {pass_threshold!r}"
            )
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or not 1 <= max_concurrency <= MAX_CONCURRENCY
        ):
            raise SeekrFlowConfigError(
                f"max_concurrency: must be a whole number from 1 to {MAX_CONCURRENCY}, got {max_concurrency!r}"
            )
        from airflow_provider_seekrflow.evaluation.scoring import make_scorer

        make_scorer(scorer)  # checked when the DAG is parsed, built again when the task runs
        self.model = model
        self.prompts = prompts
        self.answers = answers
        self.pass_threshold = float(pass_threshold)
        self.scorer = scorer
        self.max_concurrency = max_concurrency
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.request_options = dict(request_options or {})
        self.seekrflow_conn_id = seekrflow_conn_id
        self.hook_params = dict(hook_params or {})
        self.prompts_conn_id = prompts_conn_id
        self.answers_conn_id = answers_conn_id
        #: ``((prompts shown, local path or None), (answers shown, local path or None))``, for OpenLineage.
        self.evaluated_files: tuple[tuple[str, Any], tuple[str, Any]] | None = None
        #: The manifest of the evaluation that ran (also when it missed the threshold), for OpenLineage.
        self.last_manifest: dict[str, Any] | None = None

    def _request(self) -> dict[str, Any]:
        """Return the request fields every prompt is sent with, checked locally."""
        from airflow_provider_seekrflow.client.chat import completion_request

        options = dict(self.request_options)
        # ``stop`` has a checked field of its own in the request builder.
        request: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stop": options.pop("stop", None),
            "options": options,
        }
        if not isinstance(self.model, str) or not self.model.strip():
            raise SeekrFlowConfigError(f"model: must name a served model, got {self.model!r}")
        completion_request(model=self.model, messages=[{"role": "user", "content": "?"}], **request)
        return request

    def _check_prompts(self, source: Source, scorer: Scorer | JudgeScorer) -> int:
        """Read every line of the prompt set (streamed) and return how many prompts it holds; a fault raises."""
        from airflow_provider_seekrflow.evaluation.prompts import read_prompts
        from airflow_provider_seekrflow.evaluation.storage import prompt_lines

        count = 0
        with contextlib.closing(prompt_lines(source)) as lines:
            for record in read_prompts(lines, source.shown):
                fault = scorer.reference_fault(record)
                if fault is not None:
                    raise SeekrFlowInvalidFileError(
                        f"{source.shown}: line {record.line}: {fault}; no prompt was sent"
                    )
                count += 1
        if not count:
            raise SeekrFlowInvalidFileError(
                f"{source.shown}: holds no prompt (only blank lines); no prompt was sent"
            )
        return count

    def _answers_overwrite_prompts(self, source: Source, answers: str) -> bool:
        """Whether the answers would be written over the prompt set (compared as real paths when both are local)."""
        if answers in (source.shown, str(source.local or "")):
            return True
        if source.local is None or is_object_storage(self.answers):
            return False
        target = os.path.expanduser(os.fspath(self.answers).removeprefix("file://"))
        return os.path.realpath(target) == os.path.realpath(source.local)

    async def _run(
        self, source: Source, scorer: Scorer | JudgeScorer, request: dict[str, Any], write: Any
    ) -> Tally:
        """Send every prompt through the async hook and write each answer; return the tally."""
        from airflow_provider_seekrflow.evaluation.prompts import read_prompts
        from airflow_provider_seekrflow.evaluation.runner import run_prompts
        from airflow_provider_seekrflow.evaluation.storage import prompt_lines
        from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook

        hook = SeekrFlowAsyncHook(self.seekrflow_conn_id, **self.hook_params)
        async with hook:
            with contextlib.closing(prompt_lines(source)) as lines:
                return await run_prompts(
                    read_prompts(lines, source.shown),
                    model=self.model,
                    scorer=scorer,
                    send=hook.call,
                    write=write,
                    max_concurrency=self.max_concurrency,
                    request=request,
                )

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the prompt set, run it, write the answers, push the manifest; fail below the threshold."""
        from airflow_provider_seekrflow.client.deadline import bounded_by
        from airflow_provider_seekrflow.evaluation.scoring import make_scorer
        from airflow_provider_seekrflow.evaluation.storage import open_answers, prompt_source, shown
        from airflow_provider_seekrflow.jobs.usage import describe_usage

        scorer = make_scorer(self.scorer)
        request = self._request()
        source = prompt_source(self.prompts, conn_id=self.prompts_conn_id)
        answers = shown(self.answers) if self.answers is not None else None
        if answers is not None and self._answers_overwrite_prompts(source, answers):
            raise SeekrFlowConfigError(f"answers: {answers} is the prompt set itself; name another file")
        count = self._check_prompts(source, scorer)
        self.log.info(
            "Evaluating %s on %d prompt(s) from %s, at most %d at once, scorer %s; answers to %s",
            self.model, count, source.shown, self.max_concurrency, scorer.name, answers,
        )  # fmt: skip
        started = time.monotonic()
        # The task's execution_timeout holds while chat requests are in flight, as for every job wait.
        with (
            bounded_by(seconds_to(execution_deadline(self.execution_timeout, context))),
            open_answers(self.answers, conn_id=self.answers_conn_id) as sink,
        ):
            tally = asyncio.run(self._run(source, scorer, request, sink.write))
        if tally.total != count:
            raise SeekrFlowInvalidFileError(
                f"{source.shown}: held {count} prompt(s) when checked but {tally.total} when sent; "
                "did it change during the run?"
            )
        answers_local = None
        if not is_object_storage(self.answers):
            answers_local = os.path.expanduser(os.fspath(self.answers).removeprefix("file://"))
        self.evaluated_files = ((source.shown, source.local), (str(answers), answers_local))
        threshold_met = tally.pass_rate >= self.pass_threshold
        manifest = tally.manifest(
            model=self.model,
            scorer=scorer.name,
            prompts=source.shown,
            answers=answers,
            pass_threshold=self.pass_threshold,
            threshold_met=threshold_met,
            max_concurrency=self.max_concurrency,
            wall_seconds=round(time.monotonic() - started, 3),
        )
        self.last_manifest = manifest
        context["ti"].xcom_push(key=MANIFEST_XCOM_KEY, value=manifest)
        self.log.info(
            "%s: %d passed, %d failed, %d errored of %d (pass rate %.4f, threshold %.4f); "
            "latency p50 %s ms, p95 %s ms; %s",
            self.model, tally.passed, tally.failed, tally.errored, tally.total, tally.pass_rate,
            self.pass_threshold, manifest["latency_ms"]["p50"], manifest["latency_ms"]["p95"],
            describe_usage(manifest["usage"]),
        )  # fmt: skip
        if not threshold_met:
            raise SeekrFlowEvaluationFailedError(
                f"{self.model}: pass rate {tally.pass_rate:.4f} ({tally.passed} of {tally.total} passed, "
                f"{tally.errored} errored) is below the threshold {self.pass_threshold:.4f}; answers in {answers}",
                pass_rate=tally.pass_rate,
                threshold=self.pass_threshold,
                manifest=manifest,
            )
        return manifest

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Return this run's OpenLineage datasets (the prompt set read, the answers file written) and its tokens.

        :param task_instance: The task instance that ended (unused: the operator kept its files).
        """
        from airflow_provider_seekrflow.lineage import evaluation_lineage

        return evaluation_lineage(self)
