"""`mediaproxy magento2 hashes --site S [--check]`: the hash table of a Magento 2 site."""

from __future__ import annotations

import argparse
import asyncio

from cli import console
from cli.common import Subparsers, add_command
from config import Settings
from layouts import Router
from layouts.magento2.hashes import HashEntry, readable
from layouts.magento2.layout import Magento2Layout

DESCRIPTION = """\
Print the site's hash table: one line per hash with its size, Magento's parameter string
(the text Magento hashes), its quality and the view.xml image ids that share it.

--check also lists the hash directories under {key_prefix}/cache/ in storage (one listing
call per page, no key inside them is read), so you can confirm that the hashes computed
from your view.xml and crypt key are the ones your Magento wrote: each line ends in
`present` (computed and in storage), `missing` (computed, not in storage yet: fine for a
new theme or before pregen) or `not in table` (in storage, not computed: a theme, quality or
key that differs from the config; such URLs will get 404 from mediaproxy).

examples:
  mediaproxy magento2 hashes --site shop
  mediaproxy magento2 hashes --site shop --check | grep -v present

exit status: 0, also when hashes are missing; 2 usage or config error.
"""


def register(subparsers: Subparsers) -> None:
    magento2 = add_command(
        subparsers, "magento2", _usage, "Magento 2 tools (hash table)", "Magento 2 tools."
    )
    tools = magento2.add_subparsers(dest="tool", required=True, metavar="TOOL")
    parser = add_command(tools, "hashes", run, "print (and --check) the hash table", DESCRIPTION)
    parser.add_argument("--site", required=True, metavar="S", help="a site with layout magento2")
    parser.add_argument(
        "--check", action="store_true", help="compare with the cache/ directories in storage"
    )


def _usage(  # argparse requires TOOL
    args: argparse.Namespace, settings: Settings, router: Router
) -> int:
    return console.usage_error("magento2", "give a tool, e.g. `magento2 hashes --site S`")


def run(args: argparse.Namespace, settings: Settings, router: Router) -> int:
    layout = router.layouts.get(args.site)
    if not isinstance(layout, Magento2Layout):
        magento2_sites = [s.name for s in settings.sites.values() if s.layout == "magento2"]
        return console.usage_error(
            "magento2 hashes",
            f"{args.site!r} is not a magento2 site (magento2 sites: "
            f"{', '.join(magento2_sites) or 'none'})",
        )
    present: set[str] | None = None
    if args.check:
        try:
            present = asyncio.run(_directories(settings, f"{layout.key_prefix}/cache/"))
        except console.UsageError as error:
            return console.usage_error("magento2 hashes", str(error))
    for digest, entry in layout.table.items():
        state = "" if present is None else ("  present" if digest in present else "  missing")
        print(f"{_line(digest, entry)}{state}")
    for name in sorted((present or set()) - set(layout.table)):
        if name not in layout.query_sizes:
            print(f"{name}  not in table")
    return 0


def _line(digest: str, entry: HashEntry) -> str:
    params = entry.params
    size = f"{params.width or ''}x{params.height or ''}" if params.resizes else "original"
    return f"{digest}  {size:>9}  {readable(params)}  {', '.join(entry.image_ids)}"


async def _directories(settings: Settings, prefix: str) -> set[str]:
    storage = await console.open_for(settings, 1)
    try:
        return set(await storage.subdirectories(prefix))
    finally:
        await storage.close()
