"""`mediaproxy`: one console script, one subcommand per job (SPEC §6)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cli import configcmd, delete, magento2, migrate, pregen, serve, worker
from cli.common import CONFIG_HELP
from config import ConfigError, Settings, load_settings
from layouts import LayoutConfigError, Router

COMMANDS = [serve, pregen, migrate, delete, magento2, configcmd, worker]

DESCRIPTION = """\
mediaproxy: the image origin for Magento shops.

Serves /{site}/{size}/{path} (Magento 1 / mVentory) and /media/catalog/product/cache/{hash}/...
(Magento 2) from S3-compatible storage (or local files), renders missing sizes with libvips
using Magento's geometry, and keeps every configured size in storage.

Configuration: --config FILE or $MEDIAPROXY_CONFIG (TOML), plus environment overrides
MEDIAPROXY_<SECTION>_<KEY> (e.g. MEDIAPROXY_STORAGE_URL=s3://bucket/media). With neither,
the embedded default runs: storage file:./var/media and one demo site.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mediaproxy",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings, router = load(args)
    except ConfigError as error:
        print("mediaproxy: the configuration has problems:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Fix them and run `mediaproxy config check` again.", file=sys.stderr)
        return 2
    try:
        code: int = args.run(args, settings, router)
    except BrokenPipeError:  # `mediaproxy ... | head`: the reader left, as Python's docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


def load(args: argparse.Namespace) -> tuple[Settings, Router]:
    """Settings, and the router of every site's layout, built here once for the whole run
    (a Magento 2 layout reads its view.xml files and computes its hash table): the command
    and the bulk core it calls are handed this router and never build layouts again."""
    path = getattr(args, "config", None) or os.environ.get("MEDIAPROXY_CONFIG") or None
    settings = load_settings(path)
    return settings, build_router(settings)


def build_router(settings: Settings) -> Router:
    """Every site's layout, so a view.xml or crypt-key problem is a config error (exit 2)
    like any other rather than a failure later on."""
    try:
        return Router.from_settings(settings)
    except LayoutConfigError as error:
        raise ConfigError(error.problems) from None


if __name__ == "__main__":
    sys.exit(main())
