"""Secrets on the CeleryExecutor deployment: the SeekrFlow API key is stored only Fernet-encrypted.

Runs last, after the other distributed tests filled the database, Redis and the logs, and first
runs a small batch of its own: Redis holds a Celery message only while it is queued or running
(``unacked``), and the ``trigger`` table a row only while a wait is deferred, so both are sampled
while that batch runs. Then, with positive controls planted (the key in a scratch table, in Redis
keys of two DBs, in a task log, a trigger log and a component log), one scan of:

- every table of the metadata database (``COPY`` of each: text, json and bytea, which comes out as
  hex), the Celery result backend's ``celery_taskmeta``/``celery_tasksetmeta`` included;
- every key of every Redis DB, its value read through the client by type (an RDB file may hold it
  LZF-compressed; this server keeps none anyway);
- every file of the work directory: task logs, trigger logs (``attempt=N.log.trigger.<job>.log``,
  written by whichever triggerer held the wait), the dag-processor's file logs, every component's
  log, the emulator's data; and the PostgreSQL server's log when readable.

The emulator's own log is in scope: it is SeekrFlow's stand-in and legitimately receives the key,
but it has no reason to write it, and its log sits with the others in ``<work>/logs``, kept as an
artifact. Needles: the key, its hex (bytea), its URL-quoted form, and its base64 (standard and
URL-safe) at each of the three alignments it can have inside a longer base64 text (kombu's
message bodies are base64). The scan must find every control and nothing else.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from tests.system.distributed.conftest import PIPELINE_DAG
from tests.system.integration.harness import wait_for
from tests.system.integration.test_09_secrets import _dump_tables

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(900)]

RUNS, PREFIX = 2, "dist-secrets-"
SCRATCH = "secrets_control_scratch"
CONTROL_KEY = "seekrflow-secrets-control"


def _needles(key: str) -> dict[str, bytes]:
    raw = key.encode()
    found = {"plain": raw, "hex": raw.hex().encode(), "url": quote(key, safe="").encode()}
    for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
        for shift in range(3):
            # The characters that depend only on the key, whatever precedes it in the encoded text.
            text = encode(b"\0" * shift + raw)
            found[f"{name}-{shift}"] = text[4 if shift else 0 : 4 * ((shift + len(raw)) // 3)]
    # One name per distinct needle (a hex key is its own URL quoting; base64 of it may need no '+/').
    distinct: dict[bytes, str] = {}
    for name, needle in found.items():
        distinct.setdefault(needle, name)
    return {name: needle for needle, name in distinct.items()}


def _hits(data: bytes, needles: dict[str, bytes]) -> dict[str, int]:
    return {name: n for name, needle in needles.items() if (n := data.count(needle))}


def _redis(url: str, db: int):
    import redis

    # Not from_url(url, db=...): the URL's own /0 would win over the db argument.
    parsed = urlparse(url)
    return redis.Redis(host=parsed.hostname, port=parsed.port, db=db, socket_timeout=10)


def _redis_snapshot(url: str) -> dict[str, tuple[str, bytes, int]]:
    """Every key of every DB: ``db/key`` -> (type, the key and its members joined, item count)."""
    snapshot = {}
    with _redis(url, 0) as client:
        databases = int(client.config_get("databases")["databases"])
    for db in range(databases):
        client = _redis(url, db)
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            if kind == "string":
                parts = [client.get(key) or b""]
            elif kind == "list":
                parts = client.lrange(key, 0, -1)
            elif kind == "hash":
                parts = [x for pair in client.hgetall(key).items() for x in pair]
            elif kind == "set":
                parts = list(client.smembers(key))
            elif kind == "zset":
                parts = [member for member, _score in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                parts = [x for _id, fields in client.xrange(key) for pair in fields.items() for x in pair]
            elif kind == "none":  # gone between SCAN and TYPE (a message acknowledged meanwhile)
                continue
            else:
                raise AssertionError(f"Redis key {key!r} of a type this scan cannot read: {kind}")
            snapshot[f"{db}/{key.decode(errors='replace')}"] = (kind, b"\n".join([key, *parts]), len(parts))
        client.close()
    return snapshot


def _file_kind(path: Path, deployment) -> str:
    logs = deployment.home / "logs"
    if path.is_relative_to(logs):
        if ".log.trigger." in path.name:
            return "trigger_logs"
        return "task_logs" if path.relative_to(logs).parts[0].startswith("dag_id=") else "airflow_file_logs"
    if path.parent == deployment.log_dir:
        return "emulator_log" if path.name == "emulator.log" else "component_logs"
    return "other_files"


def _run_batch_sampling(deployment) -> dict:
    """A small pipeline batch; Redis and the trigger table scanned about every second meanwhile."""
    api, needles = deployment.api, _needles(deployment.api_key)
    deployment.emulator.reset(job_duration=6.0, ingestion_seconds=2.0, fine_tune_duration=10.0)
    tags = [f"{PREFIX}{i:03d}" for i in range(RUNS)]
    seen = collections.Counter()
    keys_seen: dict[str, str] = {}
    hits: dict[str, dict[str, int]] = {}
    states: dict[str, str] = {}

    def done() -> bool:
        seen["samples"] += 1
        messages = 0
        for name, (kind, data, count) in _redis_snapshot(deployment.redis.url).items():
            keys_seen[name] = kind
            if found := _hits(data, needles):
                hits[f"redis {name}"] = found
            # Queues are lists, delivered-but-unacknowledged messages the `unacked` hash (acks_late).
            if kind in ("list", "hash") and not name.split("/", 1)[1].startswith("_kombu"):
                messages += count
        seen["samples_with_celery_messages"] += messages > 0
        triggers = deployment.db_query("select * from trigger")
        seen["samples_with_trigger_rows"] += bool(triggers)
        seen["trigger_rows_read"] += len(triggers)
        if found := _hits(repr(triggers).encode(), needles):
            hits["trigger table"] = found
        listed = api.dag_runs(PIPELINE_DAG)
        states.update({r["dag_run_id"]: r["state"] for r in listed if r["dag_run_id"] in tags})
        return sum(s in ("success", "failed") for s in states.values()) == RUNS

    for tag in tags:
        api.trigger(PIPELINE_DAG, tag, deployment.conf(tag))
    wait_for(f"{RUNS} pipeline runs to end", done, 600, 0.5, lambda: str(states))
    return {"states": states, "sampling": dict(seen), "redis_keys_seen": keys_seen, "hits": hits}


def _execute(deployment, sql: str, params: tuple = ()) -> None:
    """A statement without a result (``db_query`` wants rows), committed."""
    import psycopg2

    dsn = deployment.sql_alchemy_conn.replace("postgresql+psycopg2://", "postgresql://", 1)
    with psycopg2.connect(dsn) as db, db.cursor() as cursor:
        cursor.execute(sql, params)
    db.close()


def _plant_controls(deployment, key: str) -> dict[str, Path]:
    """The key where each scan must find it: returns the control files (the other controls are fixed)."""
    _execute(
        deployment,
        f"drop table if exists {SCRATCH}; create table {SCRATCH} (note text, raw bytea, doc jsonb)",
    )
    _execute(
        deployment,
        f"insert into {SCRATCH} values (%s, %s, %s)",
        (
            f"Authorization: {key}",
            key.encode(),
            json.dumps({"b": base64.b64encode(f"k={key}".encode()).decode()}),
        ),
    )
    _redis(deployment.redis.url, 0).set(CONTROL_KEY, f"Authorization: {key}")
    # Shaped like a kombu message on a queue of another DB: the key only inside the base64 body.
    body = base64.b64encode(json.dumps([[], {"api_key": key}, {}]).encode()).decode()
    _redis(deployment.redis.url, 3).rpush(
        CONTROL_KEY, json.dumps({"body": body, "content-encoding": "utf-8"})
    )
    task_dir = deployment.home / "logs" / "dag_id=secrets_control" / "run_id=control" / "task_id=control"
    task_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "task_logs": task_dir / "attempt=1.log",
        "trigger_logs": task_dir / "attempt=1.log.trigger.0.log",
        "component_logs": deployment.log_dir / "secrets-control.log",
    }
    files["task_logs"].write_text(f'{{"event": "Authorization: {key}"}}\n')
    files["trigger_logs"].write_text(f"payload {base64.b64encode(f'xy{key}'.encode()).decode()}\n")
    files["component_logs"].write_text(f"GET /v1/flow/files?api_key={quote(key)}\n")
    return files


def _remove_controls(deployment, files: dict[str, Path]) -> None:
    _execute(deployment, f"drop table if exists {SCRATCH}")
    for db in (0, 3):
        _redis(deployment.redis.url, db).delete(CONTROL_KEY)
    for path in files.values():
        path.unlink(missing_ok=True)
    shutil.rmtree(deployment.home / "logs" / "dag_id=secrets_control", ignore_errors=True)


def _scan(deployment, needles: dict[str, bytes]) -> dict:
    """One scan of the database, Redis and the files; figures and hits by place."""
    tables = _dump_tables(deployment.sql_alchemy_conn)
    redis_keys = _redis_snapshot(deployment.redis.url)
    files = collections.Counter()
    file_bytes = collections.Counter()
    hits: dict[str, dict[str, int]] = {}
    for table, text in tables.items():
        if found := _hits(text.encode(), needles):
            hits[f"table {table}"] = found
    for name, (_kind, data, _count) in redis_keys.items():
        if found := _hits(data, needles):
            hits[f"redis {name}"] = found
    paths = [Path(root) / n for root, _dirs, names in os.walk(deployment.work) for n in names]
    paths += [p for p in Path("/var/log/postgresql").glob("*.log") if os.access(p, os.R_OK)]
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:  # removed meanwhile (a log rotated, a temporary file)
            continue
        kind = (
            "postgres_server_log"
            if path.is_relative_to("/var/log/postgresql")
            else _file_kind(path, deployment)
        )
        files[kind] += 1
        file_bytes[kind] += len(data)
        if found := _hits(data, needles):
            hits[f"file {path}"] = found
    return {
        "tables": len(tables),
        "rows": sum(text.count("\n") for text in tables.values()),
        "rows_in": {t: tables[t].count("\n") for t in ("celery_taskmeta", "celery_tasksetmeta", "trigger",
                    "xcom", "rendered_task_instance_fields", "log", "connection", "task_instance") if t in tables},
        "table_bytes": sum(len(text) for text in tables.values()),
        "redis_keys": len(redis_keys),
        "redis_keys_by_type": dict(collections.Counter(kind for kind, _d, _c in redis_keys.values())),
        "redis_bytes": sum(len(data) for _k, data, _c in redis_keys.values()),
        "files": dict(files),
        "file_bytes": dict(file_bytes),
        "hits": hits,
    }  # fmt: skip


def test_secrets_api_key_nowhere_but_the_encrypted_connection(deployment, figures):
    key = deployment.api_key
    needles = _needles(key)
    assert len(key) >= 16 and all(len(n) >= 16 for n in needles.values())
    other_schemas = deployment.db_query(
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        " and table_schema not in ('public', 'pg_catalog', 'information_schema')"
    )
    assert not other_schemas, f"tables outside the public schema this scan would miss: {other_schemas}"

    # `airflow db reset` leaves Celery's tables alone: count only this batch's results as proof.
    (since,) = deployment.db_query("select now() as t")
    batch = _run_batch_sampling(deployment)
    (results,) = deployment.db_query(
        "select count(*) as n from celery_taskmeta where date_done >= %s", (since["t"],)
    )
    assert set(batch["states"].values()) == {"success"}, batch["states"]

    files = _plant_controls(deployment, key)
    try:
        scan = _scan(deployment, needles)
    finally:
        _remove_controls(deployment, files)
    hits = scan.pop("hits")
    control_places = {f"table {SCRATCH}", f"redis 0/{CONTROL_KEY}", f"redis 3/{CONTROL_KEY}"}
    control_places |= {f"file {path}" for path in files.values()}
    controls_found = {place: hits.pop(place, {}) for place in sorted(control_places)}

    # The connection holds the key only Fernet-encrypted: decrypting it proves the DB scan looked at it.
    from cryptography.fernet import Fernet

    (conn,) = deployment.db_query(
        "select password, is_encrypted from connection where conn_id = 'seekrflow_default'"
    )
    fernet = Fernet(deployment.env["AIRFLOW__CORE__FERNET_KEY"].encode())
    assert conn["is_encrypted"] and conn["password"].startswith("gAAAA") and key not in conn["password"]
    assert fernet.decrypt(conn["password"].encode()).decode() == key

    figures["secrets"] = {
        "key_length": len(key),
        "needles": sorted(needles),
        "batch": {"runs": RUNS, "celery_results": results["n"], **batch["sampling"]},
        "redis_key_names_seen": sorted(batch["redis_keys_seen"]),
        **scan,
        "controls_found": controls_found,
        "hits_during_batch": batch["hits"],
        "hits": hits,
    }
    print(json.dumps(figures["secrets"], indent=1, sort_keys=True))

    assert all(controls_found.values()), f"a positive control was not found: {controls_found}"
    assert {"plain", "hex"} <= set(controls_found[f"table {SCRATCH}"]), controls_found
    assert not {"plain", "url"} & set(controls_found[f"redis 3/{CONTROL_KEY}"]), "base64 only there"
    # Something real was scanned in each place.
    assert (
        batch["sampling"]["samples_with_celery_messages"] > 0
        and batch["sampling"]["samples_with_trigger_rows"] > 0
    )
    assert results["n"] > 0, "no Celery result of the batch in the metadata DB"
    assert scan["redis_keys"] >= 3, scan["redis_keys_by_type"]  # kombu bindings besides the 2 controls
    assert scan["files"]["task_logs"] > 1 and scan["files"]["trigger_logs"] > 1
    logged = {p.stem for p in deployment.component_logs() if p.stat().st_size}
    assert set(deployment.components) <= logged, (
        f"components without a log: {set(deployment.components) - logged}"
    )
    assert not batch["hits"], f"API key found while the batch ran: {batch['hits']}"
    assert not hits, f"API key found: {hits}"
