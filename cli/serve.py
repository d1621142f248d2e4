"""`mediaproxy serve`: run the HTTP service."""

from __future__ import annotations

import argparse
import asyncio
import logging

from cli.common import Subparsers, add_command, port_number
from cli.console import usage_error
from cli.demo import seed_demo
from config import Settings
from layouts import Router
from proxy.app import run_server
from rendering import configure_malloc
from resize import configure_libvips
from storage import UnusableStorage, storage_problem


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "serve",
        run,
        "run the HTTP service",
        "Serve images, render missing sizes, accept authenticated uploads.\n"
        "Endpoints: GET/HEAD /{site}/{size}/{path}, PUT/DELETE /{site}/full/{path},\n"
        "/healthz, /readyz, /metrics.",
    )
    parser.add_argument("--host", help="address to bind (default: server.host)")
    parser.add_argument(
        "--port",
        type=lambda text: port_number(text, lowest=0),
        help="port to bind, 0 for any free one (default: server.port)",
    )


def run(args: argparse.Namespace, settings: Settings, router: Router) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    configure_malloc(compact=settings.resize.compact_memory)
    configure_libvips()  # before the demo seeding touches libvips
    problem = storage_problem(settings.storage)
    if problem is not None:  # before anything is seeded or logged as listening
        return usage_error("serve", f"storage.url: {problem}")
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    if settings.embedded:
        asyncio.run(seed_demo(settings, router, f"http://{host}:{port}"))
    logging.getLogger("mediaproxy").info(
        "mediaproxy on http://%s:%d, config: %s, storage: %s, sites: %s",
        host,
        port,
        settings.source,
        settings.storage.url,
        ", ".join(settings.sites),
    )
    try:
        run_server(settings, host, port, router)
    except UnusableStorage as error:
        return usage_error("serve", f"storage.url: {error}")
    return 0
