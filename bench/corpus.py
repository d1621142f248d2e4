"""Benchmark originals: a directory you give, real photographs from Debian, or generated.

    python -m bench.corpus generated --count 200     # deterministic photo-like JPEGs
    python -m bench.corpus debian --count 200        # real photos (apt-get download + dpkg -x)
    python -m bench.corpus dir /some/photos          # describe any directory of originals

Built sets are cached under bench/corpus/<source>/ (git-ignored) in Magento's media layout
(`catalog/product/a/b/ab12....jpg`), so `mediaproxy migrate` can read them too. Every
image is derived from its index and a fixed seed: a partial cache is completed, never
redone, and two machines build the same bytes. A separate set of 18-megapixel JPEGs
(`big/`) feeds the memory benchmark.
"""

from __future__ import annotations

import argparse
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyvips

from bench import photos

ROOT = Path(__file__).resolve().parent / "corpus"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
MIN_MP, MAX_MP = 2.0, 18.0
BIG_SIZE = (5657, 3182)  # 18.0 MP, 16:9 like a camera's wide mode
ASPECTS = (4 / 3, 3 / 2, 1.0, 2 / 3, 3 / 4, 16 / 9, 5 / 4)
SEED = 20240611


@dataclass(frozen=True)
class Original:
    """One original: its Magento rel path (`a/b/ab12.jpg`) and its bytes."""

    rel: str
    data: bytes

    @property
    def megapixels(self) -> float:
        image = pyvips.Image.new_from_buffer(self.data, "")
        return float(image.width * image.height) / 1e6


def dispersion_rel(name: str) -> str:
    """Magento's dispersion path: the first two characters of the name, `.` → `_`."""
    first, second = (c.replace(".", "_") for c in (name + "__")[:2])
    return f"{first}/{second}/{name}"


def image_name(source: str, index: int, prefix: str = "") -> str:
    digest = hashlib.sha1(f"{source}:{prefix}:{index}".encode()).hexdigest()
    return f"{digest[:12]}.jpg"


def load_dir(directory: Path, count: int | None = None) -> list[Original]:
    """Every image file under `directory` (sorted, recursive), as Magento rels."""
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    files = [
        p for p in files if p.is_file() and not p.relative_to(directory).parts[0].startswith("big")
    ]
    if count is not None:
        files = files[:count]
    return [Original(dispersion_rel(p.name), p.read_bytes()) for p in files]


def ensure(source: str, count: int, *, big: int = 0) -> tuple[list[Original], list[Original]]:
    """`count` originals (and `big` 18 MP ones) of `source`, building what is missing."""
    make = _maker(source)
    base = ROOT / source
    originals = [_cached(base / "catalog" / "product", source, i, "", make) for i in range(count)]
    bigs = [_cached(base / "big", source, i, "big", make) for i in range(big)]
    return originals, bigs


def progressive(source: str, bigs: Sequence[Original]) -> list[Original]:
    """The same images re-saved as progressive JPEGs (cached under `big-progressive/`).

    libjpeg must hold a progressive file's whole coefficient array while it decodes, even
    with shrink-on-load, so these cost far more memory than baseline JPEGs do.
    """
    out = []
    for index, original in enumerate(bigs):
        rel = dispersion_rel(image_name(source, index, "progressive"))
        path = ROOT / source / "big-progressive" / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            image = pyvips.Image.new_from_buffer(original.data, "")
            data = image.jpegsave_buffer(Q=90, interlace=True, keep=pyvips.enums.ForeignKeep.NONE)
            path.write_bytes(bytes(data))
        out.append(Original(rel, path.read_bytes()))
    return out


def _maker(source: str) -> Callable[[int, str], bytes]:
    if source == "generated":
        return lambda index, prefix: generate(index, big=prefix == "big")
    if source == "debian":
        pool = photos.DebianPhotos(ROOT / "debian-sources")

        def make(index: int, prefix: str) -> bytes:
            big = prefix == "big"
            raw = None if big else pool.untouched(index, MIN_MP, MAX_MP)
            if raw is not None:
                return raw
            rng = random.Random(SEED * 7 + index * 2 + big)
            return pool.crop(pick_size(rng, big=big), rng, big=big)

        return make
    raise ValueError(f"unknown corpus source {source!r}: generated or debian")


def _cached(
    directory: Path, source: str, index: int, prefix: str, make: Callable[[int, str], bytes]
) -> Original:
    rel = dispersion_rel(image_name(source, index, prefix))
    path = directory / rel
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(make(index, prefix))
        tmp.replace(path)
    return Original(rel, path.read_bytes())


def pick_size(rng: random.Random, *, big: bool) -> tuple[int, int]:
    """A width x height of 2-18 MP in one of the usual aspect ratios (or exactly BIG_SIZE)."""
    if big:
        return BIG_SIZE
    pixels = rng.uniform(MIN_MP, MAX_MP) * 1e6
    aspect = rng.choice(ASPECTS)
    width = round((pixels * aspect) ** 0.5)
    return width, round(pixels / width)


def generate(index: int, *, big: bool = False) -> bytes:
    """A photo-like JPEG: smooth colour regions, soft shading, fine texture and grain.

    Flat gradients would compress to nothing and decode unrealistically fast; pure noise
    would be far larger than a photo. This mix gives 0.2-0.5 bytes per pixel at Q90, in
    the range of product photographs.
    """
    rng = random.Random(SEED * 1000 + index * 2 + big)
    width, height = pick_size(rng, big=big)
    grids = [[[rng.uniform(30, 225) for _ in range(7)] for _ in range(5)] for _ in range(3)]
    tiny = pyvips.Image.new_from_array(grids[0]).bandjoin(
        [pyvips.Image.new_from_array(grid) for grid in grids[1:]]
    )
    seed = rng.randrange(1 << 30)
    # Colour and shading are smooth: made at 1/8 scale and enlarged, which is ~10x cheaper.
    lw, lh = max(8, width // 8), max(8, height // 8)
    low = tiny.resize(lw / 7, vscale=lh / 5, kernel="linear")
    low += pyvips.Image.perlin(lw, lh, cell_size=max(8, lw // 12), seed=seed) * 50
    base = low.cast("uchar").resize(width / lw, vscale=height / lh, kernel="linear")
    texture = pyvips.Image.perlin(width, height, cell_size=12, seed=seed + 1)
    grain = pyvips.Image.perlin(width, height, cell_size=3, seed=seed + 2)
    image = base + texture * 14 + grain * 6
    image = image.cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=90, keep=pyvips.enums.ForeignKeep.NONE))


def describe(originals: Sequence[Original]) -> str:
    sizes = sorted(o.megapixels for o in originals)
    total = sum(len(o.data) for o in originals)
    if not sizes:
        return "no originals"
    return (
        f"{len(sizes)} originals, {sizes[0]:.1f}-{sizes[-1]:.1f} MP "
        f"(median {sizes[len(sizes) // 2]:.1f}), {total / 1e6:.0f} MB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__)
    parser.add_argument("source", choices=["generated", "debian", "dir"])
    parser.add_argument("path", nargs="?", type=Path, help="the directory, for `dir`")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--big", type=int, default=16, help="18 MP originals to build")
    args = parser.parse_args(argv)
    if args.source == "dir":
        if args.path is None:
            parser.error("dir needs a path")
        print(describe(load_dir(args.path, args.count)))
        return 0
    originals, bigs = ensure(args.source, args.count, big=args.big)
    print(f"{args.source}: {describe(originals)}; big: {describe(bigs)}")
    print(f"cached under {ROOT / args.source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
