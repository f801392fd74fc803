"""Client configuration: command-line flags > environment (``PAPERTRANS_*``) > config file > defaults.

The config file is TOML: ``--config FILE``, else ``$PAPERTRANS_CONFIG``, else
``$XDG_CONFIG_HOME/papertrans/config.toml`` (``~/.config/papertrans/config.toml``). Keys: ``server``, ``api_key``,
``admin_key``, ``timeout``, ``adapter``, ``glossary``; the environment variables are the same names upper-cased with
the ``PAPERTRANS_`` prefix (``PAPERTRANS_SERVER``, ...). pydantic-settings reads and validates all three.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import PositiveFloat, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ..errors import InputError

__all__ = ["DEFAULT_SERVER", "ClientConfig", "config_file", "load_config"]

DEFAULT_SERVER = "http://127.0.0.1:8000"
# The file ClientConfig reads; load_config sets it for one construction (a context variable: thread-safe).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("papertrans_client_config_file", default=None)


def config_file(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to read: ``explicit``, else ``$PAPERTRANS_CONFIG``, else the XDG location."""
    chosen = explicit or os.environ.get("PAPERTRANS_CONFIG")
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "papertrans" / "config.toml"


class ClientConfig(BaseSettings):
    """Where the client connects and with what; ``ClientConfig()`` alone reads the environment and the file."""

    model_config = SettingsConfigDict(env_prefix="PAPERTRANS_", env_ignore_empty=True, extra="forbid", frozen=True)

    server: str = DEFAULT_SERVER
    api_key: str | None = None
    admin_key: str | None = None
    timeout: PositiveFloat = 600.0
    adapter: str | None = None
    glossary: str | None = None

    @field_validator("server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: flags (passed as arguments) > environment > the TOML file; no .env, no secrets dir.
        toml_file = _CONFIG_FILE.get() or config_file()
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    token = _CONFIG_FILE.set(path)
    try:
        yield
    finally:
        _CONFIG_FILE.reset(token)


def _input_error(exc: ValidationError, path: Path) -> InputError:
    unknown = sorted(str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden")
    if unknown:
        known = sorted(ClientConfig.model_fields)
        return InputError(f"config file {path}: unknown keys {unknown} (known: {known})")
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    return InputError(f"{where}: {first['msg'].removeprefix('Value error, ')} (got {first.get('input')!r})")


def load_config(flags: Mapping[str, Any], config_path: str | os.PathLike[str] | None = None) -> ClientConfig:
    """Merge flags (``None`` = not given), the environment and the config file; bad values raise ``InputError``."""
    path = config_file(config_path)
    explicit = config_path is not None or bool(os.environ.get("PAPERTRANS_CONFIG"))
    if explicit and not path.is_file():
        raise InputError(f"config file {path} not found")
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        with _reading(path):
            return ClientConfig(**given)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path}: invalid TOML ({exc})") from exc
    except ValidationError as exc:
        raise _input_error(exc, path) from exc
