"""`mediaproxy migrate` and `mediaproxy delete` (SPEC §6) against a real moto S3."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips

from bulk.engine import read_regular
from cli.main import main
from tests import images
from tests.conftest import RawS3
from tests.serving import GUARD, SIZES, make_settings

SPECS = [text.strip() for text in SIZES.split(",")]
REPO = Path(__file__).resolve().parent.parent
MakeConfig = Callable[[], Path]


@pytest.fixture
def config(tmp_path: Path, s3_bucket: str, moto_endpoint: str) -> MakeConfig:
    def make() -> Path:
        storage = f'[storage]\nurl = "s3://{s3_bucket}"\nendpoint_url = "{moto_endpoint}"\n'
        make_settings(tmp_path / "etc", storage)
        return tmp_path / "etc" / "mediaproxy.toml"

    (tmp_path / "etc").mkdir()
    return make


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def write_tree(root: Path, files: dict[str, bytes]) -> dict[Path, bytes]:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return snapshot(root)


def snapshot(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def dims(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return int(image.width), int(image.height)


MAGENTO = {
    "a/b/ab1.jpg": images.jpeg(320, 240),
    "a/b/ab2.png": images.png(200, 150),
    "c/d/cd.JPG": images.jpeg(240, 320),
    "a/b/notes.txt": b"not an image",
    "a/b/.ab3.jpg": images.jpeg(16, 16),
    ".thumbs/t/h/th.jpg": images.jpeg(16, 16),
    "cache/1/small_image/88x77/a/b/ab1.jpg": images.jpeg(88, 66),
    "placeholder/default/small_image.jpg": images.jpeg(300, 300),
    "placeholder/default/image.jpg": images.jpeg(16, 16),
}
UPLOADED = {
    "t1/full/a/b/ab1.jpg": "a/b/ab1.jpg",
    "t1/full/a/b/ab2.png": "a/b/ab2.png",
    "t1/full/c/d/cd.JPG": "c/d/cd.JPG",
    "t1/full/small_image.jpg": "placeholder/default/small_image.jpg",
}


def test_migrate_uploads_the_tree_and_makes_every_size(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "media" / "catalog" / "product"
    before = write_tree(source, MAGENTO)

    assert cli(config(), "migrate", str(source), "--site", "t1") == 0
    sizes = {key.replace("/full/", f"/{dim}/") for key in UPLOADED for dim in SPECS}
    assert set(s3_raw.list(s3_bucket)) == set(UPLOADED) | sizes
    for key, rel in UPLOADED.items():
        data, content_type, _ = s3_raw.get(s3_bucket, key)
        assert data == MAGENTO[rel]
        assert content_type == ("image/png" if rel.endswith("png") else "image/jpeg")
    assert dims(s3_raw.get(s3_bucket, "t1/215x170/c/d/cd.JPG")[0]) == (128, 170)
    assert snapshot(source) == before  # read only


def test_migrate_missing_only_keeps_stored_originals_and_fills_their_sizes(
    config: MakeConfig,
    s3_raw: RawS3,
    s3_bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "product"
    write_tree(source, MAGENTO)
    stored, marker = images.jpeg(100, 100), images.jpeg(8, 8)
    s3_raw.put(s3_bucket, "t1/full/a/b/ab1.jpg", stored)
    s3_raw.put(s3_bucket, "t1/300x/a/b/ab1.jpg", marker)

    assert cli(config(), "migrate", str(source), "--site", "t1", "--missing-only") == 0
    assert s3_raw.get(s3_bucket, "t1/full/a/b/ab1.jpg")[0] == stored
    assert s3_raw.get(s3_bucket, "t1/300x/a/b/ab1.jpg")[0] == marker
    assert dims(s3_raw.get(s3_bucket, "t1/70x70/a/b/ab1.jpg")[0]) == (70, 70)  # from stored
    assert s3_raw.get(s3_bucket, "t1/full/a/b/ab2.png")[0] == MAGENTO["a/b/ab2.png"]
    assert len(s3_raw.list(s3_bucket)) == 4 + 4 * 9
    assert "uploaded 3 originals, made 35 sizes" in capsys.readouterr().err


def test_migrate_no_sizes_logs_bad_names_and_goes_on(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "product"
    write_tree(
        source,
        {
            "a/b/ab1.jpg": images.jpeg(64, 48),
            "a/b/-bad.jpg": b"x",
            "a/b/with space.jpg": b"x",
            "_/_/__.jpg": images.jpeg(16, 16),  # Magento's dispersion of `__.jpg`: valid
            "small_image.jpg": images.jpeg(16, 16),
        },
    )
    errors = tmp_path / "errors.tsv"

    assert (
        cli(config(), "migrate", str(source), "--site", "t1", "--no-sizes", "--errors", str(errors))
        == 1
    )
    assert set(s3_raw.list(s3_bucket)) == {
        "t1/full/a/b/ab1.jpg",
        "t1/full/_/_/__.jpg",
        "t1/full/small_image.jpg",
    }
    logged = [line.split("\t") for line in errors.read_text().splitlines()]
    assert sorted(Path(key).name for key, _ in logged) == ["-bad.jpg", "with space.jpg"]
    assert {reason for _, reason in logged} == {
        "not a valid image path: each segment is ASCII letters, digits, '.', '_' and '-', "
        "not starting with '.' or '-'; rename it"
    }


def test_migrate_refuses_what_is_no_regular_file_without_opening_it(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "product"
    write_tree(source, {"a/b/ab1.jpg": images.jpeg(64, 48)})
    os.mkfifo(source / "a" / "b" / "fifo.jpg")  # opening it would wait for a writer forever
    (source / "a" / "b" / "link.jpg").symlink_to(source / "a" / "b" / "ab1.jpg")
    errors = tmp_path / "errors.tsv"
    command = [sys.executable, "-m", "cli.main", "--config", str(config()), "migrate"]
    command += [str(source), "--site", "t1", "--no-sizes", "--errors", str(errors)]

    # A process, so a migrate that blocks on the FIFO is killed at the timeout, not the suite.
    done = subprocess.run(
        command, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=GUARD
    )
    assert done.returncode == 1, done.stderr
    assert errors.read_text().splitlines() == [
        f"{source / 'a' / 'b' / 'fifo.jpg'}\tnot a regular file (a FIFO): not read"
    ]
    assert set(s3_raw.list(s3_bucket)) == {"t1/full/a/b/ab1.jpg", "t1/full/a/b/link.jpg"}


def test_a_file_swapped_for_a_fifo_after_the_scan_is_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(fifo)


def test_migrate_refuses_what_cannot_be_right(
    config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    media = tmp_path / "media"
    (media / "catalog" / "product").mkdir(parents=True)
    cfg = config()
    assert cli(cfg, "migrate", str(media), "--site", "t1") == 2
    assert "give " + str(media / "catalog" / "product") in capsys.readouterr().err
    assert cli(cfg, "migrate", str(media / "nope"), "--site", "t1") == 2
    assert cli(cfg, "migrate", str(media), "--site", "t9") == 2
    assert "unknown site 't9'" in capsys.readouterr().err


def test_delete_removes_the_original_and_every_size(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = images.jpeg(8, 8)
    for rel in ("a/b/ab1.jpg", "a/b/ab2.jpg"):
        for dim in ["full", *SPECS]:
            s3_raw.put(s3_bucket, f"t1/{dim}/{rel}", tiny)
    s3_raw.put(s3_bucket, "t1/999x/a/b/ab1.jpg", tiny)  # not a configured size: not ours
    cfg = config()

    assert cli(cfg, "delete", "--site", "t1", "a/b/ab1.jpg") == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(out) == sorted(f"deleted t1/{dim}/a/b/ab1.jpg" for dim in ["full", *SPECS])
    assert set(s3_raw.list(s3_bucket)) == {f"t1/{d}/a/b/ab2.jpg" for d in ["full", *SPECS]} | {
        "t1/999x/a/b/ab1.jpg"
    }

    assert cli(cfg, "delete", "--site", "t1", "a/b/ab2.jpg", "a/b/ab1.jpg") == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 10
    assert "t1/full/a/b/ab1.jpg\tnothing to delete" in captured.err
    assert s3_raw.list(s3_bucket) == ["t1/999x/a/b/ab1.jpg"]


def test_delete_refuses_bad_paths_before_touching_anything(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_raw.put(s3_bucket, "t1/full/a/b/ab1.jpg", images.jpeg(8, 8))
    cfg = config()
    assert cli(cfg, "delete", "--site", "t1", "a/b/ab1.jpg", "../x.jpg") == 2
    err = capsys.readouterr().err
    assert "mediaproxy delete: ../x.jpg: bad path segment (REL is a path below t1/full/" in err
    assert cli(cfg, "delete", "--site", "t9", "a/b/ab1.jpg") == 2
    assert s3_raw.list(s3_bucket) == ["t1/full/a/b/ab1.jpg"]
