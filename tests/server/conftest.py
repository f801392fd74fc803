"""Fixtures of the server tests: an app on the fake engine in a temporary data folder, and its test client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from papertrans.server.app import create_app
from papertrans.server.engine.fake import FakeEngine
from papertrans.server.settings import Settings

CHAT_TEMPLATE = Path(__file__).resolve().parents[1] / "data" / "chat_template_fewshot.jinja"

ADMIN_KEY = "test-admin-key"
ADMIN = {"X-Admin-Key": ADMIN_KEY}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp_path / "data", "admin_key": ADMIN_KEY}
    base.update(overrides)
    return Settings(**base)


def make_adapter(root: Path, folder: str, rank: int = 8) -> Path:
    """A folder that looks like a PEFT adapter to the registry (the fake engine never reads the weights)."""
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    return path


class AppClient(httpx.AsyncClient):
    """An httpx client bound to one app; ``app`` gives tests access to ``app.state``."""

    app: Litestar


@asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[AppClient]:
    """Run the app's lifespan and talk to it in *this* event loop (Litestar's AsyncTestClient runs the app in a
    portal thread, which serializes requests and cannot share the session's real engine).

    The lifespan runs in a task of its own: it opens anyio cancel scopes, which must be left by the task that
    entered them, and an async fixture's setup and teardown run in different tasks.
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run_lifespan())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # startup failed: raise its error
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with AppClient(transport=transport, base_url="http://testserver", timeout=600) as client:
            client.app = app
            yield client
    finally:
        stop.set()
        await task


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def app_factory(tmp_path: Path) -> Callable[..., Litestar]:
    def factory(engine: Any = None, **overrides: Any) -> Litestar:
        return create_app(make_settings(tmp_path, **overrides), engine=engine or FakeEngine())

    return factory


@pytest.fixture
async def client(app_factory: Callable[..., Litestar], fake_engine: FakeEngine) -> AsyncIterator[AppClient]:
    async with serve(app_factory(fake_engine)) as c:
        yield c


@pytest.fixture(scope="session")
def served_vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """ONE real ``vllm serve`` on the embedded model (CPU, LoRA on, the placeholder constraint loaded) for every
    module that needs an OpenAI-compatible server (remote engine, chat provider, distillation): its URL and log. It
    carries ``--chat-template tests/data/chat_template_fewshot.jinja`` (only ``/v1/chat/completions`` uses it: it
    frames the chat turn as the few-shot completion a base model continues), so one start serves them all; it is
    stopped with its children at the end of the session. Read the log from an offset taken at a test's start
    (:func:`log_since`): other tests' requests are in it too."""
    import time

    from papertrans.contract.model import resolve_model
    from tests.server._vllm_serve import vllm_serve

    base = Settings()  # type: ignore[call-arg]
    model_path = Path(resolve_model(base.model, base.cache_dir))
    log = tmp_path_factory.mktemp("vllm") / "vllm-serve.log"
    started = time.perf_counter()
    with vllm_serve(model_path, base.engine, log, extra_args=["--chat-template", str(CHAT_TEMPLATE)]) as url:
        print(f"\nvllm serve ready in {time.perf_counter() - started:.1f} s at {url}")
        yield url, log


def log_since(log: Path, offset: int) -> str:
    """What a shared server wrote to ``log`` after ``offset`` (bytes; take ``log.stat().st_size`` first)."""
    with log.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")
