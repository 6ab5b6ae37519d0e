"""
Grade answers with an LLM judge: a SeekrFlow model asked, through chat completions, PASS or FAIL.

The judge receives two messages (temperature 0, at most ``max_tokens`` tokens):

- system: :data:`JUDGE_INSTRUCTIONS` (or the scorer's own ``instructions``);
- user: :data:`JUDGE_TEMPLATE` filled in: the question (the prompt's last ``user`` message),
  the reference answer (the line's ``expected``, or ``(none given)``) and the answer to grade.

Its reply passes when its first word is ``PASS`` and fails when it is ``FAIL`` (case and
punctuation aside); any other reply makes that prompt errored (the judge's words are kept in the
answers file), so a confused judge can never let a model pass.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_seekrflow.client import chat
from airflow_provider_seekrflow.evaluation.prompts import PromptRecord
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

__all__ = ["JUDGE_INSTRUCTIONS", "JUDGE_TEMPLATE", "JudgeScorer", "JudgeVerdictError", "Verdict"]

JUDGE_INSTRUCTIONS = (
    "You grade the answers of an AI assistant. Given a question, an optional reference answer and "
    "the assistant's answer, reply with exactly one word: PASS if the answer is correct and "
    "consistent with the reference, FAIL otherwise."
)
JUDGE_TEMPLATE = (
    "Question:\n{question}\n\nReference answer:\n{expected}\n\nAnswer to grade:\n{answer}\n\n"
    "Reply with PASS or FAIL."
)
_FIRST_WORD = re.compile(r"[A-Za-z]+")


class JudgeVerdictError(ValueError):
    """
    The judge's reply was neither PASS nor FAIL.

    :param reply: What the judge said.
    """

    def __init__(self, reply: str) -> None:
        self.reply = reply
        shown = reply if len(reply) <= 200 else reply[:200] + "…"
        super().__init__(f"judge reply is neither PASS nor FAIL: {shown!r}")


@dataclass(frozen=True)
class Verdict:
    """
    A judge's grade of one answer.

    :param passed: Whether the answer passed.
    :param reply: The judge's reply text.
    :param prompt_tokens: Tokens the judge read, if the service said.
    :param completion_tokens: Tokens the judge wrote, if the service said.
    """

    passed: bool
    reply: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class JudgeScorer:
    """
    Grade each answer by asking a SeekrFlow model (the judge) PASS or FAIL.

    :param model: The judge: a served model (a base model, or an Active deployment's model id).
    :param instructions: The judge's system message; :data:`JUDGE_INSTRUCTIONS` by default.
    :param template: The user message, with ``{question}``, ``{expected}`` and ``{answer}``;
        :data:`JUDGE_TEMPLATE` by default.
    :param max_tokens: The longest reply asked for.
    """

    model: str = ""
    instructions: str = JUDGE_INSTRUCTIONS
    template: str = JUDGE_TEMPLATE
    max_tokens: int = 8
    needs_reference = False

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise SeekrFlowConfigError("scorer: a judge needs model, the SeekrFlow model that grades")
        try:
            self.template.format(question="", expected="", answer="")
        except (KeyError, IndexError, ValueError, AttributeError) as err:
            raise SeekrFlowConfigError(
                f"scorer: judge template may use only {{question}}, {{expected}} and {{answer}} ({err!r})"
            ) from None
        self.name = f"judge:{self.model}"
        chat.completion_request(
            model=self.model, messages=self.messages("q", None, "a"), max_tokens=self.max_tokens
        )

    def reference_fault(self, record: PromptRecord) -> str | None:
        """
        Return None: a judge grades lines with or without a reference.

        :param record: One prompt of the set.
        """
        return None

    def messages(self, question: str, expected: str | None, answer: str) -> list[dict[str, Any]]:
        """
        Return the conversation sent to the judge for one answer.

        :param question: The prompt's last user message.
        :param expected: The reference answer, if any.
        :param answer: The answer to grade.
        """
        filled = self.template.format(
            question=question, expected=expected if expected is not None else "(none given)", answer=answer
        )
        return [{"role": "system", "content": self.instructions}, {"role": "user", "content": filled}]

    def request(self, record: PromptRecord, answer: str) -> dict[str, Any]:
        """
        Return the chat-completion body asking the judge about ``answer`` to ``record``.

        :param record: The prompt.
        :param answer: The model's answer text.
        """
        users = [message for message in record.messages if message.get("role") == "user"]
        question = chat.content_text((users or record.messages)[-1].get("content"))
        return chat.completion_request(
            model=self.model,
            messages=self.messages(question, record.expected, answer),
            max_tokens=self.max_tokens,
            temperature=0,
        )

    async def grade(
        self,
        record: PromptRecord,
        answer: str,
        send: Callable[[Any], Awaitable[chat.ChatCompletion]],
    ) -> Verdict:
        """
        Return the judge's verdict on ``answer``; a reply neither PASS nor FAIL raises ``JudgeVerdictError``.

        :param record: The prompt.
        :param answer: The model's answer text.
        :param send: Sends a call and returns its answer (the async hook's ``call``).
        """
        completion = await send(chat.complete(self.request(record, answer)))
        reply = completion.text
        word = _FIRST_WORD.search(reply)
        verdict = word.group(0).upper() if word else ""
        if verdict not in ("PASS", "FAIL"):
            raise JudgeVerdictError(reply)
        return Verdict(verdict == "PASS", reply, completion.prompt_tokens, completion.completion_tokens)
