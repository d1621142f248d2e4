"""Real photographs from Debian's wallpaper packages, as benchmark originals.

`apt-get download mate-backgrounds plasma-workspace-wallpapers` and `dpkg -x` into a temp
dir give about 30 distinct opaque photographs of 2-18 MP (JPEG, and PNG for some); the
distinct ones are kept under bench/corpus/debian-sources/ (git-ignored, never committed).
Originals are the camera JPEGs untouched first, then crops of the photos in the usual
product aspect ratios, scaled to 2-18 MP and saved at Q85-92: every pixel comes from a
photograph, every file is a plain JPEG a shop could have uploaded.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyvips

PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers")
SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Photo:
    path: Path
    width: int
    height: int
    jpeg: bool

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


class DebianPhotos:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._photos: list[Photo] | None = None

    @property
    def photos(self) -> list[Photo]:
        if self._photos is None:
            if not any(self.directory.glob("*")):
                fetch(self.directory)
            self._photos = [_describe(p) for p in sorted(self.directory.iterdir())]
        return self._photos

    def untouched(self, index: int, min_mp: float, max_mp: float) -> bytes | None:
        """The `index`-th camera JPEG of `min_mp`-`max_mp` as is, or None past the last."""
        jpegs = [p for p in self.photos if p.jpeg and min_mp <= p.megapixels <= max_mp]
        return jpegs[index].path.read_bytes() if index < len(jpegs) else None

    def crop(self, size: tuple[int, int], rng: random.Random, *, big: bool = False) -> bytes:
        """A crop of a photo (one of 14 MP or more for `big`) scaled to `size`, as JPEG."""
        width, height = size
        if big:
            candidates = [p for p in self.photos if p.megapixels >= 14]
        else:
            candidates = [p for p in self.photos if p.megapixels >= width * height / 1e6 * 0.7]
        photo = rng.choice(candidates or [max(self.photos, key=lambda p: p.megapixels)])
        image = _crop(pyvips.Image.new_from_file(str(photo.path)), width / height, rng)
        if rng.random() < 0.5:
            image = image.fliphor()
        image = image.resize(width / image.width, vscale=height / image.height)
        quality = rng.choice((85, 90, 92))
        return bytes(image.jpegsave_buffer(Q=quality, keep=pyvips.enums.ForeignKeep.NONE))


def _crop(image: pyvips.Image, aspect: float, rng: random.Random) -> pyvips.Image:
    """A crop of `aspect` covering 70-100% of the largest one that fits, at a random place."""
    width = min(image.width, round(image.height * aspect))
    height = min(image.height, round(width / aspect))
    scale = rng.uniform(0.7, 1.0)
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    left = rng.randrange(image.width - width + 1)
    top = rng.randrange(image.height - height + 1)
    return image.crop(left, top, width, height)


def _describe(path: Path) -> Photo:
    image = pyvips.Image.new_from_file(str(path))
    return Photo(path, image.width, image.height, path.suffix.lower() in (".jpg", ".jpeg"))


def fetch(directory: Path) -> None:
    """Download the packages and keep each distinct opaque photo of at least 1 MP once."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-debs-") as tmp:
        work = Path(tmp)
        try:
            subprocess.run(["apt-get", "download", *PACKAGES], cwd=work, check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise RuntimeError(
                f"could not download {' '.join(PACKAGES)} with apt-get ({error}); "
                "use the generated corpus instead"
            ) from error
        for deb in sorted(work.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(work / "x")], check=True)
        seen: set[str] = set()
        for path in sorted((work / "x").rglob("*")):
            if path.suffix.lower() not in SUFFIXES or not path.is_file():
                continue
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            image = pyvips.Image.new_from_file(str(path))
            if image.width * image.height >= 1_000_000 and image.bands == 3:
                shutil.copyfile(path, directory / f"{digest[:10]}{path.suffix.lower()}")
