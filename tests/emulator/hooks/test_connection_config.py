"""Connection parsing (``AIRFLOW_CONN_*`` in every form users write), headers, test_connection, key hygiene."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from urllib.parse import quote

import pytest

from airflow_provider_seekrflow import __version__
from airflow_provider_seekrflow.client.network import tls_verify
from airflow_provider_seekrflow.defaults import DEFAULT_BASE_URL
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
    SeekrFlowConnectionError,
    SeekrFlowError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook


def connection(host: str | None, api_key: str | None = None, **fields: object) -> str:
    """An ``AIRFLOW_CONN_*`` value in JSON form; ``extra=`` and ``port=`` go in as given."""
    payload: dict[str, object] = {"conn_type": "seekrflow"}
    if host is not None:
        payload["host"] = host
    if api_key is not None:
        payload["password"] = api_key
    payload.update(fields)
    return json.dumps(payload)


@pytest.fixture
def emu(fresh_emulator_state, seekrflow_connection):
    """The emulator behind ``seekrflow_default``: no faults, empty journal, start-up config (restored after)."""
    return seekrflow_connection


@pytest.fixture
def use(monkeypatch):
    """Define a connection through its environment variable and return a hook on it."""
    hooks: list[SeekrFlowHook] = []

    def make(value: str, conn_id: str = "seekrflow_case", **hook_kwargs: object) -> SeekrFlowHook:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        hook = SeekrFlowHook(conn_id, **hook_kwargs)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Answers like SeekrFlow's file list (JSON) or like a web site (HTML), recording request headers."""

    seen: list[dict[str, str]]
    html: bool

    def do_GET(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        if type(self).html:
            body, ctype = b"<html><body>It works!</body></html>", "text/html"
        else:
            body, ctype = json.dumps({"object": "list", "data": []}).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(html: bool):
    handler = type("Handler", (_RecordingHandler,), {"seen": [], "html": html})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, handler


@pytest.fixture
def recording_server():
    server, handler = _serve(html=False)
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def html_server():
    server, _ = _serve(html=True)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# -- host forms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix",
    ["", "/", "/v1/flow", "/v1/flow/", "//"],
    ids=["plain", "trailing-slash", "api-prefix", "api-prefix-slash", "double-slash"],
)
def test_host_with_scheme_reaches_the_emulator(emu, use, suffix):
    hook = use(connection(emu.base_url + suffix, emu.api_key))

    assert hook.config.base_url == emu.base_url
    hook.list_files()
    assert [e["path"] for e in emu.journal()] == ["/v1/flow/files"]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("flow.example.com", "https://flow.example.com"),
        ("flow.example.com/", "https://flow.example.com"),
        ("flow.example.com/v1/flow", "https://flow.example.com"),
        ("https://flow.example.com/", "https://flow.example.com"),
        ("https://gateway.example.com/seekr/v1/flow/", "https://gateway.example.com/seekr"),
        ("  https://flow.example.com  ", "https://flow.example.com"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("", DEFAULT_BASE_URL),
        (None, DEFAULT_BASE_URL),
    ],
)
def test_host_without_scheme_means_https(use, host, expected):
    hook = use(connection(host, "some-key-1"))

    assert hook.config.base_url == expected


def test_empty_host_is_the_public_service(use):
    assert use(connection("", "some-key-1")).config.base_url == "https://flow.seekr.com"


def test_port_field_completes_the_host(emu, use):
    hook = use(connection("http://127.0.0.1", emu.api_key, port=emu.port))

    assert hook.config.base_url == emu.base_url
    hook.list_files()
    assert len(emu.journal(route="list_files")) == 1


def test_port_in_the_host_wins_over_the_port_field(emu, use):
    hook = use(connection(emu.base_url, emu.api_key, port=1))

    assert hook.config.base_url == emu.base_url


def test_uri_form(use, emu):
    hook = use(f"seekrflow://:{quote(emu.api_key, safe='')}@127.0.0.1:{emu.port}")

    # A host without scheme means https, so the port carries over onto an https URL.
    assert hook.config.base_url == f"https://127.0.0.1:{emu.port}"
    assert hook.config.api_key == emu.api_key


