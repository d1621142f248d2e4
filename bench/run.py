"""Run the benchmarks (issues 5, 6, 10, 12-14) and print figures, ratios and verdicts.

    python -m bench.run                      # all ten, full size (~25 min on 2 cores)
    python -m bench.run --quick              # all ten, small counts (~6 min)
    python -m bench.run cold hit             # some of them
    python -m bench.run --source debian      # real photographs (see bench/photos.py)
    python -m bench.run --corpus DIR         # your own originals

Every ratio compares with a baseline measured in the same run. Exit status is 0 whether
targets are met or not (benchmarks report; tests assert); 1 when a benchmark could not
finish (the others still run), 2 for bad arguments.
Results also go to bench/results/<time>.json and .md (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import (
    bulk,
    cold,
    corpus,
    formats,
    hit,
    lag,
    magento2,
    memory,
    page,
    procs,
    realistic,
    worker,
)
from bench.context import WORKERS, Context
from bench.report import Results, machine, revision

BENCHES: dict[str, Callable[[Context], None]] = {
    "cold": cold.run,
    "page": page.run,
    "pregen": bulk.run,
    "hit": hit.run,
    "memory": memory.run,
    "lag": lag.run,
    "magento2": magento2.run,
    "worker": worker.run,
    "formats": formats.run,
    "realistic": realistic.run,
}
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("benches", nargs="*", metavar="BENCH", help=", ".join(BENCHES))
    parser.add_argument("--quick", action="store_true", help="small counts (all ten: ~6 minutes)")
    parser.add_argument("--source", choices=["generated", "debian"], default="generated")
    parser.add_argument("--corpus", type=Path, help="a directory of originals to use instead")
    args = parser.parse_args(argv)
    names = args.benches or list(BENCHES)
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}: choose from {', '.join(BENCHES)}")
    procs.use_test_aws()
    started = time.monotonic()
    count = 40 if args.quick else 200
    originals, bigs = corpus.ensure(args.source, count, big=16 if "memory" in names else 0)
    progressive = corpus.progressive(args.source, bigs)
    if args.corpus is not None:
        originals = corpus.load_dir(args.corpus, count)
        if not originals:
            parser.error(f"--corpus {args.corpus}: no images found")
    where = str(args.corpus) if args.corpus else args.source
    info = machine() | {"corpus": f"{where}: {corpus.describe(originals)}"}
    info["mode"] = "quick" if args.quick else "full"
    print("\n".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    results = Results()
    crashed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mediaproxy-bench-") as tmp:
        for name in names:
            print(f"\n== {name}", flush=True)
            code = revision()
            if code != info["code"]:
                results.note(f"{name} ran on code {code} (the run started on {info['code']})")
            began, busy = time.monotonic(), _foreign_cpu()
            ctx = Context(args.quick, originals, bigs, Path(tmp) / name, results, progressive)
            try:
                BENCHES[name](ctx)
            except Exception as error:  # report it, go on with the others
                traceback.print_exc()
                results.note(f"{name} did not finish: {type(error).__name__}: {error}")
                crashed.append(name)
            took, other = time.monotonic() - began, _foreign_cpu() - busy
            print(f"   ({took:.0f} s)", flush=True)
            if other > 0.05 * took:
                results.note(
                    f"{name}: other processes used {other:.1f} CPU-s during its {took:.0f} s "
                    f"({other / took / WORKERS:.0%} of the machine): figures may be off"
                )
    info["elapsed"] = f"{time.monotonic() - started:.0f} s"
    print(f"\n{results.table()}\n\nelapsed: {info['elapsed']}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results.save(RESULTS / f"{stamp}.json", info)
    (RESULTS / f"{stamp}.md").write_text(_markdown(info, results))
    return 1 if crashed else 0


def _foreign_cpu() -> float:
    """CPU seconds the whole machine has been busy, less this process and its children."""
    with open("/proc/stat") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:9]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    own = os.times()
    return busy - (own.user + own.system + own.children_user + own.children_system)


def _markdown(info: dict[str, str], results: Results) -> str:
    lines = [f"- {k}: {v}" for k, v in info.items()]
    notes = [f"- {n}" for n in results.notes]
    return "\n".join([*lines, "", results.table(), "", *notes]) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
