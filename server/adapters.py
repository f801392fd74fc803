"""The adapter registry: versioned LoRA adapters, an "active" alias per name, rollback, hot-swap.

Every registered version gets a fresh served name (``<name>@<version>``) and a new integer id, because vLLM caches
LoRAs by name and id and reloading one in place has known upstream bugs. "active" flips only after the engine has
loaded the version. Requests hold a reference (:meth:`AdapterRegistry.acquire`) for their whole run, so they finish on
the version they started with and a version in use cannot be deleted. State is persisted as JSON in the data folder
and the adapters are loaded again when the server starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from papertrans.contract import METADATA_FILE
from papertrans.server.domain_errors import (
    AdapterConflict,
    AdapterNotFound,
    AdaptersUnsupported,
    InvalidAdapterRequest,
    UnusableAdapter,
)
from papertrans.server.engine import AdapterLoadError, AdapterRef, Engine

__all__ = ["AdapterRegistry", "AdapterVersion", "SharedState", "prompt_style", "resolve_folder"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def prompt_style(folder: Path) -> str | None:
    """The prompt style an adapter folder was trained with (its metadata's ``prompt_style``); None = the base model's
    prompt (no metadata, or an adapter from before prompt styles)."""
    try:
        raw = json.loads((folder / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    style = raw.get("prompt_style") if isinstance(raw, dict) else None
    return style if isinstance(style, str) else None


class SharedState(Protocol):
    """Where a fleet keeps the registry (``server.store.AdapterTable``): the JSON file's shape, saved per name."""

    async def load(self) -> dict[str, Any]: ...

    async def save(self, name: str, item: dict[str, Any] | None) -> None: ...


@dataclass
class AdapterVersion:
    name: str
    version: int
    int_id: int
    folder: str  # relative to the adapter store
    created_at: float
    loaded: bool = False

    @property
    def served_name(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class _Adapter:
    versions: dict[int, AdapterVersion] = field(default_factory=dict)
    active: int | None = None
    history: list[int] = field(default_factory=list)  # previously active versions, most recent last


def _item(a: _Adapter) -> dict[str, Any]:
    """One name's persisted state (the JSON file's and the store's shape)."""
    return {
        "active": a.active,
        "history": a.history,
        "versions": [{k: x for k, x in asdict(v).items() if k != "loaded"} for v in a.versions.values()],
    }


def _info(v: AdapterVersion, adapter: _Adapter) -> dict[str, Any]:
    """What ``GET /adapters`` and the admin operations answer about one version."""
    return {
        "name": v.name,
        "version": v.version,
        "served_name": v.served_name,
        "int_id": v.int_id,
        "folder": v.folder,
        "active": adapter.active == v.version,
        "loaded": v.loaded,
        "created_at": v.created_at,
    }


def _merged(known: dict[str, _Adapter], raw: dict[str, Any]) -> tuple[dict[str, _Adapter], list[AdapterVersion]]:
    """The persisted state ``raw`` as the registry's, versions still loaded where ``known`` has them loaded; and the
    versions of ``known`` that vanished."""
    adapters: dict[str, _Adapter] = {}
    for name, item in raw.get("adapters", {}).items():
        old = known.get(name, _Adapter()).versions
        versions = {}
        for row in item["versions"]:
            v = AdapterVersion(**{**row, "loaded": False})
            was = old.get(v.version)
            v.loaded = was is not None and was.int_id == v.int_id and was.loaded
            versions[v.version] = v
        adapters[name] = _Adapter(versions, item.get("active"), list(item.get("history", [])))
    gone: list[AdapterVersion] = []
    for name, adapter in known.items():
        now = adapters.get(name, _Adapter()).versions
        gone += [v for n, v in adapter.versions.items() if n not in now or now[n].int_id != v.int_id]
    return adapters, gone


def resolve_folder(adapter_dir: Path, folder: str, max_rank: int | None = None) -> Path:
    """A folder inside the adapter store ``adapter_dir``, symlinks resolved, holding a PEFT adapter of at most
    ``max_rank``; anything else is refused."""
    if not folder or "\x00" in folder or Path(folder).is_absolute():
        detail = "folder must be a relative path inside the adapter store"
        raise InvalidAdapterRequest("folder_outside_store", detail)
    root = adapter_dir.resolve()
    path = (root / folder).resolve()
    if path == root or not path.is_relative_to(root):
        raise InvalidAdapterRequest("folder_outside_store", "folder must be inside the adapter store")
    if not path.is_dir():
        raise AdapterNotFound("folder_not_found", f"no folder {folder!r} in the adapter store")
    config = path / "adapter_config.json"
    if not config.is_file():
        raise UnusableAdapter("not_an_adapter", f"{folder!r} has no adapter_config.json")
    try:
        rank = json.loads(config.read_text()).get("r")
    except (ValueError, OSError) as exc:
        raise UnusableAdapter("not_an_adapter", f"unreadable adapter_config.json: {exc}") from exc
    if max_rank is not None and isinstance(rank, int) and rank > max_rank:
        raise UnusableAdapter("adapter_rank_too_large", f"rank {rank} > max_lora_rank {max_rank}")
    return path


class AdapterRegistry:
    """Adapter versions known to the server; mutations are serialized by one lock."""

    def __init__(
        self,
        engine: Engine,
        adapter_dir: Path,
        state_file: Path,
        *,
        max_rank: int | None = None,
        shared: SharedState | None = None,
    ) -> None:
        self.engine = engine
        self.adapter_dir = adapter_dir
        self.state_file = state_file
        self.max_rank = max_rank
        # A fleet: the state lives in the store, every replica loads what any replica published (refresh()).
        self.shared = shared
        self._adapters: dict[str, _Adapter] = {}
        self._next_id = 1
        self._in_use: Counter[str] = Counter()
        self._styles: dict[str, str | None] = {}  # served name -> prompt style, read once when a version loads
        self._lock = asyncio.Lock()

    # -- persistence --------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the persisted state and load every version into the engine (those whose folder vanished stay
        registered but unloaded, and are reported by ``GET /adapters``)."""
        self.adapter_dir.mkdir(parents=True, exist_ok=True)
        if self.shared is not None:
            self._merge(await self.shared.load())
        elif self.state_file.exists():
            self._merge(json.loads(self.state_file.read_text()))
        await self._load_unloaded()

    async def _load_unloaded(self) -> None:
        for adapter in self._adapters.values():
            for v in adapter.versions.values():
                if v.loaded:
                    continue
                try:
                    await self._load(v)
                except AdapterLoadError as exc:  # a broken version must not keep the server from starting
                    log.error("could not load adapter %s: %s", v.served_name, exc)

    def _merge(self, raw: dict[str, Any]) -> list[AdapterVersion]:
        """Take the persisted state as the truth, keeping what is loaded; returns the versions that vanished."""
        self._next_id = max(self._next_id, int(raw.get("next_id", 1)))
        self._adapters, gone = _merged(self._adapters, raw)
        return gone

    async def refresh(self) -> None:
        """Fleet: take what other replicas published, activated, rolled back or deleted (no-op with a file)."""
        if self.shared is None:
            return
        async with self._lock:
            await self._refresh_locked()

    async def _refresh_locked(self) -> None:
        if self.shared is None:
            return
        for v in self._merge(await self.shared.load()):
            if v.loaded and not self._in_use[v.served_name]:
                await self.engine.remove_adapter(self._ref(v))  # deleted elsewhere: free the slot here too
        await self._load_unloaded()

    async def sync_forever(self, interval_s: float) -> None:
        """Refresh every ``interval_s`` (a task of the app's lifespan in a fleet)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # a store hiccup must not end the sync
                log.warning("adapter registry refresh failed: %s", exc)

    async def _persist(self, name: str) -> None:
        if self.shared is None:
            self._save()
            return
        a = self._adapters.get(name)
        await self.shared.save(name, None if a is None else _item(a))

    def _save(self) -> None:
        data = {"next_id": self._next_id, "adapters": {name: _item(a) for name, a in self._adapters.items()}}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.state_file)  # atomic: a crash never leaves half a state file

    # -- helpers ------------------------------------------------------------------------------------------------
    def _ref(self, v: AdapterVersion) -> AdapterRef:
        folder = self.adapter_dir / v.folder
        if v.served_name not in self._styles:
            self._styles[v.served_name] = prompt_style(folder)
        style = self._styles[v.served_name]
        return AdapterRef(name=v.served_name, int_id=v.int_id, path=str(folder), prompt_style=style)

    async def _load(self, v: AdapterVersion) -> None:
        self._styles.pop(v.served_name, None)  # (re)read the folder's metadata with every load
        await self.engine.add_adapter(self._ref(v))
        v.loaded = True

    def _get(self, name: str) -> _Adapter:
        adapter = self._adapters.get(name)
        if adapter is None:
            raise AdapterNotFound("unknown_adapter", f"no adapter named {name!r}")
        return adapter

    def _version(self, name: str, version: int) -> AdapterVersion:
        v = self._get(name).versions.get(version)
        if v is None:
            raise AdapterNotFound("unknown_adapter_version", f"adapter {name!r} has no version {version}")
        return v

    def check_engine_serves_adapters(self) -> None:
        """Refuse early (422 ``adapters_unsupported``) when the engine serves no LoRA adapters: a chat provider other
        than our vLLM says so with ``supports_adapters``; the vLLM engines have no such attribute and serve them."""
        if not getattr(self.engine, "supports_adapters", True):
            name = getattr(self.engine, "model_name", "the engine")
            raise AdaptersUnsupported(
                "adapters_unsupported", f"{name} is served by a provider without LoRA adapters; omit 'adapter'"
            )

    def resolve_folder(self, folder: str) -> Path:
        """A folder inside the adapter store, symlinks resolved; anything else is refused."""
        return resolve_folder(self.adapter_dir, folder, self.max_rank)

    # -- admin operations ---------------------------------------------------------------------------------------
    async def register(self, name: str, folder: str, *, reuse: bool = False) -> dict[str, Any]:
        """A new version of ``name`` from ``folder``; ``reuse``: the existing version with that folder, if one is
        registered (also by another replica of a fleet), instead of a new one."""
        if not _NAME.match(name):
            raise InvalidAdapterRequest("invalid_adapter_name", "names use letters, digits, '_', '.', '-' (max 64)")
        self.check_engine_serves_adapters()
        path = self.resolve_folder(folder)
        rel = path.relative_to(self.adapter_dir.resolve()).as_posix()
        async with self._lock:
            await self._refresh_locked()  # a fleet: versions and ids another replica took meanwhile
            adapter = self._adapters.get(name) or _Adapter()
            same = [v for v in adapter.versions.values() if v.folder == rel]
            if reuse and same:
                return _info(same[-1], adapter)
            version = max(adapter.versions, default=0) + 1
            v = AdapterVersion(name, version, self._next_id, rel, time.time())
            await self._load(v)  # AdapterLoadError: the edge answers 422 adapter_load_failed
            self._next_id += 1
            adapter.versions[version] = v
            self._adapters[name] = adapter
            await self._persist(name)
            return _info(v, adapter)

    async def activate(self, name: str, version: int) -> dict[str, Any]:
        async with self._lock:
            await self._refresh_locked()
            adapter = self._get(name)
            v = self._version(name, version)
            if not v.loaded:  # flip only once the engine holds this version
                await self._load(v)
            if adapter.active != version:
                if adapter.active is not None:
                    adapter.history.append(adapter.active)
                adapter.active = version
                await self._persist(name)
            return _info(v, adapter)

    async def rollback(self, name: str) -> dict[str, Any]:
        async with self._lock:
            await self._refresh_locked()
            adapter = self._get(name)
            while adapter.history:
                previous = adapter.history.pop()
                v = adapter.versions.get(previous)
                if v is None:  # deleted since; look further back
                    continue
                if not v.loaded:
                    await self._load(v)
                adapter.active = previous
                await self._persist(name)
                return _info(v, adapter)
            await self._persist(name)
            raise AdapterConflict("no_previous_version", f"adapter {name!r} has no earlier active version")

    async def delete(self, name: str, version: int) -> dict[str, Any]:
        async with self._lock:
            await self._refresh_locked()
            adapter = self._get(name)
            v = self._version(name, version)
            if adapter.active == version:
                raise AdapterConflict("version_active", f"{v.served_name} is active; activate another version first")
            if self._in_use[v.served_name]:
                detail = f"{v.served_name} serves {self._in_use[v.served_name]} request(s)"
                raise AdapterConflict("version_in_use", detail)
            # forget it first, so no new request can pin it while the engine unloads it
            del adapter.versions[version]
            adapter.history = [h for h in adapter.history if h != version]
            if not adapter.versions:
                del self._adapters[name]
            await self._persist(name)
            if v.loaded:
                await self.engine.remove_adapter(self._ref(v))
            return {"name": name, "version": version, "deleted": True}

    def list(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "active": a.active,
                "active_served_name": f"{name}@{a.active}" if a.active is not None else None,
                "versions": [
                    {**_info(v, a), "in_use": self._in_use[v.served_name]}
                    for v in sorted(a.versions.values(), key=lambda x: x.version)
                ],
            }
            for name, a in sorted(self._adapters.items())
        ]

    def active(self) -> dict[str, str | None]:
        return {name: (f"{name}@{a.active}" if a.active is not None else None) for name, a in self._adapters.items()}

    # -- serving ------------------------------------------------------------------------------------------------
    def lookup(self, spec: str) -> AdapterRef:
        """``name`` (its active version) or ``name@version`` → the engine reference."""
        self.check_engine_serves_adapters()
        name, _, ver = spec.partition("@")
        adapter = self._adapters.get(name)
        if adapter is None:
            raise AdapterNotFound("unknown_adapter", f"no adapter named {name!r}")
        if ver:
            if not ver.isdigit():
                raise InvalidAdapterRequest("invalid_adapter", f"bad version in {spec!r}")
            v = self._version(name, int(ver))
        else:
            if adapter.active is None:
                raise AdapterConflict("adapter_not_active", f"adapter {name!r} has no active version")
            v = adapter.versions[adapter.active]
        if not v.loaded:
            raise AdapterConflict("adapter_not_loaded", f"{v.served_name} is not loaded (its folder may be gone)")
        return self._ref(v)

    @asynccontextmanager
    async def acquire(self, spec: str | None) -> AsyncIterator[AdapterRef | None]:
        """Pin one version for the duration of a request (the version is resolved once, at the start)."""
        if spec is None:
            yield None
            return
        ref = self.lookup(spec)  # no await between lookup and increment: atomic on the event loop
        self._in_use[ref.name] += 1
        try:
            yield ref
        finally:
            self._in_use[ref.name] -= 1
            if not self._in_use[ref.name]:
                del self._in_use[ref.name]

    def versions_count(self) -> dict[str, int]:
        return {name: len(a.versions) for name, a in self._adapters.items()}

    def active_versions(self) -> dict[str, int]:
        return {name: a.active or 0 for name, a in self._adapters.items()}