def test_uri_form_with_an_encoded_scheme_reaches_the_emulator(use, emu):
    encoded_host = quote(emu.base_url, safe="")
    hook = use(f"seekrflow://:{quote(emu.api_key, safe='')}@{encoded_host}?team_id=team-uri&max_retries=0")

    assert hook.config.base_url == emu.base_url
    assert hook.config.max_retries == 0
    hook.list_files()
    assert [e["team_id"] for e in emu.journal()] == ["team-uri"]


def test_json_form_with_every_extra(use, emu):
    hook = use(
        connection(
            emu.base_url,
            emu.api_key,
            extra={"team_id": "team-42", "timeout": 45, "connect_timeout": "3.5", "max_retries": "2"},
        )
    )

    config = hook.config
    assert config.team_id == "team-42"
    assert config.timeout == 45.0
    assert config.connect_timeout == 3.5
    assert config.max_retries == 2
    assert hook.retry_policy.max_retries == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False),
        (False, False),
        ("no", False),
        ("true", True),
        ("/etc/ssl/corp-ca.pem", "/etc/ssl/corp-ca.pem"),
    ],
)
def test_verify_extra(use, value, expected):
    hook = use(connection("https://flow.example.com", "some-key-1", extra={"verify": value}))

    assert hook.config.verify == expected
    # The session verifies as the connection says; "true" trusts the CA bundle the environment names.
    assert hook.get_conn().verify == tls_verify(expected)


def test_defaults_without_extras(use):
    config = use(connection("https://flow.example.com", "some-key-1")).config

    assert config.team_id is None
    assert config.timeout == 120.0
    assert config.max_retries == 5
    assert config.verify is True


def test_hook_arguments_override_the_extras(use):
    hook = use(
        connection("https://flow.example.com", "some-key-1", extra={"timeout": 45, "max_retries": 4}),
        timeout=7.0,
        max_retries=0,
    )

    assert hook.config.timeout == 7.0
    assert hook.config.max_retries == 0


# -- extras in effect -----------------------------------------------------------------------------


def test_team_id_header_reaches_the_service(use, emu, tmp_path):
    hook = use(connection(emu.base_url, emu.api_key, extra={"team_id": "team-42"}))
    doc = tmp_path / "team-manual.txt"
    doc.write_text("Every team keeps its own documents in the shared plant library.\n")

    stored = hook.upload_file(doc, "alignment")
    hook.generate_alignment("Teach.", [stored.id])
    hook.list_files()

    entries = emu.journal()
    routes = [e["route"] for e in entries]
    # Every request carried the header, whatever lookups the client adds around its sends.
    for route in ("validate_file_metadata", "upload_file", "alignment_generate", "list_files"):
        assert route in routes, routes
    assert {e["team_id"] for e in entries} == {"team-42"}


def test_airflow_2_form_field_names_for_extras(use, emu):
    hook = use(
        connection(
            emu.base_url,
            emu.api_key,
            extra={"extra__seekrflow__team_id": "team-af2", "extra__seekrflow__max_retries": "1"},
        )
    )

    hook.list_files()

    assert hook.config.max_retries == 1
    assert emu.journal()[0]["team_id"] == "team-af2"


def test_no_team_header_without_team_id(emu):
    SeekrFlowHook().list_files()

    assert emu.journal()[0]["team_id"] is None


def test_timeout_extra_bounds_a_slow_answer(use, emu):
    emu.set_faults([{"route": "get_file", "kind": "delay", "delay": 3, "count": 1}])
    hook = use(connection(emu.base_url, emu.api_key, extra={"timeout": 0.5, "max_retries": 0}))

    with pytest.raises(SeekrFlowConnectionError, match="timed out") as caught:
        hook.get_file("file-slow")

    # The request was sent, so the service may have acted on it.
    assert caught.value.may_have_reached_service is True


def test_max_retries_extra_is_used(use, emu):
    emu.set_faults(["list_files:503"])
    hook = use(connection(emu.base_url, emu.api_key, extra={"max_retries": 1}))

    with pytest.raises(SeekrFlowError):
        hook.list_files()

    assert len(emu.journal(route="list_files")) == 2


