"""moto's ThreadedMotoServer in a process of its own (`python -m bench.motoproc PORT`).

In its own process moto's CPU time is its own: the benchmark can tell how much of an S3
run went to the fake bucket rather than to mediaproxy. Stops on SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence

from moto.server import ThreadedMotoServer


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    port = int(args[0])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
