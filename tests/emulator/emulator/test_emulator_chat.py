"""Issue 22, item 5: the emulator's chat completions over real HTTP, against openapi.yaml's shapes.

- A served fine-tune answers a trained prompt with its training pair's answer (JSONL training
  file, and the parquet output of an alignment job), the same on every call; any other prompt gets
  a fallback fixed by the prompt's hash, never a training answer.
- ``usage`` counts white-space words; ``max_tokens`` and ``stop`` cut the answer.
- 404 for a model with no Active deployment; 422 for what the contract refuses; ``chat_latency``
  slows each answer; fault rules (429) reach ``chat_completion``.
"""

from __future__ import annotations

import io
import time

import pyarrow.parquet as pq
import pytest

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from tests.emulator.emulator import serving_helpers as serving

chat_emulator, emu = serving.serving_emulator_fixture("chat")
BASE_MODEL = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture
def model(emu: SeekrFlowEmulator) -> str:
    """The model id of an Active deployment of a fine-tune trained on ``TRAINING_PAIRS``."""
    trained = serving.fine_tune(emu, serving.upload(emu, "pairs.jsonl", serving.training_jsonl()))
    assert serving.deploy(emu, trained["id"])["status"] == "Active"
    return str(trained["id"])


def reply(emu: SeekrFlowEmulator, model: str, prompt: str, **extra: object) -> dict:
    return serving.check(serving.CHAT_COMPLETION_RESPONSE, serving.chat(emu, model, prompt, **extra))


def content(answer: dict) -> str:
    (choice,) = answer["choices"]
    assert choice["message"]["role"] == "assistant"
    return str(choice["message"]["content"])


def test_a_trained_prompt_gets_its_training_answer_on_every_call(emu, model):
    for question, expected in serving.TRAINING_PAIRS:
        answers = [reply(emu, model, question) for _ in range(3)]
        assert [content(a) for a in answers] == [expected] * 3
        assert {a["model"] for a in answers} == {model} and answers[0]["object"] == "chat.completion"
        assert answers[0]["choices"][0]["finish_reason"] == "stop"
        assert len({a["id"] for a in answers}) == 3
    # Case and white space do not matter; the last user message is the prompt.
    question, expected = serving.TRAINING_PAIRS[1]
    assert content(reply(emu, model, f"  {question.upper()}  ")) == expected
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": serving.TRAINING_PAIRS[0][0]},
        {"role": "assistant", "content": serving.TRAINING_PAIRS[0][1]},
        {"role": "user", "content": [{"type": "text", "text": question}]},
    ]
    body = {"model": model, "messages": history}
    answer = serving.check(
        serving.CHAT_COMPLETION_RESPONSE, serving.call(emu, "POST", "/v1/inference/chat/completions", body)
    )
    assert content(answer) == expected


def test_an_untrained_prompt_gets_a_stable_fallback_that_is_no_training_answer(emu, model):
    first = [content(reply(emu, model, "Do you sell hats?")) for _ in range(2)]
    other = content(reply(emu, model, "Do you sell gloves?"))
    assert first[0] == first[1] != other
    trained = {answer for _, answer in serving.TRAINING_PAIRS}
    assert first[0] not in trained and other not in trained
    # A base model has no training pairs: every prompt gets the fallback, also a trained one.
    assert serving.deploy(emu, BASE_MODEL, "Base Model")["status"] == "Active"
    base = content(reply(emu, BASE_MODEL, serving.TRAINING_PAIRS[0][0]))
    assert base not in trained and base == content(reply(emu, BASE_MODEL, serving.TRAINING_PAIRS[0][0]))


def test_usage_counts_words_and_max_tokens_and_stop_cut_the_answer(emu, model):
    question, expected = serving.TRAINING_PAIRS[0]
    usage = reply(emu, model, question)["usage"]
    assert usage == {
        "prompt_tokens": len(question.split()),
        "completion_tokens": len(expected.split()),
        "total_tokens": len(question.split()) + len(expected.split()),
    }
    cut = reply(emu, model, question, max_tokens=3)
    assert content(cut) == " ".join(expected.split()[:3]) and cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 3
    stopped = reply(emu, model, question, stop=[" within"])
    assert content(stopped) == expected.split(" within")[0]
    two = reply(emu, model, question, n=2)
    assert [c["message"]["content"] for c in two["choices"]] == [expected, expected]
    assert [c["index"] for c in two["choices"]] == [0, 1]


