"""Command line: ``SEEKRFLOW_EMULATOR_API_KEY=KEY python -m airflow_provider_seekrflow.emulator --port 0``.

For tests and local development only: never expose it to a network. There is no default key:
give it in ``$SEEKRFLOW_EMULATOR_API_KEY`` (preferred: argv shows in ``ps``) or ``--api-key``.
A non-loopback ``--host`` is refused unless ``--allow-remote`` is given, and then warned about.

Prints one line, the base URL, to stdout once it accepts connections; logs go to stderr.
Runs until SIGINT/SIGTERM. ``--legacy-job-shape`` imitates older servers (job percentages as
strings, an unknown ``preparing`` status); ``--deprecation-headers`` marks the generate route
deprecated in its response headers. Both can also be switched at run time (``PUT /_emulator/config``).
``--ingestion-seconds`` and ``--fine-tune-duration`` time data-job ingestion and fine-tunes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile

from airflow_provider_seekrflow.emulator.faults import FaultRule, parse_fault_spec
from airflow_provider_seekrflow.emulator.server import (
    API_KEY_ENV,
    bind_socket,
    build_server,
    check_host,
    format_base_url,
)


def _fault(text: str) -> FaultRule:
    try:
        if text.lstrip().startswith("{"):
            return FaultRule.from_dict(json.loads(text))
        return parse_fault_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """Return the command line's parser (its ``--help`` states every default)."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_seekrflow.emulator",
        description=(
            "Local SeekrFlow API emulator, following SeekrFlow's openapi.yaml under /v1/flow. Clients send "
            "the bare API key in the Authorization header (Authorization: <key>, no 'Bearer '), as the "
            "service wants. Alignment jobs and data jobs write their fine-tune output as parquet. "
            "FOR TESTS AND LOCAL DEVELOPMENT ONLY: never expose it to a network. Every path, the "
            "/_emulator admin API included, needs the key."
        ),
        epilog=(
            "Example: export SEEKRFLOW_EMULATOR_API_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe())'); "
            "python -m airflow_provider_seekrflow.emulator --port 8899, then "
            'AIRFLOW_CONN_SEEKRFLOW_DEFAULT=\'{"conn_type": "seekrflow", "host": "http://127.0.0.1:8899", '
            '"password": "\'"$SEEKRFLOW_EMULATOR_API_KEY"\'"}\'. Port 8080 is Airflow\'s web server; pick another.'
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); a non-loopback one needs --allow-remote",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host beyond loopback (e.g. 0.0.0.0 inside a container), with a warning; "
        "the emulator must still never be exposed to a network",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on; 0 picks a free one (default 0)"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        help=f"the key clients must send in Authorization (default ${API_KEY_ENV}; no default key: one of "
        "the two is required). Prefer the variable: a command line is visible to every user in ps",
    )
    parser.add_argument(
        "--data-dir", help="state directory, kept across restarts (default: a new temporary directory)"
    )
    parser.add_argument(
        "--job-duration", type=float, default=20.0, help="seconds an alignment job runs (default 20)"
    )
    parser.add_argument(
        "--ingestion-seconds",
        type=float,
        help="seconds a data job takes to ingest each non-Markdown file (default 2; config ingestion_seconds)",
    )
    parser.add_argument(
        "--fine-tune-duration",
        type=float,
        help="seconds a fine-tune runs from creation to its end (default 20; config fine_tune_duration)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        type=_fault,
        default=[],
        metavar="SPEC",
        help="route:kind[:rate][:key=value...] or a JSON rule, repeatable; kinds 429, 500, 502, 503, 504, "
        "500_after, 502_after, 503_after, 504_after, delay, trickle, redirect, drop_before, drop_after. "
        "E.g. upload_file:drop_after:0.2, '*:429:0.1:retry_after=2', create_fine_tune:504_after:count=1, "
        "get_data_job:trickle:delay=2, list_files:redirect:status=302:location=http://127.0.0.1:9/x",
    )
    parser.add_argument(
        "--legacy-job-shape",
        action="store_true",
        help="answer like older servers: job progress and step_progress as strings such as '40%%', "
        "and the unknown status 'preparing' where a job would be queued (config legacy_job_shape)",
    )
    parser.add_argument(
        "--deprecation-headers",
        action="store_true",
        help="add Deprecation, Sunset and Link headers to every answer of POST /v1/flow/alignment/generate "
        "(config deprecation_headers)",
    )
    parser.add_argument(
        "--loop",
        default="asyncio",
        choices=["asyncio", "uvloop", "auto"],
        help="uvicorn event loop (default asyncio)",
    )
    parser.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (default: plain HTTP)")
    parser.add_argument("--ssl-keyfile", help="the private key of --ssl-certfile")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default warning)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``argv``, default ``sys.argv[1:]``)."""
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM; return the exit code (a usage error exits 2).

    :param argv: the arguments, default ``sys.argv[1:]``.
    """
    # A shell's background job starts with SIGINT ignored; make an early Ctrl-C/SIGINT count too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error(f"no API key: set ${API_KEY_ENV} (or pass --api-key); there is no default key")
    try:
        check_host(args.host, args.allow_remote)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return _serve(args)
    except KeyboardInterrupt:
        return 0


def _serve(args: argparse.Namespace) -> int:
    from airflow_provider_seekrflow.emulator.app import EmulatorState, create_app  # the heavy imports

    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="seekrflow-emu-")
    state = EmulatorState(
        args.api_key,
        data_dir,
        job_duration=args.job_duration,
        legacy_job_shape=args.legacy_job_shape,
        deprecation_headers=args.deprecation_headers,
        ingestion_seconds=args.ingestion_seconds,
        fine_tune_duration=args.fine_tune_duration,
    )
    for rule in args.fault:
        state.faults.add(rule)
    sock = bind_socket(args.host, args.port)
    url = format_base_url(args.host, sock.getsockname()[1], https=bool(args.ssl_certfile))

    def announce() -> None:
        print(url, flush=True)
        print(f"SeekrFlow emulator at {url}, data in {state.store.data_dir}", file=sys.stderr, flush=True)

    server = build_server(
        create_app(state),
        log_level=args.log_level,
        loop=args.loop,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        on_started=announce,
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
