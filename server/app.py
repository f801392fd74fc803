"""The Litestar application factory.

``create_app(settings, engine=None)`` has no side effects: the engine (real vLLM unless one is passed, or the fake one
for ``PAPERTRANS_MODEL=fake``), the adapter registry, the store and the job manager are created in the lifespan and
reached by dependency injection (``engine``, ``adapters``, ``store``, ``jobs``, ``translator``, ``metrics``,
``settings``) and through ``app.state``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from papertrans import __version__, exitcodes
from papertrans.server.adapters import AdapterRegistry
from papertrans.server.engine import Engine
from papertrans.server.errors import exception_handlers
from papertrans.server.jobs import JobQueue
from papertrans.server.jobs_db import DatabaseJobManager
from papertrans.server.jobs_folder import FolderJobManager
from papertrans.server.limits import Admission
from papertrans.server.metrics import Metrics
from papertrans.server.pipeline import Pipeline
from papertrans.server.routes import route_handlers
from papertrans.server.settings import Settings
from papertrans.server.store import AdapterTable, JobTable, Store, StoreConflict, open_store
from papertrans.server.translator import Translator

__all__ = ["DEPENDENCIES", "ENGINE_DEAD_EXIT_CODE", "create_app", "start_engine", "state_dependencies"]

log = logging.getLogger(__name__)

# `papertrans serve` exits with this code when the engine died, so that a supervisor restarts the server.
ENGINE_DEAD_EXIT_CODE = exitcodes.FAILED


async def start_engine(settings: Settings) -> Engine:
    """The engine ``settings.model`` names: ``fake`` (tests, UI plumbing) or a real vLLM engine."""
    if settings.model == "fake" or settings.model.startswith("fake:"):
        from papertrans.server.engine.fake import FakeEngine

        # "fake:0.5" = every request takes 0.5 s (drain, backpressure and load tests on a real server process)
        delay = float(settings.model.partition(":")[2] or 0)
        return FakeEngine(delay=delay)
    from papertrans.contract.model import resolve_model

    if settings.engine.provider.kind == "openai-chat":  # a model the user already runs, behind a chat endpoint
        return await _start_chat_engine(settings)
    # the first run converts the embedded GGUF (minutes): keep the event loop free meanwhile
    model_path = await asyncio.to_thread(resolve_model, settings.model, settings.cache_dir)
    engine: Engine
    if settings.engine.urls:  # a pool of `vllm serve` endpoints; the local folder gives tokenizer and template
        from papertrans.server.engine.remote import RemoteEngine

        engine = await RemoteEngine.start(settings.engine.urls, model_path, settings.engine)
        return engine
    from papertrans.server.engine.inprocess import VllmEngine

    engine = await VllmEngine.start(model_path, settings.engine)
    return engine


async def _start_chat_engine(settings: Settings) -> Engine:
    """The chat-provider engine (server/engine/chat.py), with the local tokenizer ``provider.tokenizer`` names."""
    from papertrans.server.engine.chat import ChatEngine

    provider = settings.engine.provider
    if provider.constrain is None and not settings.engine.constrain_placeholders:
        provider = provider.model_copy(update={"constrain": False})  # the constraint is off everywhere
    tokenizer = None
    if provider.tokenizer:
        from transformers import AutoTokenizer

        from papertrans.contract.model import resolve_model

        folder = await asyncio.to_thread(resolve_model, provider.tokenizer, settings.cache_dir)
        tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, str(folder))
    engine: Engine = await ChatEngine.start(provider, tokenizer=tokenizer)
    return engine


async def _open_store(settings: Settings, metrics: Metrics) -> Store:
    store = await open_store(settings)
    store.on_write_failure = metrics.store_failures.inc  # papertrans_store_failures counts failed writes
    return store


async def _default_adapter(settings: Settings, registry: AdapterRegistry, own_engine: bool) -> str | None:
    """The adapter for requests that name none; installs the shipped starter when that is the one.

    An engine handed to ``create_app`` (tests, embedding) gets the starter only when ``default_adapter`` names it. A
    starter that cannot be loaded leaves the server on the base model (logged); it never keeps it from starting.
    """
    from papertrans.contract import STARTER_NAME
    from papertrans.server.starter import install_starter, resolve_default_adapter

    if not own_engine and settings.default_adapter is None:
        return None
    if settings.engine.provider.kind is not None and settings.default_adapter is None:
        return None  # a chat provider serves its own model: the embedded model's starter is not for it
    default = resolve_default_adapter(settings.default_adapter, settings.model)
    if default == STARTER_NAME:
        try:
            try:
                installed = await install_starter(registry, settings.adapter_dir)
            except StoreConflict:  # a fleet: another replica registered it at the same moment; take its version
                await registry.refresh()
                installed = await install_starter(registry, settings.adapter_dir)
            if installed is None and settings.default_adapter is None:
                return None
        except Exception as exc:  # serve the base model rather than not at all
            log.error("starter adapter %s could not be installed: %s; serving the base model", STARTER_NAME, exc)
            return None
    return default


HEALTH_TIMEOUT_S = 10.0  # an engine health call that takes longer is treated as no answer


async def _watch_engine(app: Litestar, eng: Engine, settings: Settings) -> None:
    """Poll the engine's health; when it is dead, record it (``/health`` answers 503, requests fail fast with 503)
    and, if ``exit_on_engine_death``, stop the server with SIGTERM so that in-flight requests drain and the process
    exits for its supervisor to restart (the engine cannot be restarted inside a process that vLLM spawned from)."""
    while True:
        await asyncio.sleep(settings.engine_check_s)
        try:
            # bounded, so that one call can never hang the watchdog; a slow answer is a busy engine, not a dead one:
            # on 2 CPU cores a core deep in long prefills answers its utility calls late (the in-process engine's
            # liveness comes from vLLM's own watch on the core process, which is never slow)
            state = (await asyncio.wait_for(eng.health(), timeout=HEALTH_TIMEOUT_S)).get("state")
        except TimeoutError:
            log.warning("engine health check gave no answer in %.0f s (busy); not taken for dead", HEALTH_TIMEOUT_S)
            continue
        except Exception as exc:  # a health call that raises means the engine is gone
            state = f"error: {exc}"
        # "unavailable": a remote pool with no endpoint answering now; they come back, and a restart would not help
        if state in ("ready", "ok", "running", "unavailable"):
            continue
        log.critical("engine is %s: the server stops (exit code %d)", state, ENGINE_DEAD_EXIT_CODE)
        app.state.engine_dead = str(state)
        # only a server that handles SIGTERM (uvicorn: graceful drain) is asked to stop; a bare test process is not
        if settings.exit_on_engine_death and signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN):
            signal.raise_signal(signal.SIGTERM)
        return


def _job_manager(settings: Settings, translator: Translator, store: Store, metrics: Metrics) -> JobQueue:
    """Jobs in the store (a fleet: any replica runs and resumes them) or in the data folder (one server)."""
    if settings.shared_jobs:
        return DatabaseJobManager(
            translator, JobTable(store), metrics, settings.max_concurrent_jobs, lease_s=settings.job_lease_s
        )
    return FolderJobManager(translator, settings.data_dir / "jobs", metrics, settings.max_concurrent_jobs)


#: What routes get by dependency injection: the app state's entries of these names (set in ``create_app``'s lifespan).
DEPENDENCIES = ("engine", "adapters", "store", "jobs", "translator", "metrics", "settings", "admission")


def _from_state(name: str) -> Provide:
    def provide(state: State) -> Any:
        return state[name]

    return Provide(provide, sync_to_thread=False)


def state_dependencies(names: tuple[str, ...] = DEPENDENCIES) -> dict[str, Provide]:
    """The providers of ``names`` from ``app.state`` (also for a test app that mounts some routes itself)."""
    return {name: _from_state(name) for name in names}


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Litestar:
    """Build the app; nothing starts until the ASGI lifespan runs."""
    settings = settings or Settings()
    metrics = Metrics()
    admission = Admission(settings.limits, metrics)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        own_engine = engine is None
        eng = engine if engine is not None else await start_engine(settings)
        store: Store | None = None
        jobs: JobQueue | None = None
        watch: asyncio.Task[None] | None = None
        sync: asyncio.Task[None] | None = None
        try:
            store = await _open_store(settings, metrics)
            registry = AdapterRegistry(
                eng,
                settings.adapter_dir,
                settings.data_dir / "adapters.json",
                max_rank=settings.engine.max_lora_rank,
                shared=AdapterTable(store) if settings.shared_adapters else None,
            )
            await registry.start()
            if registry.shared is not None:  # a fleet: take what other replicas publish
                sync = asyncio.create_task(registry.sync_forever(settings.adapter_sync_s), name="adapter-sync")
            pipeline = Pipeline(eng, settings.translate, metrics, max_segments=settings.limits.max_segments)
            translator = Translator(pipeline, registry, store, metrics, settings.translate)
            translator.default_adapter = await _default_adapter(settings, registry, own_engine)
            jobs = _job_manager(settings, translator, store, metrics)
            jobs.start()
            state.update(engine=eng, adapters=registry, store=store, translator=translator, jobs=jobs, engine_dead=None)
            watch = asyncio.create_task(_watch_engine(app, eng, settings)) if settings.engine_check_s > 0 else None
            yield
        finally:
            for task in (watch, sync):
                if task is not None:
                    task.cancel()
            if jobs is not None:
                await jobs.close()
            if store is not None:
                await store.close()
            if own_engine:
                await eng.close()

    return Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        state=State({"settings": settings, "metrics": metrics, "admission": admission}),
        dependencies=state_dependencies(),
        exception_handlers=exception_handlers(),  # type: ignore[arg-type]
        middleware=[metrics.middleware],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="papertrans",
            version=__version__,
            description="Translate English papers (Markdown + LaTeX) into Chinese with every formula intact.",
            path="/docs",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=False,
    )
