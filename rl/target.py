"""Which adapter a night refines and publishes: the one readers are served, continued from its active version.

A night's work reaches readers only if it is published under the name the server serves requests that name no
adapter with (``GET /health``'s ``default_adapter``: the starter ``papertrans-zh`` on the embedded model). With a
server to publish to, the target is therefore asked of the server itself:

- **name**: ``--name`` when given, else the server's default adapter. A server that serves the base model by default
  (``PAPERTRANS_DEFAULT_ADAPTER=none``) has no adapter to refine: refused (``no_default_adapter``) instead of training
  something no reader gets.
- **parent** (what the night trains from and the gate compares against): the name's *active* version on the server,
  read from its adapter store (after a rollback that is the rolled-back-to version, not the last one this job
  promoted). A name the server does not know yet starts from the last locally promoted adapter, else from
  ``start_adapter`` (the shipped starter on its base model).

Without a server (a local, offline run) the name defaults to the starter's and the parent is the last promoted
adapter, else ``start_adapter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from papertrans.contract import STARTER_NAME

from .errors import AdapterError, DataError

__all__ = ["RefreshTarget", "resolve_target", "server_active"]


@dataclass(frozen=True)
class RefreshTarget:
    name: str  # published under this name: the adapter readers are served
    parent: Path | None  # the night trains from this folder and is gated against it (None = the base model)
    source: str  # where parent came from: "server:<name>@<version>", "promoted", "start_adapter" or "base"
    active_version: int | None = None  # the server's active version of name (None: unknown or no server)
    reason: str = ""  # how the name was chosen


def server_active(client: Any, name: str) -> tuple[int, str] | None:
    """(active version, its folder relative to the adapter store) of ``name`` on the server, or None."""
    for entry in client.adapters():
        if not isinstance(entry, dict) or entry.get("name") != name or entry.get("active") is None:
            continue
        active = int(entry["active"])
        for version in entry.get("versions", []):
            if int(version.get("version", -1)) == active and version.get("folder"):
                return active, str(version["folder"])
    return None


def _local_parent(state: dict[str, Any], start_adapter: Path | None) -> tuple[Path | None, str]:
    if state.get("promoted"):
        return Path(state["promoted"]), "promoted"
    if start_adapter is not None:
        return start_adapter, "start_adapter"
    return None, "base"


def resolve_target(
    *,
    name: str | None,
    state: dict[str, Any],
    start_adapter: Path | None,
    adapter_store: Path,
    client: Any = None,
) -> RefreshTarget:
    """The night's target; ``client`` is a :class:`papertrans.clients.Client` with the admin key, or None (offline)."""
    if client is None:
        parent, source = _local_parent(state, start_adapter)
        return RefreshTarget(name or STARTER_NAME, parent, source, reason="--name" if name else "starter (no server)")
    reason = "--name"
    if name is None:
        name = client.health().default_adapter
        if name is None:
            raise DataError(
                "no_default_adapter",
                f"the server at {client.base_url} serves the base model to requests that name no adapter; a refresh "
                "would publish an adapter its readers are not served: pass --name, or set the server's "
                "PAPERTRANS_DEFAULT_ADAPTER",
            )
        reason = "the server's default adapter"
    active = server_active(client, name)
    if active is None:
        parent, source = _local_parent(state, start_adapter)
        return RefreshTarget(name, parent, source, reason=reason)
    version, folder = active
    parent = adapter_store / folder
    if not (parent / "adapter_config.json").is_file():
        raise AdapterError(
            "active_adapter_missing",
            f"{name}@{version} is active on {client.base_url} but {parent} is not an adapter: the refresh must see "
            "the server's adapter store (--data-dir or --adapter-store as the server's)",
        )
    return RefreshTarget(name, parent, f"server:{name}@{version}", version, reason)