# -- refused settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ({"timeout": "soon"}, "timeout", "must be a number of seconds"),
        ({"timeout": 0}, "timeout", "must be greater than 0"),
        ({"timeout": -5}, "timeout", "must be greater than 0"),
        ({"connect_timeout": "x"}, "connect_timeout", "must be a number of seconds"),
        ({"max_retries": "many"}, "max_retries", "must be a whole number"),
        ({"max_retries": 2.5}, "max_retries", "must be a whole number"),
        ({"max_retries": -1}, "max_retries", "must be 0 or more"),
    ],
)
def test_invalid_extras_name_the_field(use, emu, extra, field, problem):
    hook = use(connection(emu.base_url, emu.api_key, extra=extra), conn_id="seekrflow_bad")

    with pytest.raises(SeekrFlowConfigError) as caught:
        hook.list_files()

    message = str(caught.value)
    assert message.startswith("SeekrFlow connection 'seekrflow_bad': ")
    assert f"extra {field!r}" in message
    assert problem in message
    assert emu.journal() == []  # refused before anything was sent


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("ftp://flow.example.com", "must be an http or https URL"),
        ("https://flow example.com", "white space"),
        ("https://flow.example.com/?a=1", "query or fragment"),
        ("https://flow.example.com:99999", "invalid port"),
        ("https://", "names no host name"),
    ],
)
def test_invalid_host_is_a_config_error(use, host, problem):
    hook = use(connection(host, "some-key-1"))

    with pytest.raises(SeekrFlowConfigError, match=problem) as caught:
        hook.list_files()
    assert "'seekrflow_case'" in str(caught.value)


def test_credentials_in_the_host_are_refused_without_echoing_them(use):
    hook = use(connection("https://admin:hunter2-pw@flow.example.com", "some-key-1"))

    with pytest.raises(SeekrFlowConfigError, match="must not carry credentials") as caught:
        hook.list_files()
    assert "hunter2-pw" not in str(caught.value)


