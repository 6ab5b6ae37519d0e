"""Bad input, table-driven: every case fails with the right exception, a message naming the
field / file / line at fault, and (when it can be refused locally) without sending anything.

The operator cases run as tasks of ONE DAG through ``dag.test()`` (the surface users touch); the
few that cannot be a task (a DAG-parse error, hook-only calls) run in-process. The measured
results also make ``docs/bad-input.md`` (``python tests/emulator/robustness/make_table.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_seekrflow import exceptions as sfx
from tests.emulator.dag_runner import run_dag
from tests.emulator.operators.seekrflow_dag_support import failed_task_error
from tests.emulator.robustness.conftest import CANARY_KEY, conn_json
from tests.emulator.robustness.hostile import closed_port

REPO = Path(__file__).resolve().parents[3]
TABLE_PATH = REPO / "docs" / "bad-input.md"
WRITE_TABLE_ENV = "SEEKRFLOW_WRITE_BAD_INPUT_TABLE"

CHAT = '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}\n'
PREF = (
    '{"messages": [{"role": "user", "content": "Hi?"}], "chosen": [{"role": "assistant", "content": "Hello."}],'
    ' "rejected": [{"role": "assistant", "content": "Go away."}]}\n'
)
TEXT = '{"text": "Returns are accepted within 30 days."}\n'
DOC = b"# Returns policy\n\nReturns are accepted within 30 days of delivery.\n"


@dataclass
class Case:
    """One bad input. ``build(task_id, dag, tmp)`` returns an operator (a task) or a callable to run in-process."""

    id: str
    input: str
    expect: type[BaseException] | str  # a class, or a class name (for Airflow's own exceptions)
    mentions: list[str]
    build: Callable[[str, Any, Path], Any]
    local: bool = True  # refusable locally: must send nothing
    counter: str = "emulator"  # where requests are counted: "emulator" or a hostile server's name
    requests: int | None = None  # exact expected request count when not local
    surface: str = "SeekrFlowUploadFileOperator (dag.test)"


@dataclass
class Outcome:
    error: BaseException | None = None
    requests: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _w(tmp: Path, name: str, data: bytes | str) -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def _upload(file_path: Any, purpose: str = "alignment", conn: str = "sf_ok", **kw: Any):
    from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator

    def build(task_id: str, dag: Any, tmp: Path) -> Any:
        path = file_path(tmp) if callable(file_path) else file_path
        return SeekrFlowUploadFileOperator(
            task_id=task_id, dag=dag, file_path=path, purpose=purpose, seekrflow_conn_id=conn, **kw
        )

    return build


def _generate(instructions: str, files: Any):
    from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator

    def build(task_id: str, dag: Any, tmp: Path) -> Any:
        return SeekrFlowGenerateAlignmentOperator(
            task_id=task_id,
            dag=dag,
            instructions=instructions,
            files=files,
            wait_for_completion=False,
            seekrflow_conn_id="sf_ok",
        )

    build.surface = "SeekrFlowGenerateAlignmentOperator (dag.test)"  # type: ignore[attr-defined]
    return build


def _bad_alignment_type(task_id: str, dag: Any, tmp: Path) -> Callable[[], Any]:
    from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator

    return lambda: SeekrFlowGenerateAlignmentOperator(
        task_id="bad_type", instructions="x", files=["f"], alignment_type="magic"
    )


_bad_alignment_type.surface = "SeekrFlowGenerateAlignmentOperator (DAG parse)"  # type: ignore[attr-defined]


def _file(name: str, data: bytes | str) -> Callable[[Path], str]:
    return lambda tmp: _w(tmp, name, data)


def _sparse(tmp: Path) -> str:
    path = tmp / "huge.pdf"
    with open(path, "wb") as fh:
        fh.truncate(4_000_000_001)  # sparse: no disk blocks, 1 byte over the API's 4 GB
    return str(path)


def _fifo(tmp: Path) -> str:
    path = tmp / "pipe.txt"
    os.mkfifo(path)
    return str(path)


def _dir(tmp: Path) -> str:
    path = tmp / "folder.md"
    path.mkdir()
    return str(path)


UPLOAD_PATH = "/v1/flow/files/validate_metadata"  # the first request an alignment upload makes

# What each case does, by case id. A case not listed uploads a small Markdown document through the
# connection its table row names (the connection and hostile-server cases).
BUILDS: dict[str, Callable[[str, Any, Path], Any]] = {
    # ---- paths
    "missing_path": _upload(lambda t: str(t / "nope.md")),
    "empty_file": _upload(_file("empty.md", b"")),
    "oversized_sparse": _upload(_sparse),
    "directory": _upload(_dir),
    "fifo": _upload(_fifo),
    "glob_no_match": _upload(lambda t: str(t / "nothing" / "*.pdf")),
    "blank_path": _upload("   "),
    "empty_path_list": _upload([]),
    "batch_second_bad": _upload(
        lambda t: [_w(t, "b/ok.jsonl", CHAT * 2), _w(t, "b/bad.jsonl", CHAT + "{oops\n")], "fine-tune"
    ),
    # ---- content
    "binary_jsonl": _upload(
        _file("image.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"), "fine-tune"
    ),
    "invalid_utf8": _upload(
        _file("corpus.jsonl", (TEXT * 2).encode() + b'{"text": "caf\xe9"}\n'), "pre-train"
    ),
    "malformed_json": _upload(_file("train.jsonl", CHAT + '{"messages": [\n' + CHAT), "fine-tune"),
    "not_an_object": _upload(_file("arr.jsonl", "[1, 2]\n"), "fine-tune"),
    "wrong_role": _upload(_file("roles.jsonl", CHAT * 3 + CHAT.replace('"user"', '"bot"')), "fine-tune"),
    "missing_content": _upload(_file("nocontent.jsonl", CHAT + '{"messages": [{"role": "user"}]}\n')),
    "missing_rejected": _upload(
        _file("pref.jsonl", PREF.replace(', "rejected": [{"role": "assistant", "content": "Go away."}]', "")),
        "preference-fine-tune",
    ),
    "missing_text": _upload(_file("pt.jsonl", TEXT + '{"body": "x"}\n'), "pre-train"),
    "empty_messages": _upload(_file("em.jsonl", '{"messages": []}\n'), "fine-tune"),
    "blank_line_inside": _upload(_file("gap.jsonl", CHAT + "\n" + CHAT), "fine-tune"),
    "only_blank_lines": _upload(_file("blank.jsonl", "\n\n\n"), "fine-tune"),
    # ---- extension / purpose
    "wrong_ext_training": _upload(_file("train.csv", "a,b\n1,2\n"), "fine-tune"),
    "wrong_ext_alignment": _upload(_file("setup.exe", b"MZ\x90\x00")),
    "no_extension": _upload(_file("README", DOC)),
    "unknown_purpose": _upload(_file("ok.jsonl", CHAT), "finetune"),
    # ---- alignment request
    "blank_instructions": _generate("  \n ", ["file-1"]),
    "empty_id_list": _generate("Teach returns.", []),
    "blank_file_id": _generate("Teach returns.", ["file-1", ""]),
    "bad_alignment_type": _bad_alignment_type,
    # ---- the service refuses
    "service_422_unknown_file": _generate("Teach returns.", ["file-does-not-exist"]),
    "service_422_bad_line": _upload(
        _file("late.jsonl", CHAT + CHAT.replace('"user"', '"bot"')), "fine-tune", check_content=False
    ),
}

# One row a case: its id | the exception (a class of the provider's, or an Airflow one by name) |
# the requests it makes: 0 (refusable locally: none may be sent), an exact count, or ? (not counted),
# on the emulator or on the named server | the connection it uses (- for its build above) | what the
# message must name (;-separated) | the input, as docs/bad-input.md shows it.
TABLE = r"""
missing_path              | SeekrFlowInvalidFileError        | 0             | - | nope.md; not found | file_path: a path that does not exist (`nope.md`)
empty_file                | SeekrFlowInvalidFileError        | 0             | - | empty.md; empty | a 0-byte `empty.md`
oversized_sparse          | SeekrFlowInvalidFileError        | 0             | - | huge.pdf; 4000000001; 4 GB | a sparse `huge.pdf` of 4 000 000 001 bytes (truncate)
directory                 | SeekrFlowInvalidFileError        | 0             | - | folder.md; directory | file_path is a directory (`folder.md/`)
fifo                      | SeekrFlowInvalidFileError        | 0             | - | pipe.txt; not a regular file | file_path is a named pipe (`pipe.txt`)
glob_no_match             | SeekrFlowInvalidFileError        | 0             | - | file_path; no file matches; *.pdf | a glob matching nothing (`*.pdf` in an empty folder)
blank_path                | SeekrFlowConfigError             | 0             | - | file_path; empty | file_path is `'   '`
empty_path_list           | SeekrFlowConfigError             | 0             | - | file_path; list of files is empty | file_path is `[]`
batch_second_bad          | SeekrFlowInvalidFileError        | 0             | - | bad.jsonl; line 2 | a batch of 2: `ok.jsonl` valid, `bad.jsonl` with a bad line 2 (nothing uploaded)
binary_jsonl              | SeekrFlowInvalidFileError        | 0             | - | image.jsonl; line 1; UTF-8 | binary bytes (a PNG header) in `image.jsonl`, purpose fine-tune
invalid_utf8              | SeekrFlowInvalidFileError        | 0             | - | corpus.jsonl; line 3; UTF-8 | `corpus.jsonl` line 3 holds byte 0xE9 (Latin-1), purpose pre-train
malformed_json            | SeekrFlowInvalidFileError        | 0             | - | train.jsonl; line 2; not valid JSON | `train.jsonl` line 2 is `{"messages": [`
not_an_object             | SeekrFlowInvalidFileError        | 0             | - | arr.jsonl; line 1; JSON object | `arr.jsonl` line 1 is a JSON array
wrong_role                | SeekrFlowInvalidFileError        | 0             | - | roles.jsonl; line 4; messages[1].role; 'bot' | `roles.jsonl` line 4 has role `bot`
missing_content           | SeekrFlowInvalidFileError        | 0             | - | nocontent.jsonl; line 2; messages[0]; 'content' | `nocontent.jsonl` line 2: a message without `content`
missing_rejected          | SeekrFlowInvalidFileError        | 0             | - | pref.jsonl; line 1; 'rejected' | `pref.jsonl` line 1 lacks `rejected`, purpose preference-fine-tune
missing_text              | SeekrFlowInvalidFileError        | 0             | - | pt.jsonl; line 2; 'text' | `pt.jsonl` line 2 is `{"body": "x"}`, purpose pre-train
empty_messages            | SeekrFlowInvalidFileError        | 0             | - | em.jsonl; line 1; messages must be a non-empty list | `em.jsonl` line 1 has `"messages": []`
blank_line_inside         | SeekrFlowInvalidFileError        | 0             | - | gap.jsonl; line 2; blank line | `gap.jsonl`: a blank line 2 between records
only_blank_lines          | SeekrFlowInvalidFileError        | 0             | - | blank.jsonl; no JSON lines | `blank.jsonl` holds only newlines
wrong_ext_training        | SeekrFlowInvalidFileError        | 0             | - | train.csv; 'csv'; fine-tune | `train.csv` for purpose fine-tune
wrong_ext_alignment       | SeekrFlowInvalidFileError        | 0             | - | setup.exe; 'exe'; alignment | `setup.exe` for purpose alignment
no_extension              | SeekrFlowInvalidFileError        | 0             | - | README; no file extension | `README` (no extension) for purpose alignment
unknown_purpose           | SeekrFlowConfigError             | 0             | - | purpose; 'finetune' | purpose `finetune`
blank_instructions        | SeekrFlowConfigError             | 0             | - | instructions; blank | instructions `'  \n '`
empty_id_list             | SeekrFlowConfigError             | 0             | - | files; at least one file id | files `[]`
blank_file_id             | SeekrFlowConfigError             | 0             | - | files[1]; non-empty file id | files `['file-1', '']`
bad_alignment_type        | SeekrFlowConfigError             | 0             | - | alignment_type; 'magic' | alignment_type `magic`
unknown_conn_id           | AirflowNotFoundException         | 0             | no_such_seekrflow_conn | no_such_seekrflow_conn | seekrflow_conn_id `no_such_seekrflow_conn`
empty_api_key             | SeekrFlowConfigError             | 0             | sf_nokey | sf_nokey; password; empty | connection without a password (API key)
base_url_ftp              | SeekrFlowConfigError             | 0 sentinel    | sf_ftp | sf_ftp; host; http or https; ftp:// | host `ftp://127.0.0.1:<sentinel port>`
base_url_spaces           | SeekrFlowConfigError             | 0 sentinel    | sf_spaces | sf_spaces; host; white space | host `http://127.0.0.1:<sentinel port>/seekr flow`
base_url_no_host          | SeekrFlowConfigError             | 0 sentinel    | sf_nohost | sf_nohost; host; no host name | host `http://:<sentinel port>`
base_url_bad_port         | SeekrFlowConfigError             | 0             | sf_badport | sf_badport; host; invalid port | host `http://127.0.0.1:99999`
port_field_out_of_range   | SeekrFlowConfigError             | 0             | sf_portfield | sf_portfield; port 70000 | host `127.0.0.1`, port field 70000
base_url_ipv6_unclosed    | SeekrFlowConfigError             | 0             | sf_ipv6 | sf_ipv6; host | host `http://[::1` (unclosed IPv6 bracket)
server_html               | SeekrFlowUnexpectedResponseError | 1 html        | sf_html | {UPLOAD_PATH}; text/html; not JSON; Welcome to nginx | server answers 200 `text/html` (a web server's welcome page)
server_html_503           | SeekrFlowServerError             | 2 html_503    | sf_html_503 | {UPLOAD_PATH}; 503; Service Temporarily Unavailable | server answers 503 `text/html` (a proxy's error page), max_retries=1
server_not_json           | SeekrFlowUnexpectedResponseError | 1 not_json    | sf_not_json | {UPLOAD_PATH}; not valid JSON | server answers 200 `application/json` with `this is not JSON {`
server_huge_body          | SeekrFlowUnexpectedResponseError | 1 huge        | sf_huge | {UPLOAD_PATH}; over 16 MiB | server answers a 17 MiB JSON body
server_wrong_content_type | SeekrFlowUnexpectedResponseError | 1 text_plain  | sf_text_plain | {UPLOAD_PATH}; content type text/plain | server answers valid JSON as `text/plain`
server_wrong_shape        | SeekrFlowUnexpectedResponseError | 1 wrong_shape | sf_wrong_shape | {UPLOAD_PATH}; is_valid | server answers JSON of the wrong shape (`{"hello": "world"}`)
server_hangs_up           | SeekrFlowConnectionError         | 2 hang_up     | sf_hang_up | {UPLOAD_PATH}; failed | server closes the connection without answering, max_retries=1
server_timeout            | SeekrFlowConnectionError         | 1 stall       | sf_stall | {UPLOAD_PATH}; timed out | server stalls 1.5 s, connection timeout extra 0.5 s, max_retries=0
connection_refused        | SeekrFlowConnectionError         | ? none        | sf_refused | {UPLOAD_PATH}; failed; refused | host is a closed local port, max_retries=1
service_422_unknown_file  | SeekrFlowValidationError         | 2             | - | /v1/flow/alignment/generate; 422; files.0; file-does-not-exist | generate with files `['file-does-not-exist']` (emulator answers 422)
service_422_bad_line      | SeekrFlowValidationError         | 2             | - | /v1/flow/files; 422; late.jsonl line 2; 'bot' | `check_content=False` upload of `late.jsonl` with role `bot` on line 2 (emulator 422)
wrong_api_key             | SeekrFlowAuthenticationError     | 1             | sf_wrongkey | {UPLOAD_PATH}; 401; API key | connection with a wrong API key (emulator answers 401)
"""
# The two service_422 cases send 2 requests: the listing a lost answer is compared with, then the refused one.


def _case(row: str) -> Case:
    case_id, error, sends, conn, names, text = (cell.strip() for cell in row.split(" | "))
    count, _, counter = sends.partition(" ")
    build = BUILDS[case_id] if conn == "-" else _upload(_file(f"{case_id}.md", DOC), conn=conn)
    return Case(
        case_id,
        text,
        getattr(sfx, error, error),
        [name.replace("{UPLOAD_PATH}", UPLOAD_PATH) for name in names.split("; ")],
        build,
        local=count == "0",
        counter=counter or "emulator",
        requests=int(count) if count not in ("0", "?") else None,
        surface=getattr(build, "surface", Case.surface),
    )


CASES: list[Case] = [_case(row) for row in TABLE.strip().splitlines()]


def _connections(emulator: Any, servers: dict[str, Any]) -> dict[str, str]:
    sentinel = servers["sentinel"]
    fast = {"max_retries": 1}
    conns = {
        "sf_ok": conn_json(emulator.base_url, max_retries=1),
        "sf_nokey": conn_json(emulator.base_url, password=None),
        "sf_wrongkey": conn_json(emulator.base_url, password="sfk-WRONG-key-000", max_retries=1),
        "sf_ftp": conn_json(f"ftp://127.0.0.1:{sentinel.port}"),
        "sf_spaces": conn_json(f"http://127.0.0.1:{sentinel.port}/seekr flow"),
        "sf_nohost": conn_json(f"http://:{sentinel.port}"),
        "sf_badport": conn_json("http://127.0.0.1:99999"),
        "sf_portfield": conn_json("127.0.0.1", port=70000),
        "sf_ipv6": conn_json("http://[::1"),
        "sf_refused": conn_json(f"http://127.0.0.1:{closed_port()}", **fast),
        "sf_stall": conn_json(servers["stall"].base_url, timeout=0.5, max_retries=0),
    }
    for name in ("html", "html_503", "not_json", "huge", "text_plain", "wrong_shape", "hang_up"):
        conns[f"sf_{name}"] = conn_json(servers[name].base_url, **fast)
    return conns


# ---------------------------------------------------------------------------------------------- run


class _Recorder:
    """Keeps (task id, exception, emulator journal length) per finished task, in order."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.events: list[tuple[str, BaseException | None, int]] = []

    def journal_len(self) -> int:
        return len(self.emulator.journal())


_RECORDER: _Recorder | None = None
# Stands for a failure whose exception the callback's context did not carry.
_FAILED: Any = object()


# Module-level functions, not bound methods: Airflow 2 deep-copies a DAG's default_args.
def _on_failure(context: Any) -> None:
    assert _RECORDER is not None
    _RECORDER.events.append(
        (context["ti"].task_id, context.get("exception") or _FAILED, _RECORDER.journal_len())
    )


def _on_success(context: Any) -> None:
    assert _RECORDER is not None
    _RECORDER.events.append((context["ti"].task_id, None, _RECORDER.journal_len()))


@pytest.fixture(scope="module")
def outcomes(robust_emulator, hostile_servers, tmp_path_factory) -> dict[str, Outcome]:
    """Run every case once: the task cases in one DAG run, the rest in-process."""
    from airflow import DAG

    emulator = robust_emulator
    emulator.reset()
    tmp = tmp_path_factory.mktemp("bad-input")
    mp = pytest.MonkeyPatch()
    for conn_id, value in _connections(emulator, hostile_servers).items():
        mp.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    global _RECORDER
    recorder = _RECORDER = _Recorder(emulator)
    results: dict[str, Outcome] = {}
    counts_before = {name: s.hits for name, s in hostile_servers.items()}
    try:
        dag = DAG(
            f"robustness_bad_input_{int(time.time())}",
            schedule=None,
            start_date=datetime(2025, 1, 1),
            catchup=False,
            default_args={
                "retries": 0,
                "on_failure_callback": _on_failure,
                "on_success_callback": _on_success,
            },
        )
        in_process: list[tuple[Case, Callable[[], Any]]] = []
        for case in CASES:
            built = case.build(case.id, dag, tmp)
            if callable(built) and not hasattr(built, "task_id"):
                in_process.append((case, built))
        start = recorder.journal_len()
        started = time.monotonic()
        run_dag(dag)
        dag_seconds = time.monotonic() - started
        previous = start
        for task_id, error, seen in recorder.events:
            if error is _FAILED:
                # Airflow 3.1's dag.test() leaves the exception out of the callback's context.
                error = failed_task_error(task_id)
            results[task_id] = Outcome(error, seen - previous)
            previous = seen
        for case, call in in_process:
            before = recorder.journal_len()
            error = None
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - the point is to keep it
                error = exc
            results[case.id] = Outcome(error, recorder.journal_len() - before)
        for case in CASES:
            outcome = results.setdefault(case.id, Outcome())
            if case.counter not in ("emulator", "none"):
                outcome.requests = hostile_servers[case.counter].hits - counts_before[case.counter]
            elif case.counter == "none":
                outcome.requests = None
        results["__meta__"] = Outcome(extra={"dag_seconds": dag_seconds, "tasks": len(recorder.events)})
    finally:
        mp.undo()
    yield results
    if os.environ.get(WRITE_TABLE_ENV):
        from tests.emulator.robustness.make_table import write_table

        write_table(CASES, results, TABLE_PATH)


def _class_name(expect: type[BaseException] | str) -> str:
    return expect if isinstance(expect, str) else expect.__name__


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    error = outcome.error
    assert error is not None, f"{case.id}: no exception (the task succeeded or never ran)"
    names = [cls.__name__ for cls in type(error).__mro__]
    if isinstance(case.expect, str):
        assert case.expect in names, f"{case.id}: got {type(error).__name__}: {error}"
    else:
        assert isinstance(error, case.expect), f"{case.id}: got {type(error).__name__}: {error}"
    message = str(error)
    for needle in case.mentions:
        assert needle in message, f"{case.id}: message does not name {needle!r}: {message!r}"
    assert CANARY_KEY not in message and CANARY_KEY not in repr(error)
    if case.local:
        assert outcome.requests == 0, (
            f"{case.id}: refusable locally, yet {outcome.requests} request(s) were sent"
        )
    elif case.requests is not None:
        assert outcome.requests == case.requests, (
            f"{case.id}: expected {case.requests} request(s), saw {outcome.requests}"
        )


def test_at_least_25_cases_and_most_through_dag_test(outcomes: dict[str, Outcome]) -> None:
    assert len(CASES) >= 25
    assert outcomes["__meta__"].extra["tasks"] >= 25


def test_table_document_lists_every_case() -> None:
    """docs/bad-input.md is generated from these cases; it must not fall behind them."""
    if os.environ.get(WRITE_TABLE_ENV):
        pytest.skip("the table is being (re)written by this run")
    text = TABLE_PATH.read_text(encoding="utf-8")
    missing = [c.id for c in CASES if f"`{c.id}`" not in text]
    assert not missing, (
        f"docs/bad-input.md lacks {missing}; run python tests/emulator/robustness/make_table.py"
    )
