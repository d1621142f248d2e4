"""`mediaproxy migrate`: upload a Magento media folder's originals, then make every size."""

from __future__ import annotations

import argparse
from pathlib import Path

from bulk.migrate import MigrateOptions, looks_like_media_root, migrate
from bulk.run import Run
from cli import console
from cli.common import Subparsers, add_bulk_options, add_command
from config import Settings
from layouts import Router

DESCRIPTION = """\
Upload every image under SRC_DIR, a Magento media/catalog/product folder, to
{site}/full/{path} (a/b/file.jpg stays a/b/file.jpg), then render and store every size the
site configures. Skips cache/ and placeholder/ at the top of SRC_DIR, dot files and
non-image files; uploads the site's placeholder (SRC_DIR/placeholder/[default/]NAME) as
{site}/full/NAME. Local files are only read, never changed or deleted; a FIFO, socket or
device is not even opened (a line in the error log).

examples:
  mediaproxy migrate /var/www/magento/pub/media/catalog/product --site t1
  mediaproxy migrate ./product --site t1 --missing-only      resume, or add new files only
  mediaproxy migrate ./product --site t1 --no-sizes          originals only (pregen later)

exit status: 0 all done, 1 some file failed (see the error log), 2 usage or config
error, 130 interrupted (run again; with --missing-only nothing is uploaded twice).
"""


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "migrate",
        run,
        "upload a Magento media folder, then make every size",
        DESCRIPTION,
    )
    parser.add_argument(
        "source", metavar="SRC_DIR", type=Path, help="the media/catalog/product directory"
    )
    parser.add_argument("--site", required=True, metavar="S", help="the site to upload into")
    parser.add_argument(
        "--missing-only",
        action="store_true",
        help="skip originals already stored (default: overwrite them)",
    )
    parser.add_argument(
        "--no-sizes", action="store_true", help="upload originals only; make no sizes"
    )
    add_bulk_options(parser)


def run(args: argparse.Namespace, settings: Settings, router: Router) -> int:
    source: Path = args.source
    if args.site not in router.layouts:
        return console.usage_error(
            "migrate", f"unknown site {args.site!r} (configured: {', '.join(settings.sites)})"
        )
    if not source.is_dir():
        return console.usage_error("migrate", f"{source} is not a directory")
    if looks_like_media_root(source):
        return console.usage_error(
            "migrate",
            f"{source} looks like Magento's media/ folder; give "
            f"{source / 'catalog' / 'product'} instead",
        )
    options = MigrateOptions(args.site, source, args.missing_only, not args.no_sizes, args.jobs)

    async def work(bulk: Run) -> None:
        storage = await console.open_for(settings, options.workers)
        try:
            await migrate(storage, settings, options, bulk, router=router)
        finally:
            await storage.close()

    return console.execute("migrate", work, args.errors)
