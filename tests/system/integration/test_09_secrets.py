"""Secrets: after every run above, the SeekrFlow API key appears nowhere in plain text.

Searched: every table of the metadata database (task instances, XComs, rendered template fields,
trigger kwargs, logs, connections, task state store...), every file under the harness's work
directory (AIRFLOW_HOME with all task and triggerer logs, the components' stdout/stderr logs, the
emulator's data) and, as hex, any bytea column. The connection's password is in the database only
Fernet-encrypted; the test decrypts it to prove the search is looking at a database that holds it.
"""

from __future__ import annotations

import collections
import io
import os

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _dump_tables(sql_alchemy_conn: str) -> dict[str, str]:
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(sql_alchemy_conn)
    conn = psycopg2.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, dbname=url.database
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name"
            )
            tables = [row[0] for row in cur.fetchall()]
            dumps = {}
            for table in tables:
                buffer = io.StringIO()
                cur.copy_expert(f'COPY (SELECT * FROM "{table}") TO STDOUT', buffer)
                dumps[table] = buffer.getvalue()
        return dumps
    finally:
        conn.close()


def test_api_key_in_no_table_and_no_log(deployment, figures):
    key = deployment.api_key
    assert len(key) >= 8
    needles = (key, key.encode().hex())

    # Make sure at least one full pipeline ran in this session, whatever else was selected.
    ran = deployment.api.dag_runs("it_deferred")
    if not any(r["state"] == "success" for r in ran):
        deployment.emulator.reset(job_duration=5.0)
        deployment.api.trigger("it_deferred", "secrets-run", deployment.conf("secrets-run"))
        assert deployment.api.wait_run("it_deferred", "secrets-run", timeout=300) == "success"

    # Trigger rows exist only while a task is deferred: dump them mid-deferral too.
    api, emulator = deployment.api, deployment.emulator
    emulator.reset(job_duration=300.0)
    api.trigger("it_deferred", "secrets-deferred", deployment.conf("secrets-deferred"))
    api.wait_ti_state("it_deferred", "secrets-deferred", "generate_pairs", ["deferred"], timeout=180)
    trigger_dump = _dump_tables(deployment.sql_alchemy_conn)["trigger"]
    api.set_ti_state("it_deferred", "secrets-deferred", "generate_pairs", "failed")
    api.wait_run("it_deferred", "secrets-deferred", timeout=120)
    emulator.reset()
    assert trigger_dump.count("\n") >= 1, "no trigger row while deferred"
    assert not any(n in trigger_dump for n in needles), "API key found in the trigger table"

    dumps = _dump_tables(deployment.sql_alchemy_conn)
    table_hits = {t: sum(text.count(n) for n in needles) for t, text in dumps.items()}
    rows = {t: text.count("\n") for t, text in dumps.items()}

    # Positive control: the key *is* in the database, encrypted; decrypting finds it.
    from cryptography.fernet import Fernet

    fernet = Fernet(deployment.env["AIRFLOW__CORE__FERNET_KEY"].encode())
    conn_rows = [line.split("\t") for line in dumps["connection"].splitlines() if "seekrflow_default" in line]
    assert len(conn_rows) == 1
    decrypted = [f for f in conn_rows[0] if f.startswith("gAAAA")]
    assert any(fernet.decrypt(f.encode()).decode() == key for f in decrypted)

    file_hits: dict[str, int] = {}
    scanned = collections.Counter()
    home_logs = deployment.home / "logs"
    for root, _dirs, names in os.walk(deployment.work):
        for name in names:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if path.startswith(str(home_logs)):
                kind = "trigger_logs" if "trigger" in path else "task_logs"
            elif path.startswith(str(deployment.log_dir)):
                kind = "component_logs"
            else:
                kind = "other_files"
            scanned[kind] += 1
            hits = sum(data.count(n.encode()) for n in needles)
            if hits:
                file_hits[path] = hits

    figures["secrets"] = {
        "key_length": len(key),
        "tables_scanned": len(dumps),
        "rows_scanned": sum(rows.values()),
        "rows_in": {t: rows[t] for t in ("xcom", "rendered_task_instance_fields", "trigger", "log",
                                          "task_instance", "task_state_store", "connection") if t in rows},
        "trigger_rows_while_deferred": trigger_dump.count("\n"),
        "table_hits": sum(table_hits.values()),
        "files_scanned": dict(scanned),
        "file_hits": sum(file_hits.values()),
    }  # fmt: skip
    print(figures["secrets"])
    assert scanned["task_logs"] > 0 and scanned["component_logs"] >= 5
    assert rows.get("xcom", 0) > 0 and rows.get("rendered_task_instance_fields", 0) > 0
    assert not {t: n for t, n in table_hits.items() if n}, "API key found in the metadata DB"
    assert not file_hits, f"API key found in files: {file_hits}"
