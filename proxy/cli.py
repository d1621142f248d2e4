"""`mediaproxy`: one console script, one subcommand per job (SPEC §6)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from config import ConfigError, Settings, load_settings
from proxy import commands
from proxy.commands.common import CONFIG_HELP

DESCRIPTION = """\
mediaproxy: the image origin for Magento shops.

Serves /{site}/{size}/{path} from S3-compatible storage (or local files), renders missing
sizes with libvips using Magento's geometry, and keeps every configured size in storage.

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
    for module in commands.ALL:
        module.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load(args)
    except ConfigError as error:
        print("mediaproxy: the configuration has problems:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Fix them and run `mediaproxy config check` again.", file=sys.stderr)
        return 2
    code: int = args.run(args, settings)
    return code


def load(args: argparse.Namespace) -> Settings:
    path = getattr(args, "config", None) or os.environ.get("MEDIAPROXY_CONFIG") or None
    return load_settings(path)


if __name__ == "__main__":
    sys.exit(main())
