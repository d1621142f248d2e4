"""Configuration: TOML + MEDIAPROXY_* overrides, every problem reported at once (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from config import ConfigError, SizeSpec, load_settings, parse_sizes

GOOD = """
[storage]
url = "s3://shop-media/media"

[resize]
quality = 80

[sites.t1]
sizes = "300x, 300x300, 70x70"
upload_keys_env = "T1_KEYS"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mediaproxy.toml"
    path.write_text(text)
    return path


def test_seed_size_list_keeps_each_literal_spec() -> None:
    specs = parse_sizes("300x, 300x300, 70x70, x500, 300x")
    assert [s.text for s in specs] == ["300x", "300x300", "70x70", "x500"]
    assert specs[0] == SizeSpec("300x", 300, None)
    assert specs[3] == SizeSpec("x500", None, 500)


@pytest.mark.parametrize("bad", ["x", "300", "0x10", "300X300", "-1x5", "300x300x", "99999x"])
def test_bad_size_specs_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"size|pixels"):
        SizeSpec.parse(bad)


def test_toml_and_environment_overrides(tmp_path: Path) -> None:
    env = {"T1_KEYS": "k" * 20 + ", " + "q" * 20, "MEDIAPROXY_RESIZE_DYNAMIC": "false"}
    settings = load_settings(write(tmp_path, GOOD), env | {"MEDIAPROXY_RESIZE_QUALITY": "70"})
    assert settings.storage.url == "s3://shop-media/media"
    assert settings.resize.dynamic is False
    assert settings.resize.quality == 70
    site = settings.sites["t1"]
    assert site.quality == 70  # a site inherits resize.quality
    assert site.upload_keys == ("k" * 20, "q" * 20)
    assert site.size("300x") == SizeSpec("300x", 300, None)
    assert site.size("300") is None


