"""What the bulk subcommands share as programs: storage from settings, Ctrl-C, exit codes.

A Ctrl-C while listing cancels at once (nothing is written yet). Once writing, a first
Ctrl-C (or SIGTERM, what Kubernetes sends) sets the run's stop flag: no new original is
started, renders under way finish and their sizes are stored, the summary is printed and
the exit code is 130. A second Ctrl-C cancels whatever is still in flight; puts are whole
objects, so even then nothing is half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable

import uvloop

from bulk.engine import connections_for, storage_reason
from bulk.report import EXIT_FAILED, EXIT_USAGE
from bulk.run import Run
from config import Settings
from storage import Storage, StorageError, open_storage

Work = Callable[[Run], Awaitable[None]]


class UsageError(Exception):
    """Found only once running (e.g. a storage URL no backend takes): exit 2."""


async def open_for(settings: Settings, jobs: int) -> Storage:
    """The storage `serve` would open, with a connection pool big enough for `jobs` lanes."""
    try:
        return await open_storage(settings.storage, max_connections=connections_for(jobs))
    except ValueError as error:
        raise UsageError(f"storage.url: {error}") from error


def usage_error(command: str, message: str) -> int:
    print(f"mediaproxy {command}: {message}", file=sys.stderr)
    return EXIT_USAGE


def execute(command: str, work: Work, errors_path: str | None) -> int:
    """Run `work` on a fresh loop with signal handling; print the summary; the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("pyvips").setLevel(logging.ERROR)  # libvips' warnings repeat our log
    try:
        errors = open(errors_path, "w", encoding="utf-8") if errors_path else None  # noqa: SIM115
    except OSError as error:
        return usage_error(command, f"--errors {errors_path}: {error.strerror}")
    run = Run(command, stream=sys.stderr, errors=errors)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_interruptible(work, run))
    except UsageError as error:
        return usage_error(command, str(error))
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place: nothing started
        run.report.interrupted = True
    except StorageError as error:  # listing failed: there is no work list to go on with
        run.progress.clear()
        print(f"mediaproxy {command}: {storage_reason(error)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if errors is not None:
            errors.close()
    run.progress.clear()
    print(run.report.summary(command), file=sys.stderr)
    if run.report.failures and errors_path:
        print(f"{command}: {run.report.failed} failures listed in {errors_path}", file=sys.stderr)
    return run.report.exit_code


async def _interruptible(work: Work, run: Run) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def interrupt() -> None:
        run.report.interrupted = True
        if run.working and not run.stopping:
            run.stop.set()
            run.notice("stopping: finishing the images in flight (Ctrl-C again to abandon them)")
        else:
            task.cancel()

    handled = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # `nohup` or a shell's `&` asked for this signal to be ignored
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signum, interrupt)  # only possible in the main thread
            handled.append(signum)
    try:
        await work(run)
    except asyncio.CancelledError:
        if not run.report.interrupted:
            raise
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        if run.report.finished is None:
            run.report.finished = time.monotonic()
