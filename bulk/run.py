"""The state one bulk command shares between its parts: counters, display, error log, stop.

In-process callers (a benchmark, a test) can use `Run(command)` as is: nothing is drawn,
failures are only collected in `report.failures`. The CLI passes stderr and `--errors`.
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from bulk.progress import ErrorLog, Progress
from bulk.report import Report


class Run:
    def __init__(
        self,
        command: str,
        *,
        stream: TextIO | None = None,
        errors: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.command = command
        self.report = Report()
        self.progress = Progress(command, self.report, stream, tty=tty)
        self.errors = ErrorLog(self.report, self.progress, errors)
        self.stop = asyncio.Event()  # set: take no new work, finish what is in flight
        self.working = False  # writing has begun (before it, stopping can simply cancel)

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    def fail(self, key: str, reason: str) -> None:
        self.errors.record(key, reason)

    def notice(self, text: str) -> None:
        self.progress.line(f"{self.command}: {text}")
