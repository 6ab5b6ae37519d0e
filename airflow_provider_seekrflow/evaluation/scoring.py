"""
Score an answer: exact or contains match, a regular expression, a user callable, or an LLM judge.

The task's ``scorer`` is one of:

- ``"exact"``: the answer equals the line's ``expected``, surrounding white space aside;
- ``"contains"``: the answer contains ``expected``; ``{"type": "contains", "case_sensitive": False}``
  ignores case (so does ``{"type": "exact", "case_sensitive": False}``);
- ``"regex"``: the line's ``expected`` is a Python regular expression that must match somewhere
  in the answer (``re.search``);
- a callable ``(prompt_record, answer_text) -> bool``: ``prompt_record`` is the line's whole JSON
  object (a dict, ``expected`` and ``check`` included); it runs on the task's event loop, so it
  should be quick (a raised exception makes that prompt errored);
- a judge: :class:`~airflow_provider_seekrflow.evaluation.judge.JudgeScorer`, or
  ``{"type": "judge", "model": ..., ...}`` with its arguments.

For the match scorers, a line's own ``check`` takes the place of the task's scorer, so one set
may mix forms; every line then needs an ``expected`` or a ``check``, which is checked before any
prompt is sent. A callable or a judge takes lines without either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.evaluation.prompts import CHECK_KINDS, Check, PromptRecord
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

if TYPE_CHECKING:
    from airflow_provider_seekrflow.evaluation.judge import JudgeScorer

__all__ = ["CallableScorer", "MatchScorer", "Scorer", "make_scorer"]


class Scorer:
    """
    Score answers: the base of the match and callable scorers.

    ``name`` is how the manifest names the scorer (``exact``, ``contains (case-insensitive)``,
    ``callable:my_check``); ``needs_reference`` says whether each line needs ``expected`` or ``check``.
    """

    name: str = "scorer"
    needs_reference: bool = False

    def reference_fault(self, record: PromptRecord) -> str | None:
        """
        Return why ``record`` cannot be scored by this scorer, or None when it can.

        :param record: One prompt of the set.
        """
        if self.needs_reference and record.expected is None and record.check is None:
            return f"has no expected answer and no check, which the {self.name} scorer needs"
        return None

    def score(self, record: PromptRecord, answer: str) -> bool:
        """
        Return whether ``answer`` passes for ``record``.

        :param record: The prompt.
        :param answer: The model's answer text.
        """
        raise NotImplementedError


@dataclass
class MatchScorer(Scorer):
    """
    Compare the answer with the line's ``expected`` (or apply the line's own ``check``).

    :param kind: ``exact``, ``contains`` or ``regex``.
    :param case_sensitive: Whether case matters.
    """

    kind: str = "exact"
    case_sensitive: bool = True
    needs_reference = True

    def __post_init__(self) -> None:
        self.name = self.kind if self.case_sensitive else f"{self.kind} (case-insensitive)"

    def reference_fault(self, record: PromptRecord) -> str | None:
        """
        Return why ``record`` cannot be scored (no reference, or ``expected`` not a valid expression), or None.

        :param record: One prompt of the set.
        """
        fault = super().reference_fault(record)
        if fault is None and record.check is None and self.kind == "regex":
            try:
                Check.build("regex", record.expected or "", case_sensitive=self.case_sensitive)
            except ValueError as err:
                return f"expected: {err}"
        return fault

    def score(self, record: PromptRecord, answer: str) -> bool:
        """
        Return whether ``answer`` passes the line's ``check``, else the task's match on ``expected``.

        :param record: The prompt.
        :param answer: The model's answer text.
        """
        check = record.check
        if check is None:
            check = Check.build(self.kind, record.expected or "", case_sensitive=self.case_sensitive)
        return check.passes(answer)


@dataclass
class CallableScorer(Scorer):
    """
    Ask a user function ``(prompt_record, answer_text) -> bool`` whether the answer passes.

    :param function: The function; it receives the line's whole JSON object and the answer's text.
    """

    function: Callable[[dict[str, Any], str], bool] | None = None

    def __post_init__(self) -> None:
        self.name = f"callable:{getattr(self.function, '__name__', type(self.function).__name__)}"

    def score(self, record: PromptRecord, answer: str) -> bool:
        """
        Return the function's verdict, as a bool.

        :param record: The prompt.
        :param answer: The model's answer text.
        """
        assert self.function is not None
        return bool(self.function(record.record, answer))


def make_scorer(spec: Any) -> Scorer | JudgeScorer:
    """
    Return the scorer ``spec`` names; an unusable spec raises ``SeekrFlowConfigError`` naming ``scorer``.

    :param spec: ``"exact"``, ``"contains"``, ``"regex"``, ``{"type": ..., "case_sensitive": ...}``,
        ``{"type": "judge", "model": ...}``, a :class:`Scorer` or ``JudgeScorer``, or a callable.
    """
    from airflow_provider_seekrflow.evaluation.judge import JudgeScorer

    if isinstance(spec, (Scorer, JudgeScorer)):
        return spec
    if isinstance(spec, str):
        if spec not in CHECK_KINDS:
            raise SeekrFlowConfigError(
                f"scorer: {spec!r} is not one of {', '.join(CHECK_KINDS)}, a callable or a judge config"
            )
        return MatchScorer(kind=spec)
    if isinstance(spec, Mapping):
        options = dict(spec)
        kind = options.pop("type", None)
        if kind == "judge":
            try:
                return JudgeScorer(**options)
            except TypeError as err:
                raise SeekrFlowConfigError(f"scorer: judge config: {err}") from None
        if kind not in CHECK_KINDS:
            raise SeekrFlowConfigError(f"scorer: type {kind!r} is not one of {', '.join(CHECK_KINDS)}, judge")
        case_sensitive = options.pop("case_sensitive", True)
        if options or not isinstance(case_sensitive, bool):
            raise SeekrFlowConfigError(
                f"scorer: a {kind} scorer takes only case_sensitive (true or false), got {dict(spec)!r}"
            )
        return MatchScorer(kind=kind, case_sensitive=case_sensitive)
    if callable(spec):
        return CallableScorer(function=spec)
    raise SeekrFlowConfigError(
        f"scorer: expected a name, a dict, a callable or a judge, got {type(spec).__name__}"
    )
