"""The bulk tools behind `mediaproxy pregen`, `migrate` and `delete` (SPEC §6), on top of
layouts, storage and resize; no HTTP here.

    plan.py     listings → jobs (what is missing), shard.py the K/N split
    engine.py   jobs → objects: download once, render all sizes in a thread, put each
    pregen.py   migrate.py  delete.py   the three commands' cores, callable in-process
    run.py  report.py  progress.py      counters, progress display, error log

The CLI (cli/) adds storage from settings, Ctrl-C and exit codes; benchmarks and tests
drive the cores directly:

    report = await pregen(storage, settings, PregenOptions(jobs=8))
"""

from bulk.migrate import MigrateOptions, migrate
from bulk.pregen import PregenOptions, PregenUsageError, pregen
from bulk.report import Report
from bulk.run import Run
from bulk.shard import Shard

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