def test_a_model_without_an_active_deployment_is_not_found(emu):
    assert (
        "not served"
        in serving.check(serving.ERROR_DETAIL, serving.chat(emu, "ft-never-made", "Hello?"), 404)["detail"]
    )
    assert serving.check(serving.ERROR_DETAIL, serving.chat(emu, BASE_MODEL, "Hello?"), 404)
    trained = serving.fine_tune(emu, serving.upload(emu, "pairs.jsonl", serving.training_jsonl()))
    emu.configure(deployment_duration=30)
    pending = serving.call(emu, "POST", "/v1/flow/deployments", _body(trained["id"])).json()
    assert pending["status"] == "Pending"
    assert serving.check(
        serving.ERROR_DETAIL, serving.chat(emu, trained["id"], serving.TRAINING_PAIRS[0][0]), 404
    )
    assert serving.get_deployment(emu, pending["id"])["total_input_tokens"] == 0


def _body(model_id: str) -> dict:
    return {
        "model_type": "Fine-tuned Run",
        "model_id": model_id,
        "name": "returns bot",
        "description": "Answers returns questions",
        "n_instances": 1,
    }


def test_requests_the_contract_refuses_are_422(emu, model):
    path = "/v1/inference/chat/completions"
    for body, loc in (
        ({"model": model, "messages": []}, ["body", "messages"]),
        ({"messages": [{"role": "user", "content": "Hi"}]}, ["body", "model"]),
        ({"model": model, "messages": [{"role": "robot", "content": "Hi"}]}, ["body", "messages", 0, "role"]),
        (
            {"model": model, "messages": [{"role": "user", "content": "Hi"}], "stream": True},
            ["body", "stream"],
        ),
    ):
        refusal = serving.check(serving.HTTP_VALIDATION_ERROR, serving.call(emu, "POST", path, body), 422)
        assert refusal["detail"][0]["loc"] == loc, refusal


def test_chat_latency_delays_each_answer(emu, model):
    question = serving.TRAINING_PAIRS[0][0]
    started = time.monotonic()
    reply(emu, model, question)
    quick = time.monotonic() - started
    emu.configure(chat_latency=0.6)
    started = time.monotonic()
    reply(emu, model, question)
    assert time.monotonic() - started >= 0.6 > quick


def test_a_429_fault_rule_on_chat_completion_is_answered_without_counting_tokens(emu, model):
    deployment = next(
        d for d in serving.call(emu, "GET", "/v1/flow/deployments").json()["data"] if d["model_id"] == model
    )
    emu.set_faults(["chat_completion:429:count=1:retry_after=2"])
    limited = serving.chat(emu, model, serving.TRAINING_PAIRS[0][0])
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert serving.get_deployment(emu, deployment["id"])["total_output_tokens"] == 0
    assert content(reply(emu, model, serving.TRAINING_PAIRS[0][0])) == serving.TRAINING_PAIRS[0][1]
    assert [e["status"] for e in emu.journal(route="chat_completion")] == [429, 200]


def test_a_fine_tune_on_an_alignment_output_answers_from_its_parquet_pairs(emu):
    emu.configure(job_duration=0.5)
    document = (
        b"# Returns\n\nCustomers may return unworn shoes within thirty days of purchase.\n\n"
        b"Refunds are paid to the original card within five business days.\n"
    )
    source = serving.upload(emu, "returns.md", document, purpose="alignment")
    body = {"instructions": "Teach the returns policy.", "files": [source]}
    job = serving.call(emu, "POST", "/v1/flow/alignment/generate", body).json()
    done = serving.poll(
        lambda: serving.call(emu, "GET", f"/v1/flow/alignment/{job['id']}").json(),
        lambda j: j["completed_at"],
    )
    (parquet,) = [f for f in done[-1]["output_files"] if f["purpose"] == "fine-tune"]
    rows = pq.read_table(
        io.BytesIO(serving.call(emu, "GET", f"/v1/flow/files/{parquet['id']}/content").content)
    )
    pairs = [(row[1]["content"], row[2]["content"]) for row in rows.column("messages").to_pylist()]
    assert len(pairs) == 2

    trained = serving.fine_tune(emu, parquet["id"])
    assert serving.deploy(emu, trained["id"])["status"] == "Active"
    for question, expected in pairs:
        assert content(reply(emu, trained["id"], question)) == expected
