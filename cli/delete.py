"""`mediaproxy delete`: remove originals and every configured size of them."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bulk.delete import delete_rels
from bulk.report import EXIT_INTERRUPTED
from cli import console
from cli.common import Subparsers, add_command
from config import Settings
from layouts import BadPath, Router, parse_rel

DESCRIPTION = """\
Delete {site}/full/REL and {site}/{size}/REL for every size the site configures, for each
REL given, and print `deleted KEY` for each object that existed. A running proxy may still
hold a deleted image in its memory cache until it expires or is evicted; the upload API's
DELETE purges that cache too.

examples:
  mediaproxy delete --site t1 1/3/1335478295542.jpg
  mediaproxy delete --site t1 a/b/ab1.jpg a/b/ab2.jpg

exit status: 0 everything deleted, 1 some REL had nothing to delete (or storage failed),
2 usage or config error.
"""


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "delete", run, "delete originals and all their sizes", DESCRIPTION
    )
    parser.add_argument("--site", required=True, metavar="S", help="the site to delete from")
    parser.add_argument(
        "rels",
        nargs="+",
        metavar="REL",
        help="a path below {site}/full/, e.g. 1/3/1335478295542.jpg",
    )


def run(args: argparse.Namespace, settings: Settings, router: Router) -> int:
    layout = router.layouts.get(args.site)
    if layout is None:
        return console.usage_error(
            "delete", f"unknown site {args.site!r} (configured: {', '.join(settings.sites)})"
        )
    try:
        rels = [parse_rel(rel) for rel in args.rels]
    except BadPath as error:
        below = layout.originals_prefix
        return console.usage_error(
            "delete", f"{error.reason} (REL is a path below {below}, e.g. 1/3/1335478295542.jpg)"
        )

    async def work() -> bool:
        storage = await console.open_for(settings, 1)
        try:
            return await delete_rels(storage, layout, rels, sys.stdout, sys.stderr)
        finally:
            await storage.close()

    try:
        return 0 if asyncio.run(work()) else 1
    except console.UsageError as error:
        return console.usage_error("delete", str(error))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
