"""Feedback HTTP API (issue 4): thumbs, corrections, A/B comparisons, translation read-back, statistics, review page.

Handlers get the store, the adapter registry and the translator by dependency injection (``store``, ``adapters``,
``translator``: provided by ``server.app``, like every other route's); A/B variants come from the translator's
pipeline, with its constraint, validation and retries. Write endpoints take ``X-API-Key`` when ``settings.api_keys``
is non-empty and honour an ``Idempotency-Key`` header: a retry with the same key and body gets the first response
back (header ``Idempotent-Replayed: true``) and writes nothing.
Corrections are sent in restored form and masked with the segment's inventory (:func:`protect.mask`).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from pathlib import Path
from typing import Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.static_files import create_static_files_router

from papertrans import protect
from papertrans.server.access import require_api_key
from papertrans.server.adapters import AdapterRegistry
from papertrans.server.engine import AdapterRef
from papertrans.server.errors import BadRequest, PayloadTooLarge, Unprocessable
from papertrans.server.store import Store, adapter_label, request_hash
from papertrans.server.translator import Translator

__all__ = ["LIMITS", "REVIEW_CSP", "REVIEW_DIR", "route_handlers"]

REVIEW_DIR = Path(__file__).resolve().parent.parent / "static" / "review"

# Size limits (characters); a larger field is a 413 naming the field.
LIMITS = {
    "translation_id": 64,
    "segment_id": 64,
    "correction": 20_000,
    "comment": 4_000,
    "who": 128,
    "idempotency_key": 200,
    "variant": 128,
}
MAX_WRITE_BODY = 256 * 1024  # bytes; the body of any write endpoint here

# Variant specs for comparisons besides adapter names: the stored output, the base model greedy, a base sample.
CURRENT, BASE, BASE_SAMPLE = "current", "base", "base:sample"


class FeedbackIn(msgspec.Struct):
    translation_id: str
    segment_id: str
    rating: Literal["up", "down"] | None = None
    correction: str | None = None
    comment: str | None = None
    who: str | None = None


class ComparisonIn(msgspec.Struct):
    translation_id: str
    segment_id: str
    # Two of: "current" (the stored output), "base", "base:sample", "<adapter>", "<adapter>@<version>".
    # Omitted: the stored output against the previous adapter version, the base model, or a base-model sample.
    variants: list[str] | None = None


class ChoiceIn(msgspec.Struct):
    choice: Literal["a", "b", "same"]
    who: str | None = None


# -- plumbing ---------------------------------------------------------------------------------------------------


def _who(request: Request[Any, Any, Any], who: str | None) -> str | None:
    """The reader's name if given, else a short fingerprint of the API key (never the key itself)."""
    if who:
        return who
    key = request.headers.get("x-api-key")
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:12] if key else None


def _idempotency_key(request: Request[Any, Any, Any]) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key.strip() or len(key) > LIMITS["idempotency_key"]:
        raise BadRequest("invalid_idempotency_key", f"Idempotency-Key must be 1..{LIMITS['idempotency_key']} chars")
    return key


