"""``POST /translate``: one document, answered when every segment is done."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from papertrans.server.access import client_id, require_api_key
from papertrans.server.errors import BadRequest, PayloadTooLarge
from papertrans.server.limits import Admission
from papertrans.server.routes._schemas import TranslateBody, TranslateResponse
from papertrans.server.routes.adapters import admin_guard
from papertrans.server.settings import Settings
from papertrans.server.translator import TranslateInput, Translator

__all__ = ["check_input", "translate"]


def check_input(body: TranslateBody, settings: Settings) -> TranslateInput:
    """The checks that a typed body cannot express."""
    if not body.markdown.strip():
        raise BadRequest("empty_document", "markdown is empty")
    size = len(body.markdown.encode())
    if size > settings.translate.max_document_bytes:
        raise PayloadTooLarge(
            "document_too_large",
            f"{size} bytes > {settings.translate.max_document_bytes}",
            limit=settings.translate.max_document_bytes,
        )
    entries = len(body.glossary or [])
    if entries > settings.limits.max_glossary_entries:
        raise PayloadTooLarge(
            "glossary_too_large",
            f"{entries} glossary entries > {settings.limits.max_glossary_entries}",
            limit=settings.limits.max_glossary_entries,
        )
    sources = [g.source.strip().lower() for g in body.glossary or []]
    if any(not s for s in sources) or any(not g.target.strip() for g in body.glossary or []):
        raise BadRequest("invalid_glossary", "glossary entries need a non-blank source and target")
    if len(set(sources)) != len(sources):
        raise BadRequest("invalid_glossary", "a glossary source term appears twice")
    return body.to_input()


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    """Return when the client goes away (after the body was read, the only message left is a disconnect)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


@post("/translate", status_code=200, guards=[require_api_key], summary="Translate one Markdown document to Chinese")
async def translate(
    data: JSONBody[TranslateBody],
    request: Request[Any, Any, Any],
    translator: NamedDependency[Translator],
    settings: NamedDependency[Settings],
    admission: NamedDependency[Admission],
) -> TranslateResponse:
    req = check_input(data, settings)
    if data.evaluation:  # unrecorded and without memory: a measurement by the operator (the promotion gate)
        admin_guard(request, request.route_handler)
    async with admission.translating(client_id(request)):  # 429/503 + Retry-After when over a limit
        return await _run(req, request, translator, evaluation=data.evaluation)


async def _run(
    req: TranslateInput, request: Request[Any, Any, Any], translator: Translator, *, evaluation: bool = False
) -> TranslateResponse:
    work = asyncio.ensure_future(translator.run(req, evaluation=evaluation))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not work.done():  # the client left (or we are being cancelled): abort every engine request
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
        gone.cancel()
    if work.cancelled():
        raise BadRequest("client_disconnected", "the client went away; the translation was aborted")
    result = work.result()
    return msgspec.convert(result.public(), TranslateResponse)
