"""``make demo``'s script, run as a new user would: it succeeds, and shows only what the project says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

AIRFLOW_V3_3 = tuple(int(part) for part in __import__("airflow").__version__.split(".")[:2]) >= (3, 3)


def _run_demo(script: str, tmp_path: Path, timeout: int, **env_vars: str) -> str:
    """Run a demo script as a new user would (no Airflow settings, no stdin); return its output, failing on its exit."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONWARNINGS"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(bin_dir.parent),
        TMPDIR=str(tmp_path),
        **env_vars,
    )
    done = subprocess.run(
        ["bash", script],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


@pytest.mark.timeout(400)
@pytest.mark.skipif(not AIRFLOW_V3_3, reason="make demo runs on the newest Airflow (.venvs/af3)")
def test_demo_succeeds_without_foreign_warnings_or_deleted_paths(tmp_path):
    output = _run_demo("scripts/demo.sh", tmp_path, 380, DEMO_JOB_DURATION="5", DEMO_FINE_TUNE_DURATION="8")
    assert "demo finished" in output and "the DAG run succeeded" in output
    # The demo's work folder is deleted at the end: no line may point into it.
    assert str(tmp_path) not in output, [line for line in output.splitlines() if str(tmp_path) in line]
    # Warnings are the project's own, or none.
    warnings = [line for line in output.splitlines() if re.search(r"\[warning *\]|Warning:", line)]
    foreign = [line for line in warnings if "airflow_provider_seekrflow" not in line]
    assert foreign == [], foreign
    # What happened, in the summary.
    summary = output.split("what happened", 1)[1]
    for fragment in (
        "stored as file-",
        "ingestion 3 of 3 file(s) done",
        "the training file",
        "epoch 1",
        "is ready",
        "accelerator-seconds)",  # the fine-tune's usage
        "status=Pending",
        "is Active: Fine-tuned Run",  # the deployment becoming Active
        "Demoted deployment",
        "Promoted deployment",
        "6 passed, 0 failed, 0 errored of 6 (pass rate 1.0000",  # the evaluation's pass rate
        "---------------- usage ----------------",
        "evaluation: ",
        " tokens in, ",
    ):
        assert fragment in summary, fragment


@pytest.mark.timeout(300)
@pytest.mark.skipif(not AIRFLOW_V3_3, reason="make demo-rag runs on the newest Airflow (.venvs/af3)")
def test_demo_rag_moves_only_the_difference_on_its_second_sync(tmp_path):
    output = _run_demo(
        "scripts/demo_rag.sh", tmp_path, 280, DEMO_JOB_DURATION="2", DEMO_VECTOR_INGESTION_SECONDS="0.1"
    )
    summary = output.split("what happened", 1)[1]
    first, second = summary.split("---------------- run 2 ----------------")
    assert "3 added, 0 changed, 0 removed, 0 unchanged" in first
    assert "Synced vector database" in second and "1 added, 1 changed, 1 removed, 1 unchanged" in second
    assert "Removed warranty.txt" in second and "Removed the old versions of 1 changed document(s)" in second
    # Two documents moved: one upload each, no other upload.
    assert "upload_file 2," in second and "delete_vector_database_file 2," in second
