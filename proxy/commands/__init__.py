"""Subcommands of the `mediaproxy` console script; each module has `register(subparsers)`."""

from proxy.commands import configcmd, serve

ALL = [serve, configcmd]