def _check_sizes(fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        limit = LIMITS.get(name)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            detail = f"{name} is longer than {limit} characters"
            raise PayloadTooLarge("field_too_large", detail, field=name, limit=limit)


def _mask_correction(correction: str, placeholders: dict[str, str]) -> str:
    """The correction in masked form (what training pairs with the masked prompt), or 422 naming what differs."""
    try:
        return protect.mask(correction, placeholders)
    except protect.InventoryMismatch as exc:
        raise Unprocessable(
            "placeholder_mismatch",
            f"the correction must keep every protected span exactly once ({exc})",
            missing=exc.missing,
            extra=exc.extra,
            form=exc.form,
        ) from exc


def _respond(status: int, body: dict[str, Any], replayed: bool) -> Response[dict[str, Any]]:
    """The answer to a write; a replay (same Idempotency-Key and body) answers like the first time, flagged."""
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(content=body, status_code=status, headers=headers)


# -- feedback -----------------------------------------------------------------------------------------------------


@post("/feedback", guards=[require_api_key], request_max_body_size=MAX_WRITE_BODY, tags=["feedback"])
async def post_feedback(
    request: Request[Any, Any, Any], data: JSONBody[FeedbackIn], store: NamedDependency[Store]
) -> Response[dict[str, Any]]:
    """Thumbs up/down, a corrected translation (restored form, placeholders kept) and/or a comment on one segment."""
    body = msgspec.structs.asdict(data)
    _check_sizes(body)
    key = _idempotency_key(request)
    correction = data.correction
    comment = data.comment.strip() if data.comment else None
    if correction is not None and not correction.strip():
        raise BadRequest("empty_correction", "the correction is empty")
    if data.rating is None and correction is None and not comment:
        raise BadRequest("empty_feedback", "give a rating, a correction or a comment")
    _, seg = await store.get_segment(data.translation_id, data.segment_id)
    masked = _mask_correction(correction, seg.placeholders) if correction is not None else None
    result = await store.add_feedback(
        translation_id=data.translation_id,
        segment_id=data.segment_id,
        rating=data.rating,
        correction=correction,
        correction_masked=masked,
        comment=comment,
        who=_who(request, data.who),
        idempotency_key=key,
        req_hash=request_hash(body),
    )
    return _respond(201, result.body, result.replayed)


# -- comparisons ----------------------------------------------------------------------------------------------------


def _default_variants(registry: AdapterRegistry, adapter: str | None, version: int | None) -> list[str]:
    """The stored output against: another version of its adapter (active, else the newest older one), else the
    base model; a base-model translation against the first active adapter, else against a base-model sample."""
    listing = registry.list()
    if adapter:
        mine = next((a for a in listing if a["name"] == adapter), None)
        if mine is not None:
            loaded = [v["version"] for v in mine["versions"] if v.get("loaded")]
            if mine.get("active") is not None and mine["active"] != version and mine["active"] in loaded:
                return [CURRENT, f"{adapter}@{mine['active']}"]
            older = [v for v in loaded if version is not None and v < version]
            if older:
                return [CURRENT, f"{adapter}@{max(older)}"]
        return [CURRENT, BASE]
    for a in listing:
        if a.get("active") is not None:
            return [CURRENT, f"{a['name']}@{a['active']}"]
    return [CURRENT, BASE_SAMPLE]


#: The temperature of the base model's sampled variant (a second opinion when no adapter is there to compare).
SAMPLE_TEMPERATURE = 0.8


async def _variant(spec: str, tr: Any, seg: Any, translator: Translator) -> dict[str, Any]:
    """Produce one variant: {label, adapter, adapter_version, output (masked), text (restored)}.

    A new variant goes through the pipeline's ladder (constraint, validation, retries): one it would have refused
    (a fallback) is never offered to a reader, and its choice never becomes a training pair."""
    if spec == CURRENT:
        return {
            "label": adapter_label(tr.adapter, tr.adapter_version),
            "adapter": tr.adapter,
            "adapter_version": tr.adapter_version,
            "output": seg.output,
            "text": seg.translation,
        }
    adapter: str | None = None
    version: int | None = None
    rid = f"cmp-{uuid.uuid4().hex}"
    if spec in (BASE, BASE_SAMPLE):
        ref: AdapterRef | None = None
        temperature = SAMPLE_TEMPERATURE if spec == BASE_SAMPLE else None
        outcome = await translator.pipeline.segments.translate_segment(
            seg.source, seg.placeholders, adapter=None, temperature=temperature, request_id=rid
        )
    else:
        async with translator.adapters.acquire(spec) as ref:
            outcome = await translator.pipeline.segments.translate_segment(
                seg.source, seg.placeholders, adapter=ref, request_id=rid
            )
        assert ref is not None  # acquire yields None only for no spec; this one names an adapter
        name, _, ver = ref.name.partition("@")
        adapter, version = name, int(ver) if ver.isdigit() else None
    label = spec if ref is None else ref.name
    if outcome.status == "fallback":
        raise Unprocessable(
            "variant_failed",
            f"variant {label} failed validation after its retries; it is not offered",
            variant=label,
            reasons=outcome.reasons,
        )
    return {
        "label": label,
        "adapter": adapter,
        "adapter_version": version,
        "output": outcome.output,
        "text": outcome.translation,
    }


@post("/comparisons", guards=[require_api_key], request_max_body_size=MAX_WRITE_BODY, tags=["feedback"])
async def post_comparison(
    request: Request[Any, Any, Any],
    data: JSONBody[ComparisonIn],
    store: NamedDependency[Store],
    adapters: NamedDependency[AdapterRegistry],
    translator: NamedDependency[Translator],
) -> Response[dict[str, Any]]:
    """Two variants of one segment in random left/right order (blind: labels are revealed after the choice)."""
    body = msgspec.structs.asdict(data)
    _check_sizes({k: v for k, v in body.items() if k != "variants"})
    if data.variants is not None:
        if len(data.variants) != 2 or len(set(data.variants)) != 2:
            raise BadRequest("invalid_variants", "variants must name two different variants")
        for spec in data.variants:
            _check_sizes({"variant": spec})
    key = _idempotency_key(request)
    rhash = request_hash(body)
    prior = await store.replay("comparison", key, rhash)
    if prior is not None:  # a retry: do not spend engine time again
        return _respond(201, prior, True)
    tr, seg = await store.get_segment(data.translation_id, data.segment_id)
    specs = data.variants or _default_variants(adapters, tr.adapter, tr.adapter_version)
    variants = [await _variant(spec, tr, seg, translator) for spec in specs]
    random.shuffle(variants)  # readers and judges favour the first position: the order must carry no signal
    values: dict[str, Any] = {"translation_id": tr.id, "segment_id": seg.segment_id, "prompt": seg.prompt}
    for side, variant in zip(("a", "b"), variants, strict=True):
        values.update({f"{side}_{k}": variant[k] for k in ("label", "adapter", "adapter_version", "output", "text")})
    result = await store.add_comparison(values, who=_who(request, None), idempotency_key=key, req_hash=rhash)
    return _respond(201, {**result.body, "source": protect.unmask(seg.source, seg.placeholders)}, result.replayed)


@post(
    "/comparisons/{comparison_id:str}/choice",
    guards=[require_api_key],
    request_max_body_size=MAX_WRITE_BODY,
    tags=["feedback"],
)
async def post_choice(
    request: Request[Any, Any, Any],
    comparison_id: FromPath[str],
    data: JSONBody[ChoiceIn],
    store: NamedDependency[Store],
) -> Response[dict[str, Any]]:
    """Good/Same/Bad: ``a`` or ``b`` is better, or ``same``. Returns which variant was which."""
    body = msgspec.structs.asdict(data)
    _check_sizes({**body, "translation_id": comparison_id})
    result = await store.choose(
        comparison_id,
        data.choice,
        who=_who(request, data.who),
        idempotency_key=_idempotency_key(request),
        req_hash=request_hash(body),
    )
    return _respond(200, result.body, result.replayed)


# -- reads ------------------------------------------------------------------------------------------------------------


@get("/translations/{translation_id:str}", tags=["feedback"])
async def get_translation(translation_id: FromPath[str], store: NamedDependency[Store]) -> dict[str, Any]:
    """A stored translation with its segments (masked and restored text, status) and the feedback on them."""
    _check_sizes({"translation_id": translation_id})
    return await store.get_translation(translation_id)


@get("/stats/feedback", tags=["feedback"])
async def get_feedback_stats(store: NamedDependency[Store]) -> dict[str, Any]:
    """Counts, thumbs-up ratio and GSB win rate per adapter version (``base`` = no adapter)."""
    return await store.feedback_stats()


# The page shows untrusted text (model output, sources, corrections): it only ever sets textContent, KaTeX runs without
# `trust` (no \href/\url links, no \htmlData), and this policy forbids inline scripts, event handlers and any
# third-party origin, so that a missed escape still cannot run script.
REVIEW_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)


def _review_headers(response: Response[Any]) -> Response[Any]:
    response.headers["Content-Security-Policy"] = REVIEW_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


review_router = create_static_files_router(
    path="/review", directories=[REVIEW_DIR], html_mode=True, name="review", after_request=_review_headers
)

route_handlers: list[Any] = [
    post_feedback,
    post_comparison,
    post_choice,
    get_translation,
    get_feedback_stats,
    review_router,
]
