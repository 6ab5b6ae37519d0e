"""Command line: ``python -m airflow_provider_seekrflow.emulator --host 127.0.0.1 --port 0 --api-key KEY``.

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
from airflow_provider_seekrflow.emulator.server import bind_socket, build_server, format_base_url


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
            "service wants. Alignment jobs and data jobs write their fine-tune output as parquet."
        ),
        epilog=(
            "Example: python -m airflow_provider_seekrflow.emulator --port 8899 --api-key dev-key, then "
            'AIRFLOW_CONN_SEEKRFLOW_DEFAULT=\'{"conn_type": "seekrflow", "host": "http://127.0.0.1:8899", '
            '"password": "dev-key"}\'. Port 8080 is Airflow\'s web server; pick another.'
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on; 0 picks a free one (default 0)"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("SEEKRFLOW_EMULATOR_API_KEY", "test-key"),
        help="the key clients must send in Authorization (default $SEEKRFLOW_EMULATOR_API_KEY or test-key)",
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
        help="route:kind[:rate][:key=value...], e.g. upload_file:drop_after:0.2 or '*:429:0.1:retry_after=2'",
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
    # A shell's background job starts with SIGINT ignored; make an early Ctrl-C/SIGINT count too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _serve(parse_args(argv))
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
