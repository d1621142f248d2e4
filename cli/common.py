"""What every subcommand shares: the --config option, given before or after the command,
and how it is run: `run(args, settings, router)`, with the router (every site's layout)
built once by cli.main and passed down, never rebuilt by a command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bulk.events import check_queue_url
from config import Settings
from layouts import Router

CONFIG_HELP = "TOML config file (default: $MEDIAPROXY_CONFIG, else the embedded default)"
Subparsers = Any  # argparse's _SubParsersAction is private
Runner = Callable[[argparse.Namespace, Settings, Router], int]


def add_command(
    subparsers: Subparsers, name: str, run: Runner, help_text: str, description: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help_text,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # SUPPRESS keeps a --config given before the subcommand from being reset to None.
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP)
    parser.set_defaults(run=run)
    return parser


def add_bulk_options(parser: argparse.ArgumentParser) -> None:
    """--jobs and --errors, shared by the long-running bulk commands."""
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=0,
        metavar="N",
        help="render threads (default: one per CPU)",
    )
    parser.add_argument(
        "--errors",
        metavar="FILE",
        help="write `key<TAB>reason` per failure to FILE (default: stderr)",
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def port_number(text: str, lowest: int = 1) -> int:
    """A TCP port to listen on. 0 (any free port) only where `lowest` allows it: the
    metrics server would listen on a port nothing logs, so nobody could scrape it."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not lowest <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number {lowest}-65535, got {text!r}")
    return value


def queue_url(text: str) -> str:
    try:
        return check_queue_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
