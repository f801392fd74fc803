"""Configuration precedence (flags > environment > config file) and glossary files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from papertrans.clients import InputError, load_glossary
from papertrans.clients.client.config import DEFAULT_SERVER, ClientConfig, load_config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PAPERTRANS_* variable of the machine running the tests, and no real ~/.config file."""
    for name in [n for n in os.environ if n.startswith("PAPERTRANS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg_file = _file(tmp_path, 'server = "http://file:1"\napi_key = "file-key"\ntimeout = 5\nadapter = "d2l"\n')
    monkeypatch.setenv("PAPERTRANS_SERVER", "http://env:2")
    monkeypatch.setenv("PAPERTRANS_ADAPTER", "")  # empty = not set
    cfg = load_config({"server": None, "api_key": None}, cfg_file)
    assert (cfg.server, cfg.api_key, cfg.timeout, cfg.adapter) == ("http://env:2", "file-key", 5.0, "d2l")
    cfg = load_config({"server": "http://flag:3/", "adapter": "other"}, cfg_file)
    assert (cfg.server, cfg.adapter) == ("http://flag:3", "other")
    monkeypatch.setenv("PAPERTRANS_CONFIG", str(cfg_file))  # the file named by the environment
    assert load_config({}).api_key == "file-key"


def test_default_file_location_and_defaults(tmp_path: Path) -> None:
    assert load_config({}).server == DEFAULT_SERVER
    assert ClientConfig().timeout == 600.0
    (tmp_path / "xdg" / "papertrans").mkdir(parents=True)
    (tmp_path / "xdg" / "papertrans" / "config.toml").write_text('server = "http://home:9"\n')
    assert load_config({}).server == "http://home:9"
    assert ClientConfig().server == "http://home:9"


def test_bad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERTRANS_TIMEOUT", "-1")
    with pytest.raises(InputError, match="timeout"):
        load_config({})


@pytest.mark.parametrize(
    ("text", "message"),
    [("server = \n", "invalid TOML"), ('sever = "x"\n', "unknown keys"), ('server = "ftp://x"\n', "http"),
     ('timeout = "soon"\n', "timeout")],
)
def test_bad_config(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_config({}, _file(tmp_path, text))


def test_explicit_missing_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_config({}, tmp_path / "nope.toml")


def test_glossary_formats(tmp_path: Path) -> None:
    expected = [("attention", "注意力"), ("token", "词元")]
    (tmp_path / "g.csv").write_text("source,target\nattention,注意力\n# comment\ntoken,词元\n", encoding="utf-8")
    (tmp_path / "g.tsv").write_text("attention\t注意力\ntoken\t词元\n", encoding="utf-8")
    (tmp_path / "g.json").write_text(json.dumps({"attention": "注意力", "token": "词元"}), encoding="utf-8")
    (tmp_path / "l.json").write_text(json.dumps([{"source": "attention", "target": "注意力"}, ["token", "词元"]]))
    (tmp_path / "g.toml").write_text('attention = "注意力"\ntoken = "词元"\n', encoding="utf-8")
    for name in ("g.csv", "g.tsv", "g.json", "l.json", "g.toml"):
        assert load_glossary(tmp_path / name) == expected, name


@pytest.mark.parametrize(("name", "text"), [("e.csv", "attention\n"), ("e.json", "[1, 2]"), ("e.csv", ""),
                                            ("e.json", "{")])
def test_bad_glossary(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError):
        load_glossary(tmp_path / name)
