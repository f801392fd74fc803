"""Adapter admin API (``X-Admin-Key``): list, register a version, activate, roll back, delete a version."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, delete, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody

from papertrans.server.adapters import AdapterRegistry
from papertrans.server.errors import Forbidden, Unauthorized
from papertrans.server.routes._schemas import ActivateBody, RegisterBody

__all__ = ["AdapterController", "admin_guard"]


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """401 without a key, 403 with a wrong one (or when the server has no admin key configured)."""
    expected = connection.app.state.settings.admin_key
    given = connection.headers.get("x-admin-key")
    if not given:
        raise Unauthorized("admin_key_missing", "this endpoint needs the X-Admin-Key header")
    if not expected:
        raise Forbidden("admin_disabled", "the server has no admin key configured (PAPERTRANS_ADMIN_KEY)")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("admin_key_invalid", "wrong admin key")


class AdapterController(Controller):
    path = "/adapters"
    tags = ["adapters"]  # Litestar reads these class attributes
    guards = [admin_guard]

    @get("/", summary="Adapters, their versions and which one is active")
    async def list_adapters(self, adapters: NamedDependency[AdapterRegistry]) -> list[dict[str, Any]]:
        return adapters.list()

    @post("/{name:str}/versions", status_code=201, summary="Register (and load) a version from the adapter store")
    async def register(
        self, name: FromPath[str], data: JSONBody[RegisterBody], adapters: NamedDependency[AdapterRegistry]
    ) -> dict[str, Any]:
        return await adapters.register(name, data.folder)

    @post("/{name:str}/activate", status_code=200, summary="Make a loaded version the active one")
    async def activate(
        self, name: FromPath[str], data: JSONBody[ActivateBody], adapters: NamedDependency[AdapterRegistry]
    ) -> dict[str, Any]:
        return await adapters.activate(name, data.version)

    @post("/{name:str}/rollback", status_code=200, summary="Re-activate the previously active version")
    async def rollback(self, name: FromPath[str], adapters: NamedDependency[AdapterRegistry]) -> dict[str, Any]:
        return await adapters.rollback(name)

    @delete("/{name:str}/versions/{version:int}", status_code=200, summary="Delete a version not active or in use")
    async def delete_version(
        self, name: FromPath[str], version: FromPath[int], adapters: NamedDependency[AdapterRegistry]
    ) -> dict[str, Any]:
        return await adapters.delete(name, version)
