"""Progress of a long command on stderr, and the error log beside it.

On a terminal: one line redrawn in place with `\\r` (count, percentage, rate, ETA, failures),
at most five times a second. Elsewhere (CI, `kubectl logs`, a pipe): a plain line every
`interval` seconds or every tenth of the work, whichever comes first, so logs stay short
but a stuck run is still visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from bulk.report import Report

REDRAW_SECONDS = 0.2
PLAIN_SECONDS = 5.0


class Progress:
    def __init__(
        self,
        command: str,
        report: Report,
        stream: TextIO | None,
        *,
        tty: bool | None = None,
        interval: float = PLAIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._command, self._report, self._stream = command, report, stream
        self._tty = (stream is not None and stream.isatty()) if tty is None else tty
        self._interval, self._clock = interval, clock
        self._done = 0
        self._started = self._drawn_at = clock()
        self._decile = 0
        self._visible = False  # a bar is on screen and must be cleared before other output

    def start(self) -> None:
        """The work (not the listing) starts now: rate and ETA count from here."""
        self._started = self._drawn_at = self._clock()

    def advance(self, count: int = 1) -> None:
        """`count` more originals are finished (made, skipped or failed)."""
        self._done += count
        if self._stream is None:
            return
        now = self._clock()
        if self._tty:
            if now - self._drawn_at >= REDRAW_SECONDS or self._done == self._report.planned:
                self._draw(now)
            return
        decile = self._done * 10 // max(self._report.planned, 1)
        if now - self._drawn_at >= self._interval or decile > self._decile:
            self._decile = decile
            self._draw(now)

    def line(self, text: str) -> None:
        """Print a whole line (a failure, a notice) without garbling the bar."""
        if self._stream is None:
            return
        self.clear()
        self._stream.write(text + "\n")
        self._stream.flush()

    def clear(self) -> None:
        if self._visible and self._stream is not None:
            self._stream.write("\r\x1b[K")
            self._visible = False

    def _draw(self, now: float) -> None:
        assert self._stream is not None
        self._drawn_at = now
        total, done = self._report.planned, self._done
        elapsed = max(now - self._started, 1e-9)
        rate = done / elapsed
        eta = _clock_time((total - done) / rate) if rate > 0 else "--:--"
        percent = f"{done * 100 // total}%" if total else "100%"
        text = (
            f"{self._command}: {done}/{total} originals ({percent}), {self._report.made} sizes, "
            f"{rate:.1f}/s, ETA {eta}, failed {self._report.failed}"
        )
        if self._tty:
            self._stream.write(f"\r\x1b[K{_bar(done, total)} {text}")
            self._visible = True
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


class ErrorLog:
    """`key<TAB>reason` per failure, to `--errors FILE` or (by default) stderr."""

    def __init__(self, report: Report, progress: Progress, file: TextIO | None = None) -> None:
        self._report, self._progress, self._file = report, progress, file

    def record(self, key: str, reason: str) -> None:
        reason = " ".join(reason.split())  # one line, no tabs: the log stays `cut -f2`-able
        self._report.failures.append((key, reason))
        if self._file is None:
            self._progress.line(f"{key}\t{reason}")
        else:
            self._file.write(f"{key}\t{reason}\n")
            self._file.flush()


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = width * done // total if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _clock_time(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
