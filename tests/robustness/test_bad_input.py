"""Bad input, table-driven: every case fails with the right exception, a message naming the
field / file / line at fault, and (when it can be refused locally) without sending anything.

The operator cases run as tasks of ONE DAG through ``dag.test()`` (the surface users touch); the
few that cannot be a task (a DAG-parse error, hook-only calls) run in-process. The measured
results also make ``docs/bad-input.md`` (``python tests/robustness/make_table.py``).
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
from tests.dag_runner import run_dag
from tests.operators.seekrflow_dag_support import failed_task_error
from tests.robustness.conftest import CANARY_KEY, conn_json
from tests.robustness.hostile import closed_port

REPO = Path(__file__).resolve().parents[2]
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
    """One bad input. ``build(dag, tmp)`` returns an operator (a task) or a callable to run in-process."""

    id: str
    input: str
    expect: type[BaseException] | str  # a class, or a class name (for Airflow's own exceptions)
    mentions: list[str]
    build: Callable[[Any, Path], Any]
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


def _upload(task_id: str, file_path: Any, purpose: str = "alignment", conn: str = "sf_ok", **kw: Any):
    from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator

    def build(dag: Any, tmp: Path) -> Any:
        path = file_path(tmp) if callable(file_path) else file_path
        return SeekrFlowUploadFileOperator(
            task_id=task_id, dag=dag, file_path=path, purpose=purpose, seekrflow_conn_id=conn, **kw
        )

    return build


def _generate(task_id: str, instructions: str, files: Any, conn: str = "sf_ok"):
    from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator

    def build(dag: Any, tmp: Path) -> Any:
        return SeekrFlowGenerateAlignmentOperator(
            task_id=task_id,
            dag=dag,
            instructions=instructions,
            files=files,
            wait_for_completion=False,
            seekrflow_conn_id=conn,
        )

    return build


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

CASES: list[Case] = [
    # ---- paths ------------------------------------------------------------------------------
    Case(
        "missing_path",
        "file_path: a path that does not exist (`nope.md`)",
        sfx.SeekrFlowInvalidFileError,
        ["nope.md", "not found"],
        _upload("missing_path", lambda t: str(t / "nope.md")),
    ),
    Case(
        "empty_file",
        "a 0-byte `empty.md`",
        sfx.SeekrFlowInvalidFileError,
        ["empty.md", "empty"],
        _upload("empty_file", lambda t: _w(t, "empty.md", b"")),
    ),
    Case(
        "oversized_sparse",
        "a sparse `huge.pdf` of 4 000 000 001 bytes (truncate)",
        sfx.SeekrFlowInvalidFileError,
        ["huge.pdf", "4000000001", "4 GB"],
        _upload("oversized_sparse", _sparse),
    ),
    Case(
        "directory",
        "file_path is a directory (`folder.md/`)",
        sfx.SeekrFlowInvalidFileError,
        ["folder.md", "directory"],
        _upload("directory", _dir),
    ),
    Case(
        "fifo",
        "file_path is a named pipe (`pipe.txt`)",
        sfx.SeekrFlowInvalidFileError,
        ["pipe.txt", "not a regular file"],
        _upload("fifo", _fifo),
    ),
    Case(
        "glob_no_match",
        "a glob matching nothing (`*.pdf` in an empty folder)",
        sfx.SeekrFlowInvalidFileError,
        ["file_path", "no file matches", "*.pdf"],
        _upload("glob_no_match", lambda t: str(t / "nothing" / "*.pdf")),
    ),
    Case(
        "blank_path",
        "file_path is `'   '`",
        sfx.SeekrFlowConfigError,
        ["file_path", "empty"],
        _upload("blank_path", "   "),
    ),
    Case(
        "empty_path_list",
        "file_path is `[]`",
        sfx.SeekrFlowConfigError,
        ["file_path", "list of files is empty"],
        _upload("empty_path_list", []),
    ),
    Case(
        "batch_second_bad",
        "a batch of 2: `ok.jsonl` valid, `bad.jsonl` with a bad line 2 (nothing uploaded)",
        sfx.SeekrFlowInvalidFileError,
        ["bad.jsonl", "line 2"],
        _upload(
            "batch_second_bad",
            lambda t: [_w(t, "b/ok.jsonl", CHAT * 2), _w(t, "b/bad.jsonl", CHAT + "{oops\n")],
            purpose="fine-tune",
        ),
    ),
    # ---- content ----------------------------------------------------------------------------
    Case(
        "binary_jsonl",
        "binary bytes (a PNG header) in `image.jsonl`, purpose fine-tune",
        sfx.SeekrFlowInvalidFileError,
        ["image.jsonl", "line 1", "UTF-8"],
        _upload(
            "binary_jsonl",
            lambda t: _w(t, "image.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"),
            purpose="fine-tune",
        ),
    ),
    Case(
        "invalid_utf8",
        "`corpus.jsonl` line 3 holds byte 0xE9 (Latin-1), purpose pre-train",
        sfx.SeekrFlowInvalidFileError,
        ["corpus.jsonl", "line 3", "UTF-8"],
        _upload(
            "invalid_utf8",
            lambda t: _w(t, "corpus.jsonl", (TEXT * 2).encode() + b'{"text": "caf\xe9"}\n'),
            purpose="pre-train",
        ),
    ),
    Case(
        "malformed_json",
        '`train.jsonl` line 2 is `{"messages": [`',
        sfx.SeekrFlowInvalidFileError,
        ["train.jsonl", "line 2", "not valid JSON"],
        _upload(
            "malformed_json",
            lambda t: _w(t, "train.jsonl", CHAT + '{"messages": [\n' + CHAT),
            purpose="fine-tune",
        ),
    ),
    Case(
        "not_an_object",
        "`arr.jsonl` line 1 is a JSON array",
        sfx.SeekrFlowInvalidFileError,
        ["arr.jsonl", "line 1", "JSON object"],
        _upload("not_an_object", lambda t: _w(t, "arr.jsonl", "[1, 2]\n"), purpose="fine-tune"),
    ),
    Case(
        "wrong_role",
        "`roles.jsonl` line 4 has role `bot`",
        sfx.SeekrFlowInvalidFileError,
        ["roles.jsonl", "line 4", "messages[1].role", "'bot'"],
        _upload(
            "wrong_role",
            lambda t: _w(t, "roles.jsonl", CHAT * 3 + CHAT.replace('"user"', '"bot"')),
            purpose="fine-tune",
        ),
    ),
    Case(
        "missing_content",
        "`nocontent.jsonl` line 2: a message without `content`",
        sfx.SeekrFlowInvalidFileError,
        ["nocontent.jsonl", "line 2", "messages[0]", "'content'"],
        _upload(
            "missing_content",
            lambda t: _w(t, "nocontent.jsonl", CHAT + '{"messages": [{"role": "user"}]}\n'),
            purpose="alignment",
        ),
    ),
    Case(
        "missing_rejected",
        "`pref.jsonl` line 1 lacks `rejected`, purpose preference-fine-tune",
        sfx.SeekrFlowInvalidFileError,
        ["pref.jsonl", "line 1", "'rejected'"],
        _upload(
            "missing_rejected",
            lambda t: _w(
                t,
                "pref.jsonl",
                PREF.replace(', "rejected": [{"role": "assistant", "content": "Go away."}]', ""),
            ),
            purpose="preference-fine-tune",
        ),
    ),
    Case(
        "missing_text",
        '`pt.jsonl` line 2 is `{"body": "x"}`, purpose pre-train',
        sfx.SeekrFlowInvalidFileError,
        ["pt.jsonl", "line 2", "'text'"],
        _upload("missing_text", lambda t: _w(t, "pt.jsonl", TEXT + '{"body": "x"}\n'), purpose="pre-train"),
    ),
    Case(
        "empty_messages",
        '`em.jsonl` line 1 has `"messages": []`',
        sfx.SeekrFlowInvalidFileError,
        ["em.jsonl", "line 1", "messages must be a non-empty list"],
        _upload("empty_messages", lambda t: _w(t, "em.jsonl", '{"messages": []}\n'), purpose="fine-tune"),
    ),
    Case(
        "blank_line_inside",
        "`gap.jsonl`: a blank line 2 between records",
        sfx.SeekrFlowInvalidFileError,
        ["gap.jsonl", "line 2", "blank line"],
        _upload("blank_line_inside", lambda t: _w(t, "gap.jsonl", CHAT + "\n" + CHAT), purpose="fine-tune"),
    ),
    Case(
        "only_blank_lines",
        "`blank.jsonl` holds only newlines",
        sfx.SeekrFlowInvalidFileError,
        ["blank.jsonl", "no JSON lines"],
        _upload("only_blank_lines", lambda t: _w(t, "blank.jsonl", "\n\n\n"), purpose="fine-tune"),
    ),
    # ---- extension / purpose ------------------------------------------------------------------
    Case(
        "wrong_ext_training",
        "`train.csv` for purpose fine-tune",
        sfx.SeekrFlowInvalidFileError,
        ["train.csv", "'csv'", "fine-tune"],
        _upload("wrong_ext_training", lambda t: _w(t, "train.csv", "a,b\n1,2\n"), purpose="fine-tune"),
    ),
    Case(
        "wrong_ext_alignment",
        "`setup.exe` for purpose alignment",
        sfx.SeekrFlowInvalidFileError,
        ["setup.exe", "'exe'", "alignment"],
        _upload("wrong_ext_alignment", lambda t: _w(t, "setup.exe", b"MZ\x90\x00")),
    ),
    Case(
        "no_extension",
        "`README` (no extension) for purpose alignment",
        sfx.SeekrFlowInvalidFileError,
        ["README", "no file extension"],
        _upload("no_extension", lambda t: _w(t, "README", DOC)),
    ),
    Case(
        "unknown_purpose",
        "purpose `finetune`",
        sfx.SeekrFlowConfigError,
        ["purpose", "'finetune'"],
        _upload("unknown_purpose", lambda t: _w(t, "ok.jsonl", CHAT), purpose="finetune"),
    ),
    # ---- alignment request --------------------------------------------------------------------
    Case(
        "blank_instructions",
        "instructions `'  \\n '`",
        sfx.SeekrFlowConfigError,
        ["instructions", "blank"],
        _generate("blank_instructions", "  \n ", ["file-1"]),
        surface="SeekrFlowGenerateAlignmentOperator (dag.test)",
    ),
    Case(
        "empty_id_list",
        "files `[]`",
        sfx.SeekrFlowConfigError,
        ["files", "at least one file id"],
        _generate("empty_id_list", "Teach returns.", []),
        surface="SeekrFlowGenerateAlignmentOperator (dag.test)",
    ),
    Case(
        "blank_file_id",
        "files `['file-1', '']`",
        sfx.SeekrFlowConfigError,
        ["files[1]", "non-empty file id"],
        _generate("blank_file_id", "Teach returns.", ["file-1", ""]),
        surface="SeekrFlowGenerateAlignmentOperator (dag.test)",
    ),
    Case(
        "bad_alignment_type",
        "alignment_type `magic`",
        sfx.SeekrFlowConfigError,
        ["alignment_type", "'magic'"],
        lambda dag, tmp: (
            lambda: __import__(
                "airflow_provider_seekrflow.operators.alignment", fromlist=["x"]
            ).SeekrFlowGenerateAlignmentOperator(
                task_id="bad_type", instructions="x", files=["f"], alignment_type="magic"
            )
        ),
        surface="SeekrFlowGenerateAlignmentOperator (DAG parse)",
    ),
    # ---- connection ---------------------------------------------------------------------------
    Case(
        "unknown_conn_id",
        "seekrflow_conn_id `no_such_seekrflow_conn`",
        "AirflowNotFoundException",
        ["no_such_seekrflow_conn"],
        _upload("unknown_conn_id", lambda t: _w(t, "c1.md", DOC), conn="no_such_seekrflow_conn"),
    ),
    Case(
        "empty_api_key",
        "connection without a password (API key)",
        sfx.SeekrFlowConfigError,
        ["sf_nokey", "password", "empty"],
        _upload("empty_api_key", lambda t: _w(t, "c2.md", DOC), conn="sf_nokey"),
    ),
    Case(
        "base_url_ftp",
        "host `ftp://127.0.0.1:<sentinel port>`",
        sfx.SeekrFlowConfigError,
        ["sf_ftp", "host", "http or https", "ftp://"],
        _upload("base_url_ftp", lambda t: _w(t, "c3.md", DOC), conn="sf_ftp"),
        counter="sentinel",
    ),
    Case(
        "base_url_spaces",
        "host `http://127.0.0.1:<sentinel port>/seekr flow`",
        sfx.SeekrFlowConfigError,
        ["sf_spaces", "host", "white space"],
        _upload("base_url_spaces", lambda t: _w(t, "c4.md", DOC), conn="sf_spaces"),
        counter="sentinel",
    ),
    Case(
        "base_url_no_host",
        "host `http://:<sentinel port>`",
        sfx.SeekrFlowConfigError,
        ["sf_nohost", "host", "no host name"],
        _upload("base_url_no_host", lambda t: _w(t, "c5.md", DOC), conn="sf_nohost"),
        counter="sentinel",
    ),
    Case(
        "base_url_bad_port",
        "host `http://127.0.0.1:99999`",
        sfx.SeekrFlowConfigError,
        ["sf_badport", "host", "invalid port"],
        _upload("base_url_bad_port", lambda t: _w(t, "c6.md", DOC), conn="sf_badport"),
    ),
    Case(
        "port_field_out_of_range",
        "host `127.0.0.1`, port field 70000",
        sfx.SeekrFlowConfigError,
        ["sf_portfield", "port 70000"],
        _upload("port_field_out_of_range", lambda t: _w(t, "c7.md", DOC), conn="sf_portfield"),
    ),
    Case(
        "base_url_ipv6_unclosed",
        "host `http://[::1` (unclosed IPv6 bracket)",
        sfx.SeekrFlowConfigError,
        ["sf_ipv6", "host"],
        _upload("base_url_ipv6_unclosed", lambda t: _w(t, "c8.md", DOC), conn="sf_ipv6"),
    ),
    # ---- hostile servers ----------------------------------------------------------------------
    Case(
        "server_html",
        "server answers 200 `text/html` (a web server's welcome page)",
        sfx.SeekrFlowUnexpectedResponseError,
        [UPLOAD_PATH, "text/html", "not JSON", "Welcome to nginx"],
        _upload("server_html", lambda t: _w(t, "h1.md", DOC), conn="sf_html"),
        local=False,
        counter="html",
        requests=1,
    ),
    Case(
        "server_html_503",
        "server answers 503 `text/html` (a proxy's error page), max_retries=1",
        sfx.SeekrFlowServerError,
        [UPLOAD_PATH, "503", "Service Temporarily Unavailable"],
        _upload("server_html_503", lambda t: _w(t, "h2.md", DOC), conn="sf_html_503"),
        local=False,
        counter="html_503",
        requests=2,
    ),
    Case(
        "server_not_json",
        "server answers 200 `application/json` with `this is not JSON {`",
        sfx.SeekrFlowUnexpectedResponseError,
        [UPLOAD_PATH, "not valid JSON"],
        _upload("server_not_json", lambda t: _w(t, "h3.md", DOC), conn="sf_not_json"),
        local=False,
        counter="not_json",
        requests=1,
    ),
    Case(
        "server_huge_body",
        "server answers a 17 MiB JSON body",
        sfx.SeekrFlowUnexpectedResponseError,
        [UPLOAD_PATH, "over 16 MiB"],
        _upload("server_huge_body", lambda t: _w(t, "h4.md", DOC), conn="sf_huge"),
        local=False,
        counter="huge",
        requests=1,
    ),
    Case(
        "server_wrong_content_type",
        "server answers valid JSON as `text/plain`",
        sfx.SeekrFlowUnexpectedResponseError,
        [UPLOAD_PATH, "content type text/plain"],
        _upload("server_wrong_content_type", lambda t: _w(t, "h5.md", DOC), conn="sf_text_plain"),
        local=False,
        counter="text_plain",
        requests=1,
    ),
    Case(
        "server_wrong_shape",
        'server answers JSON of the wrong shape (`{"hello": "world"}`)',
        sfx.SeekrFlowUnexpectedResponseError,
        [UPLOAD_PATH, "is_valid"],
        _upload("server_wrong_shape", lambda t: _w(t, "h6.md", DOC), conn="sf_wrong_shape"),
        local=False,
        counter="wrong_shape",
        requests=1,
    ),
    Case(
        "server_hangs_up",
        "server closes the connection without answering, max_retries=1",
        sfx.SeekrFlowConnectionError,
        [UPLOAD_PATH, "failed"],
        _upload("server_hangs_up", lambda t: _w(t, "h7.md", DOC), conn="sf_hang_up"),
        local=False,
        counter="hang_up",
        requests=2,
    ),
    Case(
        "server_timeout",
        "server stalls 1.5 s, connection timeout extra 0.5 s, max_retries=0",
        sfx.SeekrFlowConnectionError,
        [UPLOAD_PATH, "timed out"],
        _upload("server_timeout", lambda t: _w(t, "h8.md", DOC), conn="sf_stall"),
        local=False,
        counter="stall",
        requests=1,
    ),
    Case(
        "connection_refused",
        "host is a closed local port, max_retries=1",
        sfx.SeekrFlowConnectionError,
        [UPLOAD_PATH, "failed", "refused"],
        _upload("connection_refused", lambda t: _w(t, "h9.md", DOC), conn="sf_refused"),
        local=False,
        counter="none",
    ),
    # ---- the service refuses --------------------------------------------------------------------
    Case(
        "service_422_unknown_file",
        "generate with files `['file-does-not-exist']` (emulator answers 422)",
        sfx.SeekrFlowValidationError,
        ["/v1/flow/alignment/generate", "422", "files.0", "file-does-not-exist"],
        _generate("service_422_unknown_file", "Teach returns.", ["file-does-not-exist"]),
        local=False,
        requests=2,  # the listing a lost answer is compared with, then the refused request
        surface="SeekrFlowGenerateAlignmentOperator (dag.test)",
    ),
    Case(
        "service_422_bad_line",
        "`check_content=False` upload of `late.jsonl` with role `bot` on line 2 (emulator 422)",
        sfx.SeekrFlowValidationError,
        ["/v1/flow/files", "422", "late.jsonl line 2", "'bot'"],
        _upload(
            "service_422_bad_line",
            lambda t: _w(t, "late.jsonl", CHAT + CHAT.replace('"user"', '"bot"')),
            purpose="fine-tune",
            check_content=False,
        ),
        local=False,
        requests=2,  # the listing a lost answer is compared with, then the refused request
    ),
    Case(
        "wrong_api_key",
        "connection with a wrong API key (emulator answers 401)",
        sfx.SeekrFlowAuthenticationError,
        [UPLOAD_PATH, "401", "API key"],
        _upload("wrong_api_key", lambda t: _w(t, "k.md", DOC), conn="sf_wrongkey"),
        local=False,
        requests=1,
    ),
]


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
            built = case.build(dag, tmp)
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
        from tests.robustness.make_table import write_table

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
    assert not missing, f"docs/bad-input.md lacks {missing}; run python tests/robustness/make_table.py"
