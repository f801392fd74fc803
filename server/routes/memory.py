"""Translation memory interchange (issue 21): TMX import and export (``X-Admin-Key``), fuzzy suggestions.

An import changes what every reader's ``/translate`` answers (an imported pair is reused verbatim, status
``memory``), so it takes the admin key, like publishing an adapter; the export holds every reader's corrections and
takes it too. Bad files are 4xx with a machine-readable ``error``: ``xml_invalid``, ``xml_doctype``, ``xml_entity``,
``xml_too_deep``, ``not_tmx``, ``tmx_version`` (400), an empty body ``empty_body`` (400), over the size limit
``payload_too_large`` (413). Units that cannot become entries are listed in the report (201), never stored.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from papertrans.contract.tmx import MAX_TMX_BYTES, parse_tmx
from papertrans.contract.xmlsafe import FormatError
from papertrans.server.errors import BadRequest, PayloadTooLarge
from papertrans.server.memory_io import Suggestions, export_tmx, import_tmx
from papertrans.server.routes.adapters import admin_guard
from papertrans.server.store import Store

__all__ = ["route_handlers"]

_ORIGIN_MAX = 256


def _suggestions(request: Request[Any, Any, Any]) -> Suggestions:
    """The app's one suggestion cache (made on first use: it holds only an index rebuilt when the memory changes)."""
    state = request.app.state
    found = state.get("suggestions")
    if not isinstance(found, Suggestions):
        found = Suggestions()
        state["suggestions"] = found
    return found


@post(
    "/memory/import",
    status_code=201,
    guards=[admin_guard],
    request_max_body_size=MAX_TMX_BYTES,
    tags=["memory"],
    summary="Import a TMX file into the translation memory",
)
async def import_memory(
    request: Request[Any, Any, Any], store: NamedDependency[Store], origin: FromQuery[str | None] = None
) -> dict[str, Any]:
    """The body is the TMX file (any XML content type). ``origin`` names it in the stored entries (default: the
    ``X-Filename`` header). Answers ``{units, added, replaced, rejected_count, rejected}``, where ``rejected`` lists
    ``{index, reason, detail}`` per unit left out."""
    data = await request.body()
    if not data.strip():
        raise BadRequest("empty_body", "the request needs a TMX body")
    name = origin or request.headers.get("x-filename") or None
    if name is not None and len(name) > _ORIGIN_MAX:
        raise BadRequest("invalid_origin", f"origin is longer than {_ORIGIN_MAX} characters")
    try:
        parsed = parse_tmx(data)
    except FormatError as exc:
        if exc.code == "too_large":
            raise PayloadTooLarge("payload_too_large", exc.detail, limit=MAX_TMX_BYTES) from None
        raise BadRequest(exc.code, exc.detail) from None
    report = await import_tmx(store, parsed, name)
    return report.public()


@get("/memory/export", guards=[admin_guard], tags=["memory"], summary="The translation memory as TMX 1.4b")
async def export_memory(store: NamedDependency[Store]) -> Response[bytes]:
    """Accepted corrections (newest per source) and imported entries, placeholders as ``<ph>`` with their protected
    text. ``X-Papertrans-Skipped`` counts entries XML 1.0 cannot carry (control characters), left out."""
    body, skipped = await export_tmx(store)
    headers = {
        "Content-Disposition": 'attachment; filename="papertrans-memory.tmx"',
        "X-Papertrans-Skipped": str(skipped),
    }
    return Response(content=body, media_type="application/x-tmx+xml; charset=utf-8", headers=headers)


@get(
    "/translations/{translation_id:str}/suggestions",
    tags=["memory"],
    summary="Fuzzy translation-memory matches (>= 70 %) for a stored translation's segments",
)
async def get_suggestions(
    request: Request[Any, Any, Any], translation_id: FromPath[str], store: NamedDependency[Store]
) -> dict[str, Any]:
    """``{translation_id, threshold, suggestions: {segment_id: {score, source, target, origin}}}``: shown to readers
    on the review page, never sent to the model."""
    if len(translation_id) > 64:
        raise BadRequest("invalid_translation_id", "translation_id is longer than 64 characters")
    return await _suggestions(request).for_translation(store, translation_id)


route_handlers: list[Any] = [import_memory, export_memory, get_suggestions]
