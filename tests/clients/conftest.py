"""A live papertrans server for client tests: uvicorn on 127.0.0.1, a random port, in a thread of this process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

ADMIN_KEY = "test-admin-key"


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app until the block ends; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="papertrans-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def make_app(data_dir: Path, engine: Any, **settings: Any) -> Any:
    from papertrans.server.app import create_app
    from papertrans.server.settings import Settings

    return create_app(Settings(data_dir=data_dir, **settings), engine=engine)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server on the deterministic fake engine (the subject of these tests is the client, not the model)."""
    from papertrans.server.engine.fake import FakeEngine

    app = make_app(tmp_path_factory.mktemp("server"), FakeEngine(), admin_key=ADMIN_KEY)
    with serve(app) as url:
        yield url


@pytest.fixture
def server_with(tmp_path: Path) -> Callable[..., contextlib.AbstractContextManager[str]]:
    """Start a server on a given engine: ``with server_with(engine) as url: ...``."""

    def start(engine: Any, **settings: Any) -> contextlib.AbstractContextManager[str]:
        return serve(make_app(tmp_path / "server", engine, **settings))

    return start


@pytest.fixture
def dead_url() -> str:
    """A URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
