"""
What the connection says wins over what the environment says, on the sync and the async path alike.

requests, left alone, lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace a session's ``verify`` on
every request, and a ``~/.netrc`` entry (a ``default`` one included) replace the API key with Basic
credentials; aiohttp (``trust_env=False``) does neither. The connection's ``verify`` extra and its
API key must hold on both.
"""

from __future__ import annotations

import pytest

from airflow_provider_seekrflow.exceptions import SeekrFlowNotFoundError, SeekrFlowTLSError
from tests.emulator.network.test_proxy_and_tls import (
    CONN_ID,
    async_poll,
    start_job,
    sync_poll,
    use_connection,
)
from tests.emulator.robustness.hostile import Behaviour, HostileServer

ALIGNMENT_JOB = b'{"id": "al-netrc", "status": "running"}'


def _job_behind_a_wrong_ca_bundle(tls_emulators, pki, variable, monkeypatch, tmp_path):
    """A running job of the TLS emulator, and ``variable`` naming a CA that signed nothing here."""
    emu = tls_emulators["127.0.0.1"]
    emu.reset()
    job_id = start_job(emu, pki.ca, tmp_path, monkeypatch)
    monkeypatch.setenv(variable, pki.other_ca)
    return emu, job_id


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_verify_extra_wins_over_a_ca_bundle_variable_on_both_paths(
    tls_emulators, pki, variable, clean_network_env, tmp_path
):
    monkeypatch = clean_network_env
    emu, job_id = _job_behind_a_wrong_ca_bundle(tls_emulators, pki, variable, monkeypatch, tmp_path)
    use_connection(emu, monkeypatch, verify=pki.ca)

    assert sync_poll(job_id).id == job_id
    assert async_poll(job_id).id == job_id

    # Without the extra, the variable is what both paths trust: and it is the wrong CA.
    use_connection(emu, monkeypatch)
    with pytest.raises(SeekrFlowTLSError):
        sync_poll(job_id)
    with pytest.raises(SeekrFlowTLSError):
        async_poll(job_id)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_verify_false_wins_over_a_ca_bundle_variable_on_both_paths(
    tls_emulators, pki, variable, clean_network_env, tmp_path
):
    monkeypatch = clean_network_env
    emu, job_id = _job_behind_a_wrong_ca_bundle(tls_emulators, pki, variable, monkeypatch, tmp_path)
    use_connection(emu, monkeypatch, verify=False)

    assert sync_poll(job_id).id == job_id
    assert async_poll(job_id).id == job_id


def _write_netrc(path, host: str) -> str:
    path.write_text(
        f"machine {host}\n  login netrc-user\n  password netrc-password\ndefault login u password p\n"
    )
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize("where", ["NETRC", "HOME"])
def test_a_netrc_never_replaces_the_api_key(where, emu, clean_network_env, tmp_path):
    monkeypatch = clean_network_env
    if where == "NETRC":
        monkeypatch.setenv("NETRC", _write_netrc(tmp_path / "credentials", "127.0.0.1"))
    else:
        monkeypatch.delenv("NETRC", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        _write_netrc(tmp_path / ".netrc", "127.0.0.1")
    use_connection(emu, monkeypatch)

    # The emulator accepts only its key: a 404 for a job it does not have is an authenticated answer.
    for poll in (sync_poll, async_poll):
        with pytest.raises(SeekrFlowNotFoundError):
            poll("al-missing")
    assert [entry["status"] for entry in emu.journal()] == [404, 404]


def test_both_paths_send_the_bare_key_despite_a_netrc_default(api_key, clean_network_env, tmp_path):
    monkeypatch = clean_network_env
    monkeypatch.setenv("NETRC", _write_netrc(tmp_path / "credentials", "example.invalid"))
    with HostileServer(Behaviour(200, "application/json", ALIGNMENT_JOB)) as server:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}", f'{{"conn_type": "seekrflow", "host": "{server.base_url}", '
            f'"password": "{api_key}", "extra": {{"max_retries": 0}}}}'
        )  # fmt: skip
        assert sync_poll("al-netrc").id == "al-netrc"
        assert async_poll("al-netrc").id == "al-netrc"

    assert server.auth_headers == [api_key, api_key]
