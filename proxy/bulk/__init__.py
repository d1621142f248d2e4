"""The bulk tools behind `mediaproxy pregen`, `migrate` and `delete` (SPEC §6).

    plan.py     listings → jobs (what is missing), shard.py the K/N split
    engine.py   jobs → objects: download once, render all sizes in a thread, put each
    pregen.py   migrate.py  delete.py   the three commands' cores, callable in-process
    run.py  report.py  progress.py      counters, progress display, error log
    console.py  what the CLI adds: storage from settings, Ctrl-C, exit codes

Benchmarks and tests drive the cores directly:

    report = await pregen(storage, settings, PregenOptions(jobs=8))
"""

from proxy.bulk.migrate import MigrateOptions, migrate
from proxy.bulk.pregen import PregenOptions, PregenUsageError, pregen
from proxy.bulk.report import Report
from proxy.bulk.run import Run
from proxy.bulk.shard import Shard

__all__ = [
    "MigrateOptions",
    "PregenOptions",
    "PregenUsageError",
    "Report",
    "Run",
    "Shard",
    "migrate",
    "pregen",
]
