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
from layouts import BadPath, Router, SiteLayout, parse_rel

DESCRIPTION = """\
Delete {site}/full/REL and {site}/{size}/REL for every size the site configures, for each
REL given, and print `deleted KEY` for each object that existed. Every REL is checked
first: an invalid one, or one below Magento 2's cache/, placeholder/ or watermark/ (never
originals), stops the command before anything is deleted. A running proxy may still hold a
deleted image in its memory cache until it expires or is evicted; the upload API's DELETE
purges that cache too.

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
    for rel in args.rels:  # every REL before anything is deleted
        problem = refusal(layout, rel)
        if problem is not None:
            return console.usage_error(
                "delete",
                f"{rel}: {problem} (REL is a path below {layout.originals_prefix}, "
                "e.g. 1/3/1335478295542.jpg)",
            )
    rels: list[str] = args.rels

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


def refusal(layout: SiteLayout, rel: str) -> str | None:
    """Why `rel` is no path of an original to delete, or None. Magento 2's cache/,
    placeholder/ and watermark/ hold sizes and Magento's own files: deleting
    `cache/{hash}/a/b/x.jpg` "with every size" would be a guess at what was meant."""
    try:
        parse_rel(rel)
    except BadPath as error:
        return error.reason
    top = rel.split("/", 1)[0]
    if top in layout.not_originals:
        return f"{top}/ never holds originals; give the original's path"
    return None
