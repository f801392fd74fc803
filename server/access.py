"""Who is calling: the ``X-API-Key`` guard of the public endpoints and the client identity that limits count by.

With ``settings.api_keys`` empty the server is open (a local or trusted deployment). Otherwise ``/translate``,
``/jobs`` and the feedback writes need one of the keys; the comparison is constant-time (``hmac.compare_digest``)
and every configured key is compared, so the answer time does not tell which key prefix matched.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from papertrans.server.errors import Unauthorized

__all__ = ["client_id", "key_matches", "require_api_key"]


def key_matches(given: str, keys: list[str]) -> bool:
    """Constant-time membership: every key is compared (no early exit on the first match)."""
    raw = given.encode("utf-8", "surrogatepass")
    found = False
    for key in keys:
        found |= hmac.compare_digest(raw, key.encode("utf-8", "surrogatepass"))
    return found


def require_api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: with keys configured, ``X-API-Key`` must be one of them (401 otherwise)."""
    settings = getattr(connection.app.state, "settings", None)
    keys: list[str] = list(getattr(settings, "api_keys", None) or [])
    if not keys:
        return
    given = connection.headers.get("x-api-key")
    if not given:
        raise Unauthorized("missing_api_key", "this endpoint needs an X-API-Key header")
    if not key_matches(given, keys):
        raise Unauthorized("invalid_api_key", "the X-API-Key is not valid")


def client_id(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """What per-client limits count by: a fingerprint of the API key (never the key), else the peer address."""
    key = connection.headers.get("x-api-key")
    if key:
        return "key:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    client = connection.client
    return f"addr:{client.host}" if client is not None else "addr:unknown"
