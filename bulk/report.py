"""What a bulk run did: the counters behind the progress line, the summary and the exit code.

Units: `made`, `skipped` and `failed` count objects (a size object, or an original for
`migrate`'s uploads), `originals` counts the originals the run worked on, `ignored` the
listed or scanned names that were not image originals (or vanished mid-run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


@dataclass
class Report:
    """Counters of one run; `failures` holds every (key, reason) in the order they happened."""

    planned: int = 0
    planned_sizes: int = 0
    dry_run: bool = False
    originals: int = 0
    uploaded: int = 0
    enqueued: int | None = None  # pregen --enqueue: messages sent (one per original)
    made: int = 0
    skipped: int = 0
    ignored: int = 0
    bytes_written: int = 0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 1e-9)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failures else EXIT_OK

    def summary(self, command: str) -> str:
        """One line, e.g. `pregen: made 270 sizes of 30 originals, skipped 0, failed 0,
        12.3 MB written in 10.2 s (2.9 originals/s, 26.5 sizes/s)`."""
        if self.dry_run:
            return (
                f"{command} dry run: would make {self.planned_sizes} sizes of {self.planned} "
                f"originals; {self.skipped} present, {self.ignored} ignored"
            )
        uploaded = f"uploaded {self.uploaded} originals, " if command == "migrate" else ""
        status = "interrupted" if self.interrupted else "done"
        seconds = self.elapsed
        if self.enqueued is not None:
            return (
                f"{command} {status}: enqueued {self.enqueued} of {self.planned} originals "
                f"({self.planned_sizes} sizes), skipped {self.skipped}, failed {self.failed}, "
                f"ignored {self.ignored} in {seconds:.1f} s"
            )
        return (
            f"{command} {status}: {uploaded}made {self.made} sizes of {self.originals} "
            f"originals, skipped {self.skipped}, failed {self.failed}, ignored {self.ignored}, "
            f"{human_bytes(self.bytes_written)} written in {seconds:.1f} s "
            f"({self.originals / seconds:.1f} originals/s, {self.made / seconds:.1f} sizes/s)"
        )


def human_bytes(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    size = count / 1000
    for unit in ("kB", "MB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
