"""`mediaproxy pregen`: make every configured size that is missing from storage."""

from __future__ import annotations

import argparse
import sys

from bulk.engine import Engine
from bulk.events import Location, QueueError, connect, enqueue
from bulk.pregen import (
    PregenOptions,
    PregenUsageError,
    parse_formats,
    parse_size_list,
    plan,
    print_plan,
    select_sites,
    select_sizes,
)
from bulk.run import Run
from bulk.shard import ALL, Shard
from cli import console
from cli.common import Subparsers, add_bulk_options, add_command, queue_url
from config import Settings
from layouts import Router

DESCRIPTION = """\
List the originals under {site}/full/ and the objects of every size (listings, not a HEAD
per object), then make only what is missing: one download per original, all of its sizes
rendered from it in one pass, on every core. Safe to interrupt (Ctrl-C) and run again: the
next run picks up exactly what is still missing.

examples:
  mediaproxy pregen                              every missing size of every site
  mediaproxy pregen --site t1 --sizes "300x, 70x70"
  mediaproxy pregen --overwrite --errors failed.tsv   re-render everything (e.g. new quality)
  mediaproxy pregen --shard 2/8                  this machine's eighth of the originals
  mediaproxy pregen --dry-run | wc -l            how many objects would be written
  mediaproxy pregen --enqueue $QUEUE             one message per original for `worker`s

exit status: 0 all done, 1 some image failed (see the error log), 2 usage or config
error, 130 interrupted (run again to resume).
"""


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "pregen", run, "make every configured size that is missing", DESCRIPTION
    )
    parser.add_argument(
        "--site",
        action="append",
        default=[],
        metavar="S",
        help="only this site (repeatable; default: every configured site)",
    )
    parser.add_argument(
        "--sizes",
        metavar="LIST",
        help='only these configured sizes, e.g. "300x, 70x70" (default: all); Magento 2: '
        "the hashes or WxH sizes its url_format makes",
    )
    parser.add_argument(
        "--formats",
        metavar="LIST",
        help='only these variant formats of the sizes, e.g. "webp" or "" for none '
        "(default: every format the site enables)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="re-render and replace sizes that already exist"
    )
    parser.add_argument(
        "--shard",
        type=shard_arg,
        default=ALL,
        metavar="K/N",
        help="only originals whose key hashes to K modulo N (0 <= K < N)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print `key<TAB>original` per object to make; write nothing",
    )
    parser.add_argument(
        "--enqueue",
        type=queue_url,
        metavar="SQS_URL",
        help="render nothing here: send one message per original that needs work to this "
        "queue, for `mediaproxy worker`s to share (10 per SendMessageBatch)",
    )
    add_bulk_options(parser)


def run(args: argparse.Namespace, settings: Settings, router: Router) -> int:
    try:
        sizes = parse_size_list(args.sizes) if args.sizes is not None else None
        formats = parse_formats(args.formats) if args.formats is not None else None
        options = PregenOptions(
            tuple(args.site), sizes, args.overwrite, args.jobs, args.shard, formats
        )
        for layout in select_sites(router, options.sites):
            select_sizes(layout, options.sizes, options.formats)
    except PregenUsageError as error:
        return console.usage_error("pregen", str(error))

    async def work(bulk: Run) -> None:
        if args.enqueue and not args.dry_run:
            await _enqueue(settings, router, options, args.enqueue, bulk)
            return
        storage = await console.open_for(settings, options.workers)
        try:
            jobs = await plan(storage, router, options, bulk)
            if args.dry_run:
                bulk.report.dry_run = True
                print_plan(jobs, sys.stdout)
            else:
                await Engine(storage, settings, bulk, jobs=options.workers).execute(jobs)
        finally:
            await storage.close()

    return console.execute("pregen", work, args.errors)


async def _enqueue(
    settings: Settings, router: Router, options: PregenOptions, url: str, bulk: Run
) -> None:
    """Plan as usual, then send the jobs to the queue instead of rendering them."""
    try:
        clients = await connect(settings, url, max_connections=16)
    except ValueError as error:
        raise console.UsageError(f"storage.url: {error}") from error
    try:
        try:
            await clients.queue.attributes()
        except QueueError as error:
            raise console.UsageError(f"--enqueue {url}: {error}") from error
        jobs = await plan(clients.storage, router, options, bulk)
        await enqueue(clients.queue, jobs, Location.of(settings.storage.url), bulk)
    finally:
        await clients.close()


def shard_arg(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
