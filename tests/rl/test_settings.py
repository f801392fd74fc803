"""rl finds the server's data (data folder, adapter store, database) from the same environment as the server, without
importing the server's settings: the two readings must agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from papertrans.rl.settings import ServerData
from papertrans.server.settings import Settings

CASES = [
    {},
    {"PAPERTRANS_DATA_DIR": "/srv/pt"},
    {"PAPERTRANS_DATA_DIR": "/srv/pt", "PAPERTRANS_ADAPTERS_DIR": "/mnt/adapters"},
    {"PAPERTRANS_STORE__URL": "postgresql+asyncpg://db/pt", "PAPERTRANS_PORT": "9000"},
]


@pytest.mark.parametrize("env", CASES, ids=lambda e: ",".join(e) or "defaults")
def test_rl_reads_the_server_data_as_the_server_does(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PAPERTRANS_DATA_DIR", "PAPERTRANS_ADAPTERS_DIR", "PAPERTRANS_STORE__URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ours, server = ServerData(), Settings()
    assert (ours.data_dir, ours.adapter_dir, ours.store.url) == (server.data_dir, server.adapter_dir, server.store.url)
    if "PAPERTRANS_ADAPTERS_DIR" in env:
        assert ours.adapter_dir == Path(env["PAPERTRANS_ADAPTERS_DIR"])
