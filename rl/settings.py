"""Where the server keeps the data rl's jobs read: its data folder, its adapter store and its database.

Read from the same environment variables as the server's own settings (``PAPERTRANS_DATA_DIR``,
``PAPERTRANS_ADAPTERS_DIR``, ``PAPERTRANS_STORE__URL``), with the same defaults, so that ``refresh`` and ``publish``
next to a server find its store without importing the server's settings (tests/rl/test_settings.py checks they agree).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServerData", "StoreLocation"]


class StoreLocation(BaseModel):
    url: str | None = Field(None, description="SQLAlchemy async URL; default: SQLite (WAL) in the data folder.")


class ServerData(BaseSettings):
    """The server's data as rl finds it; ``open_store`` takes it as it takes the server's settings."""

    model_config = SettingsConfigDict(env_prefix="PAPERTRANS_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path("data"), description="The server's data folder.")
    adapters_dir: Path | None = Field(None, description="The adapter store (default: <data_dir>/adapters).")
    store: StoreLocation = Field(default_factory=StoreLocation)

    @property
    def adapter_dir(self) -> Path:
        """The adapter store: publish copies adapters into it, the server registers them from it."""
        return self.adapters_dir or self.data_dir / "adapters"
