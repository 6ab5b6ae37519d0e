"""The emulator's command line documents itself: every option's default and the Authorization format."""

from __future__ import annotations

from airflow_provider_seekrflow.emulator.__main__ import build_parser


def test_every_option_that_takes_a_value_states_its_default():
    parser = build_parser()
    undocumented = [
        action.option_strings[-1]
        for action in parser._actions
        if action.option_strings
        and action.nargs != 0  # flags are off unless given
        and action.dest not in ("fault", "ssl_keyfile")  # repeated specs; the key goes with its certificate
        and "default" not in (action.help or "")
    ]
    assert undocumented == []


def test_help_says_how_to_authenticate_and_avoids_airflows_port():
    help_text = build_parser().format_help()
    assert "Authorization: <key>, no 'Bearer '" in " ".join(help_text.split())
    assert "8080" in help_text and "8899" in help_text
