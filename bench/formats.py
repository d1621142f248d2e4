"""Issue 14, format variants (SPEC §10): what WebP and AVIF save and cost against JPEG.

1. bytes    every original at each bench size (`thumbnail_buffer`, held in memory), saved
            as JPEG (Q85, optimised Huffman, no metadata: as mediaproxy encodes sizes),
            WebP and AVIF at a site's defaults (`webp_quality`, `avif_quality`,
            `avif_effort`): mean bytes per size and the saving against JPEG.
2. encode   the CPU time of each of those saves, decode and resize excluded (the resized
            image is in memory before the clock starts); AVIF also at efforts 2, 4 and 6
            on 70x70, 300x300 and 1200x, on the same pixels, for the default's sake.
3. cold     cold misses through the real server (as `cold`: distinct originals, one size
            each, concurrency 4, its own process, file backend) on a site with
            `formats = ["avif", "webp"]` (and `render_siblings = false`: one miss, one
            render, as the baseline's), the request's Accept header picking the format,
            against plain pyvips `thumbnail_buffer` + the same save call on one thread per
            core in this process, per format, rounds alternating which side goes first.

Encoding goes through this module's own save calls, checked each run to give the bytes
`resize.pipeline.encode` gives, so every figure is the server's codec setting.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyvips

from bench import baselines, load, procs, stage
from bench.context import WORKERS, Context
from bench.corpus import Original
from bench.report import Figure, Results, percentile
from config import SiteSettings, SizeSpec
from resize.formats import ImageFormat
from resize.pipeline import encode

BENCH = "14 formats"
DEFAULTS = SiteSettings("t1")  # what a site with `formats` on and nothing else set gets
SUBSET = ("70x70", "300x300", "1200x")  # the efforts' sizes, and the bytes table's rows
EFFORTS = (2, 4, 6)
CONCURRENCY = 4
SIDES = ("server", "baseline")
_KEEP_NONE = pyvips.enums.ForeignKeep.NONE
_UNBOUNDED = 100_000


@dataclass(frozen=True)
class Codec:
    """One output setting; `accept` is a browser's Accept header the server answers with it."""

    label: str
    fmt: ImageFormat
    quality: int
    effort: int = 0
    accept: str = ""

    def save(self, image: pyvips.Image) -> bytes:
        """The save call `resize.pipeline.encode` makes for this format (checked each run)."""
        if self.fmt is ImageFormat.JPEG:
            return baselines.save(image)
        if self.fmt is ImageFormat.WEBP:
            return bytes(image.webpsave_buffer(Q=self.quality, keep=_KEEP_NONE))
        data = image.heifsave_buffer(
            Q=self.quality, compression="av1", effort=self.effort, bitdepth=8, keep=_KEEP_NONE
        )
        return bytes(data)

    def server_bytes(self, image: pyvips.Image) -> bytes:
        return encode(image, self.fmt, self.quality, self.effort)


JPEG = Codec(
    f"JPEG q{baselines.QUALITY}",
    ImageFormat.JPEG,
    baselines.QUALITY,
    accept="image/*,*/*;q=0.8",  # wildcards never pick a variant (proxy.negotiation)
)
WEBP = Codec(
    f"WebP q{DEFAULTS.webp_quality}",
    ImageFormat.WEBP,
    DEFAULTS.webp_quality,
    accept="image/webp,image/apng,image/*,*/*;q=0.8",  # Chrome before AVIF, Safari 14-15
)
AVIF = Codec(
    f"AVIF q{DEFAULTS.avif_quality} e{DEFAULTS.avif_effort}",
    ImageFormat.AVIF,
    DEFAULTS.avif_quality,
    DEFAULTS.avif_effort,
    accept="image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",  # Chrome
)
CODECS = (JPEG, WEBP, AVIF)


def avif_at(effort: int) -> Codec:
    return Codec(f"AVIF q{AVIF.quality} e{effort}", AVIF.fmt, AVIF.quality, effort)


