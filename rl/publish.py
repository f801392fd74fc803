"""Publish an adapter to a running server (copy into its adapter store, register, smoke-test, activate) and roll back.

The server hot-swaps: "active" is an alias it flips only once the new version is loaded, and requests that started on
the previous version finish on it. Order here keeps readers safe: the new version is smoke-translated by its versioned
name (``name@version``) *before* it becomes active; a failure then deletes it and nothing changed for readers. After
activation a second smoke translation goes through the alias; if that fails, the server is rolled back.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AdapterError, PublishError

__all__ = ["SMOKE_MARKDOWN", "PublishError", "PublishResult", "activate_staged", "publish", "rollback", "stage",
           "unstage"]

log = logging.getLogger(__name__)

SMOKE_MARKDOWN = "The attention mechanism $a_t$ lets the model focus on relevant tokens, see :cite:`Bahdanau.2014`."


@dataclass
class PublishResult:
    name: str
    version: int
    served_name: str
    folder: str
    previous_active: int | None
    rolled_back: bool = False


def _copy_into_store(adapter: Path, store: Path, name: str) -> str:
    """Copy under ``<store>/<name>/<utc-stamp>-<id>``; written to a temp name first so the server never sees half."""
    if not (adapter / "adapter_config.json").is_file():
        raise AdapterError("not_an_adapter", f"{adapter} has no adapter_config.json")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    rel = f"{name}/{stamp}-{uuid.uuid4().hex[:8]}"
    target = store / rel
    tmp = target.with_name("." + target.name + ".tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(adapter, tmp)
        tmp.rename(target)
    except OSError:  # disk full, permissions...: leave no half copy behind; the server was not told anything
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rel


def _active_version(client: Any, name: str) -> int | None:
    for entry in client.adapters():
        if isinstance(entry, dict) and entry.get("name") == name:
            active = entry.get("active")
            return int(active) if isinstance(active, int) else None
    return None


def _smoke(client: Any, adapter: str) -> None:
    result = client.translate(SMOKE_MARKDOWN, adapter=adapter)
    if not result.markdown.strip():
        raise PublishError("smoke_failed", f"empty translation through {adapter}")
    if "$a_t$" not in result.markdown:
        raise PublishError("smoke_failed", f"translation through {adapter} lost a formula: {result.markdown!r}")


def stage(client: Any, adapter: Path, name: str, adapter_store: Path) -> PublishResult:
    """Copy into the store and register a new version of ``name`` *without* activating it: readers are not served it,
    but it can be translated with by its versioned name (the promotion gate does; :func:`activate_staged` or
    :func:`unstage` follows)."""
    from papertrans.clients import ApiError

    rel = _copy_into_store(Path(adapter), Path(adapter_store), name)
    previous = _active_version(client, name)
    try:
        info = client.register_adapter_version(name, rel)
    except ApiError as exc:
        shutil.rmtree(Path(adapter_store) / rel, ignore_errors=True)
        raise PublishError("register_failed", f"{exc.code}: {exc.detail}") from exc
    version = int(info["version"])
    return PublishResult(name, version, str(info.get("served_name") or f"{name}@{version}"), rel, previous)


def unstage(client: Any, staged: PublishResult) -> None:
    """Delete a staged version again (never activated: readers never saw it)."""
    from papertrans.clients import ApiError

    try:
        client.delete_adapter_version(staged.name, staged.version)
    except ApiError:
        log.warning("could not delete %s after a failed publish", staged.served_name)


def activate_staged(client: Any, staged: PublishResult, *, smoke: bool = True) -> PublishResult:
    """Smoke-test a staged version by its versioned name, activate it, smoke-test the alias (rolled back on failure)."""
    from papertrans.clients import ApiError

    try:
        if smoke:
            _smoke(client, staged.served_name)
        client.activate_adapter(staged.name, staged.version)
    except (ApiError, PublishError) as exc:
        unstage(client, staged)  # not active (or activation itself failed): readers never saw it
        raise PublishError("activation_failed", str(exc)) from exc
    if smoke:
        try:
            _smoke(client, staged.name)
        except (ApiError, PublishError) as exc:
            if staged.previous_active is not None:
                client.rollback_adapter(staged.name)
                staged.rolled_back = True
            raise PublishError("smoke_after_activation_failed", f"{exc}; rolled back: {staged.rolled_back}") from exc
    return staged


def publish(client: Any, adapter: Path, name: str, adapter_store: Path, *, smoke: bool = True) -> PublishResult:
    """Copy, register, smoke-test, activate; on failure leave the previous version active."""
    return activate_staged(client, stage(client, adapter, name, adapter_store), smoke=smoke)


def rollback(client: Any, name: str) -> dict[str, Any]:
    """Flip ``name`` back to its previously active version."""
    return dict(client.rollback_adapter(name))
