"""One evaluation in a fresh process (run by bench_evaluate.py): ``_evaluate_client.py KIND BASE_URL MODEL PROMPTS [ANSWERS CONCURRENCY]``.

KIND is ``provider`` (``SeekrFlowEvaluateModelOperator.execute``: streamed prompts, at most
CONCURRENCY requests at once through the async hook, answers to ANSWERS) or ``seekrai`` (a
sequential loop over the official client's ``chat.completions.create``, answers kept in a list, as
such a loop is usually written). Everything is imported and a 20-prompt warm-up is run first (the
provider's session, the emulator's pairs cache), the peak-RSS mark is reset, then only the
evaluation is timed. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, proc_status, reset_hwm  # noqa: E402

WARM_UP_PROMPTS = 20


class _TaskInstance:
    """What ``execute`` needs of a task instance: somewhere to push the manifest."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def _warm_up_file(prompts: str) -> str:
    path = prompts + ".warm-up"
    with open(prompts, encoding="utf-8") as source, open(path, "w", encoding="utf-8") as target:
        for _ in range(WARM_UP_PROMPTS):
            target.write(source.readline())
    return path


def main() -> int:
    kind, base_url, model, prompts = sys.argv[1:5]
    warm_up = _warm_up_file(prompts)
    if kind == "provider":
        answers, concurrency = sys.argv[5], int(sys.argv[6])
        from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator

        def evaluate(path: str) -> dict[str, Any]:
            operator = SeekrFlowEvaluateModelOperator(
                task_id="evaluate",
                model=model,
                prompts=path,
                answers=answers,
                pass_threshold=0.0,
                scorer="exact",
                max_concurrency=concurrency,
            )
            return operator.execute({"ti": _TaskInstance()})  # type: ignore[arg-type]

    elif kind == "seekrai":
        import seekrai

        client = seekrai.SeekrFlow(api_key=API_KEY, base_url=base_url)

        def evaluate(path: str) -> dict[str, Any]:
            results = []
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    record = json.loads(line)
                    started = time.perf_counter()
                    answer = client.chat.completions.create(model=model, messages=record["messages"])
                    text = answer.choices[0].message.content
                    results.append((text, time.perf_counter() - started, text.strip() == record["expected"]))
            return {"total": len(results), "passed": sum(1 for r in results if r[2])}

    else:
        raise SystemExit(f"unknown kind {kind}")

    evaluate(warm_up)
    os.unlink(warm_up)
    hwm_reset = reset_hwm()
    before = proc_status()
    start = time.perf_counter()
    status = "ok"
    try:
        summary = evaluate(prompts)
    except Exception as err:  # noqa: BLE001 - reported
        summary = {}
        status = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    wall = time.perf_counter() - start
    after = proc_status()
    print(
        json.dumps(
            {
                "kind": kind,
                "wall_s": wall,
                "status": status,
                "total": summary.get("total"),
                "passed": summary.get("passed"),
                "latency_ms": summary.get("latency_ms"),
                "tokens": summary.get("tokens"),
                "rss_base_kib": before["VmRSS"],
                "hwm_reset": hwm_reset,
                "rss_growth_kib": after["VmHWM"] - (before["VmRSS"] if hwm_reset else before["VmHWM"]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
