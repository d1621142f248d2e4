"""The shipped example config passes its own check on a fresh machine, and its commented
Magento 2 block is a working site once uncommented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli.main import main
from config import load_settings
from layouts import Router

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "mediaproxy.example.toml"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "magento2"


def test_the_example_passes_its_own_check_with_no_variables_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("T1_UPLOAD_KEYS", "MAGENTO_CRYPT_KEY", "MEDIAPROXY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--config", str(EXAMPLE), "config", "check"]) == 0
    assert "config ok" in capsys.readouterr().out


def test_the_commented_magento2_site_works_when_uncommented(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    block = text[text.index("# [sites.shop]") :]
    uncommented = re.sub(r"^# ?", "", block, flags=re.MULTILINE)
    uncommented = re.sub(r"magento/app/\S+/(\w+)/etc/view.xml", r"\1_view.xml", uncommented)
    for name, fixture in [("blank", "blank"), ("Catalog", "catalog"), ("Swatches", "swatches")]:
        (tmp_path / f"{name}_view.xml").write_bytes((FIXTURES / f"{fixture}_view.xml").read_bytes())
    (tmp_path / "luma_view.xml").write_bytes((FIXTURES / "luma_view_mageos.xml").read_bytes())
    config = tmp_path / "mediaproxy.toml"
    config.write_text(uncommented)
    settings = load_settings(config, {"MAGENTO_CRYPT_KEY": "0123456789abcdef0123456789abcdef"})
    assert settings.sites["shop"].layout == "magento2"
    assert Router.from_settings(settings).layouts["shop"].sizes  # builds, view.xml and all