@pytest.mark.parametrize("password", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_missing_api_key(use, emu, password):
    hook = use(connection(emu.base_url, password))

    with pytest.raises(SeekrFlowConfigError, match=r"password \(the SeekrFlow API key\) is empty"):
        hook.list_files()
    assert emu.journal() == []


def test_multi_line_api_key(use, emu):
    hook = use(connection(emu.base_url, "first-line-key\nsecond-line"))

    with pytest.raises(SeekrFlowConfigError, match="single line") as caught:
        hook.list_files()
    assert "first-line-key" not in str(caught.value)


@pytest.mark.parametrize("key", ["clé-ключ-0d8e", "tab\x0bkey-0d8e"], ids=["non-ascii", "control-char"])
def test_api_key_that_cannot_be_a_header_is_a_config_error(use, emu, key):
    # An HTTP header value must be printable ASCII: such a key is a connection mistake to report as one.
    hook = use(connection(emu.base_url, key))

    with pytest.raises(SeekrFlowConfigError, match="password") as caught:
        hook.list_files()
    assert key not in str(caught.value)
    assert emu.journal() == []


# -- headers --------------------------------------------------------------------------------------


def test_headers_sent(use, recording_server):
    base_url, seen = recording_server
    hook = use(connection(base_url, "bare-key-0d8e", extra={"team_id": "team-7"}))

    hook.list_files()

    (headers,) = seen
    assert headers["authorization"] == "bare-key-0d8e"  # the bare key, no "Bearer "
    assert headers["user-agent"] == f"airflow-provider-seekrflow/{__version__}"
    assert headers["x-team-id"] == "team-7"
    assert headers["accept"] == "application/json"


def test_the_emulator_accepts_the_bare_key_only(emu):
    import requests

    url = f"{emu.base_url}/v1/flow/files"
    assert requests.get(url, headers={"Authorization": emu.api_key}, timeout=10).status_code == 200
    bearer = requests.get(url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=10)
    assert bearer.status_code == 401
    assert "Bearer" in bearer.json()["detail"]
    assert requests.get(url, timeout=10).status_code == 401
    # And the hook's own requests pass.
    SeekrFlowHook().list_files()
    assert [e["status"] for e in emu.journal()] == [200, 401, 401, 200]


# -- test_connection ------------------------------------------------------------------------------


def test_test_connection_with_the_right_key(emu):
    hook = SeekrFlowHook()

    ok, message = hook.test_connection()

    assert ok is True
    assert emu.base_url in message
    assert "accepted" in message
    assert emu.journal(route="list_files")
    # The connection test's lighter retry policy does not stick to the hook.
    assert hook.retry_policy.max_retries == 3


def test_test_connection_with_a_wrong_key(use, emu):
    ok, message = use(connection(emu.base_url, "wrong-key-0d8e")).test_connection()

    assert ok is False
    assert "401" in message
    # The UI tests the form under a random temporary id: the message speaks of the one being edited.
    assert "SeekrFlow refused the API key of this connection" in message
    assert "set that connection's password" in message
    assert "wrong-key-0d8e" not in message


def test_test_connection_to_a_closed_port(use, closed_port):
    ok, message = use(
        connection(f"http://127.0.0.1:{closed_port}", "some-key-1", extra={"max_retries": 5})
    ).test_connection()

    assert ok is False
    assert f"127.0.0.1:{closed_port}" in message


def test_test_connection_to_a_web_page(use, html_server):
    ok, message = use(connection(html_server, "some-key-1")).test_connection()

    assert ok is False
    assert "does not answer like the SeekrFlow API" in message
    assert html_server in message


def test_test_connection_with_a_broken_setting(use):
    ok, message = use(
        connection("https://flow.example.com", "some-key-1", extra={"timeout": "soon"})
    ).test_connection()

    assert ok is False
    assert "timeout" in message
    assert message.startswith("This connection: "), message


def test_test_connection_retries_at_most_once(emu):
    emu.set_faults(["list_files:503"])

    ok, message = SeekrFlowHook().test_connection()

    assert ok is False
    assert "503" in message
    assert len(emu.journal(route="list_files")) == 2


# -- the API key never leaks ----------------------------------------------------------------------


SECRET = "sk-live-5ecret-abcdef0123456789"


def _leaks(key: str, texts: list[str]) -> list[str]:
    return [text for text in texts if key in text]


def test_wrong_key_never_appears_in_logs_errors_or_reprs(use, emu, closed_port, html_server, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    hooks = [
        use(connection(emu.base_url, SECRET), conn_id="seekrflow_leak_401"),
        use(
            connection(f"http://127.0.0.1:{closed_port}", SECRET, extra={"max_retries": 0}),
            conn_id="seekrflow_leak_down",
        ),
        use(connection(html_server, SECRET), conn_id="seekrflow_leak_html"),
        use(connection(emu.base_url, SECRET, extra={"timeout": "soon"}), conn_id="seekrflow_leak_cfg"),
        use(connection(f"https://user:{SECRET}@flow.example.com", SECRET), conn_id="seekrflow_leak_host"),
    ]
    for hook in hooks:
        for call in (hook.list_files, lambda h=hook: h.get_alignment_job("al-1"), hook.test_connection):
            try:
                texts.append(repr(call()))
            except SeekrFlowError as err:
                texts += [str(err), repr(err), str(err.service_message), str(err.args)]
        texts.append(repr(hook))
        if "config" in hook.__dict__:
            texts += [repr(hook.config), str(hook.config)]

    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    texts += [record.getMessage() for record in caplog.records]
    assert _leaks(SECRET, texts) == []


def test_right_key_never_appears_in_logs_errors_or_reprs(emu, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    key = emu.api_key
    hook = SeekrFlowHook(max_retries=1)
    texts = [repr(hook)]
    doc = tmp_path / "leak-check.txt"
    doc.write_text("The shift supervisor signs the log book at the end of every shift.\n")
    stored = hook.upload_file(doc, "alignment")
    emu.set_faults(["get_alignment_job:503", "upload_file:drop_after:count=1"])
    attempts = [
        lambda: hook.get_file("file-missing"),
        lambda: hook.generate_alignment("Teach.", ["file-missing"]),
        lambda: hook.get_alignment_job("al-1"),
        lambda: hook.upload_file(doc, "alignment", filename="again.txt"),
        lambda: hook.download_file("file-missing", tmp_path / "x.txt"),
        lambda: hook.list_files(limit=5000),
    ]
    for attempt in attempts:
        try:
            texts.append(repr(attempt()))
        except SeekrFlowError as err:
            texts += [str(err), repr(err), str(err.service_message)]
    texts += [repr(hook.config), str(hook.config), repr(stored), str(hook.test_connection())]

    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    texts += [record.getMessage() for record in caplog.records]
    assert _leaks(key, texts) == []
    # The config object holds the key (it must), but hides it from its repr.
    assert hook.config.api_key == key
