"""`mediaproxy config check|show`: validate a config, or print the effective settings."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from cli.common import Subparsers, add_command
from cli.console import usage_error
from config import Settings
from layouts import Router
from storage import storage_problem


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "config",
        run,
        "check or show the configuration",
        "check: validate the TOML and environment overrides (exit 2 listing every problem),\n"
        "and that a file: storage directory is usable (a bucket is not contacted).\n"
        "show: print the effective settings as JSON, upload keys masked.",
    )
    parser.add_argument("action", choices=["check", "show"])


def run(args: argparse.Namespace, settings: Settings, router: Router) -> int:
    if args.action == "check":
        problem = storage_problem(settings.storage)
        if problem is not None:  # the config reads well, but serve would stop on it
            return usage_error("config check", f"storage.url: {problem}")
        print(f"config ok: {settings.source}; sites: {', '.join(settings.sites)}")
    else:
        print(json.dumps(_public(settings), indent=2, default=str))
    return 0


def _public(settings: Settings) -> dict[str, Any]:
    data = dataclasses.asdict(settings)
    for site in data["sites"].values():
        site["upload_keys"] = ["***"] * len(site["upload_keys"])
        site["sizes"] = [size["text"] for size in site["sizes"]]
        if site["magento2"] and site["magento2"]["crypt_key"]:
            site["magento2"]["crypt_key"] = "***"
    return data
