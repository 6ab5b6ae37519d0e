"""What the serving soak adds to the pipeline's checks: deploy -> evaluate -> demote, judged from the emulator's records.

``it_pipeline_serve_soak`` (tests/system/integration/dags/seekrflow_pipeline_dags.py) goes on from the
fine-tune: it deploys the run's model under a name carrying the run's tag (``deployment_name``),
evaluates it on prompts drawn from the run's own training data (``run_prompts``, written per run by
``serving_conf``), with the answers under the run's folder of the harness's work directory, and
demotes the deployment in an ``all_done`` teardown. ``check_serving_runs`` judges each run from the
emulator's stored deployments and the run's XComs and answers file; ``check_chat_requests`` judges the
batch's chat completions from the emulator's journal (a chat request names its model only in its
body, which the journal does not keep, so the per-run count comes from the deployment's token counters).
"""

from __future__ import annotations

import collections
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow_provider_seekrflow.operators.evaluate import MANIFEST_XCOM_KEY
from tests.system.integration.harness import DOCUMENTS, EXAMPLE_DAGS
from tests.system.integration.pipeline_checks import FINE_TUNE_TASK

SERVE_DAG = "it_pipeline_serve_soak"
SERVE_TASKS = ("deploy", "evaluate", "release_instances")
# The serving requests that are not harmless to repeat: each meets the certain and random lost answers
# of pipeline_checks.fault_rules. Promote is there for completeness: the soak's runs never promote (the
# deploy operator promotes only a deployment of its name found Inactive, which a retry meets only after
# its earlier try was killed or timed out), so the certain faults are asserted on the other two only.
SERVE_ONCE_ROUTES = ("create_deployment", "demote_deployment", "promote_deployment")
SERVE_CALLED_ROUTES = ("create_deployment", "demote_deployment")
# Questions the example pipeline's model answers, each with the fact its answer must contain.
PROMPT_SOURCE = EXAMPLE_DAGS / "data" / "evaluation" / "support_prompts.jsonl"
PROMPTS_PER_RUN = 5
CHAT_ROUTE = "chat_completion"
# Chat requests the service answered (the handler ran; a delay only holds it first).
CHAT_HANDLED = (None, "delay")
# Refused before the service acted and sent again by the client (Retry-After honoured).
CHAT_RESENT = ("429", "503")
# Answered 500/502/504 without acting: the client cannot tell that from an answer lost after acting,
# so the prompt is errored, never sent again. (A dropped connection is the same to the client; the
# service did not act on it either way, so it is not counted here.)
CHAT_LOST_STATUS = ("500", "502", "504")


def deployment_name(tag: str) -> str:
    """The run's deployment (dags/seekrflow_pipeline_dags.py ``DEPLOYMENT_NAME``)."""
    return f"Northwind support [run {tag}]"


def run_prompts(tag: str) -> list[dict[str, Any]]:
    """
    The first ``PROMPTS_PER_RUN`` prompts of the example's set, asking about this run's copies of the documents.

    The emulator's data job makes one training pair of each sentence of a source file, asking
    ``What does <file name> say about <topic>?`` (emulator/pairs.py), and the run's files are named
    ``<tag>-<name>`` (``Deployment.make_documents``). So the example's questions about ``<name>``,
    asked about ``<tag>-<name>``, are the run's own training questions: its model answers each with
    the sentence, which holds the fact the prompt's check asks for.
    """
    names = sorted(source.name for source in DOCUMENTS.iterdir())
    records: list[dict[str, Any]] = []
    for line in PROMPT_SOURCE.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        user = [message for message in record["messages"] if message["role"] == "user"][-1]
        asked = [name for name in names if user["content"].startswith(f"What does {name} say about ")]
        if len(asked) != 1:
            raise AssertionError(f"{PROMPT_SOURCE}: a prompt that asks about no one source document: {line}")
        user["content"] = user["content"].replace(f"What does {asked[0]} ", f"What does {tag}-{asked[0]} ", 1)
        records.append(record)
        if len(records) == PROMPTS_PER_RUN:
            return records
    raise AssertionError(f"{PROMPT_SOURCE} holds {len(records)} prompts, not {PROMPTS_PER_RUN}")


