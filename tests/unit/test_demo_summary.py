"""``make demo``'s serving summary (scripts/demo_summary.py), read from a task log."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo_summary.py"
_spec = importlib.util.spec_from_file_location("demo_summary", SCRIPT)
assert _spec and _spec.loader
demo_summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo_summary)

LOG = """\
2026-12-07T12:00:01.000000Z [info     ] Fine-tune ft-1 completed: model ft-1, in 20 s on 1 x H100 (20 accelerator-seconds) [airflow.task.operators] loc=job_base.py:1
2026-12-07T12:00:02.000000Z [info     ] Created deployment dep-1 (Northwind support assistant, Fine-tuned Run ft-1, 1 instance(s)): Pending [airflow.task.operators] loc=deployment.py:1
2026-12-07T12:00:02.500000Z [info     ] SeekrFlow Deployment dep-1 in SeekrFlow's web app: https://flow.example.test/deployments/dep-1 [airflow.task.operators] loc=links.py:1
2026-12-07T12:00:03.000000Z [info     ] Deployment dep-1: status=Pending (Northwind support assistant, Fine-tuned Run ft-1, 1 instance(s)) [airflow.task.operators] loc=base.py:1
[2026-12-07T12:00:03.000+0000] {triggerer.py:1} INFO - Deployment dep-1: status=Pending (Northwind support assistant, Fine-tuned Run ft-1, 1 instance(s))
2026-12-07T12:00:06.000000Z [info     ] Deployment dep-1 is Active: Fine-tuned Run ft-1 on 1 instance(s); 0 tokens in, 0 out so far [airflow.task.operators] loc=job_base.py:1
2026-12-07T12:00:07.000000Z [info     ] Evaluating ft-1 on 6 prompt(s) from /x/support_prompts.jsonl, at most 16 at once, scorer exact; answers to /a.jsonl [airflow.task.operators] loc=evaluate.py:1
2026-12-07T12:00:08.000000Z [info     ] ft-1: 6 passed, 0 failed, 0 errored of 6 (pass rate 1.0000, threshold 0.8000); latency p50 3.1 ms, p95 4.0 ms; 1,234 tokens in, 567 out [airflow.task.operators] loc=evaluate.py:1
2026-12-07T12:00:09.000000Z [info     ] Demoted deployment dep-1; it is Inactive [airflow.task.operators] loc=deployment.py:1
2026-12-07T12:00:10.000000Z [info     ] Promoted deployment dep-1; it is Pending [airflow.task.operators] loc=deployment_task.py:1
2026-12-07T12:00:13.000000Z [info     ] Deployment dep-1 is Active: Fine-tuned Run ft-1 on 1 instance(s); 1,234 tokens in, 567 out so far [airflow.task.operators] loc=job_base.py:1
"""


def test_the_summary_shows_the_deployment_the_pass_rate_and_the_usage():
    rows = demo_summary.summary_rows(LOG.splitlines(keepends=True))
    text = "\n".join(rows)
    assert rows[0] == "---------------- deployment ----------------"
    assert text.count("Deployment dep-1: status=Pending") == 1  # the trigger's repeat shown once
    assert (
        "Deployment dep-1 is Active: Fine-tuned Run ft-1 on 1 instance(s); 0 tokens in, 0 out so far" in rows
    )
    assert (
        "Demoted deployment dep-1; it is Inactive" in rows
        and "Promoted deployment dep-1; it is Pending" in rows
    )
    assert any("(pass rate 1.0000, threshold 0.8000)" in row for row in rows)
    links = rows[
        rows.index("---------------- links ----------------") + 1 : rows.index(
            "---------------- evaluation ----------------"
        )
    ]
    assert links == [
        "SeekrFlow Deployment dep-1 in SeekrFlow's web app: https://flow.example.test/deployments/dep-1"
    ]
    usage = rows[rows.index("---------------- usage ----------------") + 1 :]
    assert usage == [
        "fine-tune: 20 s on 1 x H100 (20 accelerator-seconds)",
        "evaluation: 1,234 tokens in, 567 out",
        "deployment dep-1: 1,234 tokens in, 567 out so far",
    ]
    assert not any("loc=" in row or "[info" in row for row in rows)


def test_a_log_without_serving_says_so():
    rows = demo_summary.summary_rows(["nothing to see\n"])
    assert rows.count("(nothing in the log)") == 4
    assert demo_summary.link_rows([]) == []
