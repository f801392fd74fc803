"""Client configuration: command-line flags > environment (``PAPERTRANS_*``) > config file > defaults.

The config file is TOML: ``--config FILE``, else ``$PAPERTRANS_CONFIG``, else
``$XDG_CONFIG_HOME/papertrans/config.toml`` (``~/.config/papertrans/config.toml``). Keys: ``server``, ``api_key``,
``admin_key``, ``timeout``, ``adapter``, ``glossary``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["DEFAULT_SERVER", "ClientConfig", "default_config_path", "load_config"]

DEFAULT_SERVER = "http://127.0.0.1:8000"
# field -> environment variable
ENV = {
    "server": "PAPERTRANS_SERVER",
    "api_key": "PAPERTRANS_API_KEY",
    "admin_key": "PAPERTRANS_ADMIN_KEY",
    "timeout": "PAPERTRANS_TIMEOUT",
    "adapter": "PAPERTRANS_ADAPTER",
    "glossary": "PAPERTRANS_GLOSSARY",
}


@dataclass(frozen=True)
class ClientConfig:
    server: str = DEFAULT_SERVER
    api_key: str | None = None
    admin_key: str | None = None
    timeout: float = 600.0
    adapter: str | None = None
    glossary: str | None = None
    source: str = "defaults"  # where the config file came from, for messages


def default_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "papertrans" / "config.toml"


def _read_file(path: Path, explicit: bool) -> dict[str, Any]:
    if not path.is_file():
        if explicit:
            raise InputError(f"config file {path} not found")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path}: invalid TOML ({exc})") from exc
    unknown = set(data) - set(ENV)
    if unknown:
        raise InputError(f"config file {path}: unknown keys {sorted(unknown)} (known: {sorted(ENV)})")
    return data


def load_config(
    flags: Mapping[str, Any], config_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> ClientConfig:
    """Merge flags (``None`` = not given), environment and the config file."""
    env = os.environ if env is None else env
    explicit = config_path is not None or bool(env.get("PAPERTRANS_CONFIG"))
    path = Path(config_path or env.get("PAPERTRANS_CONFIG") or default_config_path(env)).expanduser()
    file_values = _read_file(path, explicit)
    values: dict[str, Any] = {}
    for key, var in ENV.items():
        if flags.get(key) is not None:
            values[key] = flags[key]
        elif env.get(var):
            values[key] = env[var]
        elif file_values.get(key) is not None:
            values[key] = file_values[key]
    if "timeout" in values:
        try:
            values["timeout"] = float(values["timeout"])
        except (TypeError, ValueError) as exc:
            raise InputError(f"timeout must be a number of seconds, not {values['timeout']!r}") from exc
    if "server" in values:
        values["server"] = str(values["server"]).rstrip("/")
        if not values["server"].startswith(("http://", "https://")):
            raise InputError(f"server must be an http(s) URL, not {values['server']!r}")
    return ClientConfig(**values, source=str(path) if file_values else "defaults")