def test_every_problem_is_reported_at_once_naming_its_key(tmp_path: Path) -> None:
    text = (
        GOOD.replace("quality = 80", "quality = 0\ntypo = 1")
        + '\n[sites."bad name"]\nsizes = "1x1"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {"MEDIAPROXY_SERVER_PORT": "http"})
    problems = "\n".join(caught.value.problems)
    assert "resize.quality: must be between 1 and 100" in problems
    assert "resize.typo: unknown key" in problems
    assert "MEDIAPROXY_SERVER_PORT: expected a whole number" in problems
    assert "sites.t1.upload_keys_env: environment variable 'T1_KEYS' is not set" in problems
    assert "sites.bad name:" in problems
    assert len(caught.value.problems) == 5


def test_no_config_is_the_embedded_default_with_a_demo_site() -> None:
    settings = load_settings(None, {})
    assert settings.storage.url == "file:./var/media"
    assert list(settings.sites) == ["demo"]
    assert settings.sites["demo"].size("215x170") is not None


def test_config_check_exits_2_listing_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[resize]\nworkers = -1\nqueue = 'long'\n")
    assert main(["--config", str(path), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "resize.workers: must be between 0 and 1024" in err
    assert "resize.queue: expected a whole number" in err
    assert "sites: at least one [sites.NAME]" in err


def test_config_show_masks_upload_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T1_KEYS", "secret-secret-secret-1")
    assert main(["config", "show", "--config", str(write(tmp_path, GOOD))]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["sites"]["t1"]["upload_keys"] == ["***"]
    assert shown["sites"]["t1"]["sizes"] == ["300x", "300x300", "70x70"]
    assert "secret-secret" not in json.dumps(shown)


def test_storage_settings_are_checked_with_the_rest(tmp_path: Path) -> None:
    text = GOOD.replace('url = "s3://shop-media/media"', 'endpoint_url = "notaurl"')
    text += '\n[sites.t2]\nsizes = "300x, abc, 0x0"\nplaceholder_status = 302\n'
    env = {"MEDIAPROXY_STORAGE_URL": "ftp://x", "MEDIAPROXY_STORAGE_TIMEOUT": "nan"}
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env | {"T1_KEYS": "short"})
    assert sorted(caught.value.problems) == [
        "MEDIAPROXY_STORAGE_TIMEOUT: must be a number above 0, got nan",
        "MEDIAPROXY_STORAGE_URL: storage url must start with 'file:' or 's3://', got 'ftp://x'",
        "sites.t1.upload_keys_env: T1_KEYS holds a key shorter than 16 characters",
        "sites.t2.placeholder_status: 200 or 404, got 302",
        "sites.t2.sizes: 'abc' is not a size like '300x', 'x500' or '215x170';"
        " '0x0' is not a size like '300x', 'x500' or '215x170'",
        "storage.endpoint_url: expected an http:// or https:// URL with a host, got 'notaurl'",
    ]


@pytest.mark.parametrize("url", ["s3://", "file:", "s3://Bad_Bucket!/p", "/tmp/abs"])
def test_config_check_refuses_a_bad_storage_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("T1_KEYS", "k" * 20)
    monkeypatch.setenv("MEDIAPROXY_STORAGE_URL", url)
    assert main(["--config", str(write(tmp_path, GOOD)), "config", "check"]) == 2
    assert "MEDIAPROXY_STORAGE_URL: storage url" in capsys.readouterr().err


def test_an_unreadable_file_is_the_one_problem_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "[sites.t1\n"), {})
    assert len(caught.value.problems) == 1
    assert "not valid TOML" in caught.value.problems[0]


@pytest.mark.parametrize(
    "command", [["serve", "--port", "0"], ["pregen"], ["delete", "--site", "t1", "a/b/x.jpg"]]
)
def test_commands_refuse_a_storage_directory_they_cannot_use(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    (tmp_path / "plain").write_bytes(b"a file, not a directory")
    monkeypatch.setenv("T1_KEYS", "k" * 20)
    monkeypatch.setenv("MEDIAPROXY_STORAGE_URL", f"file:{tmp_path}/plain")
    assert main(["--config", str(write(tmp_path, GOOD)), *command]) == 2
    err = capsys.readouterr().err
    assert f"storage.url: storage url 'file:{tmp_path}/plain': " in err
    assert f"{tmp_path}/plain is not a directory" in err
    assert "Traceback" not in err


def test_sites_sharing_storage_keys_are_refused(tmp_path: Path) -> None:
    text = GOOD + (
        '[sites.m2]\nlayout = "magento2"\nkey_prefix = "t1/full/cat"\n'
        '[sites.m2.hashes]\n"0f4c1d1c3e8e9d1e1b2a3c4d5e6f7a8b" = { width = 240, height = 300 }\n'
        '[sites.m3]\nlayout = "magento2"\nkey_prefix = "t1/full/cat"\nhosts = ["m3.example"]\n'
        '[sites.m3.hashes]\n"0f4c1d1c3e8e9d1e1b2a3c4d5e6f7a8b" = { width = 100, height = 100 }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {"T1_KEYS": "k" * 20})
    assert caught.value.problems == [
        "sites.m2.key_prefix: its keys (t1/full/cat/...) overlap those of site 't1' (t1/...);"
        " give each site its own key_prefix (one site can answer several hosts)",
        "sites.m3.key_prefix: its keys (t1/full/cat/...) overlap those of site 't1' (t1/...);"
        " give each site its own key_prefix (one site can answer several hosts)",
        "sites.m3.key_prefix: its keys (t1/full/cat/...) overlap those of site 'm2'"
        " (t1/full/cat/...);"
        " give each site its own key_prefix (one site can answer several hosts)",
    ]


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_serve_refuses_a_port_out_of_range(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", port])
    assert exited.value.code == 2
    assert f"argument --port: expected a port number 0-65535, got {port!r}" in (
        capsys.readouterr().err
    )


def test_config_check_refuses_a_file_storage_it_could_not_use_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plain").write_bytes(b"a file, not a directory")
    monkeypatch.setenv("T1_KEYS", "k" * 20)
    config = str(write(tmp_path, GOOD))
    monkeypatch.setenv("MEDIAPROXY_STORAGE_URL", f"file:{tmp_path}/plain/media")
    assert main(["--config", config, "config", "check"]) == 2
    assert f"storage.url: storage url 'file:{tmp_path}/plain/media': {tmp_path}/plain is not" in (
        capsys.readouterr().err
    )
    monkeypatch.setenv("MEDIAPROXY_STORAGE_URL", f"file:{tmp_path}/new/media")
    assert main(["--config", config, "config", "check"]) == 0  # serve would make it
    assert "config ok" in capsys.readouterr().out
    assert not (tmp_path / "new").exists()
