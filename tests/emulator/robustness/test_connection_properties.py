"""Property-based tests (hypothesis) of connection parsing in ``client/config.py``.

- any valid http(s) host / port round-trips to a base URL without a trailing slash;
- garbage in any field never raises anything but ``ConnectionSettingsError``;
- the API key never appears in an error message (nor in the config's repr);
- credentials written into the host never appear in an error message;
- accepted timeouts and retry counts are within their bounds.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from airflow_provider_seekrflow.client.config import (
    ConnectionSettingsError,
    build_client_config,
    normalize_base_url,
    parse_extras,
)
from airflow_provider_seekrflow.client.connection_extras import MAX_RETRIES, MAX_TIMEOUT_SECONDS

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)
domain = (
    st.lists(label, min_size=1, max_size=4).map(".".join).filter(lambda d: not d.replace(".", "").isdigit())
)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
hostname = domain | ipv4
port = st.integers(1, 65535)
prefix = st.lists(label, max_size=2).map(lambda parts: "".join("/" + p for p in parts))


@FAST
@given(
    hostname,
    st.sampled_from(["http", "https", None]),
    st.none() | port,
    st.sampled_from(["host", "field"]),
    prefix,
    st.sampled_from(["", "/", "//", "/v1/flow", "/v1/flow/"]),
)
def test_valid_host_and_port_round_trip(host, scheme, port_number, port_in, path, tail):
    raw = f"{scheme}://{host}" if scheme else host
    field_port = None
    if port_number is not None:
        if port_in == "host":
            raw += f":{port_number}"
        else:
            field_port = port_number
    raw += path + tail
    url = normalize_base_url(raw, field_port)
    expected = f"{scheme or 'https'}://{host}" + (f":{port_number}" if port_number else "") + path
    assert url == expected
    assert not url.endswith("/")
    parts = urlsplit(url)
    assert parts.hostname == host and parts.port == port_number
    assert normalize_base_url(url) == url  # idempotent
    config = build_client_config(host=raw, port=field_port, password="k3y", extras={})
    assert config.url("/v1/flow/files") == expected + "/v1/flow/files"


@FAST
@given(hostname, st.integers(min_value=-(10**6), max_value=10**6))
@example(host="flow.example.com", port_number=70000)
@example(host="flow.example.com", port_number=-1)
def test_port_field_is_checked_or_yields_a_parseable_url(host, port_number):
    """An out-of-range port field must be refused while parsing, not produce a URL nothing can use."""
    try:
        url = normalize_base_url(host, port_number)
    except ConnectionSettingsError as err:
        assert "port" in str(err)
        return
    assert urlsplit(url).port in (None, *range(1, 65536)), f"{url!r} carries an invalid port"


values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.sampled_from(["inf", "-1", "nan", "1e999", "0", "true", "no", "1_000"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
extras = st.dictionaries(
    st.sampled_from(
        ["timeout", "connect_timeout", "max_retries", "verify", "team_id", "extra__seekrflow__timeout"]
    )
    | st.text(max_size=8),
    values,
    max_size=4,
)
garbage_host = st.one_of(
    st.none(), st.text(max_size=40), hostname,
    st.builds(lambda s, h, t: f"{s}://{h}{t}", st.sampled_from(["http", "https", "ftp", "", "HTTP"]),
              st.text(max_size=15) | hostname, st.text(max_size=15)),
)  # fmt: skip


@FAST
@given(
    garbage_host,
    st.none() | st.integers(),
    st.none() | st.text(max_size=10),
    st.none() | st.text(max_size=30),
    extras,
)
@example(host="http://[::1", port=None, schema=None, password="k", extras={})
@example(host="https://[v1.x", port=None, schema=None, password="k", extras={})
@example(host="example.com", port=None, schema=None, password="k", extras={"timeout": 10**400})
def test_garbage_raises_only_connection_settings_error(host, port, schema, password, extras):
    try:
        build_client_config(host=host, port=port, schema=schema, password=password, extras=extras)
    except ConnectionSettingsError:
        pass
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{type(exc).__name__} instead of ConnectionSettingsError: {exc!r}")


@FAST
@given(st.text(max_size=200))
@example(extra="[" * 3000)
def test_extra_text_raises_only_connection_settings_error(extra):
    try:
        parse_extras(extra)
    except ConnectionSettingsError:
        pass
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{type(exc).__name__} instead of ConnectionSettingsError: {exc!r}")


@FAST
@given(extras)
@example(extras={"timeout": "inf"})
@example(extras={"connect_timeout": 1e308 * 10})
@example(extras={"timeout": 9.3e9})
@example(extras={"max_retries": 10**6})
def test_accepted_timeouts_are_finite(extras):
    """A timeout the config accepts must be usable by a socket (finite, positive, at most a day)."""
    try:
        config = build_client_config(host="example.com", port=None, password="k3y", extras=extras)
    except ConnectionSettingsError:
        return
    assert math.isfinite(config.timeout) and 0 < config.timeout <= MAX_TIMEOUT_SECONDS
    assert math.isfinite(config.connect_timeout) and 0 < config.connect_timeout <= MAX_TIMEOUT_SECONDS
    assert 0 <= config.max_retries <= MAX_RETRIES


secret = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="@"), min_size=8, max_size=20
)


@FAST
@given(garbage_host, secret, st.sampled_from(["{s}@", "user:{s}@", "{s}:x@"]), st.none() | st.integers())
@example(host="ftp://flow.example.com", password="SECRETKEY", form="bob:{s}@", port=None)
@example(host="https://flow example.com", password="SECRETKEY", form="bob:{s}@", port=None)
def test_credentials_in_the_host_never_appear_in_an_error(host, password, form, port):
    raw = host or ""
    split = raw.find("://") + 3 if "://" in raw else 0
    raw = raw[:split] + form.format(s=password) + raw[split:]
    try:
        normalize_base_url(raw, port)
    except ConnectionSettingsError as err:
        assert password not in str(err) and password not in repr(err)
        return
    pytest.fail(f"{raw!r} was accepted")


key = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=40).map(
    lambda s: "sk-" + s
)
bad_key = st.builds(
    lambda k, junk: k + junk, key, st.sampled_from(["\n", "\x00", "\x7f", "é", " \t x", "\u2028"])
)


@FAST
@given(
    st.one_of(key, bad_key), garbage_host, st.none() | st.integers(), st.none() | st.text(max_size=10), extras
)
def test_api_key_never_in_an_error_message(api_key, host, port, schema, extras):
    assume(api_key.strip() not in repr((host, schema, extras)))
    try:
        config = build_client_config(host=host, port=port, schema=schema, password=api_key, extras=extras)
    except ConnectionSettingsError as err:
        assert api_key.strip() not in str(err) and api_key.strip() not in repr(err)
        return
    except Exception as exc:  # noqa: BLE001 - reported by the garbage test; here only the key matters
        assert api_key.strip() not in str(exc) and api_key.strip() not in repr(exc)
        return
    assert api_key.strip() not in repr(config)


def test_hook_wraps_the_message_without_the_key():
    from airflow_provider_seekrflow.hooks.base import connection_config

    secret = "sk-CANARY-\x01-hidden"
    with pytest.raises(Exception) as info:
        connection_config(
            "c", host="example.com", port=None, password=secret, extras={}, timeout=None, max_retries=None
        )
    assert "password" in str(info.value) and secret not in str(info.value) and secret not in repr(info.value)
