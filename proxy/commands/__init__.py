"""Subcommands of the `mediaproxy` console script; each module has `register(subparsers)`."""

from proxy.commands import configcmd, delete, migrate, pregen, serve

ALL = [serve, pregen, migrate, delete, configcmd]
