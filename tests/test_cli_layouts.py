"""Each CLI command builds the sites' layouts once (cli.main) and hands them down.

A Magento 2 layout reads its theme's view.xml files and computes its hash table; config
validation, the command and the bulk planner used to do that up to three times per run.
The counters below wrap the builder's expensive steps, so a layer that rebuilds the layouts
from settings again fails here, while the command's output shows it still did its job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bulk import PregenOptions, Run, pregen
from cli.main import main
from config import load_settings
from layouts import Router
from layouts.magento2.layout import Magento2Layout
from layouts.magento2.table import hash_table
from layouts.magento2.viewxml import read_view_xml
from proxy.app import create_app
from storage import open_storage
from tests import images

FIXTURES = Path(__file__).parent / "fixtures" / "magento2"
VIEW_XML = ["blank_view.xml", "catalog_view.xml", "swatches_view.xml", "luma_view_mageos.xml"]
CRYPT_KEY = "0123456789abcdef0123456789abcdef"
PREFIX = "media/catalog/product"
REL = "a/b/ab.jpg"
ORIGINAL = f"{PREFIX}/{REL}"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mventory site and a Magento 2 site (Luma's table) on file storage, one original."""
    monkeypatch.setenv("SHOP_CRYPT_KEY", CRYPT_KEY)
    views = ", ".join(f'"{FIXTURES / name}"' for name in VIEW_XML)
    path = tmp_path / "mediaproxy.toml"
    path.write_text(
        f'[storage]\nurl = "file:{tmp_path / "media"}"\n'
        '[sites.t1]\nsizes = "300x, 70x70"\n'
        f'[sites.m2]\nlayout = "magento2"\nview_xml = [{views}]\n'
        'crypt_key_env = "SHOP_CRYPT_KEY"\n'
    )
    original = tmp_path / "media" / ORIGINAL
    original.parent.mkdir(parents=True)
    original.write_bytes(images.jpeg(300, 200))
    return path


@pytest.fixture
def digests(config: Path) -> list[str]:
    """The m2 hash table's digests, built before any counting starts."""
    layout = Router.from_settings(load_settings(config)).layouts["m2"]
    assert isinstance(layout, Magento2Layout)
    return list(layout.table)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts Routers made, Magento 2 hash tables computed and view.xml sets read."""
    counts: Counter[str] = Counter()

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr("layouts.router.hash_table", counted("hash_table", hash_table))
    monkeypatch.setattr(
        "layouts.magento2.table.read_view_xml", counted("read_view_xml", read_view_xml)
    )
    monkeypatch.setattr(Router, "__init__", counted("Router", Router.__init__))
    return counts


AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
ONCE = {"Router": 1, "hash_table": 1, "read_view_xml": 1}


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_pregen_dry_run_builds_the_layouts_once(
    config: Path, digests: list[str], builds: Counter[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(config, "pregen", "--dry-run") == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{PREFIX}/cache/{digest}/{REL}\t{ORIGINAL}" for digest in digests]
    assert f"would make {len(digests)} sizes of 1 originals" in err
    assert builds == ONCE


def test_pregen_builds_the_layouts_once_and_makes_every_size(
    config: Path,
    digests: list[str],
    builds: Counter[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(config, "pregen", "--site", "m2", "--jobs", "1") == 0
    assert f"made {len(digests)} sizes of 1 originals" in capsys.readouterr().err
    for digest in digests:
        assert (tmp_path / "media" / PREFIX / "cache" / digest / REL).is_file()
    assert builds == ONCE


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["magento2", "hashes", "--site", "m2"], "digests"),
        (["delete", "--site", "m2", REL], f"deleted {ORIGINAL}"),
        (["config", "check"], "config ok:"),
    ],
)
def test_other_commands_build_the_layouts_once(
    config: Path,
    digests: list[str],
    builds: Counter[str],
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    expected: str,
) -> None:
    assert cli(config, *command) == 0
    out = capsys.readouterr().out
    if expected == "digests":
        assert [line.split()[0] for line in out.splitlines()] == digests
    else:
        assert expected in out
    assert builds == ONCE


def test_migrate_builds_the_layouts_once(
    config: Path,
    digests: list[str],
    builds: Counter[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "product"
    (source / "c" / "d").mkdir(parents=True)
    (source / "c" / "d" / "cd.jpg").write_bytes(images.jpeg(200, 300))
    assert cli(config, "migrate", str(source), "--site", "m2", "--no-sizes", "--jobs", "1") == 0
    assert "uploaded 1 originals" in capsys.readouterr().err
    assert (tmp_path / "media" / PREFIX / "c" / "d" / "cd.jpg").is_file()
    assert builds == ONCE


def test_a_bad_layout_is_still_a_config_error_listing_every_site(
    tmp_path: Path, builds: Counter[str], capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<view><media>")
    path = tmp_path / "mediaproxy.toml"
    sites = "".join(
        f'[sites.{name}]\nlayout = "magento2"\nview_xml = ["broken.xml"]\n'
        f'magento_version = "2.4.8"\nurl_prefix = "/{name}/catalog/product"\n'
        f'key_prefix = "{name}/catalog/product"\n'
        for name in ("m2a", "m2b")
    )
    path.write_text(f'[storage]\nurl = "file:{tmp_path / "media"}"\n{sites}')
    assert cli(path, "pregen", "--dry-run") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "mediaproxy: the configuration has problems:" in captured.err
    assert "  - sites.m2a.view_xml:" in captured.err
    assert "  - sites.m2b.view_xml:" in captured.err
    assert builds["Router"] == 0  # nothing ran past the check


async def test_pregen_in_process_uses_the_router_it_is_given(
    config: Path, digests: list[str], builds: Counter[str], tmp_path: Path
) -> None:
    settings = load_settings(config)
    router = Router.from_settings(settings)
    storage = await open_storage(settings.storage)
    try:
        options = PregenOptions(sites=("m2",), jobs=1)
        first = await pregen(storage, settings, options, Run("pregen"), router=router)
        again = await pregen(storage, settings, options, router=router)
    finally:
        await storage.close()
    assert (first.failures, first.made) == ([], len(digests))
    assert (again.made, again.skipped) == (0, len(digests))
    assert builds == ONCE


async def test_the_server_uses_the_router_it_is_given(
    config: Path, digests: list[str], builds: Counter[str], aiohttp_client: AppClient
) -> None:
    settings = load_settings(config)
    router = Router.from_settings(settings)  # what `mediaproxy serve` hands to run_server
    client = await aiohttp_client(create_app(settings, router=router))
    response = await client.get(f"/{PREFIX}/cache/{digests[0]}/{REL}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert builds == ONCE
