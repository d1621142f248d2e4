"""The hit-path baseline: a bare aiohttp handler on uvloop returning fixed bytes.

    python -m bench.bare --port P --body FILE --headers '{"Content-Type": "image/jpeg"}'

Same response as mediaproxy's memory hit (body and headers), none of its work: no path
parsing, cache lookup, error guard, metrics or access log.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import uvloop
from aiohttp import web


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--headers", default="{}")
    args = parser.parse_args(argv)
    body = args.body.read_bytes()
    headers: dict[str, str] = json.loads(args.headers)

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/{path:.*}", handle)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        loop=uvloop.new_event_loop(),
        access_log=None,
        print=None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
