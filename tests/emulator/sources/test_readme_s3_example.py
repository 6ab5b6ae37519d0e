"""The README's S3 example, run exactly as written: its connection line parses, its operator uploads."""

from __future__ import annotations

import json
import re
import shlex

from airflow.providers.common.compat.sdk import DAG

from tests.conftest import REPO
from tests.emulator.operators.seekrflow_dag_support import START_DATE, dag_id_for, run_dag, states, xcom

MARKER = "<!-- readme-s3-example:"


def _readme_s3_section() -> tuple[str, str]:
    """Return the README's export line of the AWS connection, and its Python example block."""
    text = (REPO / "README.md").read_text()
    before, after = text.split(MARKER, 1)
    (export,) = re.findall(r"^export AIRFLOW_CONN_AWS_DEFAULT=.*$", before.rsplit("### ", 1)[1], re.M)
    code = re.search(r"```python\n(.*?)```", after, re.S)
    assert code is not None
    return export, code.group(1)


def test_the_readme_connection_is_an_aws_connection_airflow_reads():
    from airflow.models.connection import Connection

    export, _ = _readme_s3_section()
    value = shlex.split(export.split("=", 1)[1])[0]
    conn = Connection.from_json(value, conn_id="aws_default")
    assert conn.conn_type == "aws"
    assert conn.login and conn.password
    assert json.loads(value)["extra"]["region_name"]


def test_the_readme_example_uploads_every_pdf_of_the_bucket(s3, emu, request, tmp_path, monkeypatch):
    _, code = _readme_s3_section()
    # The README names the bucket my-bucket: the test's bucket stands in for it, nothing else changes.
    code = code.replace("s3://my-bucket/", f"s3://{s3.bucket}/")
    for other in ("AIRFLOW_CONN_AWS_READER", "AIRFLOW_CONN_AWS_NOCREDS"):
        monkeypatch.delenv(other)  # aws_default is the one AWS connection, as in the README
    pdfs = {"handbook/returns.pdf": b"%PDF-1.4 returns", "handbook/warranty.pdf": b"%PDF-1.4 warranty"}
    for key, body in pdfs.items():
        s3.put(key, body)
    s3.put("handbook/notes.txt", "not matched by *.pdf")

    with DAG(dag_id_for(request), schedule=None, start_date=START_DATE) as dag:
        namespace: dict[str, object] = {}
        exec(compile(code, "README.md", "exec"), namespace)

    dr = run_dag(dag)
    assert states(dr) == {"upload_from_s3": "success"}
    ids = xcom(dr, "upload_from_s3")
    assert len(ids) == 2
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    hook = SeekrFlowHook()
    assert [hook.get_file(file_id).filename for file_id in ids] == ["returns.pdf", "warranty.pdf"]