@dataclass
class Samples:
    """Bytes and encode CPU seconds of every output, by (codec label, size text)."""

    sizes: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    decode: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def mean_bytes(self, codec: Codec, texts: Sequence[str]) -> float:
        return statistics.fmean(n for t in texts for n in self.sizes[codec.label, t])

    def mean_ms(self, codec: Codec, texts: Sequence[str]) -> float:
        return statistics.fmean(s for t in texts for s in self.cpu[codec.label, t]) * 1000


@dataclass
class Tally:
    """The cold-miss rounds' sums, by codec label (and side: "server", "baseline")."""

    ratios: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    served: dict[str, list[Outcome]] = field(default_factory=lambda: defaultdict(list))
    made: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


@dataclass(frozen=True)
class Outcome:
    seconds: float
    status: int
    source: str  # X-Mediaproxy
    content_type: str
    size: int


@dataclass
class Served:
    wall: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)


def run(ctx: Context) -> None:
    baselines.setup()
    texts = stage.SIZES
    specs = stage.specs(texts)
    originals = ctx.subset(0, ctx.pick(60, 10))
    _check_save_calls(ctx.results, originals[0], specs)
    samples = measure(originals, specs, CODECS)
    _bytes_figures(ctx.results, samples, texts, len(originals))
    _encode_figures(ctx.results, samples, texts)
    few = originals[:: max(1, len(originals) // ctx.pick(12, 3))][: ctx.pick(12, 3)]
    efforts = measure(few, stage.specs(SUBSET), [avif_at(e) for e in EFFORTS])
    _effort_figures(ctx.results, efforts, len(few))
    cold(ctx)


def measure(
    originals: Sequence[Original], specs: Sequence[SizeSpec], codecs: Sequence[Codec]
) -> Samples:
    """One at a time in this thread (libvips' and the encoders' own threads included in
    the process CPU time): resize into memory, then save it in every codec in turn."""
    out = Samples()
    for original in originals:
        for spec in specs:
            started = time.process_time()
            image = _thumbnail(original.data, spec).copy_memory()
            out.decode[spec.text].append(time.process_time() - started)
            for codec in codecs:
                started = time.process_time()
                data = codec.save(image)
                out.cpu[codec.label, spec.text].append(time.process_time() - started)
                out.sizes[codec.label, spec.text].append(len(data))
    return out


def _check_save_calls(res: Results, original: Original, specs: Sequence[SizeSpec]) -> None:
    """Our save calls must be the server's: same bytes as resize.pipeline.encode."""
    differ = []
    for spec in specs:
        image = _thumbnail(original.data, spec).copy_memory()
        differ += [
            f"{c.label} {spec.text}" for c in CODECS if c.save(image) != c.server_bytes(image)
        ]
    what = f"{', '.join(c.label for c in CODECS)}, {len(specs)} sizes of one original"
    if differ:
        res.note(f"formats: bench save differs from resize.pipeline.encode: {', '.join(differ)}")
    else:
        res.note(f"formats: bench save calls give resize.pipeline.encode's bytes ({what})")


def _bytes_figures(res: Results, s: Samples, texts: Sequence[str], count: int) -> None:
    rows = [(t, (t,)) for t in SUBSET] + [(f"all {len(texts)} sizes", tuple(texts))]
    for codec in (WEBP, AVIF):
        for name, group in rows:
            value, jpeg = s.mean_bytes(codec, group), s.mean_bytes(JPEG, group)
            res.add(
                Figure(
                    BENCH,
                    f"bytes {name}, {codec.label} vs {JPEG.label}",
                    value,
                    "B",
                    jpeg,
                    higher=False,
                    note=f"{1 - value / jpeg:.0%} smaller, mean of {count} originals",
                )
            )
    per_size = []
    for t in texts:
        jpeg = s.mean_bytes(JPEG, (t,))
        cells = [f"{jpeg / 1000:.1f}"] + [
            f"{s.mean_bytes(c, (t,)) / 1000:.1f} ({s.mean_bytes(c, (t,)) / jpeg - 1:+.0%})"
            for c in (WEBP, AVIF)
        ]
        per_size.append(f"{t} {' / '.join(cells)}")
    res.note(
        f"formats: mean kB per size, {' / '.join(c.label for c in CODECS)}: " + "; ".join(per_size)
    )


def _encode_figures(res: Results, s: Samples, texts: Sequence[str]) -> None:
    jpeg = s.mean_ms(JPEG, texts)
    for codec in CODECS:
        per = ", ".join(f"{t} {s.mean_ms(codec, (t,)):.1f}" for t in SUBSET)
        res.add(
            Figure(
                BENCH,
                f"encode CPU per output, {codec.label}, all {len(texts)} sizes",
                s.mean_ms(codec, texts),
                "ms",
                None if codec is JPEG else jpeg,
                higher=False,
                note=f"{per} ms; decode + resize excluded",
            )
        )
    decode = ", ".join(f"{t} {statistics.fmean(s.decode[t]) * 1000:.1f}" for t in SUBSET)
    every = statistics.fmean(x for t in texts for x in s.decode[t]) * 1000
    res.note(
        f"formats: decode + resize (thumbnail_buffer into memory) CPU per output, the same "
        f"for every format: {decode} ms, mean of all {len(texts)} sizes {every:.1f} ms"
    )


def _effort_figures(res: Results, s: Samples, count: int) -> None:
    base = avif_at(EFFORTS[0])
    for effort in EFFORTS[1:]:
        codec = avif_at(effort)
        per = ", ".join(
            f"{t} {s.mean_ms(codec, (t,)):.0f} ms "
            f"{s.mean_bytes(codec, (t,)) / s.mean_bytes(base, (t,)) - 1:+.0%} bytes"
            for t in SUBSET
        )
        res.add(
            Figure(
                BENCH,
                f"encode CPU per output, {codec.label} vs {base.label}, {', '.join(SUBSET)}",
                s.mean_ms(codec, SUBSET),
                "ms",
                s.mean_ms(base, SUBSET),
                higher=False,
                note=f"{per}; {count} originals",
            )
        )
    cells = []
    for effort in EFFORTS:
        codec = avif_at(effort)
        size = " ".join(
            f"{t} {s.mean_ms(codec, (t,)):.0f} ms {s.mean_bytes(codec, (t,)) / 1000:.2f} kB"
            for t in SUBSET
        )
        cells.append(f"e{effort}: {size}")
    res.note(
        f"formats: AVIF by effort ({count} originals, CPU and mean bytes): " + "; ".join(cells)
    )


def cold(ctx: Context) -> None:
    count, rounds = ctx.pick(36, 12), ctx.pick(8, 3)
    originals = ctx.subset(0, count + 2)
    measured, warm = originals[:count], originals[count:]
    sizes = stage.specs(stage.SIZES)
    home = ctx.scratch("formats")
    url = stage.stage_files(home / "media", {"t1": originals})
    config = _write_config(home / "mediaproxy.toml", url)
    tally = Tally()
    proc, base = procs.mediaproxy(config, ctx.tmp)
    with proc:
        for codec in CODECS:
            asyncio.run(_requests([_url(base, o, sizes[0]) for o in warm], codec.accept, 2))
            _baseline_side([(o, sizes[0]) for o in warm], codec, [])
        for r in range(rounds):
            # Another size of each original every round (offsets 0, 3, 6, 9, 2, ...: ten
            # rounds before one comes again), each format its own key (`.webp`, `.avif`):
            # every request is a miss.
            jobs = [(o, sizes[(i + 3 * r) % len(sizes)]) for i, o in enumerate(measured)]
            for k in range(len(CODECS)):
                c = (k + r) % len(CODECS)  # who goes first turns with the rounds
                codec, took = CODECS[c], {}
                sides = ("baseline", "server") if (r + c) % 2 == 0 else ("server", "baseline")
                for side in sides:
                    if side == "baseline":
                        cpu = time.process_time()
                        took[side] = _baseline_side(jobs, codec, tally.made[codec.label])
                        tally.cpu[codec.label, side] += time.process_time() - cpu
                    else:
                        cpu = proc.cpu_seconds()
                        urls = [_url(base, o, spec) for o, spec in jobs]
                        got = asyncio.run(_requests(urls, codec.accept, CONCURRENCY))
                        took[side] = got.wall
                        tally.served[codec.label] += got.outcomes
                        tally.cpu[codec.label, side] += proc.cpu_seconds() - cpu
                    tally.wall[codec.label, side] += took[side]
                tally.ratios[codec.label].append(took["baseline"] / took["server"])
    _cold_figures(ctx.results, count * rounds, tally)


def _baseline_side(
    jobs: Sequence[tuple[Original, SizeSpec]], codec: Codec, sink: list[int]
) -> float:
    """Seconds for plain pyvips to make every job on one thread per core; sizes to `sink`."""

    def work(job: tuple[Original, SizeSpec]) -> None:
        sink.append(len(codec.save(_thumbnail(job[0].data, job[1]))))

    return baselines.timed(work, jobs, WORKERS)


def _cold_figures(res: Results, total: int, tally: Tally) -> None:
    lines, wrong = [], []
    for codec in CODECS:
        name = codec.label
        res.add(
            Figure(
                BENCH,
                f"cold miss {name} (Accept picks {codec.fmt.value})",
                total / tally.wall[name, "server"],
                "img/s",
                total / tally.wall[name, "baseline"],
                0.9 if codec is WEBP else None,
                note=(
                    f"{total} misses, c={CONCURRENCY}, vs thumbnail_buffer + the same save "
                    f"on {WORKERS} threads"
                ),
                rounds=tuple(tally.ratios[name]),
            )
        )
        outcomes = tally.served[name]
        seconds = [o.seconds for o in outcomes]
        server, baseline = (tally.cpu[name, side] / total * 1000 for side in SIDES)
        lines.append(
            f"{name}: CPU per image server {server:.0f} ms, baseline {baseline:.0f} ms "
            f"({baseline / server:.2f}x by CPU); latency p50 "
            f"{percentile(seconds, 50) * 1000:.0f} ms, p95 {percentile(seconds, 95) * 1000:.0f} "
            f"ms; mean body {statistics.fmean(o.size for o in outcomes) / 1000:.1f} kB "
            f"(baseline {statistics.fmean(tally.made[name]) / 1000:.1f} kB)"
        )
        bad = Counter(
            f"{o.status} {o.source} {o.content_type}"
            for o in outcomes
            if (o.status, o.source, o.content_type) != (200, "render", codec.fmt.content_type)
        )
        if bad:
            wrong.append(
                f"{name}: {sum(bad.values())} not 200 render {codec.fmt.content_type} ({dict(bad)})"
            )
    res.note("formats, cold miss: " + "; ".join(lines))
    for line in wrong:
        res.note(f"formats, cold miss: {line}")


async def _requests(urls: Sequence[str], accept: str, concurrency: int) -> Served:
    """Every URL once with `accept`, `concurrency` in flight (as load.requests)."""
    out = Served()
    todo = iter(urls)
    async with load.session(concurrency) as client:

        async def lane() -> None:
            for url in todo:
                started = time.perf_counter()
                async with client.get(url, headers={"Accept": accept}) as response:
                    body = await response.read()
                    out.outcomes.append(
                        Outcome(
                            time.perf_counter() - started,
                            response.status,
                            response.headers.get("X-Mediaproxy", ""),
                            response.headers.get("Content-Type", ""),
                            len(body),
                        )
                    )

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        out.wall = time.perf_counter() - started
    return out


def _write_config(path: Path, storage_url: str) -> Path:
    """stage.write_config's site, with formats on and every quality at its default; with
    sibling renders off, so that a miss is one render (as the baseline's one thumbnail) and
    never stores the sizes later rounds ask for."""
    lines = ["[storage]", f'url = "{storage_url}"', 'endpoint_url = ""']
    lines += ["[sites.t1]", f'sizes = "{", ".join(stage.SIZES)}"', 'formats = ["avif", "webp"]']
    lines.append("render_siblings = false")
    path.write_text("\n".join(lines) + "\n")
    return path


def _thumbnail(data: bytes, spec: SizeSpec) -> pyvips.Image:
    """As baselines.thumbnail, before its save."""
    return pyvips.Image.thumbnail_buffer(
        data, spec.width or _UNBOUNDED, height=spec.height or _UNBOUNDED, size="down"
    )


def _url(base: str, original: Original, spec: SizeSpec) -> str:
    return f"{base}/t1/{spec.text}/{original.rel}"