def evaluation_dir(deployment: Any, tag: str) -> Path:
    """The run's prompts and answers: under the work directory, which every component on the machine reads."""
    return deployment.work / "evaluation" / tag


def serving_conf(deployment: Any, tag: str) -> dict[str, Any]:
    """The run's conf: the pipeline's (its documents), its prompt set (written now) and where its answers go."""
    folder = evaluation_dir(deployment, tag)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    prompts = folder / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(record) + "\n" for record in run_prompts(tag)))
    return deployment.conf(tag, prompts=str(prompts), answers=str(folder / "answers.jsonl"))


def _answers(path: Path) -> list[dict[str, Any]] | None:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return None


def check_serving_runs(
    deployment: Any, dag: str, tags: list[str], prefix: str, failed: Iterable[str] = ()
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """
    Problems by tag (only tags that have some), and the counts of what is stored and answered.

    Each run must have exactly one deployment of its name (0 duplicates), of its own fine-tune's
    model, served (``deploy`` returned it ``Active``) and ``Inactive`` at the end (demoted by the
    teardown); its deploy, evaluate and teardown tasks must each have succeeded (the teardown is the
    run's leaf, so the run's state alone would hide a failed evaluation); its evaluation must cover
    every prompt with none failed (each errored one met a fault) and meet the threshold; and the
    deployment's token counters must equal the manifest's: every answered prompt reached the service
    once and no other request of the model did (the rules keep chat out of answers lost after acting,
    the only way a request could reach the service without its answer reaching the evaluation).
    Runs in ``failed`` are checked for duplicates only.
    """
    api, emulator, failed = deployment.api, deployment.emulator, set(failed)
    deployments = [d for d in emulator.stored_deployments() if f"[run {prefix}" in d["name"]]
    problems: dict[str, list[str]] = collections.defaultdict(list)
    counts = {"deployments": len(deployments), "duplicate_deployments": 0, "deployments_inactive": 0,
              "prompts": 0, "answered": 0, "passed": 0, "errored": 0}  # fmt: skip
    for tag in tags:
        mine = [d for d in deployments if d["name"] == deployment_name(tag)]
        counts["duplicate_deployments"] += max(0, len(mine) - 1)
        if len(mine) != 1:
            problems[tag].append(
                f"{len(mine)} deployments named {deployment_name(tag)!r}: {[d['id'] for d in mine]}"
            )
        if problems[tag] or tag in failed:
            continue
        record = mine[0]
        view = emulator.deployment(record["id"])
        counts["deployments_inactive"] += view["status"] == "Inactive"
        states = {task: ti["state"] for task, ti in api.task_instances(dag, tag).items()}
        serving_states = {task: states.get(task) for task in SERVE_TASKS}
        if set(serving_states.values()) != {"success"}:
            problems[tag].append(f"serving tasks not all succeeded: {serving_states}")
            continue
        fine_tune_id = api.xcom(dag, tag, FINE_TUNE_TASK, "fine_tune_id")
        model_id = api.xcom(dag, tag, FINE_TUNE_TASK)["model_id"]
        deployed = api.xcom(dag, tag, "deploy")
        released = api.xcom(dag, tag, "release_instances")
        manifest = api.xcom(dag, tag, "evaluate", MANIFEST_XCOM_KEY)
        answers = _answers(evaluation_dir(deployment, tag) / "answers.jsonl") or []
        # An answer came back (scored or not) where a latency is recorded; an errored prompt has none.
        received = [a for a in answers if a.get("latency_ms") is not None]
        counts["prompts"] += manifest["total"]
        counts["answered"] += len(received)
        counts["passed"] += manifest["passed"]
        counts["errored"] += manifest["errored"]
        checks = {
            "deployment serves this run's fine-tune": record["model_id"] == fine_tune_id == model_id,
            "deploy returned it Active": deployed["job_id"] == record["id"] and deployed["status"] == "Active"
            and deployed["model_id"] == model_id,
            "deployment_id XCom": api.xcom(dag, tag, "deploy", "deployment_id") == record["id"],
            "Inactive at the end (demoted by the teardown)": view["status"] == "Inactive",
            "teardown returned it Inactive": released["job_id"] == record["id"] and released["status"] == "Inactive",
            "evaluated the deployed model": manifest["model"] == model_id,
            f"manifest covers the {PROMPTS_PER_RUN} prompts": manifest["total"] == PROMPTS_PER_RUN
            and manifest["passed"] + manifest["errored"] == PROMPTS_PER_RUN,
            "no answer failed its check": manifest["failed"] == 0,
            "manifest met the threshold": manifest["threshold_met"] is True
            and manifest["pass_rate"] >= manifest["pass_threshold"],
            "answers file: a line per prompt, in order": [a.get("line") for a in answers]
            == list(range(1, PROMPTS_PER_RUN + 1)),
            "answers file: each passed, or errored with its error": all(
                (a.get("passed") is True and a.get("error") is None)
                or (a.get("passed") is None and bool(a.get("error"))) for a in answers
            ),
            "answers file agrees with the manifest": len(received) == manifest["passed"] + manifest["failed"]
            and sum(a.get("passed") is True for a in answers) == manifest["passed"],
            "each answered prompt billed once (deployment tokens == manifest tokens)":
                (record["total_input_tokens"], record["total_output_tokens"])
                == (manifest["tokens"]["in"], manifest["tokens"]["out"]),
        }  # fmt: skip
        problems[tag] += [name for name, ok in checks.items() if not ok]
    return {tag: p for tag, p in problems.items() if p}, counts


def check_chat_requests(journal: list[dict], counts: dict[str, int]) -> tuple[dict[str, Any], list[str]]:
    """
    The batch's chat completions as the service saw them, and what is wrong with them.

    ``counts`` is ``check_serving_runs``'s. Every prompt was sent (requests >= prompts); the service
    answered exactly as many requests as the evaluations got answers (no prompt answered twice, no
    answer unaccounted for); every 500/502/504 made its prompt errored (never sent again); and no
    chat answer was lost after the service acted (the rules keep chat out of those faults).
    """
    chats = [e for e in journal if e["route"] == CHAT_ROUTE]
    by_fault = collections.Counter(e["fault"] for e in chats)
    handled = [e for e in chats if e["fault"] in CHAT_HANDLED]
    figures = {
        "requests": len(chats),
        "answered_by_service": sum(e["status"] == 200 for e in handled),
        "refused_by_service": dict(collections.Counter(e["status"] for e in handled if e["status"] != 200)),
        "resent_after": {kind: by_fault[kind] for kind in CHAT_RESENT},
        "lost_status": {kind: by_fault[kind] for kind in CHAT_LOST_STATUS},
        "dropped_before": by_fault["drop_before"],
        "faults": dict(sorted((str(k), n) for k, n in by_fault.items() if k)),
    }
    problems = []
    if len(chats) < counts["prompts"]:
        problems.append(f"{len(chats)} chat requests for {counts['prompts']} prompts")
    if figures["refused_by_service"]:
        problems.append(f"chat requests refused by the service: {figures['refused_by_service']}")
    if figures["answered_by_service"] != counts["answered"]:
        problems.append(
            f"the service answered {figures['answered_by_service']} chat requests, the evaluations "
            f"got {counts['answered']} answers: a prompt was answered twice, or an answer went missing"
        )
    lost = sum(figures["lost_status"].values())
    if lost > counts["errored"]:
        problems.append(
            f"{lost} chat requests answered 500/502/504 but {counts['errored']} prompts errored: one was sent again"
        )
    after = {kind: n for kind, n in figures["faults"].items() if kind.endswith("_after")}
    if after:
        problems.append(
            f"chat answers lost after the service acted ({after}): the soak's rules must not do that"
        )
    return figures, problems
