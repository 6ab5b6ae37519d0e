"""The connection form and the hook's parser agree on every extra: the form's schema is what the hook accepts."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_provider_seekrflow.client.config import (
    ClientConfig,
    ConnectionSettingsError,
    build_client_config,
)
from airflow_provider_seekrflow.client.connection_extras import EXTRA_FIELDS, shown_value
from airflow_provider_seekrflow.connection_form import conn_fields, placeholders

FORM = conn_fields()
NUMERIC = [field.name for field in EXTRA_FIELDS if field.kind in ("integer", "number")]


def _config(**extras: object) -> ClientConfig:
    return build_client_config(host="https://flow.example.com", port=None, password="k3y", extras=extras)


def _accepts(name: str, value: object) -> bool:
    try:
        _config(**{name: value})
    except ConnectionSettingsError as err:
        assert str(err).startswith(f"extra {name!r} must be "), err
        return False
    return True


def test_every_extra_on_the_form_is_a_setting_of_the_client():
    settings = {f.name for f in dataclasses.fields(ClientConfig)} - {"base_url", "api_key"}
    expected = {"team_id", "timeout", "connect_timeout", "max_retries", "verify", "console_url"}
    assert set(FORM) == settings == expected


def test_an_empty_extra_gives_the_default_the_form_shows():
    config = _config()
    for field in EXTRA_FIELDS:
        assert getattr(config, field.name) == field.default, field.name
        if field.default is not None:
            assert FORM[field.name]["description"].endswith(f"; {shown_value(field.default)} when empty.")


@pytest.mark.parametrize("name", NUMERIC)
def test_the_form_bounds_are_the_parser_bounds(name):
    schema = FORM[name]["schema"]
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    assert low is not None and "maximum" in schema, schema
    assert _accepts(name, low) is ("minimum" in schema)  # an exclusive bound refuses the bound itself
    assert _accepts(name, schema["maximum"])
    assert not _accepts(name, schema["maximum"] + 1)
    assert not _accepts(name, low - 1)


@pytest.mark.parametrize("name", NUMERIC)
def test_the_form_type_is_the_parser_type(name):
    (kind,) = set(FORM[name]["schema"]["type"]) - {"null"}
    # A fraction inside the bounds: a "number" takes it, an "integer" does not.
    assert _accepts(name, 2.5) is (kind == "number")
    if kind == "number":
        assert getattr(_config(**{name: "2.5"}), name) == 2.5


def test_timeout_is_a_number_of_seconds_above_0():
    # What users rely on: a fractional timeout; the form said "integer >= 1" until the two were one.
    assert FORM["timeout"]["schema"] == {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 86400}
    assert _config(timeout=0.5).timeout == 0.5
    with pytest.raises(ConnectionSettingsError, match=r"^extra 'timeout' must be greater than 0, got 0$"):
        _config(timeout=0)


def test_a_hook_override_is_held_to_the_same_bounds():
    config = build_client_config(
        host=None, port=None, password="k3y", extras={"timeout": 1}, timeout=0.25, max_retries=0
    )
    assert (config.timeout, config.max_retries) == (0.25, 0)
    with pytest.raises(
        ConnectionSettingsError, match=r"^the hook's max_retries must be at most 100, got 101$"
    ):
        build_client_config(host=None, port=None, password="k3y", extras={}, max_retries=101)


def test_every_extra_has_a_placeholder():
    shown = placeholders()
    assert shown["timeout"] == "120" and shown["max_retries"] == "5"
    assert all(shown[field.name] for field in EXTRA_FIELDS)


def test_airflow_2_widgets_take_what_the_parser_takes():
    pytest.importorskip("flask_appbuilder")
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange

    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    widgets = SeekrFlowHook.get_connection_form_widgets()
    for name, field in FORM.items():
        (kind,) = set(field["schema"]["type"]) - {"null"}
        widget = widgets[name]
        # Airflow 2 has no decimal field: a number is typed as text, so 0.5 is not refused by the form.
        assert widget.field_class is (IntegerField if kind == "integer" else StringField), name
        ranges = [v for v in widget.kwargs["validators"] if isinstance(v, NumberRange)]
        if kind == "integer":
            assert [(r.min, r.max) for r in ranges] == [
                (field["schema"]["minimum"], field["schema"]["maximum"])
            ]
        else:
            assert ranges == []
